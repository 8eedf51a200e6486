package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"

	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/presence"
	"github.com/regicam/regicam/camcloud/safie"
)

// startCameraCloud builds the camera-cloud connections (Safie), the
// pictures and the presence checker over them, and starts their loops
// until runCtx ends: the device sync (cameras made, renamed, retired), the
// retry of cloud pictures not given yet and the person-event check of
// entries on cloud cameras. With the demo and --demo-safie, the
// cloud is a fake in this process and the demo tenant is connected to it.
// Alerts must be built first: the sync tells them of cameras that stop
// recording.
func (a *App) startCameraCloud(ctx, runCtx context.Context, cfg Config, runDemo bool) {
	base := cfg.SafieBaseURL
	var demo *demoSafie
	if runDemo && cfg.DemoSafie {
		demo = startDemoSafie()
		base = demo.fk.URL()
	}
	cc := camcloud.Config{BaseURL: base, Owner: processName(), Alerter: a.alerts, SyncEvery: cfg.SafieSyncEvery}
	if cfg.SafiePOSItemID > 0 {
		id := cfg.SafiePOSItemID
		cc.DefaultItemID = &id
	}
	if cfg.SafieClientID != "" {
		redirect := cfg.SafieRedirectURL
		if redirect == "" {
			redirect = strings.TrimRight(cfg.PublicURL, "/") + "/oauth/safie/callback"
		}
		cc.OAuth = &safie.OAuthConfig{ClientID: cfg.SafieClientID, ClientSecret: cfg.SafieClientSecret, RedirectURL: redirect}
		if base != "" && base != safie.DefaultBaseURL {
			// Another cloud than the public one (the fake, a staging
			// host) serves its consent page and token endpoint itself.
			root := strings.TrimRight(base, "/")
			cc.OAuth.AuthorizeURL, cc.OAuth.TokenURL = root+"/auth/authorize", root+"/v1/auth/token"
		}
	}
	if demo != nil {
		// The demo's fake has its own item id for the POS option; an
		// OAuth client, if configured, is the real cloud's and not the
		// fake's.
		cc.DefaultItemID = nil
		cc.OAuth = nil
	}
	a.CameraCloud = camcloud.New(a.DB.Client, a.Secrets, cc, a.log)
	if demo != nil {
		demo.connect(ctx, a)
		a.background(func() {
			demo.people(runCtx)
			demo.stop()
		})
	}
	a.background(func() { a.CameraCloud.Run(runCtx) })
	a.CloudPictures = pictures.New(a.CameraCloud, pictures.Options{Log: a.log, DB: a.DB.Client})
	// Pictures the cloud could not give yet (rate limit, not uploaded,
	// key refused) are taken again until they come or pass the retention.
	sweeper := pictures.NewSweeper(a.DB.Client, a.Ingester, pictures.SweeperOptions{Log: a.log, Owner: cc.Owner})
	a.background(func() { sweeper.Run(runCtx) })
	checker := presence.New(a.DB.Client, a.CameraCloud, a.Ingester, a.alerts, presence.Config{}, a.log)
	a.background(func() { checker.Run(runCtx) })
}

// processName names this process in the sync leases of connections, so
// one replica syncs each connection at a time.
func processName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b[:])
}
