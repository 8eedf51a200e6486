package playback

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// errNotWanted: a plan build1's accept refused (not an answer anyone
// sees).
var errNotWanted = errors.New("playback: plan not wanted")

// A JPEG camera's clip is an ffmpeg encode of its frames, most of a second
// of a core; an H.264 clip is a remux of milliseconds. A receipt that has
// just been rung up is the one an owner watching the live list clicks, so
// its clip is encoded once its lead-out is on disk, and the click finds
// it built. Prewarmed clips stay longer than the Range-request cache
// keeps a build (PrewarmTTL), within the same byte bound.
const (
	// PrewarmTTL is how long a prewarmed clip waits for its click.
	PrewarmTTL = 15 * time.Minute
	// prewarmRecent: a receipt whose clip ended longer ago than this (a
	// backfill, a late import) is nobody's live click: not prewarmed.
	prewarmRecent = 10 * time.Minute
	// prewarmQueue bounds the receipts waiting; past it new ones are
	// skipped (a burst of hundreds must not queue minutes of encodes).
	prewarmQueue = 32
	// prewarmCover is how long past the clip's end the recording may take
	// to reach it (its row moves every couple of seconds) before the
	// receipt is given up.
	prewarmCover = 20 * time.Second
)

// Prewarmer builds the clips of new receipts of JPEG-recorded cameras in
// the background, one at a time, so a click plays at once. It is an
// ingest observer (ingest.Observer): Observe never blocks the ingest.
type Prewarmer struct {
	p     *Player
	log   *slog.Logger
	queue chan *ent.JournalEntry

	// Counters: built, skipped because the queue was full, given up (not
	// JPEG, not recorded, failed).
	Warmed, Dropped, Skipped atomic.Int64
}

// NewPrewarmer returns a prewarmer over p; Run does the work.
func (p *Player) NewPrewarmer() *Prewarmer {
	return &Prewarmer{p: p, log: p.log, queue: make(chan *ent.JournalEntry, prewarmQueue)}
}

// Observe queues a new entry that has a camera, unless the queue is full
// or the clip cannot be encoded here.
func (w *Prewarmer) Observe(_ context.Context, e *ent.JournalEntry) {
	if e.CameraID == nil || !w.p.CanEncode() {
		return
	}
	// A copy: ingest may go on to change its entry (the picture).
	cp := *e
	select {
	case w.queue <- &cp:
	default:
		w.Dropped.Add(1)
	}
}

// Run prewarms until ctx ends.
func (w *Prewarmer) Run(ctx context.Context) {
	ctx = viewer.System(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-w.queue:
			if w.warm(ctx, e) {
				w.Warmed.Add(1)
			} else if ctx.Err() == nil {
				w.Skipped.Add(1)
			}
		}
	}
}

// warm waits for the clip's lead-out to be recorded and builds it. Entries
// arrive about in time order, so waiting for one's end seldom delays the
// next by much.
func (w *Prewarmer) warm(ctx context.Context, e *ent.JournalEntry) bool {
	_, from, to, err := ClipSpan(ctx, w.p.client, e)
	if err != nil || w.p.opt.Now().Sub(to) > prewarmRecent {
		return false
	}
	q := Request{CameraID: *e.CameraID, From: from, To: to}
	giveUp := to.Add(prewarmCover)
	for {
		if !w.sleepUntil(ctx, to) {
			return false
		}
		covered, jpeg, err := w.covered(ctx, q.CameraID, from, to)
		if err != nil || !jpeg {
			return false
		}
		if covered {
			break
		}
		if w.p.opt.Now().After(giveUp) {
			return false
		}
		if !w.sleepUntil(ctx, w.p.opt.Now().Add(time.Second)) {
			return false
		}
	}
	c, err := w.p.build1(ctx, q, PrewarmTTL, func(pl plan) bool { return pl.kind == recordingsegment.FormatJPEG_SEQ })
	if err != nil {
		if !errors.Is(err, errNotWanted) && ctx.Err() == nil {
			w.log.DebugContext(ctx, "clip prewarm", "entry", e.ID, "err", err)
		}
		return false
	}
	c.Close()
	return true
}

// covered reports whether the camera's recording has reached to (its
// newest segment's end), and whether what covers [from, to] is JPEG.
func (w *Prewarmer) covered(ctx context.Context, cam pulid.ID, from, to time.Time) (covered, jpeg bool, err error) {
	segs, err := w.p.rec.Segments(ctx, cam, from, to)
	if err != nil || len(segs) == 0 {
		return false, len(segs) == 0 && err == nil, err
	}
	for _, s := range segs {
		if s.Format == recordingsegment.FormatFMP4_H264 {
			return false, false, nil
		}
	}
	last := segs[len(segs)-1]
	return last.State != recordingsegment.StateWRITING || !last.EndAt.Before(to), true, nil
}

// sleepUntil waits until the player's clock passes t; false if ctx ended.
func (w *Prewarmer) sleepUntil(ctx context.Context, t time.Time) bool {
	d := t.Sub(w.p.opt.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
