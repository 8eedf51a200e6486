package app

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/regicam/regicam/demo"
	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/footage/rtspcam"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/netguard"
)

// newFootage builds the disk recording (package footage, README 録画):
// the service every process reads recordings through, with the alerts of
// a full disk, and the player over it (footage/playback) that serves
// playback and clips and decodes RTSP cameras' thumbnails. With Record off
// (--record=false, API replicas) nothing is recorded here, but what the
// recording replicas wrote to the shared directory is played. Call it
// before startPictures, whose thumbnails read the player's frames.
func (a *App) newFootage(cfg Config) {
	fc := cfg.Footage
	if fc.Dir == "" {
		fc.Dir = filepath.Join(cfg.DataDir, "recordings")
	}
	if fc.Owner == "" {
		fc.Owner = processName()
	}
	var opts []footage.Option
	if a.alerts != nil {
		opts = append(opts, footage.WithAlerter(a.alerts))
	}
	// The same camera URL policy as the JPEG recorders (startPictures).
	opts = append(opts, footage.WithPolicy(netguard.Policy{AllowPrivate: !cfg.CameraDenyPrivate}))
	a.Footage = footage.New(a.DB.Client, a.Secrets, fc, a.log.With("part", "footage"), opts...)
	a.Player = playback.New(a.DB.Client, a.Footage, a.log.With("part", "playback"), playback.Options{})
}

// startFootage starts recording (when this process records): the frame
// tap hands the JPEG recorders' frames to footage at the recording rate,
// and in the demo the RTSP camera starts. Call it after startPictures (the
// recorders) and before their first Sync.
func (a *App) startFootage(ctx, runCtx context.Context, cfg Config, runDemo bool) {
	if runDemo {
		a.startDemoRTSP(ctx, runCtx, cfg)
	}
	if cfg.ClipPrewarm {
		w := a.Player.NewPrewarmer()
		a.Ingester.Observer = ingest.Observers{a.Ingester.Observer, w}
		a.background(func() { w.Run(runCtx) })
	}
	if fc := a.Footage.Config(); fc.Record {
		a.Recorders.SetTap(a.Footage.Tap)
		a.background(func() { a.Footage.Run(runCtx) })
		a.log.Info("recording cameras to disk", "dir", fc.Dir, "fps", fc.JPEGFPS, "retention", fc.Retention, "budget_bytes", fc.Budget)
	}
}

// startDemoRTSP runs the demo's RTSP camera (--demo-rtsp): an ffmpeg
// H.264 camera on 127.0.0.1 that the demo tenant's camera row reads from,
// filming a register of its own, so a newcomer plays an H.264 clip too.
// Without ffmpeg it says so and the demo goes on without it; without the
// flag a camera left by an earlier run is retired.
func (a *App) startDemoRTSP(ctx, runCtx context.Context, cfg Config) {
	url := ""
	if cfg.DemoRTSP {
		cam, err := rtspcam.Start(runCtx, rtspcam.Options{Name: "RTSP"})
		switch {
		case errors.Is(err, rtspcam.ErrNoFFmpeg):
			a.log.Warn("demo mode: --demo-rtsp needs ffmpeg (apt-get install -y ffmpeg); no RTSP camera")
		case err != nil:
			a.log.Warn("demo mode: the RTSP camera did not start", "err", err)
		default:
			url = cam.URL()
		}
	}
	id, err := demo.SeedRTSP(ctx, a.DB.Client, a.AccountID, url)
	if err != nil {
		a.log.Warn("demo mode: RTSP camera row", "err", err)
		return
	}
	if id != "" {
		a.log.Info("demo mode: an ffmpeg RTSP camera films レジ4, recorded as H.264", "camera", id, "url", url)
	}
}
