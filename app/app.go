package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/demo"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pagecache"
	"github.com/regicam/regicam/pos/polling"
	smaregiconn "github.com/regicam/regicam/pos/smaregi/storedconn"
	ubiregiconn "github.com/regicam/regicam/pos/ubiregi/storedconn"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports"
	"github.com/regicam/regicam/reports/rollup"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/server"
	"github.com/regicam/regicam/server/livews"
	"github.com/regicam/regicam/sharelink"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// App is one running regicam process: database, event feed, ingest, the
// background jobs and the HTTP handler over them.
type App struct {
	DB       *db.DB
	Bus      pubsub.Bus
	Hub      *feed.Hub
	Ingester *ingest.Ingester
	// Rollups keeps the daily sales rollups whole-day summaries read.
	Rollups   *rollup.Store
	AccountID pulid.ID // the first account (the demo tenant in demo mode); requests act as their viewer
	Auth      *auth.Service
	// Handler serves every route (server.New); Live is its websocket
	// transport (shared groups).
	Handler    http.Handler
	Live       *livews.Transport
	Recorders  *fleet.Manager
	Cameras    *registry.Service // adds, changes, retires and tests cameras (app/pictures.go)
	Thumbs     *thumbs.Thumbnailer
	Blobs      thumbs.Store
	Connectors *polling.Runtime
	Secrets    *secrets.Box
	// CameraCloud keeps the camera-cloud connections (Safie) and their
	// cameras in step (app/camcloud.go).
	CameraCloud *camcloud.Service
	// CloudPictures are the CLOUD cameras' pictures (thumbnails of any
	// past second, live, recorded spans) from the cloud.
	CloudPictures *pictures.Service
	// Footage records cameras to disk and reads the recordings; Player
	// serves them (app/footage.go).
	Footage *footage.Service
	Player  *playback.Player

	reports *reports.Service
	exports *export.Progress
	alerts  *alerts.Service
	ubiregi *ubiregiconn.Connector // nil without REGICAM_UBIREGI_CLIENT_ID
	smaregi *smaregiconn.Connector
	web     *server.Server // the HTTP side over all of the above

	log             *slog.Logger
	dropPoolMetrics func()
	cancel          context.CancelFunc
	workers         sync.WaitGroup // background loops; Close waits for them
}

// Start opens the database, builds the services, starts the background
// jobs (feed, pollers, recorders, sweeps, retention and, when enabled, the
// demo) and the HTTP handler over them. Close stops it all.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	// Start-up and every background loop act as the server itself; request
	// handlers act as their viewer (ent/schema/rule).
	ctx = viewer.System(ctx)
	database, err := db.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.DBMaxConns > 0 && database.Dialect == dialect.Postgres {
		database.SQL.SetMaxOpenConns(cfg.DBMaxConns)
		database.SQL.SetMaxIdleConns(cfg.DBMaxConns)
	}
	var bus pubsub.Bus
	if database.Dialect == dialect.Postgres {
		bus, err = pubsub.NewPostgres(database.DSN, database.SQL, log)
		if err != nil {
			database.Close()
			return nil, fmt.Errorf("listen for events: %w", err)
		}
	} else {
		bus = pubsub.NewMemory()
	}
	runCtx, cancel := context.WithCancel(viewer.System(context.Background()))
	a := &App{DB: database, Bus: bus, log: log, cancel: cancel}
	// The pool's go_sql_* series on /metrics, until Close.
	a.dropPoolMetrics = metrics.DBPool(database.SQL)
	a.Auth = auth.New(database.Client, log, auth.Options{
		MaxBackoff: cfg.LockoutDuration, KeyRate: cfg.APIKeyRate, KeyBurst: cfg.APIKeyBurst,
		WatchEvery: cfg.RevocationCheck, Now: cfg.AuthNow, TrustedProxies: cfg.TrustedProxies,
	})
	a.background(func() { a.Auth.RunWatcher(runCtx) })
	a.Hub = feed.NewHub(database.Client, bus, log, feed.Options{})
	a.Ingester = ingest.New(database.Client, database.Dialect, bus, log)
	// Before anything can ingest: every new entry is counted in its own
	// transaction from the first one on.
	a.Rollups = rollup.New(database.SQL, database.Dialect, log)
	a.Ingester.Rollups = a.Rollups
	if a.Secrets, err = secrets.FromEnvOrFile(cfg.SecretKey, cfg.DataDir); err != nil {
		a.Close()
		return nil, fmt.Errorf("secret key: %w", err)
	}
	// The demo tenant is chosen before the cameras' services are built:
	// with --demo-safie its camera cloud is a fake in this process.
	runDemo, err := a.chooseAccount(ctx, cfg.Demo)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.startAlerts(runCtx, cfg)
	// The fixed rule kinds become presets of the rule builder (alerts/builder).
	if _, err := a.alerts.MigratePresets(ctx); err != nil {
		a.Close()
		return nil, err
	}
	a.startCardMatch(runCtx)
	a.startCameraCloud(ctx, runCtx, cfg, runDemo)
	a.newFootage(cfg)
	if err := a.startPictures(ctx, runCtx, cfg); err != nil {
		a.Close()
		return nil, err
	}
	a.startFootage(ctx, runCtx, cfg, runDemo)
	a.startDigest(runCtx, cfg)
	if runDemo {
		if err := a.demoOwner(ctx, cfg); err != nil {
			a.Close()
			return nil, err
		}
	} else {
		a.hintFirstOwner(ctx)
	}
	// Record the cameras now, so the first receipts already have pictures.
	if err := a.Recorders.Sync(ctx); err != nil {
		a.Close()
		return nil, err
	}
	a.background(func() { a.Recorders.Run(runCtx, 30*time.Second) })
	// Pictures a stopped process left PENDING (its late capture ran in
	// memory) are retaken once the recorders run, so none stays without a
	// picture or a final reason; before the first sync they would all read
	// NOT_RECORDED.
	a.background(func() { a.settlePending(runCtx) })
	a.setupSmaregi(cfg)
	var ds *demoSmaregi
	if runDemo && cfg.DemoPOS {
		if ds, err = a.startDemoSmaregi(ctx, &cfg); err != nil {
			a.Close()
			return nil, err
		}
		if cfg.DemoSafie {
			ds.cloudCamera = DemoSafieCounter
		}
	}
	if err := a.setupUbiregi(cfg); err != nil {
		a.Close()
		return nil, fmt.Errorf("ubiregi: %w", err)
	}
	a.Connectors = polling.New(database.Client, a.Ingester, log, polling.Options{Interval: cfg.PollInterval,
		ReconcileEvery: cfg.ReconcileEvery, ReconcileWindow: cfg.ReconcileWindow}, a.connectorFactories())
	a.background(func() { a.Connectors.Run(runCtx) })
	a.background(func() {
		if err := a.Hub.Run(runCtx); err != nil {
			log.Error("feed stopped", "err", err)
		}
	})
	if _, err := a.Hub.Head(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if runDemo {
		every := cfg.DemoEvery
		if every <= 0 {
			every = 3 * time.Second
		}
		gen := demo.NewGenerator(database.Client, a.Ingester, a.AccountID, log, time.Now().UnixNano())
		a.background(func() { _ = gen.Run(runCtx, every) })
		log.Info("demo mode: ringing up receipts", "every", every)
		if ds != nil {
			a.background(func() { ds.run(runCtx, a, cfg.Addr, 2*every) })
			log.Info("demo mode: a built-in Smaregi fake rings up sales and sends webhooks", "contract", "demo_contract")
		}
	}
	// Share links: the visitor's page plays the clip through the same
	// player as the dashboard (a nil player must stay a nil ClipPlayer).
	shareLinks := &sharelink.Service{Client: database.Client, Log: log, PublicURL: cfg.PublicURL}
	share := &server.Share{Links: shareLinks, Log: log}
	if a.Player != nil {
		share.Player = a.Player
	}
	a.web = server.New(server.Deps{
		DB: database, Log: log, Auth: a.Auth, Ingester: a.Ingester, Hub: a.Hub,
		Recorders: a.Recorders, Thumbs: a.Thumbs, Cameras: a.Cameras,
		Connectors: a.Connectors, Portal: a.portal(),
		Reports: a.reports, Exports: a.exports, Alerts: a.alerts,
		Webhooks: a.webhooks(), Providers: a.providerRoutes(),
		CameraCloud: a.CameraCloud, CloudLive: a.CloudPictures, CloudRecordings: a.CloudPictures, Player: a.Player,
		JournalPages: pagecache.Following(a.Hub, database.Client, pagecache.Options{}),
		ShareLinks:   shareLinks, Share: share,
	}, cfg.Config)
	a.Handler, a.Live = a.web.Handler, a.web.Live
	return a, nil
}

// Alerts is the app's alert service (tests drive its checker and sender).
func (a *App) Alerts() *alerts.Service { return a.alerts }

// background runs f until the app's context ends; Close waits for it.
func (a *App) background(f func()) {
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		f()
	}()
}

// Close stops background work and closes the database.
func (a *App) Close() {
	if a.web != nil {
		a.web.Close()
	}
	a.cancel()
	a.workers.Wait()
	if a.Player != nil {
		a.Player.Close()
	}
	if a.Ingester != nil {
		a.Ingester.WaitLate()
	}
	if err := a.Bus.Close(); err != nil {
		a.log.Warn("close bus", "err", err)
	}
	if a.dropPoolMetrics != nil {
		a.dropPoolMetrics()
	}
	if err := a.DB.Close(); err != nil {
		a.log.Warn("close database", "err", err)
	}
}

// settlePending retakes, every minute, the pictures of entries left PENDING
// for over two minutes (longer than any late capture of a running process).
func (a *App) settlePending(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if _, err := a.Ingester.SettlePending(ctx, time.Now().Add(-2*time.Minute), 200); err != nil && ctx.Err() == nil {
			a.log.Warn("settling pending pictures", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
