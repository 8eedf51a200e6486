package app

import (
	"context"
	"fmt"
	"path/filepath"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/netguard"
	"github.com/regicam/regicam/thumbs"
)

// startPictures wires recorders (behind the camera cloud's pictures,
// built first by startCameraCloud), the camera registry, the blob store
// (shared through PostgreSQL when the journal is there, so replicas serve
// each other's pictures), the thumbnailer ingest uses and the retention
// sweep.
func (a *App) startPictures(ctx, runCtx context.Context, cfg Config) error {
	var err error
	if a.DB.Dialect == dialect.Postgres {
		a.Blobs, err = thumbs.NewPostgres(ctx, a.DB.SQL)
	} else {
		a.Blobs, err = thumbs.NewFS(filepath.Join(cfg.DataDir, "thumbs"))
	}
	if err != nil {
		return fmt.Errorf("thumbnail store: %w", err)
	}
	a.Recorders = fleet.New(a.DB.Client, a.Secrets, a.log, camera.RecorderOptions{
		Interval: cfg.RecorderInterval, Depth: cfg.RecorderDepth, Tolerance: cfg.FrameTolerance,
	})
	// The camera URL policy covers the recorders' fetches as well as the
	// registry's tests; the registry tells the recorders of a camera added
	// or retired at once rather than at the next periodic sync.
	policy := netguard.Policy{AllowPrivate: !cfg.CameraDenyPrivate}
	a.Recorders.UsePolicy(policy)
	a.Cameras = registry.New(a.DB.Client, a.Secrets, registry.Options{
		Policy: policy, TestTimeout: cfg.CameraTestTimeout, Recorders: a.Recorders, RTSP: RTSPProber{}, Log: a.log,
	})
	// A CLOUD camera's picture of any past second comes from the cloud's
	// recording, an RTSP camera's is decoded from regicam's own recording
	// (footage/playback), every other camera's comes from this process's
	// recorders.
	var frames thumbs.Frames = a.Recorders
	if a.Player != nil {
		frames = a.Player.Frames(frames)
	}
	if a.CloudPictures != nil {
		frames = a.CloudPictures.Frames(frames)
	}
	a.Thumbs = thumbs.New(frames, a.Blobs, a.log, thumbs.Options{Wait: cfg.ThumbnailWait})
	a.Ingester.Thumbnails = a.Thumbs
	if keep := cfg.ThumbnailRetention; keep > 0 {
		a.background(func() { thumbs.RunRetention(runCtx, a.DB.Client, a.Thumbs, keep, a.log) })
	}
	return nil
}
