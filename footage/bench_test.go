package footage

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/viewer"
)

// BenchmarkRecordJPEGFrame is the recorder's cost of one frame of the
// simulated camera (640×360, about 33 KB): the tap, the segment write,
// the index rows (rotated every minute of frame time, the WRITING row
// moved every 2 s). Grabbing the frame is camera/fleet's and not counted.
// At 5 fps a camera costs 5 × ns/op of one core per second.
func BenchmarkRecordJPEGFrame(b *testing.B) {
	d := dbtest.Open(b, "")
	ctx := context.Background()
	tn := newTenant(b, d.Client)
	cfg := Config{Dir: b.TempDir(), Record: true, JPEGFPS: 5, Owner: "bench", LeaseTTL: time.Minute, MinFree: 1, SweepEvery: time.Hour}
	s := New(d.Client, nil, cfg, quietLog())
	rctx, cancel := context.WithCancel(viewer.System(context.Background()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(rctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	fr, err := camera.NewSimulated("bench", nil).Grab(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for {
		s.mu.Lock()
		r := s.recs[tn.camera.ID]
		s.mu.Unlock()
		if r != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	at := time.Now()
	b.SetBytes(int64(len(fr.JPEG)))
	b.ResetTimer()
	for range b.N {
		at = at.Add(200 * time.Millisecond)
		fr.CapturedAt = at
		// The tap never blocks; the benchmark waits for room so no frame
		// is dropped.
		for {
			s.mu.Lock()
			r := s.recs[tn.camera.ID]
			s.mu.Unlock()
			if len(r.frames) < cap(r.frames) {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		s.Tap(tn.camera.ID, fr)
	}
	for {
		s.mu.Lock()
		n := len(s.recs[tn.camera.ID].frames)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	var bytes int64
	_ = filepath.WalkDir(cfg.Dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil {
				bytes += fi.Size()
			}
		}
		return nil
	})
	b.ReportMetric(float64(bytes)/float64(b.N)*5, "disk-B/s@5fps")
}
