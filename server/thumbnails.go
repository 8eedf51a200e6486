package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/recording"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/thumbnailer"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// startThumbnails wires recorders, the blob store (shared through
// PostgreSQL when the journal is there, so replicas serve each other's
// pictures) and the retention sweep.
func (a *App) startThumbnails(ctx, runCtx context.Context, cfg Config) error {
	box, err := secrets.FromEnvOrFile(cfg.SecretKey, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	a.Secrets = box
	if a.DB.Dialect == dialect.Postgres {
		a.Blobs, err = thumbs.NewPostgres(ctx, a.DB.SQL)
	} else {
		a.Blobs, err = thumbs.NewFS(filepath.Join(cfg.DataDir, "thumbs"))
	}
	if err != nil {
		return fmt.Errorf("thumbnail store: %w", err)
	}
	a.Recorders = recording.New(a.DB.Client, box, a.log, camera.RecorderOptions{
		Interval: cfg.RecorderInterval, Depth: cfg.RecorderDepth, Tolerance: cfg.FrameTolerance,
	})
	a.startCameras(cfg)
	a.Thumbs = thumbnailer.New(a.Recorders, a.Blobs, a.log, thumbnailer.Options{Wait: cfg.ThumbnailWait})
	a.Ingester.Thumbnails = a.Thumbs
	if cfg.ThumbnailRetention > 0 {
		a.background(func() { a.expireThumbnails(runCtx, cfg.ThumbnailRetention) })
	}
	return nil
}

// expireThumbnails deletes pictures older than keep. Journal entries stay:
// they are bookkeeping records; only their picture goes.
func (a *App) expireThumbnails(ctx context.Context, keep time.Duration) {
	tick := time.NewTicker(min(keep/4, time.Hour))
	defer tick.Stop()
	for {
		if n, err := ExpireThumbnails(ctx, a.DB.Client, a.Thumbs, time.Now().Add(-keep)); err != nil && ctx.Err() == nil {
			a.log.Warn("thumbnail retention", "err", err)
		} else if n > 0 {
			a.log.Info("thumbnails expired", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// BlobDeleter removes stored thumbnails (thumbs.Store, or the thumbnailer,
// which also drops them from its memory).
type BlobDeleter interface {
	Delete(ctx context.Context, keys ...string) error
}

// ExpireThumbnails removes thumbnails created before cutoff, rows first so
// no row ever points at a missing blob for long, in batches.
func ExpireThumbnails(ctx context.Context, client *ent.Client, store BlobDeleter, cutoff time.Time) (int, error) {
	total := 0
	for {
		old, err := client.Thumbnail.Query().Where(thumbnail.CreatedAtLT(cutoff.UTC())).Limit(500).All(ctx)
		if err != nil || len(old) == 0 {
			return total, err
		}
		ids := make([]pulid.ID, len(old))
		keys := make([]string, len(old))
		for i, t := range old {
			ids[i], keys[i] = t.ID, t.StorageKey
		}
		if _, err := client.Thumbnail.Delete().Where(thumbnail.IDIn(ids...)).Exec(ctx); err != nil {
			return total, err
		}
		if err := store.Delete(ctx, keys...); err != nil {
			return total, err
		}
		total += len(old)
	}
}

// thumbnailHandler serves GET /thumbnails/{id} to the same viewer rules as
// GraphQL: another account's id is a 404, never a 403 that confirms it.
func (a *App) thumbnailHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := viewer.Require(r.Context(), viewer.ScopeJournalRead)
		if err != nil {
			status := http.StatusForbidden
			if _, ok := viewer.FromContext(r.Context()); !ok {
				status = http.StatusUnauthorized
			}
			http.Error(w, err.Error(), status)
			return
		}
		id := r.PathValue("id")
		if !pulid.Valid(id, "TH") {
			http.NotFound(w, r)
			return
		}
		th, err := a.DB.Client.Thumbnail.Query().
			Where(thumbnail.ID(pulid.ID(id)), thumbnail.AccountID(v.AccountID)).Only(r.Context())
		if ent.IsNotFound(err) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			a.log.Error("thumbnail lookup", "id", id, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		etag := `"` + th.Sha256 + `"`
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		b, err := a.Thumbs.Blob(r.Context(), th.StorageKey)
		if errors.Is(err, thumbs.ErrNotFound) {
			w.Header().Del("Cache-Control")
			w.Header().Del("ETag")
			http.NotFound(w, r)
			return
		}
		if err != nil {
			a.log.Error("thumbnail read", "id", id, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", th.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})
}
