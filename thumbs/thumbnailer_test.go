package thumbs_test

// Issue 4 "Done when": the picture stored for a receipt shows the receipt's
// own second, however late the POS data arrives, as long as the recorder's
// buffer reaches back that far. Every check reads the time the simulated
// camera drew into the frame back out of the stored 320 px thumbnail.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
)

var quiet = slog.New(slog.DiscardHandler)

// fakeClock is the wall clock the simulated camera, the recorder and the
// test share: the camera draws clock.Now() into each frame, the recorder
// compares requested times with clock.Now(), and the test puts receipts in
// the clock's past.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// steppedCamera is the simulated camera on a fake clock: grab k happens at
// times(k), so a recorder polling every millisecond of real time fills
// minutes of fake time in a moment. After limit grabs the clock stops and
// the camera keeps answering with its last frame (the recorder stores a
// repeated frame once), so "now" holds still while the test asks.
//
// Rendering and encoding a 640×360 frame costs ~75 ms under -race, so only
// frames that some receipt could be matched with (real(t)) are drawn by
// camera.NewSimulated; the others are one shared filler frame whose time
// code says 2001-01-01. A thumbnail cut from a wrong frame therefore never
// decodes to the receipt's second.
type steppedCamera struct {
	clk    *fakeClock
	sim    camera.Grabber
	times  func(k int) time.Time
	real   func(t time.Time) bool // nil: every frame is drawn
	filler []byte

	mu    sync.Mutex
	k     int
	limit int
	last  camera.Frame
}

func (s *steppedCamera) Grab(ctx context.Context) (camera.Frame, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.k < s.limit {
		s.clk.set(s.times(s.k))
		s.k++
	} else if s.last.JPEG != nil {
		return s.last, nil
	}
	t := s.clk.Now()
	if s.real != nil && !s.real(t) {
		s.last = camera.Frame{JPEG: s.filler, CapturedAt: t, Width: camera.SimulatedWidth, Height: camera.SimulatedHeight}
		return s.last, nil
	}
	f, err := s.sim.Grab(ctx)
	if err != nil {
		return f, err
	}
	s.last = f
	return f, nil
}

// extend lets the clock run n more grabs.
func (s *steppedCamera) extend(n int) {
	s.mu.Lock()
	s.limit += n
	s.mu.Unlock()
}

// failing is a camera that never answers.
type failing struct{}

func (failing) Grab(ctx context.Context) (camera.Frame, error) {
	return camera.Frame{}, errors.New("dial tcp 192.0.2.1:80: connect: no route to host")
}

func simFrame(t testing.TB, at time.Time) []byte {
	t.Helper()
	f, err := camera.NewSimulated("filler", func() time.Time { return at }).Grab(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return f.JPEG
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func TestThumbnailAtReceiptSecond(t *testing.T) {
	// Fake timeline: one frame per second from t0, except that the camera
	// dropped out for ten seconds after frame gapK (frames gapK and gapK+1
	// are 10 s apart). The ring holds depth frames, less than the grabs, so
	// the oldest frames have been overwritten when the receipts arrive.
	const (
		grabs = 420
		depth = 360
		gapK  = 300
		gap   = 9 * time.Second // extra seconds between frames gapK and gapK+1
	)
	t0 := time.Date(2025, 6, 1, 1, 0, 0, 0, time.UTC) // 10:00 JST
	times := func(k int) time.Time {
		d := time.Duration(k) * time.Second
		if k > gapK {
			d += gap
		}
		return t0.Add(d)
	}
	now := times(grabs - 1) // the fake "now" while receipts arrive
	oldest := times(grabs - depth)

	type receipt struct {
		name  string
		delay time.Duration // how late the POS data arrives
		off   time.Duration // where inside that second the sale happened
	}
	var late []receipt
	for _, d := range []struct {
		name  string
		delay time.Duration
		offs  []time.Duration
	}{
		{"0s", 0, []time.Duration{0, 300 * time.Millisecond, 900 * time.Millisecond}},
		{"30s", 30 * time.Second, []time.Duration{0, 200 * time.Millisecond, 700 * time.Millisecond, -400 * time.Millisecond}},
		{"5min", 5 * time.Minute, []time.Duration{0, 200 * time.Millisecond, 700 * time.Millisecond, -400 * time.Millisecond}},
	} {
		for _, o := range d.offs {
			late = append(late, receipt{d.name, d.delay, o})
		}
	}
	at := func(r receipt) time.Time { return now.Add(-r.delay - r.off) }
	pendingAt := now.Add(2 * time.Second) // not yet recorded when it arrives

	// Frames a receipt can be matched with are drawn for real.
	want := map[int64]bool{}
	mark := func(ts time.Time) {
		for d := -3; d <= 3; d++ {
			want[ts.Truncate(time.Second).Add(time.Duration(d)*time.Second).UnixMilli()] = true
		}
	}
	for _, r := range late {
		mark(at(r))
	}
	mark(pendingAt)

	clk := &fakeClock{t: times(0)}
	cam := &steppedCamera{
		clk: clk, sim: camera.NewSimulated("レジ前カメラ", clk.Now), times: times, limit: grabs,
		real:   func(ts time.Time) bool { return want[ts.UnixMilli()] },
		filler: simFrame(t, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)),
	}
	rec := camera.NewRecorder(cam, camera.RecorderOptions{
		Interval: time.Millisecond, Depth: depth, Tolerance: 2 * time.Second, Now: clk.Now, Log: quiet,
	})
	down := camera.NewRecorder(failing{}, camera.RecorderOptions{Interval: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Now: clk.Now, Log: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range []*camera.Recorder{rec, down} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })

	waitFor(t, 30*time.Second, "the recorder to fill its ring", func() bool {
		st := rec.Status()
		return st.Newest.Equal(now) && st.Frames == depth
	})
	if st := rec.Status(); !st.Oldest.Equal(oldest) || !st.Online {
		t.Fatalf("recorder status %+v, want oldest %s", st, oldest)
	}
	waitFor(t, 5*time.Second, "the failing camera to go offline", func() bool { return down.Status().LastError != "" })

	store, err := thumbs.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	camID, downID := pulid.MustNew("CA"), pulid.MustNew("CA")
	acct := pulid.MustNew("AC")
	th := thumbs.New(fleet.Sources{camID: rec, downID: down}, store, quiet, thumbs.Options{Wait: 300 * time.Millisecond})

	for _, r := range late {
		t.Run(fmt.Sprintf("%s_late/%+.1fs", r.name, -r.off.Seconds()), func(t *testing.T) {
			occurred := at(r)
			entry := pulid.MustNew("JE")
			shot, reason, pending := th.Capture(context.Background(), acct, entry, camID, occurred)
			if shot == nil || reason != "" || pending {
				t.Fatalf("receipt %s late at %s: shot %v, reason %q, pending %v", r.name, occurred.Format(time.StampMilli), shot, reason, pending)
			}
			if shot.Key != thumbs.Key(string(acct), string(entry)) || shot.CameraID != camID || !shot.RequestedAt.Equal(occurred) {
				t.Fatalf("shot %+v", shot)
			}
			blob, err := store.Get(context.Background(), shot.Key)
			if err != nil {
				t.Fatalf("stored thumbnail: %v", err)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(blob))
			if err != nil || cfg.Width != 320 || cfg.Height != 180 || shot.Width != 320 || shot.Height != 180 {
				t.Fatalf("stored thumbnail %dx%d (%v), shot %dx%d; want 320x180", cfg.Width, cfg.Height, err, shot.Width, shot.Height)
			}
			sum := sha256.Sum256(blob)
			if shot.SHA256 != hex.EncodeToString(sum[:]) || shot.Bytes != int64(len(blob)) {
				t.Fatalf("shot sha256 %s / %d bytes, stored %x / %d", shot.SHA256, shot.Bytes, sum, len(blob))
			}
			shows, err := camera.DecodeTime(blob)
			if err != nil {
				t.Fatalf("time code of the stored thumbnail: %v", err)
			}
			if skew := shows.Sub(occurred); absDur(skew) > time.Second {
				t.Fatalf("thumbnail shows %s, receipt at %s: skew %s > 1s", shows.Format(time.StampMilli), occurred.Format(time.StampMilli), skew)
			}
			// One frame a second: the nearest is never more than half a second away.
			if !shows.Equal(shot.CapturedAt) || absDur(shows.Sub(occurred)) > 500*time.Millisecond {
				t.Fatalf("thumbnail shows %s, shot says captured %s, receipt %s", shows, shot.CapturedAt, occurred)
			}
			// What a capture on arrival would have shown instead.
			if latest, _ := rec.Latest(); r.delay >= 30*time.Second && absDur(latest.CapturedAt.Sub(occurred)) <= time.Second {
				t.Fatalf("baseline unexpectedly right: newest frame %s for a receipt %s late", latest.CapturedAt, r.name)
			}
		})
	}

	noShot := func(t *testing.T, cam pulid.ID, occurred time.Time, wantReason string) {
		t.Helper()
		entry := pulid.MustNew("JE")
		shot, reason, pending := th.Capture(context.Background(), acct, entry, cam, occurred)
		if shot != nil || pending || !strings.Contains(reason, wantReason) {
			t.Fatalf("Capture(%s) = shot %v, reason %q, pending %v; want no shot, reason containing %q", occurred.Format(time.StampMilli), shot, reason, pending, wantReason)
		}
		if _, err := store.Get(context.Background(), thumbs.Key(string(acct), string(entry))); !errors.Is(err, thumbs.ErrNotFound) {
			t.Fatalf("a blob was stored for a receipt without picture: %v", err)
		}
	}
	t.Run("beyond_buffer", func(t *testing.T) {
		// 32 s before the oldest frame still in the ring (now−6m38s).
		noShot(t, camID, oldest.Add(-32*time.Second), "BUFFER_PASSED: ")
	})
	t.Run("tolerance_exceeded", func(t *testing.T) {
		// Inside the buffer but in the camera's ten-second gap: the nearest
		// frame is 5 s away, over the 2 s tolerance.
		noShot(t, camID, times(gapK).Add(5*time.Second), "FRAME_TOO_FAR: 該当時刻に近い映像がありません（最も近い映像は 5.0秒 離れています）")
	})
	t.Run("camera_not_recorded", func(t *testing.T) {
		noShot(t, pulid.MustNew("CA"), now, "NOT_RECORDED: ")
	})
	t.Run("camera_offline", func(t *testing.T) {
		noShot(t, downID, clk.Now(), "CAMERA_OFFLINE: ")
	})

	t.Run("pending_then_late", func(t *testing.T) {
		// The sale is 2 s ahead of the newest frame: the bounded wait (300 ms
		// of real time) ends first, so ingest must not wait for it.
		entry := pulid.MustNew("JE")
		start := time.Now()
		shot, reason, pending := th.Capture(context.Background(), acct, entry, camID, pendingAt)
		if took := time.Since(start); shot != nil || reason != "" || !pending || took > time.Second {
			t.Fatalf("Capture of a future second = shot %v, reason %q, pending %v after %s; want pending within the 300ms wait", shot, reason, pending, took)
		}
		// The camera records on; the late capture gets the picture.
		type result struct {
			shot   *ingest.Shot
			reason string
		}
		done := make(chan result, 1)
		go func() {
			s, reason := th.CaptureLate(context.Background(), acct, entry, camID, pendingAt)
			done <- result{s, reason}
		}()
		time.Sleep(20 * time.Millisecond)
		cam.extend(4)
		var res result
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("CaptureLate did not return")
		}
		if res.shot == nil {
			t.Fatalf("CaptureLate: no shot, reason %q", res.reason)
		}
		blob, err := store.Get(context.Background(), res.shot.Key)
		if err != nil {
			t.Fatal(err)
		}
		shows, err := camera.DecodeTime(blob)
		if err != nil {
			t.Fatal(err)
		}
		if !shows.Equal(pendingAt) {
			t.Fatalf("late thumbnail shows %s, want %s", shows, pendingAt)
		}
	})
}
