package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// sys is the context for a test's own reads and writes of the database,
// past the tenancy rules the API is held to.
func sys() context.Context { return viewer.System(context.Background()) }

// transcript keeps every byte a client or an operator could read: each
// GraphQL response body and every log line, so a test can prove a clear
// secret appears in none of them.
type transcript struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *transcript) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *transcript) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// env is a started server whose logs (debug level, JSON) and GraphQL
// responses are all recorded.
type env struct {
	t         *testing.T
	srv       *testenv.Server
	logs      *transcript
	responses *transcript
}

// start is testenv.StartWith with a recording logger (debug level, JSON).
func start(t *testing.T, b testenv.Backend, configure func(cfg *app.Config, url string)) *env {
	t.Helper()
	e := &env{t: t, logs: &transcript{}, responses: &transcript{}}
	b.Log = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.srv = testenv.StartWith(t, b, "", configure)
	return e
}

// q runs one GraphQL operation as testenv's client does and records the
// whole response.
func (e *env) q(query string, vars map[string]any) testenv.Response {
	e.t.Helper()
	r := e.srv.Query(e.t, query, vars)
	raw, err := json.Marshal(r)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = e.responses.Write(append(raw, '\n'))
	return r
}

// browser is an HTTP client that sends the test's credential to the
// server (not to the providers' fakes), as a signed-in browser would.
func (e *env) browser() *http.Client {
	host := strings.TrimPrefix(e.srv.URL, "http://")
	return &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == host {
			r = r.Clone(r.Context())
			jar := r.Header.Get("Cookie") // the browser's own cookies stay
			e.srv.Credential().Apply(r.Header)
			if c := r.Header.Get("Cookie"); jar != "" && c != jar {
				r.Header.Set("Cookie", jar+"; "+c)
			}
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// must is q that fails on any error and decodes data into out.
func (e *env) must(query string, vars map[string]any, out any) {
	e.t.Helper()
	r := e.q(query, vars)
	if len(r.Errors) > 0 {
		e.t.Fatalf("graphql errors: %+v", r.Errors)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			e.t.Fatalf("decode data %s: %v", r.Data, err)
		}
	}
}

// fails runs an operation that must fail with one error of code on field
// and returns the error's message.
func (e *env) fails(query string, vars map[string]any, code, field string) string {
	e.t.Helper()
	r := e.q(query, vars)
	if len(r.Errors) != 1 || r.Errors[0].Code() != code || r.Errors[0].Field() != field {
		e.t.Fatalf("want one %s error on %q, got %+v (data %s)", code, field, r.Errors, r.Data)
	}
	return r.Errors[0].Message
}

// noClear asserts that no recorded response or log line holds any of the
// given values.
func (e *env) noClear(values ...string) {
	e.t.Helper()
	resp, logs := e.responses.String(), e.logs.String()
	if resp == "" || logs == "" {
		e.t.Fatalf("nothing recorded: %d response bytes, %d log bytes", len(resp), len(logs))
	}
	for _, v := range values {
		if strings.Contains(resp, v) {
			e.t.Errorf("a GraphQL response holds the clear secret %q", v)
		}
		if strings.Contains(logs, v) {
			e.t.Errorf("a log line holds the clear secret %q", v)
		}
	}
}

// foreign is what another account owns: a shop, a POS camera, a
// connection with one terminal, and a link between them.
type foreign struct {
	camera, terminal, link pulid.ID
}

func newForeign(t *testing.T, e *env) foreign {
	t.Helper()
	ctx := sys()
	c := e.srv.DB.Client
	acc := c.Account.Create().SetName("他社").SaveX(ctx)
	sh := c.Shop.Create().SetAccountID(acc.ID).SetName("他店").SaveX(ctx)
	cam := c.Camera.Create().SetAccountID(acc.ID).SetName("他社カメラ").SetModel("CC-2L_SF").
		SetDeviceID("foreign-" + string(pulid.MustNew("dv"))).SetPosOption(true).SaveX(ctx)
	conn := c.PosConnection.Create().SetAccountID(acc.ID).SetProvider("SMAREGI").SetContractID("other").SaveX(ctx)
	term := c.Terminal.Create().SetAccountID(acc.ID).SetConnectionID(conn.ID).SetShopID(sh.ID).SetExternalID("3").SaveX(ctx)
	l := c.Link.Create().SetAccountID(acc.ID).SetTerminalID(term.ID).SetCameraID(cam.ID).SaveX(ctx)
	return foreign{camera: cam.ID, terminal: term.ID, link: l.ID}
}
