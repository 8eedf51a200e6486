// Package playback turns a camera's recorded segments (package footage)
// into something a browser plays or a person saves: H.264 segments are
// remuxed, never transcoded, into one fragmented MP4 (MSE and a plain
// <video src> both play it); JPEG_SEQ segments are encoded to H.264 MP4
// with ffmpeg where it is installed, and downloaded as a ZIP of
// timestamped JPEGs where it is not. Every answer is built whole before
// its first byte, into memory or a bounded temporary file, so a player's
// Range requests are served by http.ServeContent from one build kept
// briefly in a cache bounded by bytes.
package playback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/footage/ffmpeg"
	"github.com/regicam/regicam/pulid"
)

// Recordings is what playback reads of the recordings: the index and the
// files (*footage.Service). Its reads go as the viewer in ctx: a camera
// the viewer cannot see is an ent not-found error.
type Recordings interface {
	Segments(ctx context.Context, cameraID pulid.ID, from, to time.Time) ([]*ent.RecordingSegment, error)
	Spans(ctx context.Context, cameraID pulid.ID, from, to time.Time) (spans, gaps []footage.Span, err error)
	Open(seg *ent.RecordingSegment) (*os.File, error)
	Status(ctx context.Context, cameraID pulid.ID) (footage.Status, error)
	Config() footage.Config
	UsedBytes(ctx context.Context, accountID pulid.ID) (int64, error)
}

// MaxSpan is the longest span one request plays: an hour of 1080p H.264
// is about a gigabyte to remux, and the dashboard asks for a receipt's
// seconds or a stretch of the timeline, never more.
const MaxSpan = time.Hour

// Options tune a Player; zero values take the defaults.
type Options struct {
	// TempDir holds builds too large for memory (default os.TempDir()).
	TempDir string
	// CacheBytes bounds the builds kept for Range requests and replays
	// (default 256 MiB); CacheTTL is how long one is kept (default 2 min).
	CacheBytes int64
	CacheTTL   time.Duration
	// MaxOutput bounds one build (default 2 GiB): past it the request
	// fails rather than fill the disk.
	MaxOutput int64
	// MemoryBytes: a build up to this size stays in memory (default 8 MiB).
	MemoryBytes int64
	// MaxTempBytes bounds the bytes of every build file in TempDir together
	// (default 8 GiB): a file lives while any answer still reads it, and
	// slow readers must not be able to fill the disk; past it new builds
	// are refused with 503 until answers end.
	MaxTempBytes int64
	// Builds is how many builds run at once (default 2): encoding JPEG
	// frames with ffmpeg takes a core.
	Builds int
	// MaxJPEGBytes bounds the JPEG frames held in memory for one encode
	// (default 128 MiB: two encodes at once stay within a quarter GiB); a
	// longer span is thinned evenly to fit.
	MaxJPEGBytes int64
	// FFmpeg overrides whether ffmpeg is used (nil: ffmpeg.Path decides);
	// tests turn it off to see the answers of a server without it.
	FFmpeg *bool
	Now    func() time.Time
}

func (o Options) withDefaults() Options {
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 256 << 20
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 2 * time.Minute
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = 2 << 30
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 8 << 20
	}
	if o.MaxTempBytes <= 0 {
		o.MaxTempBytes = 8 << 30
	}
	if o.Builds <= 0 {
		o.Builds = 2
	}
	if o.MaxJPEGBytes <= 0 {
		o.MaxJPEGBytes = 128 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Player serves recorded spans of cameras.
type Player struct {
	client *ent.Client
	rec    Recordings
	log    *slog.Logger
	opt    Options

	cache  *cache
	builds chan struct{}
	// onDisk counts the bytes of the build files alive (MaxTempBytes).
	onDisk atomic.Int64
	built  atomic.Int64

	mu     sync.Mutex
	flight map[string]*call
}

// New returns a Player over the recordings rec.
func New(client *ent.Client, rec Recordings, log *slog.Logger, opt Options) *Player {
	if log == nil {
		log = slog.Default()
	}
	opt = opt.withDefaults()
	sweepTemp(opt.TempDir, opt.Now(), log)
	return &Player{client: client, rec: rec, log: log, opt: opt,
		cache: newCache(opt.CacheBytes, opt.Now), builds: make(chan struct{}, opt.Builds),
		flight: map[string]*call{}}
}

// InFlight reports the builds running or waiting for a build slot (tests,
// metrics).
func (p *Player) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.flight)
}

// Close drops the cached builds (their files go once no answer reads them).
func (p *Player) Close() { p.cache.clear() }

// sweepTemp deletes the build files a process that died left behind: a
// build lives minutes (CacheTTL, or an answer being sent), never a day.
func sweepTemp(dir string, now time.Time, log *slog.Logger) {
	names, err := filepath.Glob(filepath.Join(dir, tempPattern))
	if err != nil {
		return
	}
	for _, n := range names {
		if st, err := os.Stat(n); err == nil && now.Sub(st.ModTime()) > 24*time.Hour {
			if err := os.Remove(n); err != nil {
				log.Warn("remove a stale playback file", "path", n, "err", err)
			}
		}
	}
}

// CanEncode reports whether JPEG recordings play as video here (ffmpeg
// is installed); without it they are downloaded as a ZIP of JPEGs.
func (p *Player) CanEncode() bool {
	if p.opt.FFmpeg != nil {
		return *p.opt.FFmpeg
	}
	_, ok := ffmpeg.Path()
	return ok
}

// The recordings' reads the GraphQL side needs (graph.Footage) pass
// through the Player, so one value serves a server's playback.

// Spans is footage's recorded spans and gaps of a camera in [from, to].
func (p *Player) Spans(ctx context.Context, cameraID pulid.ID, from, to time.Time) ([]footage.Span, []footage.Span, error) {
	return p.rec.Spans(ctx, cameraID, from, to)
}

// Status is footage's recording status of a camera.
func (p *Player) Status(ctx context.Context, cameraID pulid.ID) (footage.Status, error) {
	return p.rec.Status(ctx, cameraID)
}

// Config is the recording configuration in force.
func (p *Player) Config() footage.Config { return p.rec.Config() }

// UsedBytes is the disk an account's recordings use.
func (p *Player) UsedBytes(ctx context.Context, accountID pulid.ID) (int64, error) {
	return p.rec.UsedBytes(ctx, accountID)
}

// Request is one span to play or save.
type Request struct {
	CameraID pulid.ID
	From, To time.Time
	Download bool
	// Name is the download's file name without its extension (the format
	// decides .mp4 or .zip); empty: camera-<id>-<from>.
	Name string
}

// Serve answers the span [from, to] of a camera as the viewer in
// r.Context() may see it (the caller has checked who asks; a share link
// passes a context of its own). Failures are apperr answers (WriteHTTP):
// never a 500 for a bad file on disk.
func (p *Player) Serve(w http.ResponseWriter, r *http.Request, cameraID pulid.ID, from, to time.Time, download bool) {
	p.ServeRequest(w, r, Request{CameraID: cameraID, From: from, To: to, Download: download, Name: nameFrom(r.Context())})
}

type nameKey struct{}

// WithName names the download of a Serve made with ctx (without the
// extension): receipt-0042-20261203-141502.
func WithName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, nameKey{}, name)
}

func nameFrom(ctx context.Context) string {
	s, _ := ctx.Value(nameKey{}).(string)
	return s
}

// ServeRequest is Serve with the request spelled out.
func (p *Player) ServeRequest(w http.ResponseWriter, r *http.Request, q Request) {
	out, err := p.Build(r.Context(), q)
	if err != nil {
		p.writeError(w, r, q, err)
		return
	}
	defer out.Close()
	p.serve(w, r, q, out)
}

// Clip is one built answer.
type Clip struct {
	ContentType string
	// Start is the moment the video's time 0 shows (the keyframe at or
	// before the asked from); zero for a ZIP.
	Start time.Time
	// Skipped lists the segments left out: "RS…: why".
	Skipped []string
	// Thinned: frames were dropped evenly to keep the encode bounded.
	Thinned bool

	etag    string
	body    *body
	release func()
}

// Close lets the cache drop the build.
func (c *Clip) Close() {
	if c.release != nil {
		c.release()
		c.release = nil
	}
}

// Size is the answer's length in bytes.
func (c *Clip) Size() int64 { return c.body.size }

// Reader reads the answer.
func (c *Clip) Reader() (readSeekCloser, error) { return c.body.open() }

// Build makes (or finds in the cache) the answer to q.
func (p *Player) Build(ctx context.Context, q Request) (*Clip, error) {
	return p.build1(ctx, q, p.opt.CacheTTL, nil)
}

// build1 is Build keeping the result ttl in the cache; accept, when set,
// sees the plan first and may refuse it with errNotWanted.
func (p *Player) build1(ctx context.Context, q Request, ttl time.Duration, accept func(plan) bool) (*Clip, error) {
	if err := CheckSpan(q.From, q.To); err != nil {
		return nil, err
	}
	// Read as the viewer: a camera of another account (or one a STAFF
	// does not see) is not found, whoever asks.
	segs, err := p.rec.Segments(ctx, q.CameraID, q.From, q.To)
	if ent.IsNotFound(err) {
		return nil, ErrNoCamera
	}
	if err != nil {
		return nil, err
	}
	plan := p.plan(segs, q)
	if accept != nil && !accept(plan) {
		return nil, errNotWanted
	}
	if len(plan.segs) == 0 && len(plan.skipped) == 0 {
		return nil, p.noRecording(ctx, q)
	}
	if plan.kind == recordingsegment.FormatJPEG_SEQ && !q.Download && !p.CanEncode() {
		return nil, errNeedsFFmpeg
	}
	key := plan.key(q)
	c := p.cache.get(key)
	if c == nil {
		c, err = p.once(ctx, key, ttl, func(ctx context.Context) (*cached, error) {
			select {
			case p.builds <- struct{}{}:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			defer func() { <-p.builds }()
			p.built.Add(1)
			return p.build(ctx, q, plan)
		})
		if err != nil {
			return nil, err
		}
	}
	c.etag = etagOf(key)
	return c, nil
}

// Built counts the builds made (a cache hit makes none).
func (p *Player) Built() int64 { return p.built.Load() }

// CheckSpan refuses a span playback does not serve: reversed, empty, or
// longer than MaxSpan.
func CheckSpan(from, to time.Time) error {
	if from.IsZero() {
		return apperr.Invalid("from", "from（開始日時）を RFC 3339 で指定してください (from is required)").Because(apperr.REQUIRED)
	}
	if to.IsZero() {
		return apperr.Invalid("to", "to（終了日時）を RFC 3339 で指定してください (to is required)").Because(apperr.REQUIRED)
	}
	if !from.Before(to) {
		return apperr.Invalid("to", "to（終了日時）は from（開始日時）より後にしてください (to must be after from)").Because(apperr.RANGE_REVERSED)
	}
	if to.Sub(from) > MaxSpan {
		return apperr.Invalid("to", "再生できるのは1時間までです。to（終了日時）を from から1時間以内にしてください (at most 1 hour)").Because(apperr.RANGE_TOO_LONG)
	}
	return nil
}

// ErrNoCamera is every camera the viewer cannot see: another account's,
// one a STAFF does not see, unknown (a 404 that confirms nothing).
var ErrNoCamera = apperr.Missing("id", "カメラが見つかりません (camera not found)").Because(apperr.NOT_FOUND)

// errNeedsFFmpeg: a JPEG camera's recording plays as video only through
// ffmpeg; the download (a ZIP of the frames) still works.
var errNeedsFFmpeg = apperr.Unavailablef("このカメラの録画を動画で再生するには、サーバーに ffmpeg が必要です。ダウンロード（JPEG の ZIP）はできます (ffmpeg is not installed)").Because(apperr.FEATURE_DISABLED)

// NoRecording is the answer for a span with nothing recorded: the
// nearest recorded spans before and after, so the player can offer them.
type NoRecording struct {
	Err     *apperr.Error
	Nearest []footage.Span
	// Skipped: segments in the span that could not be read.
	Skipped []string
}

func (e *NoRecording) Error() string { return e.Err.Error() }
func (e *NoRecording) Unwrap() error { return e.Err }

// NoRecordingMessage is the sentence of a span without recording.
const NoRecordingMessage = "この時間の録画はありません"

// nearestReach is how far from the asked span the nearest recording is
// looked for.
const nearestReach = 7 * 24 * time.Hour

func (p *Player) noRecording(ctx context.Context, q Request) error {
	e := &NoRecording{Err: apperr.Missing("from", "%s (no recording in this span)", NoRecordingMessage).Because(apperr.NOT_FOUND)}
	base := p.client.RecordingSegment.Query().Where(recordingsegment.CameraID(q.CameraID),
		recordingsegment.StateNEQ(recordingsegment.StateCORRUPT))
	before, err := base.Clone().Where(recordingsegment.EndAtLTE(q.From), recordingsegment.EndAtGT(q.From.Add(-nearestReach))).
		Order(ent.Desc(recordingsegment.FieldEndAt)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return err
	}
	if before != nil {
		spans, _, err := p.rec.Spans(ctx, q.CameraID, before.EndAt.Add(-MaxSpan), before.EndAt)
		if err != nil {
			return err
		}
		if n := len(spans); n > 0 {
			e.Nearest = append(e.Nearest, spans[n-1])
		}
	}
	after, err := base.Clone().Where(recordingsegment.StartAtGTE(q.To), recordingsegment.StartAtLT(q.To.Add(nearestReach))).
		Order(ent.Asc(recordingsegment.FieldStartAt)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return err
	}
	if after != nil {
		spans, _, err := p.rec.Spans(ctx, q.CameraID, after.StartAt, after.StartAt.Add(MaxSpan))
		if err != nil {
			return err
		}
		if len(spans) > 0 {
			e.Nearest = append(e.Nearest, spans[0])
		}
	}
	return e
}

// plan is which segments a build reads.
type plan struct {
	kind    recordingsegment.Format
	segs    []*ent.RecordingSegment
	skipped []string
}

// plan keeps the segments of one format: the camera's H.264 ones when it
// has any in the span (a camera whose source changed within the span),
// else its JPEG ones. CORRUPT segments are skipped and said so.
func (p *Player) plan(segs []*ent.RecordingSegment, q Request) plan {
	var pl plan
	pl.kind = recordingsegment.FormatJPEG_SEQ
	for _, s := range segs {
		if s.Format == recordingsegment.FormatFMP4_H264 && s.State != recordingsegment.StateCORRUPT {
			pl.kind = recordingsegment.FormatFMP4_H264
		}
	}
	for _, s := range segs {
		switch {
		case !s.StartAt.Before(q.To) || s.EndAt.Before(q.From):
		case s.State == recordingsegment.StateCORRUPT:
			pl.skipped = append(pl.skipped, skipNote(s.ID, "corrupt"))
		case s.Format != pl.kind:
			pl.skipped = append(pl.skipped, skipNote(s.ID, "other format"))
		default:
			pl.segs = append(pl.segs, s)
		}
	}
	return pl
}

func skipNote(id pulid.ID, why string) string { return string(id) + ": " + why }

// key names a build: the span, the answer's kind and every segment's
// extent, so a segment still being written gives a new build as it grows
// into the span. A segment that is closed, or has recorded past the
// span's end, cannot change the answer any more: its growth after the
// span keeps the key, so a receipt's clip built once (Prewarm) is the
// clip every later ask gets.
func (pl plan) key(q Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%d|%d|%t|%s", q.CameraID, q.From.UnixMilli(), q.To.UnixMilli(), q.Download, pl.kind)
	for _, s := range pl.segs {
		if s.State != recordingsegment.StateWRITING || !s.EndAt.Before(q.To) {
			fmt.Fprintf(&b, "|%s:final", s.ID)
			continue
		}
		fmt.Fprintf(&b, "|%s:%d:%d", s.ID, s.Bytes, s.EndAt.UnixMilli())
	}
	return b.String()
}

// call is one build in flight; requests for the same key wait for it.
type call struct {
	done     chan struct{}
	c        *cached
	err      error
	waiters  int  // requests waiting; the builder holds the body for each
	finished bool // under Player.mu
	cancel   context.CancelFunc
}

// once runs build for key unless one is running, and shares its result.
// The build runs on a context of its own: the first asker leaving must
// not fail the others (a player cancels and re-asks with a Range).
func (p *Player) once(ctx context.Context, key string, ttl time.Duration, build func(context.Context) (*cached, error)) (*Clip, error) {
	p.mu.Lock()
	c, running := p.flight[key]
	if !running {
		// Its own context: the first asker leaving must not fail the
		// others; the last one leaving ends it (below).
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		c = &call{done: make(chan struct{}), cancel: cancel}
		p.flight[key] = c
		go p.run(bctx, key, ttl, c, build)
	}
	c.waiters++
	p.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		p.mu.Lock()
		held := c.finished
		if !held {
			c.waiters--
			// Nobody waits any more: stop building (or waiting for a build
			// slot), so asks dropped at once cannot queue work for everyone.
			// A new ask for the key starts afresh.
			if c.waiters == 0 {
				c.cancel()
				if p.flight[key] == c {
					delete(p.flight, key)
				}
			}
		}
		p.mu.Unlock()
		if held && c.err == nil {
			c.c.body.unhold()
		}
		return nil, ctx.Err()
	}
	if c.err != nil {
		return nil, c.err
	}
	v := c.c
	return &Clip{ContentType: v.ctype, Start: v.start, Skipped: v.skipped, Thinned: v.thinned,
		body: v.body, release: v.body.unhold}, nil
}

// run builds for a call: the body it makes starts held once (by the
// builder); the cache and every waiter take their own hold before the
// builder lets go, so the file outlives whoever still reads it.
func (p *Player) run(ctx context.Context, key string, ttl time.Duration, c *call, build func(context.Context) (*cached, error)) {
	defer c.cancel()
	v, err := build(ctx)
	if err == nil {
		p.cache.put(key, v, ttl)
	}
	p.mu.Lock()
	if p.flight[key] == c {
		delete(p.flight, key)
	}
	c.c, c.err, c.finished = v, err, true
	if err == nil {
		v.body.holdN(c.waiters)
	}
	p.mu.Unlock()
	close(c.done)
	if err == nil {
		v.body.unhold()
	}
}

// errTooLarge: the build would pass MaxOutput.
var errTooLarge = errors.New("playback: output over the size bound")

// errDiskBusy: the build files alive would pass MaxTempBytes.
var errDiskBusy = errors.New("playback: build files over their disk bound")

// TempBytes reports the bytes of the build files alive (tests, metrics).
func (p *Player) TempBytes() int64 { return p.onDisk.Load() }
