package footage

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/footage/segment"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

func sys(t testing.TB) context.Context { return viewer.System(t.Context()) }

// testConfig records fast: one-second segments at 10 fps, a lease of a
// couple of seconds.
func testConfig(dir, owner string) Config {
	return Config{Dir: dir, Record: true, SegmentLength: time.Second, JPEGFPS: 10, Owner: owner,
		LeaseTTL: 1500 * time.Millisecond, MinFree: 1, SweepEvery: time.Hour}
}

type tenant struct {
	account  pulid.ID
	shop     pulid.ID
	terminal *ent.Terminal
	camera   *ent.Camera // SIMULATED, with the POS option, linked to terminal
}

// newTenant is an account with a shop, a register and a simulated camera
// filming it (internal/testenv's fixture, without the server packages).
func newTenant(t testing.TB, client *ent.Client) tenant {
	t.Helper()
	ctx := sys(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	acc, err := client.Account.Create().SetName("footage").Save(ctx)
	must(err)
	shop, err := client.Shop.Create().SetAccountID(acc.ID).SetName("渋谷店").Save(ctx)
	must(err)
	conn, err := client.PosConnection.Create().SetAccountID(acc.ID).SetProvider("PARTNER").
		SetContractID("test-" + string(pulid.MustNew("xx"))).Save(ctx)
	must(err)
	cam, err := client.Camera.Create().SetAccountID(acc.ID).SetName("レジ前カメラ").
		SetDeviceID(string(pulid.MustNew("dv"))).SetPosOption(true).SetSourceKind(entcamera.SourceKindSIMULATED).Save(ctx)
	must(err)
	term, err := client.Terminal.Create().SetAccountID(acc.ID).SetConnectionID(conn.ID).
		SetShopID(shop.ID).SetExternalID("1").SetName("レジ1").Save(ctx)
	must(err)
	_, err = client.Link.Create().SetAccountID(acc.ID).SetTerminalID(term.ID).SetCameraID(cam.ID).
		SetCreatedAt(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).Save(ctx)
	must(err)
	return tenant{account: acc.ID, shop: shop.ID, terminal: term, camera: cam}
}

// run starts s until the test ends (or the returned cancel).
func run(t *testing.T, s *Service) context.CancelFunc {
	ctx, cancel := context.WithCancel(viewer.System(context.Background()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return cancel
}

// feeder hands simulated frames to the taps at the recording rate, like
// camera/fleet does, until paused or the test ends.
type feeder struct {
	paused atomic.Bool
	frames atomic.Int64
}

func feed(t *testing.T, id pulid.ID, fps float64, taps ...*Service) *feeder {
	f := &feeder{}
	sim := camera.NewSimulatedWith(camera.SimulatedConfig{Name: "feeder"})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(time.Duration(float64(time.Second) / fps))
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			if f.paused.Load() {
				continue
			}
			fr, err := sim.Grab(ctx)
			if err != nil {
				continue
			}
			fr.CapturedAt = time.Now()
			for _, s := range taps {
				s.Tap(id, fr)
			}
			f.frames.Add(1)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return f
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func segments(t *testing.T, client *ent.Client, cam pulid.ID) []*ent.RecordingSegment {
	t.Helper()
	segs, err := client.RecordingSegment.Query().Where(recordingsegment.CameraID(cam)).
		Order(ent.Asc(recordingsegment.FieldStartAt)).All(sys(t))
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

func countBy(segs []*ent.RecordingSegment, by recordingsegment.EndedBy) int {
	n := 0
	for _, s := range segs {
		if s.EndedBy != nil && *s.EndedBy == by {
			n++
		}
	}
	return n
}

// checkFile reads a COMPLETE JPEG_SEQ segment's file back: every frame the
// row counts is there, between its start and end.
func checkFile(t *testing.T, s *Service, seg *ent.RecordingSegment) {
	t.Helper()
	f, err := s.Open(seg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	idx, err := segment.ReadJPEGIndex(f, st.Size())
	if err != nil {
		t.Fatalf("segment %s: %v", seg.ID, err)
	}
	if len(idx) != seg.Frames || len(seg.Keyframes) != seg.Frames || st.Size() != seg.Bytes {
		t.Fatalf("segment %s: file has %d frames / %d bytes, row says %d frames, %d keyframes, %d bytes",
			seg.ID, len(idx), st.Size(), seg.Frames, len(seg.Keyframes), seg.Bytes)
	}
	if !idx[0].At.Equal(seg.StartAt) || !idx[len(idx)-1].At.Equal(seg.EndAt) {
		t.Fatalf("segment %s: frames %s..%s, row %s..%s", seg.ID, idx[0].At, idx[len(idx)-1].At, seg.StartAt, seg.EndAt)
	}
	for i, k := range seg.Keyframes {
		if k.Offset != idx[i].Record() {
			t.Fatalf("segment %s: keyframe %d at %d, frame at %d", seg.ID, i, k.Offset, idx[i].Record())
		}
	}
}

// writeSegment puts a finished JPEG_SEQ segment of frames one second apart
// on disk and in the index (retention tests).
func writeSegment(t *testing.T, s *Service, d *db.DB, cam *ent.Camera, start time.Time, frames int) *ent.RecordingSegment {
	t.Helper()
	id := pulid.MustNew("RS")
	rel := filePath(cam.AccountID, cam.ID, id, start, extJPEG)
	full := filepath.Join(s.cfg.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(full)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := segment.NewJPEGWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	sim := camera.NewSimulated("retention", nil)
	fr, err := sim.Grab(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	end := start
	for i := range frames {
		end = start.Add(time.Duration(i) * time.Second)
		if _, err := w.WriteFrame(end, fr.JPEG); err != nil {
			t.Fatal(err)
		}
	}
	row, err := d.Client.RecordingSegment.Create().SetID(id).SetAccountID(cam.AccountID).SetCameraID(cam.ID).
		SetFormat(recordingsegment.FormatJPEG_SEQ).SetPath(rel).SetStartAt(start).SetEndAt(end).
		SetBytes(w.Bytes()).SetFrames(frames).SetState(recordingsegment.StateCOMPLETE).
		SetEndedBy(recordingsegment.EndedByROTATE).Save(sys(t))
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newTest is New with the WRITING rows moving every 300 ms, so the live
// tail shows within one-second segments.
func newTest(client *ent.Client, cfg Config, log *slog.Logger, opts ...Option) *Service {
	s := New(client, nil, cfg, log, opts...)
	s.flushEvery = 300 * time.Millisecond
	return s
}
