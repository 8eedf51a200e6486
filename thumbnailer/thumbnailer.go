// Package thumbnailer cuts a receipt's thumbnail from the frame its camera
// recorded nearest the receipt's own time and puts it in the blob store.
package thumbnailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/thumbs"
)

// Sources finds the recorder of a camera.
type Sources interface {
	Source(id pulid.ID) (camera.FrameSource, bool)
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

// Thumbnailer implements ingest.Thumbnailer.
type Thumbnailer struct {
	sources Sources
	store   thumbs.Store
	opt     Options
	log     *slog.Logger

	mu    sync.Mutex
	cache map[string][]byte
	order []string
}

// New returns a Thumbnailer.
func New(sources Sources, store thumbs.Store, log *slog.Logger, opt Options) *Thumbnailer {
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
	return &Thumbnailer{sources: sources, store: store, opt: opt, log: log, cache: map[string][]byte{}}
}

var _ ingest.Thumbnailer = (*Thumbnailer)(nil)

// Capture implements ingest.Thumbnailer.
func (t *Thumbnailer) Capture(ctx context.Context, accountID, entryID, cameraID pulid.ID, at time.Time) (*ingest.Shot, string, bool) {
	ctx, cancel := context.WithTimeout(ctx, t.opt.Wait)
	defer cancel()
	shot, reason, err := t.capture(ctx, accountID, entryID, cameraID, at)
	if err != nil && ctx.Err() != nil {
		return nil, "", true // the frame may still come; ingest will not wait longer
	}
	return shot, reason, false
}

// CaptureLate implements ingest.Thumbnailer.
func (t *Thumbnailer) CaptureLate(ctx context.Context, accountID, entryID, cameraID pulid.ID, at time.Time) (*ingest.Shot, string) {
	ctx, cancel := context.WithTimeout(ctx, t.opt.LateWait)
	defer cancel()
	shot, reason, err := t.capture(ctx, accountID, entryID, cameraID, at)
	if err != nil && reason == "" {
		reason = "カメラ映像を取得できませんでした (no frame in time)"
	}
	return shot, reason
}

func (t *Thumbnailer) capture(ctx context.Context, accountID, entryID, cameraID pulid.ID, at time.Time) (*ingest.Shot, string, error) {
	src, ok := t.sources.Source(cameraID)
	if !ok {
		return nil, "このカメラは録画されていません (camera is not recorded by this server)", nil
	}
	frame, err := src.FrameAt(ctx, at)
	var nf *camera.NoFrameError
	if errors.As(err, &nf) {
		return nil, "該当時刻の映像がありません (" + nf.Reason + ")", nil
	}
	if err != nil {
		return nil, "", err
	}
	th, err := thumbs.Make(frame.JPEG, t.opt.Width, t.opt.Quality)
	if err != nil {
		return nil, "映像を縮小できませんでした (" + err.Error() + ")", nil
	}
	key := thumbs.Key(string(accountID), string(entryID))
	if err := t.store.Put(ctx, key, th.JPEG); err != nil {
		t.log.Warn("store thumbnail", "entry", entryID, "err", err)
		return nil, "", fmt.Errorf("store thumbnail: %w", err)
	}
	t.remember(key, th.JPEG)
	return &ingest.Shot{
		CameraID: cameraID, Key: key, RequestedAt: at, CapturedAt: frame.CapturedAt,
		Width: th.Width, Height: th.Height, Bytes: int64(len(th.JPEG)), SHA256: th.SHA256,
	}, "", nil
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
