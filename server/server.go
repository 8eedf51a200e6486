package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/rs/cors"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/access"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/connector"
	"github.com/regicam/regicam/demo"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/frontend"
	"github.com/regicam/regicam/graph"
	"github.com/regicam/regicam/graph/generated"
	"github.com/regicam/regicam/ingest"
	smaregiconnect "github.com/regicam/regicam/pos/smaregi/connect"
	ubiregiconnect "github.com/regicam/regicam/pos/ubiregi/connect"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/recording"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/server/livews"
	"github.com/regicam/regicam/server/wsgorilla"
	"github.com/regicam/regicam/store"
	"github.com/regicam/regicam/thumbnailer"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
	"github.com/regicam/regicam/webhook"
)

// App is one running regicam process: database, event feed, ingest and the
// HTTP handler over them.
type App struct {
	DB         *store.DB
	Bus        pubsub.Bus
	Hub        *feed.Hub
	Ingester   *ingest.Ingester
	AccountID  pulid.ID // the first account (the demo tenant in demo mode); requests act as their viewer
	Auth       *auth.Service
	Live       *livews.Transport // websocket subscriptions (shared groups)
	Handler    http.Handler
	Recorders  *recording.Manager
	Cameras    *registry.Service // adds, changes, retires and tests cameras (server/cameras.go)
	Thumbs     *thumbnailer.Thumbnailer
	Blobs      thumbs.Store
	Connectors *connector.Runtime
	Secrets    *secrets.Box

	ubiregi *ubiregiconnect.Connector
	smaregi *smaregiconnect.Connector

	log     *slog.Logger
	cancel  context.CancelFunc
	done    chan struct{}
	workers sync.WaitGroup // background loops; Close waits for them
	ext     extras         // reports, exports, alerts (server/alerts.go)
}

// Start opens the database, starts the feed (and the demo generator when
// enabled) and builds the handler. Close stops it all.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	// Start-up and every background loop act as the server itself; request
	// handlers act as their viewer (ent/schema/rule).
	ctx = viewer.System(ctx)
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.DBMaxConns > 0 && db.Dialect == dialect.Postgres {
		db.SQL.SetMaxOpenConns(cfg.DBMaxConns)
		db.SQL.SetMaxIdleConns(cfg.DBMaxConns)
	}
	var bus pubsub.Bus
	if db.Dialect == dialect.Postgres {
		bus, err = pubsub.NewPostgres(db.DSN, db.SQL, log)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("listen for events: %w", err)
		}
	} else {
		bus = pubsub.NewMemory()
	}
	runCtx, cancel := context.WithCancel(viewer.System(context.Background()))
	a := &App{DB: db, Bus: bus, log: log, cancel: cancel, done: make(chan struct{})}
	a.Auth = auth.New(db.Client, log, auth.Options{
		MaxBackoff: cfg.LockoutDuration, KeyRate: cfg.APIKeyRate, KeyBurst: cfg.APIKeyBurst,
		WatchEvery: cfg.RevocationCheck, Now: cfg.AuthNow, TrustedProxies: cfg.TrustedProxies,
	})
	a.background(func() { a.Auth.RunWatcher(runCtx) })
	a.Hub = feed.NewHub(db.Client, bus, log, feed.Options{})
	a.Ingester = ingest.New(db.Client, db.Dialect, bus, log)
	if err := a.startThumbnails(ctx, runCtx, cfg); err != nil {
		a.Close()
		return nil, err
	}

	a.startAlerts(runCtx, cfg)
	runDemo, err := a.chooseAccount(ctx, cfg.Demo)
	if err != nil {
		a.Close()
		return nil, err
	}
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
	a.setupSmaregi(cfg)
	var ds *demoSmaregi
	if runDemo && cfg.DemoPOS {
		if ds, err = a.startDemoSmaregi(ctx, cfg); err != nil {
			a.Close()
			return nil, err
		}
	}
	if err := a.setupUbiregi(cfg); err != nil {
		a.Close()
		return nil, fmt.Errorf("ubiregi: %w", err)
	}
	a.Connectors = connector.New(db.Client, a.Ingester, log, connector.Options{Interval: cfg.PollInterval}, a.connectorFactories(cfg))
	a.background(func() { a.Connectors.Run(runCtx) })
	go func() {
		defer close(a.done)
		if err := a.Hub.Run(runCtx); err != nil {
			log.Error("feed stopped", "err", err)
		}
	}()
	if _, err := a.Hub.Head(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if runDemo {
		every := cfg.DemoEvery
		if every <= 0 {
			every = 3 * time.Second
		}
		gen := demo.NewGenerator(db.Client, a.Ingester, a.AccountID, log, time.Now().UnixNano())
		a.background(func() { _ = gen.Run(runCtx, every) })
		log.Info("demo mode: ringing up receipts", "every", every)
		if ds != nil {
			a.background(func() { ds.run(runCtx, a, cfg, 2*every) })
			log.Info("demo mode: a built-in Smaregi fake rings up sales and sends webhooks", "contract", "demo_contract")
		}
	}
	a.Handler = a.routes(cfg)
	return a, nil
}

// chooseAccount picks the account requests run as. Demo "auto" means: a
// fresh database, or one that only holds the demo tenant, gets the demo.
func (a *App) chooseAccount(ctx context.Context, demoMode string) (bool, error) {
	accounts, err := a.DB.Client.Account.Query().Order(ent.Asc(account.FieldCreatedAt)).Limit(2).All(ctx)
	if err != nil {
		return false, fmt.Errorf("find account: %w", err)
	}
	onlyDemo := len(accounts) == 0 || len(accounts) == 1 && accounts[0].Name == demo.AccountName
	if demoMode == "true" || demoMode == "auto" && onlyDemo {
		id, err := demo.Seed(ctx, a.DB.Client)
		if err != nil {
			return false, fmt.Errorf("seed demo: %w", err)
		}
		a.AccountID = id
		return true, nil
	}
	if len(accounts) == 0 {
		acc, err := a.DB.Client.Account.Create().SetName("default").Save(ctx)
		if err != nil {
			return false, fmt.Errorf("create account: %w", err)
		}
		accounts = append(accounts, acc)
	}
	a.AccountID = accounts[0].ID
	return false, nil
}

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
	// Hijacked websockets are not closed by http.Server.Shutdown.
	if a.Live != nil {
		a.Live.Close()
	}
	a.cancel()
	if a.Hub != nil && a.Handler != nil {
		<-a.done
	}
	a.workers.Wait()
	if a.Ingester != nil {
		a.Ingester.WaitLate()
	}
	if err := a.Bus.Close(); err != nil {
		a.log.Warn("close bus", "err", err)
	}
	if err := a.DB.Close(); err != nil {
		a.log.Warn("close database", "err", err)
	}
}

func (a *App) routes(cfg Config) http.Handler {
	gql := a.graphQL(cfg)
	mux := http.NewServeMux()
	mux.Handle("/graphql", gql)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.DB.SQL.PingContext(ctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /thumbnails/{id}", a.thumbnailHandler())
	// The export streams for as long as it makes progress (httpedge.go).
	_, writeTimeout, _ := Timeouts(cfg)
	mux.Handle("/export/journal.csv", streaming(writeTimeout, a.exportHandler()))
	mux.Handle("GET /cameras/{id}/live.jpg", a.cameraLiveHandler())
	hooks := &webhook.Handler{Client: a.DB.Client, Box: a.Secrets, Runtime: a.Connectors, Smaregi: a.smaregi, Log: a.log}
	// Webhooks authenticate with their connection's secret, not a viewer.
	hookMux := http.NewServeMux()
	hooks.Register(hookMux)
	mux.Handle("/webhooks/", system(hookMux))
	a.registerProviders(mux)
	mux.Handle("/", http.FileServerFS(frontend.Files()))

	c := cors.New(cors.Options{
		AllowedOrigins:   cfg.CORSOrigins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Content-Type", "Authorization"},
		AllowCredentials: true,
		MaxAge:           600,
	})
	return limitBodies(cfg, a.requestContext(a.authenticate(c.Handler(mux))))
}

// requestContext gives every request an id (echoed in X-Request-Id and in
// INTERNAL errors); authenticate then adds its viewer.
func (a *App) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Always our own: a client's X-Request-Id is a header value, and
		// header values never reach a log line (issue 12).
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(graph.WithRequestID(r.Context(), id)))
	})
}

func (a *App) graphQL(cfg Config) http.Handler {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{
		Client: a.DB.Client, Auth: a.Auth, Ingester: a.Ingester, Hub: a.Hub, Recorders: a.Recorders, Thumbs: a.Thumbs,
		Connectors: a.Connectors, Secrets: a.Secrets, Smaregi: a.smaregi, Portal: a.portal(), Cameras: a.Cameras,
		Reports: a.ext.reports, Exports: a.ext.exports, Alerts: a.ext.alerts,
	}}))
	// Live views share one execution and encoding per event among
	// subscriptions with equal selection, variables and access (livews).
	a.Live = livews.New(livews.Transport{
		Implementation:        wsgorilla.Implementation{AllowedOrigins: cfg.CORSOrigins, CallerPings: true},
		KeepAlivePingInterval: 15 * time.Second,
		InitFunc:              a.websocketInit,
		Shared:                true,
		Log:                   a.log,
		// Bounded in bytes, per connection and per credential, so stalled
		// live views cannot hold the server's memory (README, Limits).
		QueueBytes:           cfg.WSQueueBytes,
		CredentialQueueBytes: cfg.WSCredentialQueueBytes,
		ConnsPerCredential:   cfg.WSConnsPerCredential,
	})
	srv.AddTransport(a.Live)
	// Dashboards and partners send the same few operations all day: parse
	// and validate each once.
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.AutomaticPersistedQuery{Cache: persistedQueries(cfg)})
	srv.AddTransport(transport.Options{})
	// GET and POST per GraphQL over HTTP, bodies never quoted (graphqlhttp.go).
	srv.AddTransport(graphQLHTTP{log: a.log})
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	// Size, expansion, depth and cost of each document and the size of
	// its response (operationlimits.go); after the persisted-query
	// extension, which fills in the text.
	useOperationLimits(srv, cfg)
	srv.Use(access.Gate{}) // who may call what: access.Table, checked before any resolver
	// NUL and invalid UTF-8 are refused in every argument before a
	// resolver runs, alike on both databases (graph/textcheck.go).
	srv.Use(graph.TextCheck{})
	srv.SetErrorPresenter(graph.ErrorPresenter(a.log))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		a.log.ErrorContext(ctx, "resolver panic", "request_id", graph.RequestID(ctx), "panic", p)
		return gqlerror.Errorf("内部エラーが発生しました (internal error); request id %s", graph.RequestID(ctx))
	})
	return srv
}

// Serve runs the HTTP server on cfg.Addr until ctx ends, then drains it
// for cfg.ShutdownTimeout.
func Serve(ctx context.Context, cfg Config, h http.Handler, log *slog.Logger) error {
	hs := HTTPServer(cfg, h, log)
	shutdown := cfg.ShutdownTimeout
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	log.Info("listening", "addr", cfg.Addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdown)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
