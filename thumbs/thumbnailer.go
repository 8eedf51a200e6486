package thumbs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pulid"
)

// Frames gives the picture a camera took nearest a moment (camera/fleet
// serves it). It is declared here, where it is used, so that thumbs needs
// nothing from camera: camera's registry cuts its previews with Make.
type Frames interface {
	// FrameAt returns the JPEG nearest at and when it was taken; a zero
	// capturedAt means the source cannot say (a camera cloud answers for
	// the asked second): the thumbnail then reports its skew as unknown
	// rather than guess it. ErrNotRecorded: no recorder runs the camera in
	// this process; an error with a NoFrameReason() string method: the
	// camera has no picture for that moment, and why (the reason is kept
	// on the entry). When that error also has a RetryLater() bool method
	// that answers true, the picture may still come (a cloud that is
	// rate-limiting or not yet holding that second): its reason is kept
	// as given, for the source's own retry to find (camcloud/pictures),
	// and an expired wait makes Capture pending as for any other error.
	FrameAt(ctx context.Context, cameraID pulid.ID, at time.Time) (jpeg []byte, capturedAt time.Time, err error)
}

// ErrNotRecorded is the Frames error for a camera this process does not
// record. A Frames may wrap it in an error with a NoFrameReason (why: the
// camera is retired, has no source …); alone it is worded NOT_RECORDED.
var ErrNotRecorded = errors.New("thumbs: camera is not recorded by this process")

// The reason codes a Frames words its NoFrameReason with (Reason): the
// closed set is ingest's (ingest/thumbreason.go); these are the ones a
// source of frames can answer.
const (
	CameraRetired = ingest.ReasonCameraRetired
	NotRecorded   = ingest.ReasonNotRecorded
	CameraOffline = ingest.ReasonCameraOffline
	NoFrame       = ingest.ReasonNoFrame
	FrameTooFar   = ingest.ReasonFrameTooFar
	BufferPassed  = ingest.ReasonBufferPassed
	CloudRetry    = ingest.ReasonCloudRetry
	CloudAuth     = ingest.ReasonCloudAuth
	NoRecording   = ingest.ReasonNoRecording
	Retention     = ingest.ReasonRetention
	Unreadable    = ingest.ReasonUnreadable
)

// Reason is an entry's thumbnail_reason: "CODE: sentence" (ingest.Reason);
// text "" takes the code's standard sentence.
func Reason(code ingest.ReasonCode, text string) string { return ingest.Reason(code, text) }

// StoreFailedReason is kept on an entry whose picture was taken but could
// not be written to the blob store: nothing is wrong with the picture, so
// it means "try again" (Capture answers pending; a source that can give
// the same second again, the camera cloud, retries it: camcloud/pictures).
var StoreFailedReason = ingest.Reason(ingest.ReasonStoreFailed, "")

// UnreadableReason begins the reason of a frame that is not a JPEG Make
// can read (its error follows). From a recorder it is final; a camera
// cloud may answer the same second with a good frame later, so
// camcloud/pictures retries it a few times.
var UnreadableReason = ingest.Reason(ingest.ReasonUnreadable, "")

// PendingReason is ingest's reason for a picture still being taken (a
// source that retries, camcloud/pictures, sweeps entries left with it).
var PendingReason = ingest.Reason(ingest.ReasonPending, "")

// ExpiredReason is kept on an entry whose thumbnail retention deleted
// (Expire): the entry stays, its picture is gone on purpose.
var ExpiredReason = ingest.Reason(ingest.ReasonExpired, "")

// SourceKinder is what a Frames may also say: the source kind of a camera
// (SIMULATED, SNAPSHOT, MJPEG, CLOUD), the label of the thumbnail skew
// metric (metrics.ThumbnailSkew). Without it the label is "unknown".
type SourceKinder interface {
	SourceKind(cameraID pulid.ID) string
}

// errStore: the picture is fine, the blob store refused it.
var errStore = errors.New("thumbs: store")

type noFrame interface {
	error
	NoFrameReason() string
}

type retryLater interface {
	RetryLater() bool
}

// Options tune thumbnails; zero values take the defaults.
type Options struct {
	Width   int           // default 320
	Quality int           // JPEG quality, default 75
	Wait    time.Duration // how long ingest may wait for a frame, default 2s
	// LateWait bounds the background wait for a frame that was not ready in
	// time, default 30s.
	LateWait time.Duration
	// Cache is how many recent thumbnails stay in memory for dataURL, so a
	// thousand subscribers of one entry cost one blob read. Default 256.
	Cache int
}

// Thumbnailer cuts a receipt's thumbnail from the frame its camera
// recorded nearest the receipt's own time and puts it in the blob store
// (ingest.Thumbnailer).
type Thumbnailer struct {
	frames Frames
	store  Store
	opt    Options
	log    *slog.Logger

	mu    sync.Mutex
	cache map[string][]byte
	order []string
}

// New returns a Thumbnailer.
func New(frames Frames, store Store, log *slog.Logger, opt Options) *Thumbnailer {
	if opt.Width <= 0 {
		opt.Width = 320
	}
	if opt.Quality <= 0 {
		opt.Quality = 75
	}
	if opt.Wait <= 0 {
		opt.Wait = 2 * time.Second
	}
	if opt.LateWait <= 0 {
		opt.LateWait = 30 * time.Second
	}
	if opt.Cache <= 0 {
		opt.Cache = 256
	}
	if log == nil {
		log = slog.Default()
	}
	return &Thumbnailer{frames: frames, store: store, opt: opt, log: log, cache: map[string][]byte{}}
}

var _ ingest.Thumbnailer = (*Thumbnailer)(nil)

// Capture implements ingest.Thumbnailer.
func (t *Thumbnailer) Capture(ctx context.Context, accountID, entryID, cameraID pulid.ID, at time.Time) (*ingest.Shot, string, bool) {
	ctx, cancel := context.WithTimeout(ctx, t.opt.Wait)
	defer cancel()
	shot, reason, err := t.capture(ctx, accountID, entryID, cameraID, at)
	if err != nil && ctx.Err() != nil {
		return nil, "", true // the frame may still come; ingest will not wait longer (ingest says PENDING)
	}
	if errors.Is(err, errStore) {
		return nil, "", true // the store may take it on the late try
	}
	if shot == nil && reason == "" {
		// A source failing without saying why: no late try would do
		// better, so the reason is final now, never left empty.
		t.log.Warn("camera frame", "entry", entryID, "camera", cameraID, "err", err)
		reason = Reason(NoFrame, "カメラ映像を取得できませんでした")
	}
	return shot, reason, false
}

// CaptureLate implements ingest.Thumbnailer.
func (t *Thumbnailer) CaptureLate(ctx context.Context, accountID, entryID, cameraID pulid.ID, at time.Time) (*ingest.Shot, string) {
	ctx, cancel := context.WithTimeout(ctx, t.opt.LateWait)
	defer cancel()
	shot, reason, err := t.capture(ctx, accountID, entryID, cameraID, at)
	if shot == nil && reason == "" {
		if err != nil && ctx.Err() == nil {
			t.log.Warn("camera frame", "entry", entryID, "camera", cameraID, "err", err)
		}
		reason = ingest.Reason(ingest.ReasonTimeout, "")
	}
	return shot, reason
}

func (t *Thumbnailer) capture(ctx context.Context, accountID, entryID, cameraID pulid.ID, at time.Time) (*ingest.Shot, string, error) {
	jpeg, capturedAt, err := t.frames.FrameAt(ctx, cameraID, at)
	var nf noFrame
	if errors.As(err, &nf) {
		reason := coded(nf.NoFrameReason())
		if r, ok := nf.(retryLater); ok && r.RetryLater() {
			// Not "no picture of that moment": not yet. The error stays so
			// Capture can still go pending when its wait ran out.
			return nil, reason, err
		}
		return nil, reason, nil
	}
	if errors.Is(err, ErrNotRecorded) {
		return nil, Reason(NotRecorded, "このカメラはこのサーバーで録画されていません"), nil
	}
	if err != nil {
		return nil, "", err
	}
	th, err := Make(jpeg, t.opt.Width, t.opt.Quality)
	if err != nil {
		return nil, UnreadableReason + " (" + err.Error() + ")", nil
	}
	key := Key(string(accountID), string(entryID))
	psum := sha256.Sum256(jpeg)
	psha := hex.EncodeToString(psum[:])
	// The frame goes in as the camera sent it: Make has checked it is a
	// JPEG within MaxPixels, and re-encoding would only lose detail. Its
	// size is bounded where it was read (camera.DefaultMaxFrameBytes, 10 MB).
	// The key names the frame's bytes: a retake for the same entry (a shot
	// taken for another moment, the late retry) stores its own frame rather
	// than meeting the first one under a written-once key (see Store).
	pkey := PictureKey(string(accountID), string(entryID), psha)
	// The picture is written beside the thumbnail, not before it: the
	// receipt waits for the slower of the two rather than their sum, and
	// the picture is extra evidence, never a reason to lose the thumbnail.
	perr := make(chan error, 1)
	go func() { perr <- t.store.Put(ctx, pkey, jpeg) }()
	terr := t.store.Put(ctx, key, th.JPEG)
	pictureErr := <-perr
	if terr != nil {
		t.log.Warn("store thumbnail", "entry", entryID, "err", terr)
		// No row will point at the frame: retention would never find it.
		t.dropPicture(ctx, entryID, pkey)
		return nil, StoreFailedReason, fmt.Errorf("%w thumbnail: %w", errStore, terr)
	}
	t.remember(key, th.JPEG)
	shot := &ingest.Shot{
		CameraID: cameraID, Key: key, RequestedAt: at, CapturedAt: capturedAt,
		Width: th.Width, Height: th.Height, Bytes: int64(len(th.JPEG)), SHA256: th.SHA256,
	}
	if capturedAt.IsZero() {
		shot.SkewUnknown, shot.CapturedAt = true, at
	} else {
		// The one place every thumbnail with a known skew passes
		// (docs/ARCHITECTURE.md: metrics): at is the corrected time when
		// the register's clock offset is known (ingest).
		metrics.ThumbnailSkew(t.sourceKind(cameraID), capturedAt.Sub(at))
	}
	if pictureErr != nil {
		t.log.Warn("store picture; keeping the thumbnail alone", "entry", entryID, "err", pictureErr)
		t.dropPicture(ctx, entryID, pkey) // a write cut off by the deadline may still land
		return shot, "", nil
	}
	shot.Picture = &ingest.Picture{
		Key: pkey, Width: th.SourceWidth, Height: th.SourceHeight, Bytes: int64(len(jpeg)), SHA256: psha,
	}
	return shot, "", nil
}

// coded is a Frames' reason with its code: a source that words its own
// (camera/fleet, camcloud/pictures) keeps it; free text is NO_FRAME with
// that text as the detail.
func coded(reason string) string {
	switch ingest.CodeOf(reason) {
	case "":
		return Reason(NoFrame, "")
	case ingest.ReasonUnknown:
		return Reason(NoFrame, "該当時刻の映像がありません ("+reason+")")
	}
	return reason
}

// sourceKind labels the skew metric (SourceKinder).
func (t *Thumbnailer) sourceKind(cameraID pulid.ID) string {
	if sk, ok := t.frames.(SourceKinder); ok {
		if k := sk.SourceKind(cameraID); k != "" {
			return k
		}
	}
	return "unknown"
}

// dropPicture deletes a frame no row will point at. ctx may be past its
// deadline already (that can be why the write failed), so the delete gets
// its own short one.
func (t *Thumbnailer) dropPicture(ctx context.Context, entryID pulid.ID, pkey string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := t.store.Delete(ctx, pkey); err != nil {
		t.log.Warn("delete unrecorded picture", "entry", entryID, "key", pkey, "err", err)
	}
}

// Picture returns a stored full-resolution frame. It is read from the store
// every time and never kept in memory: frames are up to tens of times a
// thumbnail's size, one is asked for per selected receipt, and browsers cache
// it (immutable).
func (t *Thumbnailer) Picture(ctx context.Context, key string) ([]byte, error) {
	return t.store.Get(ctx, key)
}

// Blob returns a stored thumbnail, from memory when it is recent.
func (t *Thumbnailer) Blob(ctx context.Context, key string) ([]byte, error) {
	t.mu.Lock()
	b, ok := t.cache[key]
	t.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := t.store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	t.remember(key, b)
	return b, nil
}

func (t *Thumbnailer) remember(key string, b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.cache[key]; ok {
		return
	}
	t.cache[key] = b
	t.order = append(t.order, key)
	if len(t.order) > t.opt.Cache {
		delete(t.cache, t.order[0])
		t.order = t.order[1:]
	}
}

// Delete removes thumbnails from the store and from memory, so an expired
// picture is not served from the cache.
func (t *Thumbnailer) Delete(ctx context.Context, keys ...string) error {
	t.Forget(keys...)
	return t.store.Delete(ctx, keys...)
}

// Forget drops keys from memory only (their blobs went elsewhere).
func (t *Thumbnailer) Forget(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.cache, k)
	}
}
