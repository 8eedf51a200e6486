package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// RecorderOptions configure a Recorder; zero values take the defaults.
type RecorderOptions struct {
	// Interval between grabs. Default 1s.
	Interval time.Duration
	// Depth is the ring size in frames. Default 600 (10 min at 1 fps), which
	// decides how late POS data may arrive and still get its own picture.
	Depth int
	// Tolerance is how far the nearest frame may be from the requested time.
	// Default 2s.
	Tolerance time.Duration
	// GrabTimeout bounds one grab. Default max(Interval, 5s).
	GrabTimeout time.Duration
	// MaxBackoff caps the retry delay of an offline camera, which starts at
	// Interval and doubles. Default 30s.
	MaxBackoff time.Duration
	// MaxBytes bounds the ring's JPEG bytes: Depth alone would allow 600 ×
	// 10 MiB. The oldest frames go first, so a camera with huge frames
	// reaches back less far. Default 256 MiB.
	MaxBytes int64
	// Log receives online/offline transitions; attach the camera's
	// identity with Logger.With. Default slog.Default().
	Log *slog.Logger
	// Now stamps frames a grabber left undated and outage start times.
	Now func() time.Time
	// Tap, when set, is handed every new frame (not a repeat of the last)
	// as it is grabbed, and answers how soon it wants the next one: a
	// duration shorter than Interval makes the recorder grab at that rate
	// while the ring keeps about one frame per Interval, so the disk
	// recording (package footage) gets its frame rate without the short
	// cache growing; 0 keeps Interval. It runs on the grab loop and must
	// not block.
	Tap func(Frame) time.Duration
}

// Status is what the UI shows about a recording camera.
type Status struct {
	Online    bool
	LastSeen  time.Time // capture time of the newest good frame
	LastError string    // empty while online
	Frames    int
	Bytes     int64
	Oldest    time.Time // how far back FrameAt can answer
	Newest    time.Time
}

// NoFrameError says why FrameAt has no picture for t; it matches ErrNoFrame
// under errors.Is. The thumbnail pipeline records Reason on the entry.
type NoFrameError struct {
	At      time.Time
	Reason  string
	Nearest time.Duration // distance to the nearest frame; 0 if there is none
}

func (e *NoFrameError) Error() string {
	return fmt.Sprintf("camera: no frame at %s: %s", e.At.Format("2006-01-02T15:04:05.000Z07:00"), e.Reason)
}

func (e *NoFrameError) Unwrap() error { return ErrNoFrame }

// NoFrameReason lets consumers that do not import camera (thumbs) tell
// "no picture for that moment" from a failure, and record why.
func (e *NoFrameError) NoFrameReason() string { return e.Reason }

// Recorder polls a Grabber into a ring buffer and serves FrameAt from it. It
// is safe for concurrent use.
type Recorder struct {
	g   Grabber
	opt RecorderOptions
	log *slog.Logger

	mu        sync.Mutex
	ring      []Frame // fixed size Depth, ordered by CapturedAt from head
	head, n   int
	bytes     int64
	running   bool
	online    bool
	lastSeen  time.Time
	lastAt    time.Time // capture time of the newest frame, kept in the ring or not
	lastErr   string
	outages   []outage // most recent last, at most maxOutages
	changed   chan struct{}
	pendingMu sync.Mutex
	pending   chan struct{} // an abandoned grab that has not returned yet
}

// outage remembers when grabs failed, so FrameAt can tell "camera offline
// at t" from "buffer does not reach back".
type outage struct {
	from, to time.Time // to is zero while ongoing
	err      string
}

const (
	maxOutages = 64
	// abandonGrace lets a grabber that honours its context return its own
	// error (and its goroutine end) before the recorder gives up on it.
	abandonGrace = 250 * time.Millisecond
	clockFmt     = "15:04:05.000"
)

// NewRecorder prepares a recorder; call Run to start grabbing.
func NewRecorder(g Grabber, opt RecorderOptions) *Recorder {
	if opt.Interval <= 0 {
		opt.Interval = time.Second
	}
	if opt.Depth <= 0 {
		opt.Depth = 600
	}
	if opt.Tolerance <= 0 {
		opt.Tolerance = 2 * time.Second
	}
	if opt.GrabTimeout <= 0 {
		opt.GrabTimeout = max(opt.Interval, 5*time.Second)
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 256 << 20
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	return &Recorder{g: g, opt: opt, log: log, ring: make([]Frame, opt.Depth), changed: make(chan struct{})}
}

// Run grabs until ctx ends, then returns nil. A grabber that is also a
// Starter is started here and closed on return.
func (r *Recorder) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("camera: recorder already running")
	}
	r.running = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.broadcastLocked()
		r.mu.Unlock()
	}()
	first := time.Duration(0)
	if s, ok := r.g.(Starter); ok {
		if err := s.Start(ctx); err != nil {
			r.fail(err) // Grab will keep failing with it; status shows why
		}
		defer s.Close()
		// A stream needs a moment to deliver its first frame; grabbing at
		// once would log a spurious outage on every start.
		first = r.opt.Interval
	}

	backoff := r.opt.Interval
	every := r.opt.Interval // the tap's rate while it asks for one
	timer := time.NewTimer(first)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		start := time.Now()
		f, err := r.grab(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			var fresh bool
			if fresh, err = r.storeFresh(f); fresh && r.opt.Tap != nil {
				every = r.opt.Interval
				if d := r.opt.Tap(f); d > 0 && d < every {
					every = d
				}
			}
		}
		var wait time.Duration
		if err != nil {
			r.fail(err)
			// Interval, 2×, 4× … MaxBackoff, counted from the failure so a
			// timed-out grab is not retried in a tight loop.
			wait = backoff
			backoff = min(backoff*2, max(r.opt.MaxBackoff, r.opt.Interval))
		} else {
			backoff = r.opt.Interval
			// Keep the cadence anchored to grab starts; a slow grab does not
			// shift every later frame.
			wait = max(0, every-time.Since(start))
		}
		timer.Reset(wait)
	}
}

// grab runs Grab in its own goroutine so a grabber that ignores its context
// cannot stall Run (and with it recovery and shutdown). At most one
// abandoned grab is outstanding; while it hangs no new one is started.
func (r *Recorder) grab(ctx context.Context) (Frame, error) {
	r.pendingMu.Lock()
	p := r.pending
	r.pendingMu.Unlock()
	if p != nil {
		select {
		case <-p:
			r.setPending(nil)
		default:
			return Frame{}, fmt.Errorf("camera: previous grab still hanging after %s", r.opt.GrabTimeout)
		}
	}
	gctx, cancel := context.WithTimeout(ctx, r.opt.GrabTimeout)
	defer cancel()
	type result struct {
		f   Frame
		err error
	}
	ch := make(chan result, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := r.g.Grab(gctx)
		ch <- result{f, err}
	}()
	select {
	case res := <-ch:
		return res.f, res.err
	case <-gctx.Done():
	}
	t := time.NewTimer(abandonGrace)
	defer t.Stop()
	select {
	case res := <-ch:
		if res.err == nil && ctx.Err() == nil {
			return res.f, nil
		}
	case <-t.C:
		r.setPending(done)
	}
	if ctx.Err() != nil {
		return Frame{}, ctx.Err()
	}
	return Frame{}, fmt.Errorf("camera: grab timed out after %s", r.opt.GrabTimeout)
}

func (r *Recorder) setPending(p chan struct{}) {
	r.pendingMu.Lock()
	r.pending = p
	r.pendingMu.Unlock()
}

func (r *Recorder) store(f Frame) error {
	_, err := r.storeFresh(f)
	return err
}

// storeFresh stores f and says whether it was a new frame (not a repeat).
func (r *Recorder) storeFresh(f Frame) (bool, error) {
	if f.Width <= 0 || f.Height <= 0 {
		// Third-party grabbers may skip validation; the ring must only hold
		// pictures the thumbnail cutter can use.
		w, h, err := checkJPEG(f.JPEG)
		if err != nil {
			return false, err
		}
		f.Width, f.Height = w, h
	}
	if f.CapturedAt.IsZero() {
		f.CapturedAt = r.opt.Now()
	}
	f.CapturedAt = f.CapturedAt.Round(0)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n > 0 {
		newest := r.at(r.n - 1).CapturedAt
		if f.CapturedAt.Equal(newest) || f.CapturedAt.Equal(r.lastAt) {
			// A slow MJPEG camera hands out the same frame twice: nothing new
			// to store, but it is alive.
			r.markOnlineLocked(f.CapturedAt)
			return false, nil
		}
		if r.opt.Tap != nil && f.CapturedAt.After(newest) && f.CapturedAt.Sub(newest) < r.opt.Interval*9/10 {
			// Grabbed faster for the tap: the ring keeps its own cadence,
			// so its depth still reaches as far back in time.
			r.lastAt = f.CapturedAt
			r.markOnlineLocked(f.CapturedAt)
			return true, nil
		}
		if f.CapturedAt.Before(newest) {
			// The clock stepped back; the old capture times can no longer be
			// compared with new ones, and keeping the ring sorted matters
			// more than keeping its content.
			r.log.Warn("camera: capture time went backwards; recorder buffer cleared", "newest", newest, "captured", f.CapturedAt)
			clear(r.ring)
			r.head, r.n, r.bytes = 0, 0, 0
		}
	}
	for r.n > 0 && (r.n == len(r.ring) || r.bytes+int64(len(f.JPEG)) > r.opt.MaxBytes) {
		old := &r.ring[r.head]
		r.bytes -= int64(len(old.JPEG))
		*old = Frame{} // let the JPEG be collected now, not when overwritten
		r.head = (r.head + 1) % len(r.ring)
		r.n--
	}
	r.ring[(r.head+r.n)%len(r.ring)] = f
	r.n++
	r.bytes += int64(len(f.JPEG))
	r.lastAt = f.CapturedAt
	r.markOnlineLocked(f.CapturedAt)
	r.broadcastLocked()
	return true, nil
}

func (r *Recorder) markOnlineLocked(seen time.Time) {
	if !r.online {
		if k := len(r.outages); k > 0 && r.outages[k-1].to.IsZero() {
			r.outages[k-1].to = seen
			r.log.Info("camera: back online", "offline_since", r.outages[k-1].from, "last_error", r.lastErr)
		}
	}
	r.online = true
	r.lastSeen = seen
	r.lastErr = ""
}

func (r *Recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k := len(r.outages); k == 0 || !r.outages[k-1].to.IsZero() {
		// The camera was last known good at lastSeen; anything after that
		// is inside the outage.
		from := r.lastSeen
		if from.IsZero() {
			from = r.opt.Now()
		}
		if len(r.outages) == maxOutages {
			r.outages = append(r.outages[:0], r.outages[1:]...)
		}
		r.outages = append(r.outages, outage{from: from, err: err.Error()})
		r.log.Warn("camera: offline", "err", err)
	}
	r.online = false
	r.lastErr = err.Error()
	r.broadcastLocked()
}

// broadcastLocked wakes every FrameAt waiting for news.
func (r *Recorder) broadcastLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Recorder) at(i int) *Frame { return &r.ring[(r.head+i)%len(r.ring)] }

// Status reports the camera's health for the UI.
func (r *Recorder) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Status{Online: r.online, LastSeen: r.lastSeen, LastError: r.lastErr, Frames: r.n, Bytes: r.bytes}
	if r.n > 0 {
		s.Oldest, s.Newest = r.at(0).CapturedAt, r.at(r.n-1).CapturedAt
	}
	return s
}

// Latest returns the newest frame, for previews.
func (r *Recorder) Latest() (Frame, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return Frame{}, false
	}
	return *r.at(r.n - 1), true
}

// FrameAt returns the frame captured nearest t. When t is newer than the
// newest frame (data arrived before the next capture), it waits for the
// next capture, at most Interval+Tolerance and never past ctx, because that
// frame may be the nearer one. Errors match ErrNoFrame (as *NoFrameError)
// unless ctx ended first.
func (r *Recorder) FrameAt(ctx context.Context, t time.Time) (Frame, error) {
	t = t.Round(0)
	deadline := time.Now().Add(r.opt.Interval + r.opt.Tolerance)
	for {
		r.mu.Lock()
		wait := r.shouldWaitLocked(t)
		changed := r.changed
		r.mu.Unlock()
		left := time.Until(deadline)
		if !wait || left <= 0 {
			break
		}
		timer := time.NewTimer(left)
		select {
		case <-ctx.Done():
			timer.Stop()
			return Frame{}, ctx.Err()
		case <-timer.C:
		case <-changed:
			timer.Stop()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.chooseLocked(t)
}

// shouldWaitLocked: only a running, online recorder will capture the next
// frame soon, and only a frame after the newest can be nearer — unless the
// newest is already at least as close as anything captured from now on.
func (r *Recorder) shouldWaitLocked(t time.Time) bool {
	if !r.running || !r.online || r.n == 0 {
		return false
	}
	newest := r.at(r.n - 1).CapturedAt
	if !t.After(newest) {
		return false
	}
	return t.Sub(newest) > r.opt.Now().Sub(t)
}

func (r *Recorder) chooseLocked(t time.Time) (Frame, error) {
	if r.n == 0 {
		if !r.online && r.lastErr != "" {
			return Frame{}, &NoFrameError{At: t, Reason: "camera offline: " + r.lastErr}
		}
		return Frame{}, &NoFrameError{At: t, Reason: "no frame recorded yet"}
	}
	// First frame captured at or after t; the nearest is it or its
	// predecessor.
	i := sort.Search(r.n, func(i int) bool { return !r.at(i).CapturedAt.Before(t) })
	best, dist := -1, time.Duration(0)
	for _, j := range []int{i - 1, i} {
		if j < 0 || j >= r.n {
			continue
		}
		d := absDur(r.at(j).CapturedAt.Sub(t))
		if best < 0 || d < dist {
			best, dist = j, d
		}
	}
	if dist <= r.opt.Tolerance {
		return *r.at(best), nil
	}
	e := &NoFrameError{At: t, Nearest: dist}
	oldest := r.at(0).CapturedAt
	switch o := r.outageAtLocked(t); {
	case o != nil:
		e.Reason = fmt.Sprintf("camera offline at t (since %s): %s", o.from.Format(clockFmt), o.err)
	case t.Before(oldest):
		e.Reason = fmt.Sprintf("buffer does not reach back to t (oldest frame %s is %s later)", oldest.Format(clockFmt), roundDur(oldest.Sub(t)))
	default:
		e.Reason = fmt.Sprintf("nearest frame is %s away (tolerance %s)", roundDur(dist), r.opt.Tolerance)
	}
	return Frame{}, e
}

func (r *Recorder) outageAtLocked(t time.Time) *outage {
	for k := len(r.outages) - 1; k >= 0; k-- {
		o := &r.outages[k]
		if t.After(o.from) && (o.to.IsZero() || t.Before(o.to)) {
			return o
		}
	}
	return nil
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// roundDur prints 3.2s rather than 3.213456789s.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d
}
