package camera

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/camera/fake"
)

var (
	t0      = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	quiet   = slog.New(slog.DiscardHandler)
	jpegMu  sync.Mutex
	jpegBuf []byte
)

// smallJPEG is one shared valid frame; recorder tests care about times.
func smallJPEG(t testing.TB) []byte {
	jpegMu.Lock()
	defer jpegMu.Unlock()
	if jpegBuf == nil {
		jpegBuf = testJPEG(t, t0)
	}
	return jpegBuf
}

func frameAt(t testing.TB, at time.Time) Frame {
	return Frame{JPEG: smallJPEG(t), CapturedAt: at, Width: 640, Height: 360}
}

func sec(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// scripted is a grabber whose behaviour a test switches at run time.
type scripted struct {
	mu     sync.Mutex
	fail   error
	hang   bool          // block until ctx ends
	stuck  chan struct{} // block, ignoring ctx, until closed
	frames chan Frame    // if set, hand out exactly these
	jpeg   []byte
	calls  atomic.Int64
}

func (s *scripted) Grab(ctx context.Context) (Frame, error) {
	s.calls.Add(1)
	s.mu.Lock()
	fail, hang, stuck, frames := s.fail, s.hang, s.stuck, s.frames
	s.mu.Unlock()
	switch {
	case stuck != nil:
		<-stuck
		return Frame{}, errors.New("released")
	case hang:
		<-ctx.Done()
		return Frame{}, ctx.Err()
	case fail != nil:
		return Frame{}, fail
	case frames != nil:
		select {
		case f := <-frames:
			return f, nil
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
	return Frame{JPEG: s.jpeg, CapturedAt: time.Now(), Width: 640, Height: 360}, nil
}

func (s *scripted) set(f func(*scripted)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

func noFrame(t *testing.T, err error, reason string) *NoFrameError {
	t.Helper()
	var nf *NoFrameError
	if !errors.Is(err, ErrNoFrame) || !errors.As(err, &nf) {
		t.Fatalf("got %v, want ErrNoFrame", err)
	}
	if !strings.Contains(nf.Reason, reason) {
		t.Fatalf("reason %q, want %q", nf.Reason, reason)
	}
	return nf
}

func TestRecorderNearest(t *testing.T) {
	r := NewRecorder(nil, RecorderOptions{Depth: 5, Tolerance: 2 * time.Second, Log: quiet})
	ctx := context.Background()
	if _, err := r.FrameAt(ctx, sec(0)); err == nil {
		t.Fatal("empty recorder answered")
	} else {
		noFrame(t, err, "no frame recorded yet")
	}
	for i := 0; i < 10; i++ {
		if err := r.store(frameAt(t, sec(float64(i)))); err != nil {
			t.Fatal(err)
		}
	}
	st := r.Status()
	if st.Frames != 5 || !st.Oldest.Equal(sec(5)) || !st.Newest.Equal(sec(9)) || !st.Online || !st.LastSeen.Equal(sec(9)) {
		t.Fatalf("status %+v", st)
	}
	for _, tc := range []struct{ at, want float64 }{
		{7.4, 7}, {7.6, 8}, {7.5, 7}, {3.5, 5}, {9, 9}, {10.9, 9}, {5, 5},
	} {
		f, err := r.FrameAt(ctx, sec(tc.at))
		if err != nil || !f.CapturedAt.Equal(sec(tc.want)) {
			t.Errorf("FrameAt(%v) = %v, %v; want %v", tc.at, f.CapturedAt, err, tc.want)
		}
	}
	_, err := r.FrameAt(ctx, sec(2.5))
	nf := noFrame(t, err, "buffer does not reach back to t")
	if nf.Nearest != 2500*time.Millisecond {
		t.Fatalf("nearest %v", nf.Nearest)
	}
	_, err = r.FrameAt(ctx, sec(12.2))
	noFrame(t, err, "nearest frame is 3.2s away")

	// A repeated frame (slow MJPEG) is not stored twice.
	r.store(frameAt(t, sec(9)))
	if r.Status().Frames != 5 {
		t.Fatal("duplicate stored")
	}
	// Frames without size are validated.
	if err := r.store(Frame{JPEG: []byte("<html>"), CapturedAt: sec(10)}); !errors.Is(err, ErrNotJPEG) {
		t.Fatalf("bad frame: %v", err)
	}
	// A clock that steps back empties the ring rather than unsorting it.
	r.store(frameAt(t, sec(1)))
	if st := r.Status(); st.Frames != 1 || !st.Newest.Equal(sec(1)) {
		t.Fatalf("after clock step: %+v", st)
	}
}

func TestRecorderMaxBytes(t *testing.T) {
	j := smallJPEG(t)
	r := NewRecorder(nil, RecorderOptions{Depth: 100, MaxBytes: int64(3*len(j) + 10), Log: quiet})
	for i := 0; i < 10; i++ {
		r.store(frameAt(t, sec(float64(i))))
	}
	if st := r.Status(); st.Frames != 3 || st.Bytes != int64(3*len(j)) || !st.Oldest.Equal(sec(7)) {
		t.Fatalf("status %+v", st)
	}
}

// nearestInRing finds the answer by brute force.
func nearestInRing(r *Recorder, at time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best time.Time
	for i := 0; i < r.n; i++ {
		c := r.at(i).CapturedAt
		if best.IsZero() || absDur(c.Sub(at)) < absDur(best.Sub(at)) {
			best = c
		}
	}
	return best
}

func runRecorder(t *testing.T, g Grabber, opt RecorderOptions) (*Recorder, func()) {
	t.Helper()
	if opt.Log == nil {
		opt.Log = quiet
	}
	r := NewRecorder(g, opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return r, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

func TestRecorderRunSimulated(t *testing.T) {
	leaks := leakCheck(t)
	r, stop := runRecorder(t, NewSimulated("till", nil), RecorderOptions{Interval: 20 * time.Millisecond, Depth: 50})
	eventually(t, 5*time.Second, "10 frames", func() bool { return r.Status().Frames >= 10 })
	if err := r.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
	// Late data: the entry's own time is in the past; the frame nearest it
	// must be the one shown, and the picture itself says so.
	st := r.Status()
	for _, off := range []time.Duration{0, 3 * time.Millisecond, -4 * time.Millisecond} {
		want := st.Oldest.Add(60 * time.Millisecond)
		f, err := r.FrameAt(context.Background(), want.Add(off))
		if err != nil {
			t.Fatal(err)
		}
		if near := nearestInRing(r, want.Add(off)); !f.CapturedAt.Equal(near) {
			t.Fatalf("FrameAt(%v) picked %v, nearest is %v", want.Add(off), f.CapturedAt, near)
		}
		got, err := DecodeTime(f.JPEG)
		if err != nil || !got.Equal(f.CapturedAt) {
			t.Fatalf("pixels say %v (%v), CapturedAt %v", got, err, f.CapturedAt)
		}
	}
	if lf, ok := r.Latest(); !ok || lf.CapturedAt.Before(st.Newest) {
		t.Fatalf("latest %v %v", lf.CapturedAt, ok)
	}
	stop()
	leaks()
}

// Data that arrives before the camera's next capture waits for it, because
// that frame may be the nearer one.
func TestRecorderWaitsForNextFrame(t *testing.T) {
	leaks := leakCheck(t)
	now := sec(2.5)
	var nowMu sync.Mutex
	clock := func() time.Time { nowMu.Lock(); defer nowMu.Unlock(); return now }
	g := &scripted{frames: make(chan Frame)}
	r, stop := runRecorder(t, g, RecorderOptions{Interval: 100 * time.Millisecond, Tolerance: 1500 * time.Millisecond, Now: clock, GrabTimeout: time.Minute})
	for _, s := range []float64{0, 1, 2} {
		g.frames <- frameAt(t, sec(s))
	}
	eventually(t, 2*time.Second, "three frames", func() bool { return r.Status().Frames == 3 })

	// t=2.2: frame 2 is 0.2s away, and nothing captured from now (2.5) on
	// can be closer: no wait.
	start := time.Now()
	f, err := r.FrameAt(context.Background(), sec(2.2))
	if err != nil || !f.CapturedAt.Equal(sec(2)) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("2.2: %v %v after %v", f.CapturedAt, err, time.Since(start))
	}

	// t=2.9: frame 2 is 0.9s away, the coming frame at 3 may be nearer.
	type res struct {
		f   Frame
		err error
	}
	ch := make(chan res, 1)
	go func() {
		f, err := r.FrameAt(context.Background(), sec(2.9))
		ch <- res{f, err}
	}()
	select {
	case x := <-ch:
		t.Fatalf("did not wait: %v %v", x.f.CapturedAt, x.err)
	case <-time.After(100 * time.Millisecond):
	}
	nowMu.Lock()
	now = sec(3.05)
	nowMu.Unlock()
	g.frames <- frameAt(t, sec(3))
	select {
	case x := <-ch:
		if x.err != nil || !x.f.CapturedAt.Equal(sec(3)) {
			t.Fatalf("2.9: %v %v", x.f.CapturedAt, x.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("FrameAt did not wake on the new frame")
	}

	// No next frame comes: the wait ends at Interval+Tolerance (1.6s) and
	// the newest frame is the answer if within tolerance.
	start = time.Now()
	f, err = r.FrameAt(context.Background(), sec(4.4))
	if el := time.Since(start); el < 1550*time.Millisecond || el > 2500*time.Millisecond {
		t.Fatalf("waited %v, want ~1.6s", el)
	}
	if err != nil || !f.CapturedAt.Equal(sec(3)) {
		t.Fatalf("4.4: %v %v", f.CapturedAt, err)
	}
	// Beyond tolerance after the same bounded wait.
	_, err = r.FrameAt(context.Background(), sec(5))
	noFrame(t, err, "nearest frame is 2s away")
	// The caller's ctx cuts the wait short.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = r.FrameAt(ctx, sec(4.4))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx: %v", err)
	}
	stop()
	leaks()
}

func TestRecorderOfflineAndRecovery(t *testing.T) {
	leaks := leakCheck(t)
	g := &scripted{jpeg: smallJPEG(t)}
	r, stop := runRecorder(t, g, RecorderOptions{Interval: 20 * time.Millisecond, MaxBackoff: 160 * time.Millisecond, Tolerance: 30 * time.Millisecond})
	eventually(t, 2*time.Second, "online", func() bool { return r.Status().Online })

	g.set(func(s *scripted) { s.fail = errors.New("dial tcp 10.0.0.9:80: connect: connection refused") })
	eventually(t, 2*time.Second, "offline", func() bool { return !r.Status().Online })
	down := time.Now()
	st := r.Status()
	if !strings.Contains(st.LastError, "connection refused") || st.LastSeen.IsZero() || st.LastSeen.After(down) {
		t.Fatalf("offline status %+v", st)
	}
	// Backoff: over 600ms at a 20ms interval a tight loop would try ~30
	// times; 20, 40, 80, 160, 160… tries about 6.
	before := g.calls.Load()
	time.Sleep(600 * time.Millisecond)
	if n := g.calls.Load() - before; n > 12 {
		t.Fatalf("%d grabs while offline: no backoff", n)
	}
	// Data during the outage gets a reason, and immediately: an offline
	// camera is not waited for.
	start := time.Now()
	_, err := r.FrameAt(context.Background(), time.Now())
	noFrame(t, err, "camera offline at t")
	noFrame(t, err, "connection refused")
	if time.Since(start) > 50*time.Millisecond {
		t.Fatalf("FrameAt waited %v for an offline camera", time.Since(start))
	}
	outageT := down.Add(300 * time.Millisecond) // mid-outage, far from any frame

	g.set(func(s *scripted) { s.fail = nil })
	eventually(t, 2*time.Second, "recovery", func() bool { return r.Status().Online })
	if st := r.Status(); st.LastError != "" || !st.LastSeen.After(down) {
		t.Fatalf("recovered status %+v", st)
	}
	_, err = r.FrameAt(context.Background(), outageT)
	noFrame(t, err, "camera offline at t")
	if _, err := r.FrameAt(context.Background(), time.Now()); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	stop()
	leaks()
}

func TestRecorderHangingGrab(t *testing.T) {
	for _, ignoreCtx := range []bool{false, true} {
		name := "honours ctx"
		if ignoreCtx {
			name = "ignores ctx"
		}
		t.Run(name, func(t *testing.T) {
			leaks := leakCheck(t)
			g := &scripted{jpeg: smallJPEG(t)}
			opt := RecorderOptions{Interval: 20 * time.Millisecond, Tolerance: 50 * time.Millisecond, GrabTimeout: 100 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
			r, stop := runRecorder(t, g, opt)
			eventually(t, 2*time.Second, "online", func() bool { return r.Status().Online })
			stuck := make(chan struct{})
			g.set(func(s *scripted) {
				if ignoreCtx {
					s.stuck = stuck
				} else {
					s.hang = true
				}
			})
			// While the grab hangs (and the recorder still believes the
			// camera online) FrameAt is bounded by Interval+Tolerance.
			for range 5 {
				start := time.Now()
				r.FrameAt(context.Background(), time.Now().Add(10*time.Millisecond))
				if el := time.Since(start); el > opt.Interval+opt.Tolerance+50*time.Millisecond {
					t.Fatalf("FrameAt blocked %v", el)
				}
			}
			eventually(t, 2*time.Second, "timeout reported", func() bool {
				st := r.Status()
				return !st.Online && (strings.Contains(st.LastError, "timed out") || strings.Contains(st.LastError, "still hanging"))
			})
			if ignoreCtx {
				// Only one abandoned grab at a time.
				calls := g.calls.Load()
				time.Sleep(300 * time.Millisecond)
				if g.calls.Load() != calls {
					t.Fatalf("new grabs started while one hangs: %d → %d", calls, g.calls.Load())
				}
			}
			start := time.Now()
			stop()
			if time.Since(start) > time.Second {
				t.Fatalf("stop took %v", time.Since(start))
			}
			close(stuck)
			leaks()
		})
	}
}

func TestRecorderManyWaitersShutdown(t *testing.T) {
	leaks := leakCheck(t)
	g := &scripted{jpeg: smallJPEG(t)}
	r, stop := runRecorder(t, g, RecorderOptions{Interval: 30 * time.Millisecond})
	eventually(t, 2*time.Second, "online", func() bool { return r.Status().Online })
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			// Half in the future (waiters), half in the past.
			at := time.Now().Add(time.Duration(i-10) * 10 * time.Millisecond)
			if _, err := r.FrameAt(context.Background(), at); err != nil && !errors.Is(err, ErrNoFrame) {
				t.Errorf("FrameAt: %v", err)
			}
		})
	}
	stop()
	wg.Wait()
	leaks()
}

// A Recorder owns an MJPEG grabber's lifetime through Starter.
func TestRecorderMJPEG(t *testing.T) {
	leaks := leakCheck(t)
	s := &fake.MJPEG{Frame: numbered(t), Interval: 10 * time.Millisecond}
	srv := httptest.NewServer(s)
	c := testClient(t, 0)
	m := fastMJPEG(srv.URL, nil, c)
	r, stop := runRecorder(t, m, RecorderOptions{Interval: 20 * time.Millisecond})
	eventually(t, 5*time.Second, "frames from the stream", func() bool { return r.Status().Frames >= 5 })
	st := r.Status()
	if _, err := r.FrameAt(context.Background(), st.Newest.Add(-30*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := m.Grab(context.Background()); !errors.Is(err, ErrOffline) {
		t.Fatalf("stream still open after Run: %v", err)
	}
	leaks(srv.Close, c.CloseIdleConnections)
}
