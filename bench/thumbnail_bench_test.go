package bench

// Issue 4 "Measured": thumbnail time accuracy for POS data delivered 0 s,
// 30 s and 5 min late against a capture-on-arrival baseline, the cost of one
// thumbnail (decode + scale + encode + store), and the memory a recording
// camera holds.
//
//	go test -run '^$' -bench 'Thumbnail' ./bench/
//
// The camera is camera.NewSimulated on a fake clock that advances one second
// per grab while the recorder grabs every millisecond of real time, so ten
// minutes of recording take a few seconds. Accuracy is read from the
// pictures themselves: camera.DecodeTime of the stored 320 px thumbnail (and
// of the baseline's frame), never from the capture times the code reports.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/image/draw"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
)

// thumbBenchClock is the wall clock of the simulated camera, its recorder
// and the receipts.
type thumbBenchClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *thumbBenchClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *thumbBenchClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// thumbBenchCam takes one simulated picture per grab, one fake second
// after the previous one.
type thumbBenchCam struct {
	clk *thumbBenchClock
	sim camera.Grabber
}

func (c *thumbBenchCam) Grab(ctx context.Context) (camera.Frame, error) {
	c.clk.advance(time.Second)
	return c.sim.Grab(ctx)
}

var thumbBenchT0 = time.Date(2025, 6, 1, 1, 0, 0, 0, time.UTC)

// thumbBenchRecorder starts a recorder of depth frames over a fake-clock
// simulated camera; stop ends it and waits.
func thumbBenchRecorder(depth int) (rec *camera.Recorder, clk *thumbBenchClock, stop func()) {
	clk = &thumbBenchClock{t: thumbBenchT0}
	cam := &thumbBenchCam{clk: clk, sim: camera.NewSimulated("レジ前カメラ", clk.Now)}
	rec = camera.NewRecorder(cam, camera.RecorderOptions{
		Interval: time.Millisecond, Depth: depth, Tolerance: 2 * time.Second, Now: clk.Now,
		Log: slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rec.Run(ctx) }()
	return rec, clk, func() { cancel(); <-done }
}

func thumbBenchWait(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func thumbBenchAbs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// BenchmarkThumbnailAccuracy delivers receipts 0 s, 30 s and 5 min after
// the sale (plus a random fraction of a second) to a camera recording 1
// frame/s into a 600-frame (10 min) ring, and reports the share of stored
// thumbnails whose time code is within 1 s of the sale, next to the same
// share for a capture-on-arrival baseline (the newest frame when the
// receipt arrives) taken in the same iteration. A 15 min delay, beyond the
// ring, shows where the guarantee ends. ns/capture is one
// Thumbnailer.Capture (frame lookup, waiting for the next frame when the
// sale is newer than the newest one, cut, store); ns/op adds reading both
// time codes back.
func BenchmarkThumbnailAccuracy(b *testing.B) {
	const depth = 600
	rec, clk, stop := thumbBenchRecorder(depth)
	b.Cleanup(stop)
	store, err := thumbs.NewFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	camID, acct := pulid.MustNew("CA"), pulid.MustNew("AC")
	th := thumbs.New(fleet.Sources{camID: rec}, store, slog.New(slog.DiscardHandler), thumbs.Options{})
	// The 5 min case needs 5 min of pictures behind it.
	thumbBenchWait(b, time.Minute, "5½ minutes of recording", func() bool { return rec.Status().Frames >= 330 })

	for _, c := range []struct {
		name  string
		delay time.Duration
	}{
		{"0s_late", 0},
		{"30s_late", 30 * time.Second},
		{"5min_late", 5 * time.Minute},
		{"15min_late_beyond_10min_buffer", 15 * time.Minute},
	} {
		b.Run(c.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(c.delay)))
			ctx := context.Background()
			var ok, baseOK, shots, pending int
			var skewSum, baseSkewSum, captureTime time.Duration
			reasons := map[string]int{}
			// The baseline frame often repeats between iterations; decode
			// each one once.
			var lastFrame, lastShows time.Time
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				now := clk.Now()
				at := now.Add(-c.delay - time.Duration(rng.Int64N(int64(time.Second))))
				arrival, _ := rec.Latest() // what capture-on-arrival would store
				entry := pulid.MustNew("JE")
				start := time.Now()
				shot, reason, pend := th.Capture(ctx, acct, entry, camID, at)
				captureTime += time.Since(start)

				if !arrival.CapturedAt.Equal(lastFrame) {
					if lastShows, err = camera.DecodeTime(arrival.JPEG); err != nil {
						b.Fatalf("baseline frame: %v", err)
					}
					lastFrame = arrival.CapturedAt
				}
				bt := lastShows
				baseSkewSum += thumbBenchAbs(bt.Sub(at))
				if thumbBenchAbs(bt.Sub(at)) <= time.Second {
					baseOK++
				}
				switch {
				case shot != nil:
					shots++
					blob, err := store.Get(ctx, shot.Key)
					if err != nil {
						b.Fatalf("stored thumbnail: %v", err)
					}
					st, err := camera.DecodeTime(blob)
					if err != nil {
						b.Fatalf("time code of the stored thumbnail: %v", err)
					}
					skewSum += thumbBenchAbs(st.Sub(at))
					if thumbBenchAbs(st.Sub(at)) <= time.Second {
						ok++
					}
				case pend:
					pending++
				default:
					reasons[reason]++
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(captureTime.Nanoseconds())/n, "ns/capture")
			b.ReportMetric(100*float64(ok)/n, "%within1s")
			b.ReportMetric(100*float64(baseOK)/n, "%baseline_within1s")
			if shots > 0 {
				b.ReportMetric(float64(skewSum.Milliseconds())/float64(shots), "ms_mean|skew|")
			}
			b.ReportMetric(float64(baseSkewSum.Milliseconds())/n, "ms_baseline_mean|skew|")
			if pending > 0 || len(reasons) > 0 {
				sample := ""
				for r, k := range reasons {
					sample = fmt.Sprintf("%d× %q", k, r)
					break
				}
				b.Logf("N=%d: %d thumbnails, %d pending, %d without picture (e.g. %s)", b.N, shots, pending, b.N-shots-pending, sample)
			}
		})
	}
}

// thumbBenchFrames returns n distinct simulated frames, scaled to w×h when
// that is not the simulated size (real IP cameras send 1080p).
func thumbBenchFrames(tb testing.TB, n, w, h int) [][]byte {
	tb.Helper()
	out := make([][]byte, n)
	for i := range out {
		at := thumbBenchT0.Add(time.Duration(i) * 1500 * time.Millisecond)
		f, err := camera.NewSimulated("レジ前カメラ", func() time.Time { return at }).Grab(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = f.JPEG
		if w == camera.SimulatedWidth && h == camera.SimulatedHeight {
			continue
		}
		src, err := jpeg.Decode(bytes.NewReader(f.JPEG))
		if err != nil {
			tb.Fatal(err)
		}
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 90}); err != nil {
			tb.Fatal(err)
		}
		out[i] = buf.Bytes()
	}
	return out
}

var thumbBenchMem struct {
	once      sync.Once
	rec       *camera.Recorder
	clk       *thumbBenchClock
	ringBytes int64
	heapBytes int64
	frames    int
	took      time.Duration
}

// thumbBenchRing fills a 600-frame ring once and measures what it keeps.
func thumbBenchRing(tb testing.TB) {
	m := &thumbBenchMem
	m.once.Do(func() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		rec, clk, stop := thumbBenchRecorder(600)
		thumbBenchWait(tb, 2*time.Minute, "600 recorded frames", func() bool { return rec.Status().Frames == 600 })
		stop()
		m.took = time.Since(start)
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		st := rec.Status()
		m.rec, m.clk = rec, clk
		m.ringBytes, m.frames = st.Bytes, st.Frames
		m.heapBytes = int64(after.HeapAlloc) - int64(before.HeapAlloc)
	})
	if m.rec == nil {
		tb.Fatal("ring was not filled")
	}
}

// BenchmarkThumbnailCost measures one thumbnail: decode + scale to 320 px +
// encode at quality 75 (thumbs.Make), the filesystem store's Put (which
// fsyncs), both together, and Thumbnailer.Capture from a recorder's ring;
// and the memory of one recording camera (a 600-frame ring of simulated
// frames).
func BenchmarkThumbnailCost(b *testing.B) {
	ctx := context.Background()
	sizes := []struct {
		name string
		w, h int
	}{
		{"640x360", camera.SimulatedWidth, camera.SimulatedHeight},
		{"1920x1080", 1920, 1080},
	}
	frames := map[string][][]byte{}
	for _, s := range sizes {
		frames[s.name] = thumbBenchFrames(b, 8, s.w, s.h)
	}

	for _, s := range sizes {
		src := frames[s.name]
		b.Run("make/"+s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src[0])))
			for i := 0; i < b.N; i++ {
				if _, err := thumbs.Make(src[i%len(src)], 320, 75); err != nil {
					b.Fatal(err)
				}
			}
		})
	}

	thumb, err := thumbs.Make(frames["640x360"][0], 320, 75)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("store/fs", func(b *testing.B) {
		store, err := thumbs.NewFS(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		acct := string(pulid.MustNew("AC"))
		b.ReportAllocs()
		b.SetBytes(int64(len(thumb.JPEG)))
		for i := 0; i < b.N; i++ {
			if err := store.Put(ctx, thumbs.Key(acct, fmt.Sprintf("JE%d", i)), thumb.JPEG); err != nil {
				b.Fatal(err)
			}
		}
	})

	for _, s := range sizes {
		src := frames[s.name]
		b.Run("make+store/"+s.name, func(b *testing.B) {
			store, err := thumbs.NewFS(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			acct := string(pulid.MustNew("AC"))
			var stored int64
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				th, err := thumbs.Make(src[i%len(src)], 320, 75)
				if err != nil {
					b.Fatal(err)
				}
				if err := store.Put(ctx, thumbs.Key(acct, fmt.Sprintf("JE%d", i)), th.JPEG); err != nil {
					b.Fatal(err)
				}
				stored += int64(len(th.JPEG))
			}
			b.ReportMetric(float64(stored)/float64(b.N), "thumb-bytes")
		})
	}

	b.Run("capture_from_ring/640x360", func(b *testing.B) {
		thumbBenchRing(b)
		m := &thumbBenchMem
		store, err := thumbs.NewFS(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		camID, acct := pulid.MustNew("CA"), pulid.MustNew("AC")
		th := thumbs.New(fleet.Sources{camID: m.rec}, store, slog.New(slog.DiscardHandler), thumbs.Options{})
		st := m.rec.Status()
		span := st.Newest.Sub(st.Oldest)
		rng := rand.New(rand.NewPCG(2, 3))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			at := st.Oldest.Add(time.Duration(rng.Int64N(int64(span))))
			if shot, reason, _ := th.Capture(ctx, acct, pulid.MustNew("JE"), camID, at); shot == nil {
				b.Fatalf("no thumbnail at %s: %s", at, reason)
			}
		}
	})

	b.Run("recorder_memory/600_frames", func(b *testing.B) {
		thumbBenchRing(b)
		m := &thumbBenchMem
		st := m.rec.Status()
		span := st.Newest.Sub(st.Oldest)
		rng := rand.New(rand.NewPCG(4, 5))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ { // ns/op: one FrameAt lookup in the full ring
			if _, err := m.rec.FrameAt(ctx, st.Oldest.Add(time.Duration(rng.Int64N(int64(span))))); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(m.ringBytes), "ring-bytes/camera")
		b.ReportMetric(float64(m.heapBytes), "heap-bytes/camera")
		b.ReportMetric(float64(m.ringBytes)/float64(m.frames), "bytes/frame")
		b.Logf("%d frames (%s of recording) filled in %s: ring %.1f MB, heap delta %.1f MB; a 1080p frame is %d bytes, so a 1080p camera would hold ~%.0f MB",
			m.frames, span, m.took.Round(time.Millisecond), float64(m.ringBytes)/1e6, float64(m.heapBytes)/1e6,
			len(frames["1920x1080"][0]), float64(len(frames["1920x1080"][0]))*600/1e6)
	})
}
