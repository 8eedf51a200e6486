package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/rs/cors"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/access"
	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/frontend"
	"github.com/regicam/regicam/graph"
	"github.com/regicam/regicam/graph/generated"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pagecache"
	"github.com/regicam/regicam/portal"
	"github.com/regicam/regicam/pos/polling"
	"github.com/regicam/regicam/pos/webhook"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports"
	"github.com/regicam/regicam/server/livews"
	"github.com/regicam/regicam/server/wsgorilla"
	"github.com/regicam/regicam/sharelink"
	"github.com/regicam/regicam/thumbs"
)

// Deps are the services server serves, built by app (the composition
// root): server starts nothing and owns no background work.
type Deps struct {
	DB  *db.DB // rows the handlers read; /readyz pings it
	Log *slog.Logger
	// Auth signs requests and websocket connections in.
	Auth     *auth.Service
	Ingester *ingest.Ingester
	Hub      *feed.Hub
	// JournalPages serves Query.journal's first pages from memory (nil: off).
	JournalPages *pagecache.Cache
	// Recorders serve /cameras/{id}/live.jpg and the cameras' status.
	Recorders *fleet.Manager
	// Thumbs serves /thumbnails/{id}, its /picture and Thumbnail.dataURL.
	Thumbs     *thumbs.Thumbnailer
	Cameras    *registry.Service
	Connectors *polling.Runtime
	Portal     *portal.Service
	Reports    *reports.Service
	Exports    *export.Progress
	Alerts     *alerts.Service
	// Webhooks take the providers' pushed data under /webhooks/.
	Webhooks *webhook.Handler
	// Providers register their own routes (Ubiregi's OAuth start and
	// callback).
	Providers []RouteRegistrar
	// CameraCloud keeps the camera-cloud connections (Safie): the GraphQL
	// fields and GET /oauth/safie/callback. Nil: neither is served.
	CameraCloud *camcloud.Service
	// CloudLive serves a CLOUD camera's live picture (camcloud/pictures);
	// nil: CLOUD cameras have none.
	CloudLive CloudLive
	// CloudRecordings answers Camera.recordings of CLOUD cameras.
	CloudRecordings graph.CloudRecordings
	// Player serves the recorded spans and receipts' clips of regicam's own
	// recording (/cameras/{id}/playback, /entries/{id}/clip) and its
	// GraphQL fields; nil: they answer UNAVAILABLE.
	Player *playback.Player
	// ShareLinks is the share-link service of the GraphQL fields (URLs on
	// the public URL); Share serves /share/{token} and its clip to visitors
	// without an account (server/share.go); nil: not served.
	ShareLinks *sharelink.Service
	Share      *Share
}

// CloudLive is the latest frame of a CLOUD camera, as the viewer in ctx
// may see it; failures are apperr errors.
type CloudLive interface {
	Live(ctx context.Context, cameraID pulid.ID) ([]byte, error)
}

// RouteRegistrar is a provider that serves routes of its own.
type RouteRegistrar interface {
	Register(mux *http.ServeMux)
}

// Server is regicam's HTTP side: the handler of every route and the
// websocket transport behind /graphql.
type Server struct {
	// Handler serves every route (Serve, or an httptest server).
	Handler http.Handler
	// Live carries the websocket subscriptions (shared groups).
	Live *livews.Transport

	d   Deps
	log *slog.Logger
	// rtspLive shares the live picture decoded from an RTSP camera's
	// recording (server/camera_live.go).
	rtspLive rtspLiveCache
	// playbacks counts each credential's playback and clip requests
	// (server/footage.go).
	playbacks *credentialSlots
}

// New builds the handler over d. Close ends its websockets.
func New(d Deps, cfg Config) *Server {
	s := &Server{d: d, log: d.Log, playbacks: &credentialSlots{max: PlaybacksPerCredential, running: map[string]int{}}}
	s.Handler = s.routes(cfg)
	return s
}

// ServeHTTP serves r with s.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.Handler.ServeHTTP(w, r) }

// Close ends the open websocket connections: they are hijacked, so
// http.Server.Shutdown does not.
func (s *Server) Close() {
	if s.Live != nil {
		s.Live.Close()
	}
}

func (s *Server) routes(cfg Config) http.Handler {
	gql := s.graphQL(cfg)
	mux := http.NewServeMux()
	mux.Handle("/graphql", gql)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.d.DB.SQL.PingContext(ctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /thumbnails/{id}", s.thumbnailHandler())
	mux.Handle("GET /thumbnails/{id}/picture", s.pictureHandler())
	// The export streams for as long as it makes progress (httpedge.go).
	_, writeTimeout, _ := Timeouts(cfg)
	mux.Handle("/export/journal.csv", streaming(writeTimeout, s.exportHandler()))
	mux.Handle("GET /cases/{id}/evidence.zip", streaming(writeTimeout, s.evidenceHandler()))
	mux.Handle("GET /cameras/{id}/live.jpg", s.cameraLiveHandler())
	// A long span is built before its first byte, then sent at the
	// client's pace (server/footage.go).
	mux.Handle("GET /cameras/{id}/playback", streaming(writeTimeout, s.playbackHandler()))
	mux.Handle("GET /entries/{id}/clip", streaming(writeTimeout, s.clipHandler()))
	if s.d.Share != nil {
		s.d.Share.RegisterWith(mux, writeTimeout)
	}
	if s.d.Webhooks != nil {
		// Webhooks authenticate with their connection's secret, not a viewer.
		hookMux := http.NewServeMux()
		s.d.Webhooks.Register(hookMux)
		mux.Handle("/webhooks/", system(hookMux))
	}
	if s.d.CameraCloud != nil {
		// The owner's browser comes back from Safie's consent page here;
		// its session names the account (camcloud checks the state).
		mux.Handle("GET /oauth/safie/callback", s.d.CameraCloud.OAuthCallback())
	}
	for _, p := range s.d.Providers {
		p.Register(mux)
	}
	mux.Handle("/", http.FileServerFS(frontend.Files()))

	c := cors.New(cors.Options{
		AllowedOrigins:   cfg.CORSOrigins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Content-Type", "Authorization"},
		AllowCredentials: true,
		MaxAge:           600,
	})
	h := limitBodies(cfg, s.requestContext(s.authenticate(c.Handler(mux))))
	// /metrics is answered before authentication: its Bearer token is the
	// metrics token, not an API key (server/metrics.go).
	m := s.requestContext(s.metricsHandler(cfg.Metrics))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			m.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// writeError answers a request on a route other than /graphql that failed
// with err: apperr.WriteHTTP, the one error answer of those routes (status
// by code, a GraphQL-shaped body). A failure that is not the caller's is
// logged here under what (with args and the request id), never quoted
// back; a database outage becomes UNAVAILABLE, which may be retried.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, what string, args ...any) {
	if _, ok := apperr.As(err); !ok {
		if db.Unavailable(err) {
			err = db.ErrUnavailable
		} else {
			ctx := r.Context()
			s.log.ErrorContext(ctx, what, append(args, "request_id", graph.RequestID(ctx), "err", db.Loggable(err))...)
		}
	}
	apperr.WriteHTTP(w, err)
}

// requestContext gives every request an id (echoed in X-Request-Id and in
// INTERNAL errors); authenticate then adds its viewer.
func (s *Server) requestContext(next http.Handler) http.Handler {
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

func (s *Server) graphQL(cfg Config) http.Handler {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{
		Client: s.d.DB.Client, Auth: s.d.Auth, Ingester: s.d.Ingester, Hub: s.d.Hub, JournalPages: s.d.JournalPages, Recorders: s.d.Recorders, Thumbs: s.d.Thumbs,
		Connectors: s.d.Connectors, Portal: s.d.Portal, Cameras: s.d.Cameras,
		Reports: s.d.Reports, Exports: s.d.Exports, Alerts: s.d.Alerts, CameraCloud: s.d.CameraCloud,
		CloudRecordings: s.d.CloudRecordings, Footage: footageOf(s.d.Player), ShareLinks: s.d.ShareLinks,
	}}))
	// Live views share one execution and encoding per event among
	// subscriptions with equal selection, variables and access (livews).
	s.Live = livews.New(livews.Transport{
		Implementation:        wsgorilla.Implementation{AllowedOrigins: cfg.CORSOrigins, CallerPings: true},
		KeepAlivePingInterval: 15 * time.Second,
		InitFunc:              s.websocketInit,
		Shared:                true,
		Log:                   s.log,
		// Bounded in bytes, per connection and per credential, so stalled
		// live views cannot hold the server's memory (README, Limits).
		QueueBytes:           cfg.WSQueueBytes,
		CredentialQueueBytes: cfg.WSCredentialQueueBytes,
		ConnsPerCredential:   cfg.WSConnsPerCredential,
	})
	srv.AddTransport(s.Live)
	// Dashboards and partners send the same few operations all day: parse
	// and validate each once.
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.AutomaticPersistedQuery{Cache: persistedQueries(cfg)})
	srv.AddTransport(transport.Options{})
	// GET and POST per GraphQL over HTTP, bodies never quoted (graphqlhttp.go).
	srv.AddTransport(graphQLHTTP{log: s.log})
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
	srv.SetErrorPresenter(graph.ErrorPresenter(s.log))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		s.log.ErrorContext(ctx, "resolver panic", "request_id", graph.RequestID(ctx), "panic", p)
		return gqlerror.Errorf("内部エラーが発生しました (internal error); request id %s", graph.RequestID(ctx))
	})
	return srv
}

// footageOf is the Player as graph.Footage: nil stays a nil interface.
func footageOf(p *playback.Player) graph.Footage {
	if p == nil {
		return nil
	}
	return p
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
