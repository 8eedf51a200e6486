package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/client"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/access"
	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/camcloud"
	campictures "github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/graph"
	"github.com/regicam/regicam/graph/generated"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/netguard"
	"github.com/regicam/regicam/portal"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/polling"
	smaregiconn "github.com/regicam/regicam/pos/smaregi/storedconn"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// Most tests of this package exercise the schema and its resolvers, not
// HTTP: they run it in this process (gqlgen's client over the executable
// schema, as ent/contrib's entgql todo example does) on a real database,
// with the services the resolvers call and the extensions the server
// installs that answers depend on (access.Gate, graph.TextCheck, the error
// presenter). Tests about HTTP, cookies, logging in, headers or websockets
// start the whole server through internal/testenv.

// gqlClient is what the helpers of this package send GraphQL through: the
// whole server (*testenv.Server) or the schema in this process (*gqlEnv).
type gqlClient interface {
	Query(t testing.TB, query string, vars map[string]any) testenv.Response
	MustQuery(t testing.TB, query string, vars map[string]any, out any)
}

var (
	_ gqlClient = (*testenv.Server)(nil)
	_ gqlClient = (*gqlEnv)(nil)
)

// gqlClientIP is where in-process requests come from: the address
// httptest.NewRequest gives them.
const gqlClientIP = "192.0.2.1"

// gqlEnv is the GraphQL schema over a real database, without the HTTP
// server: its client methods (Query, MustQuery, SubscribeFor) put the
// caller's viewer into the request context instead of sending a cookie or
// key. The viewer is looked up for each request as the server's
// middleware does (server/auth.go), so group and shop changes, logouts
// and revocations apply to the next request; keys are not rate limited
// (TestAPIKeyRateLimit covers that over HTTP). By default the caller is an
// OWNER of AccountID; As, NewUser, NewAccount and NewAPIKey give other
// callers.
type gqlEnv struct {
	DB        *db.DB
	AccountID pulid.ID
	// Identities is the auth service (Auth) and what makes users,
	// tenants and keys as testenv.Server does; its sessions record
	// gqlClientIP.
	testenv.Identities[*gqlEnv]
	// Owner is the default caller's user.
	Owner *ent.User

	gql *client.Client
	// cred is the caller; zero is anonymous.
	cred testenv.Credential
}

// schemaOptions change what startSchema builds.
type schemaOptions struct {
	// ProviderURL receives Smaregi's token and API calls; empty means the
	// real endpoints.
	ProviderURL string
	// SafieURL is the camera cloud's API (a camcloud/safie/fake); empty
	// means ProviderURL, or else an address that refuses at once: tests
	// never reach the real cloud.
	SafieURL string
	// Now is the camera cloud's clock (pictures, recordings); nil is
	// time.Now.
	Now func() time.Time
}

// startSchema builds the services the resolvers use on b, as app.Start
// does (app/app.go), runs the background loops resolvers rely on
// (the feed, the POS poll runtime, the recorders, alerts) until the test
// ends, and returns a client signed in as a new OWNER of a "default"
// account. Every log line goes to testenv's sink and is checked for the
// tests' secrets when the test ends, as for a started server.
func startSchema(t testing.TB, b testenv.Backend, opt schemaOptions) *gqlEnv {
	t.Helper()
	log := testenv.Logger()
	t.Cleanup(func() { testenv.CheckLogs(t) })
	ctx := viewer.System(context.Background())
	d, err := db.Open(ctx, b.DatabaseURL, t.TempDir())
	if err != nil {
		t.Fatalf("open database on %s: %v", b.Name, err)
	}
	var bus pubsub.Bus = pubsub.NewMemory()
	if d.Dialect == dialect.Postgres {
		// Test binaries run side by side against one max_connections.
		d.SQL.SetMaxOpenConns(8)
		d.SQL.SetMaxIdleConns(8)
		if bus, err = pubsub.NewPostgres(d.DSN, d.SQL, log); err != nil {
			d.Close()
			t.Fatalf("listen for events: %v", err)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	var in *ingest.Ingester
	var loops []chan struct{}
	background := func(f func()) {
		done := make(chan struct{})
		loops = append(loops, done)
		go func() { defer close(done); f() }()
	}
	t.Cleanup(func() {
		cancel()
		for _, done := range loops {
			<-done
		}
		if in != nil {
			in.WaitLate() // pictures still being attached use the database
		}
		if err := bus.Close(); err != nil {
			t.Errorf("close bus: %v", err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("close database: %v", err)
		}
	})
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	box, err := secrets.New(secrets.NewKey("k1"))
	must("secret box", err)
	authSvc := auth.New(d.Client, log, auth.Options{})
	hub := feed.NewHub(d.Client, bus, log, feed.Options{})
	in = ingest.New(d.Client, d.Dialect, bus, log)
	var blobs thumbs.Store
	if d.Dialect == dialect.Postgres {
		blobs, err = thumbs.NewPostgres(ctx, d.SQL)
	} else {
		blobs, err = thumbs.NewFS(t.TempDir())
	}
	must("thumbnail store", err)
	recorders := fleet.New(d.Client, box, log, camera.RecorderOptions{})
	policy := netguard.Policy{AllowPrivate: true}
	recorders.UsePolicy(policy)
	cameras := registry.New(d.Client, box, registry.Options{Policy: policy, Recorders: recorders, Log: log})
	pictures := thumbs.New(recorders, blobs, log, thumbs.Options{})
	in.Thumbnails = pictures
	alertSvc := alerts.New(d.Client, d.Dialect, box, log, alerts.Options{Bus: bus, Feed: hub})
	in.Observer = alertSvc
	background(func() { alertSvc.Run(runCtx) })
	smaregi := &smaregiconn.Connector{Client: d.Client, Box: box, IDBaseURL: opt.ProviderURL, APIBaseURL: opt.ProviderURL, Log: log}
	connectors := polling.New(d.Client, in, log, polling.Options{Interval: time.Hour},
		map[posconnection.Provider]pos.Factory{posconnection.ProviderSMAREGI: smaregi.Factory()})
	background(func() { connectors.Run(runCtx) })
	must("record cameras", recorders.Sync(ctx))
	background(func() { recorders.Run(runCtx, 30*time.Second) })
	background(func() {
		if err := hub.Run(runCtx); err != nil {
			log.Error("feed stopped", "err", err)
		}
	})
	_, err = hub.Head(ctx)
	must("feed head", err)

	safieURL := opt.SafieURL
	if safieURL == "" {
		safieURL = opt.ProviderURL
	}
	if safieURL == "" {
		safieURL = "http://127.0.0.1:1"
	}
	// The cloud's client retries 5xx and transport errors briefly here.
	cloud := camcloud.New(d.Client, box, camcloud.Config{BaseURL: safieURL, Alerter: alertSvc, Now: opt.Now,
		Client: safie.Config{MaxRetries: 1, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}}, log)
	cloudPictures := campictures.New(cloud, campictures.Options{Now: opt.Now, Log: log})

	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{
		Client: d.Client, Auth: authSvc, Ingester: in, Hub: hub, Recorders: recorders, Thumbs: pictures,
		Connectors: connectors, Cameras: cameras,
		Portal:  &portal.Service{Client: d.Client, Smaregi: smaregi, Connectors: connectors, Box: box, Log: log},
		Reports: &reports.Service{Client: d.Client, DB: d.SQL, Dialect: d.Dialect},
		Exports: export.NewProgress(), Alerts: alertSvc,
		CameraCloud: cloud, CloudRecordings: cloudPictures,
	}}))
	// Subscriptions over server-sent events: answered within the request,
	// which the client reads once the subscription ends (SubscribeFor).
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(postJSON{})
	srv.Use(extension.Introspection{})
	// What the server installs that answers depend on (server/server.go).
	srv.Use(access.Gate{})
	srv.Use(graph.TextCheck{})
	srv.SetErrorPresenter(graph.ErrorPresenter(log))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "resolver panic", "request_id", graph.RequestID(ctx), "panic", p)
		t.Errorf("resolver panic: %v", p)
		return gqlerror.Errorf("内部エラーが発生しました (internal error); request id %s", graph.RequestID(ctx))
	})

	acc, err := d.Client.Account.Create().SetName("default").Save(ctx)
	must("create account", err)
	e := &gqlEnv{DB: d, AccountID: acc.ID, gql: client.New(requestContext(srv))}
	// Clients differ only in their caller, so every one Identities makes
	// can be a copy of e.
	e.Identities = testenv.Identities[*gqlEnv]{Client: d.Client, Auth: authSvc, As: e.As,
		IP: gqlClientIP, Agent: "graph test"}
	owner, env := e.NewUser(t, acc.ID, viewer.RoleOwner)
	e.Owner = owner
	return e.As(env.cred)
}

// requestContext gives each request what the server's middleware gives it
// besides the viewer (server/server.go, server/auth.go): marked as a
// network request (no viewer reads nothing), the exchange (login sets its
// cookie on the recorder), the client address and a request id.
func requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := viewer.WithRequest(r.Context())
		ctx = auth.WithHTTP(ctx, w, r)
		ctx = auth.WithClientIP(ctx, gqlClientIP)
		ctx = graph.WithRequestID(ctx, "inprocess")
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// asViewer makes a request's caller v.
func asViewer(v viewer.Viewer) client.Option {
	return func(r *client.Request) {
		r.HTTP = r.HTTP.WithContext(viewer.NewContext(r.HTTP.Context(), v))
	}
}

// postJSON is gqlgen's transport.POST without its status codes: a document
// that fails validation or variable coercion is answered 200 with its
// errors, as server/graphqlhttp.go answers JSON clients, where
// transport.POST answers 422 and client.RawPost returns only "http 422".
type postJSON struct{}

func (postJSON) Supports(r *http.Request) bool { return r.Method == http.MethodPost }

func (postJSON) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	w.Header().Set("Content-Type", "application/json")
	start := graphql.Now()
	params := &graphql.RawParams{}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber() // as gqlgen's transports decode variables
	if err := dec.Decode(params); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	ctx := r.Context()
	rc, errs := exec.CreateOperationContext(ctx, params)
	var resp *graphql.Response
	if errs != nil {
		resp = exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
	} else {
		responses, rctx := exec.DispatchOperation(ctx, rc)
		resp = responses(rctx)
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// As returns a client of the same schema whose caller is c
// (testenv.Anonymous: nobody).
func (e *gqlEnv) As(c testenv.Credential) *gqlEnv {
	cp := *e
	cp.cred = c
	return &cp
}

// options are a request's variables and its caller's viewer, or the
// refusal the server's middleware answers for a credential that names
// nothing valid (a revoked key, an ended session).
func (e *gqlEnv) options(vars map[string]any) ([]client.Option, *testenv.Response) {
	var opts []client.Option
	for k, v := range vars {
		opts = append(opts, client.Var(k, v))
	}
	v, ok, refused := e.viewer()
	if ok {
		opts = append(opts, asViewer(v))
	}
	return opts, refused
}

// viewer is the caller's viewer, false for anonymous.
func (e *gqlEnv) viewer() (viewer.Viewer, bool, *testenv.Response) {
	ctx := viewer.WithRequest(context.Background())
	var v viewer.Viewer
	var err error
	switch {
	case e.cred.APIKey != "":
		v, err = e.Auth.KeyViewer(ctx, e.cred.APIKey, gqlClientIP)
	case e.cred.Cookie != "":
		if v, err = e.Auth.SessionViewer(ctx, e.cred.Cookie, gqlClientIP); err != nil {
			if _, ok := apperr.As(err); ok {
				// A stale cookie is dropped: the request goes on anonymous.
				return viewer.Viewer{}, false, nil
			}
		}
	default:
		return viewer.Viewer{}, false, nil
	}
	if err != nil {
		code, msg := apperr.Internal, err.Error()
		if ae, ok := apperr.As(err); ok {
			code, msg = ae.Code, ae.Message
		}
		return viewer.Viewer{}, false, &testenv.Response{Data: json.RawMessage("null"),
			Errors: []testenv.GQLError{{Message: msg, Extensions: map[string]any{"code": code}}}}
	}
	return v, true, nil
}

// Query runs a query or mutation as e's caller.
func (e *gqlEnv) Query(t testing.TB, query string, vars map[string]any) testenv.Response {
	t.Helper()
	opts, refused := e.options(vars)
	if refused != nil {
		return *refused
	}
	raw, err := e.gql.RawPost(query, opts...)
	if err != nil {
		t.Fatalf("graphql: %v", err)
	}
	return gqlResponse(t, raw.Data, raw.Errors)
}

// gqlResponse is a response as testenv.Server returns it: data left raw.
func gqlResponse(t testing.TB, data any, errs json.RawMessage) testenv.Response {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as the server writes strings
	if err := enc.Encode(data); err != nil {
		t.Fatalf("encode data: %v", err)
	}
	r := testenv.Response{Data: json.RawMessage(bytes.TrimSpace(buf.Bytes()))}
	if len(errs) > 0 {
		if err := json.Unmarshal(errs, &r.Errors); err != nil {
			t.Fatalf("decode errors %s: %v", errs, err)
		}
	}
	return r
}

// MustQuery is Query that fails the test on any GraphQL error and decodes
// data into out.
func (e *gqlEnv) MustQuery(t testing.TB, query string, vars map[string]any, out any) {
	t.Helper()
	testenv.MustQuery(t, e, query, vars, out)
}

// SubscribeFor runs a subscription as e's caller for up to wait and
// returns its first message: data and errors, or neither when nothing
// came (a live subscription with no event due).
func (e *gqlEnv) SubscribeFor(t testing.TB, wait time.Duration, doc string, vars map[string]any) (json.RawMessage, []testenv.GQLError) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	opts, refused := e.options(vars)
	if refused != nil {
		return refused.Data, refused.Errors
	}
	// client.SSE replaces the request's context with ctx after the
	// options ran: the viewer goes in ctx.
	if v, ok, _ := e.viewer(); ok {
		ctx = viewer.NewContext(ctx, v)
	}
	sse := e.gql.SSE(ctx, doc, opts...)
	defer sse.Close()
	var msg client.SSEResponse
	err := sse.Next(&msg)
	var withErrors client.RawJsonError
	switch {
	case err == nil:
	case errors.As(err, &withErrors):
		msg.Errors = withErrors.RawMessage
	case strings.Contains(err.Error(), "EOF"):
		// Ended by wait without a message.
		return nil, nil
	default:
		t.Fatalf("subscription %s: %v", doc, err)
	}
	r := gqlResponse(t, msg.Data, msg.Errors)
	return r.Data, r.Errors
}
