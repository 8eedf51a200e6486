// Package testenv starts real regicam servers for tests, on embedded SQLite
// and on PostgreSQL, and talks to them the way clients do: GraphQL over
// HTTP POST and subscriptions over websockets.
package testenv

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/internal/pgtest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/server"
	"github.com/regicam/regicam/viewer"
)

// Backend is one database a test runs against.
type Backend struct {
	Name        string
	DatabaseURL string // empty for SQLite
	// Log, if set, receives the logs of servers started on this backend
	// (tests that read them); nil means Logger().
	Log *slog.Logger
}

// Backends runs fn once on SQLite and once on a fresh PostgreSQL database.
func Backends(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, Backend{Name: "sqlite"}) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// Postgres returns a backend on a fresh PostgreSQL database.
func Postgres(t testing.TB) Backend {
	return Backend{Name: "postgres", DatabaseURL: pgtest.New(t)}
}

// Server is a started regicam with its HTTP endpoint, and the identity
// its client methods (Query, MustQuery, Subscribe, Get) use: by default an
// OWNER session of App.AccountID. As, NewUser, NewAccount, NewAPIKey and
// LoginAs give clients with other identities.
type Server struct {
	*app.App
	URL string
	// Owner is the default client's user.
	Owner *ent.User
	// DemoLogin is the "demo login: EMAIL PASSWORD" line of a demo server.
	DemoLogin string

	cred Credential
}

// Start runs a server on b. dataDir lets two servers share one SQLite file;
// empty means a fresh temporary directory.
func Start(t testing.TB, b Backend, dataDir string) *Server {
	t.Helper()
	return StartWith(t, b, dataDir, nil)
}

// StartWith is Start with a chance to change the configuration; it is told
// the server's URL first (for settings such as PublicURL).
func StartWith(t testing.TB, b Backend, dataDir string, configure func(cfg *app.Config, url string)) *Server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	cfg := app.Config{
		DataDir: dataDir, DatabaseURL: b.DatabaseURL, Demo: "false",
		Config:    server.Config{CORSOrigins: []string{"http://allowed.example"}, Introspection: true},
		PublicURL: url, PollInterval: time.Hour,
		// Test binaries run side by side against one max_connections.
		DBMaxConns: 8,
	}
	var demoLine string
	cfg.DemoLogin = func(line string) { demoLine = line }
	if configure != nil {
		configure(&cfg, url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := Logger() // captured (logs.go)
	if b.Log != nil {
		log = withCapture(b.Log)
	}
	a, err := app.Start(ctx, cfg, log)
	if err != nil {
		hs.Listener.Close()
		t.Fatalf("start server on %s: %v", b.Name, err)
	}
	// Runs after the server's cleanup below: its shutdown logs count too.
	t.Cleanup(func() { CheckLogs(t) })
	// The production server's timeouts (server.HTTPServer), so tests see
	// what clients see.
	edge := server.HTTPServer(cfg.Config, a.Handler, log)
	hs.Config.Handler = a.Handler
	hs.Config.ReadHeaderTimeout, hs.Config.ReadTimeout = edge.ReadHeaderTimeout, edge.ReadTimeout
	hs.Config.WriteTimeout, hs.Config.IdleTimeout = edge.WriteTimeout, edge.IdleTimeout
	hs.Config.ErrorLog = edge.ErrorLog
	hs.Start()
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		a.Close()
	})
	s := Wrap(t, a, hs.URL)
	s.DemoLogin = demoLine
	return s
}

// Wrap makes a client for an App a test started itself, signed in as a
// new OWNER of a.AccountID like Start's.
func Wrap(t testing.TB, a *app.App, url string) *Server {
	t.Helper()
	owner, s := (&Server{App: a, URL: url}).NewUser(t, a.AccountID, viewer.RoleOwner)
	// NewUser returns a copy, so the owner is set on that copy, not on the
	// receiver (which the copy was made from before the owner existed).
	s.Owner = owner
	return s
}

// Fixture is a small shop: two cameras, three terminals; terminals 0 and 1
// are watched by camera 0, terminal 2 by camera 1.
type Fixture struct {
	ShopID      pulid.ID
	CameraIDs   []pulid.ID
	TerminalIDs []pulid.ID
}

// LinkedSince is when the fixture's links start: far enough back that any
// test receipt resolves a camera.
var LinkedSince = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// NewFixture creates the fixture rows in account.
func NewFixture(t testing.TB, client *ent.Client, account pulid.ID) Fixture {
	t.Helper()
	ctx := system()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("fixture: %v", err)
		}
	}
	var f Fixture
	shop, err := client.Shop.Create().SetAccountID(account).SetName("渋谷店").Save(ctx)
	must(err)
	f.ShopID = shop.ID
	conn, err := client.PosConnection.Create().SetAccountID(account).SetProvider("PARTNER").
		SetContractID("test-" + string(pulid.MustNew("xx"))).Save(ctx)
	must(err)
	for i, name := range []string{"自宅カメラ", "レジ前カメラ"} {
		c, err := client.Camera.Create().SetAccountID(account).SetName(name).SetModel("CC-2L_SF").
			SetDeviceID(string(pulid.MustNew("dv")) + string(rune('0'+i))).SetPosOption(true).Save(ctx)
		must(err)
		f.CameraIDs = append(f.CameraIDs, c.ID)
	}
	for i := range 3 {
		term, err := client.Terminal.Create().SetAccountID(account).SetConnectionID(conn.ID).
			SetShopID(shop.ID).SetExternalID(string(rune('1' + i))).SetName("レジ" + string(rune('1'+i))).Save(ctx)
		must(err)
		f.TerminalIDs = append(f.TerminalIDs, term.ID)
		cam := f.CameraIDs[0]
		if i == 2 {
			cam = f.CameraIDs[1]
		}
		_, err = client.Link.Create().SetAccountID(account).SetTerminalID(term.ID).SetCameraID(cam).
			SetCreatedAt(LinkedSince).Save(ctx)
		must(err)
	}
	return f
}
