package portal_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/ubiregi/fake"
	"github.com/regicam/regicam/pulid"
)

const startQ = `mutation($r: String){ startUbiregiOAuth(returnTo: $r){ authorizeURL expiresAt } }`

// TestUbiregiFromDashboard: the dashboard's ユビレジ OAuth2 連携 button gets
// the consent URL from GraphQL; after consent the browser lands back on the
// dashboard page it named, the account's register is listed, and 更新 links
// it to a camera.
func TestUbiregiFromDashboard(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		fk := fake.New(fake.Options{AccountName: "カフェ青山"})
		t.Cleanup(fk.Shutdown)
		e := start(t, b, func(cfg *app.Config, _ string) {
			cfg.UbiregiAuthURL, cfg.UbiregiAPIURL = fk.URL(), fk.APIBaseURL()
			cfg.UbiregiClientID, cfg.UbiregiClientSecret = fk.ClientID(), fk.ClientSecret()
		})
		ctx, c := sys(), e.srv.DB.Client
		fx := testenv.NewFixture(t, c, e.srv.AccountID)

		var avail struct{ UbiregiAvailable bool }
		e.must(`{ ubiregiAvailable }`, nil, &avail)
		if !avail.UbiregiAvailable {
			t.Fatal("ubiregiAvailable false with a client configured")
		}
		for _, bad := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "links"} {
			e.fails(startQ, map[string]any{"r": bad}, "BAD_USER_INPUT", "returnTo")
		}
		var st struct {
			StartUbiregiOAuth struct{ AuthorizeURL string }
		}
		e.must(startQ, map[string]any{"r": "/links?tab=ubiregi"}, &st)
		u, err := url.Parse(st.StartUbiregiOAuth.AuthorizeURL)
		if err != nil || !strings.HasPrefix(st.StartUbiregiOAuth.AuthorizeURL, fk.URL()+"/oauth2/authorize?") || u.Query().Get("state") == "" {
			t.Fatalf("authorize URL %q", st.StartUbiregiOAuth.AuthorizeURL)
		}

		// A state that was tampered with is refused and stores nothing.
		state := u.Query().Get("state")
		forged := u.Query()
		forged.Set("state", state[:len(state)-2]+"AA")
		resp, err := e.browser().Get(e.srv.URL + "/oauth/ubiregi/callback?code=x&" + url.Values{"state": {forged.Get("state")}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Query().Get("error") == "" || c.PosConnection.Query().Where(posconnection.ProviderEQ("UBIREGI")).CountX(ctx) != 0 {
			t.Fatalf("tampered state ended at %s", resp.Request.URL)
		}

		// The browser (no cookie from /oauth/ubiregi/start: the state
		// itself proves the session) follows the consent URL.
		resp, err = e.browser().Get(st.StartUbiregiOAuth.AuthorizeURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		landed := resp.Request.URL
		if landed.Path != "/links" || landed.Query().Get("tab") != "ubiregi" || landed.Query().Get("connected") == "" ||
			!strings.HasPrefix(landed.String(), e.srv.URL) {
			t.Fatalf("callback landed at %s", landed)
		}
		connID := landed.Query().Get("connected")

		rows := settings(e, "UBIREGI")
		if len(rows) != 1 || rows[0].Connection.ID != connID || rows[0].Terminal == nil || rows[0].ContractID != fk.AccountID() ||
			rows[0].Link != nil || rows[0].Status != "OK" {
			t.Fatalf("ユビレジ rows: %+v", rows)
		}
		term := rows[0].Terminal.ID
		var set struct{ SetTerminalCameras []rowT }
		e.must(setQ, map[string]any{"in": []map[string]any{{"terminalID": term, "cameraID": fx.CameraIDs[1]}}}, &set)
		if len(set.SetTerminalCameras) != 1 || set.SetTerminalCameras[0].Camera == nil || set.SetTerminalCameras[0].Camera.ID != string(fx.CameraIDs[1]) {
			t.Fatalf("更新: %+v", set.SetTerminalCameras)
		}
		// Choosing another camera and 更新 again moves it.
		e.must(setQ, map[string]any{"in": []map[string]any{{"terminalID": term, "cameraID": fx.CameraIDs[0]}}}, &set)
		if rows := settings(e, "UBIREGI"); rows[0].Camera == nil || rows[0].Camera.ID != string(fx.CameraIDs[0]) {
			t.Fatalf("after second 更新: %+v", rows)
		}
		if n := c.Link.Query().CountX(ctx); n != 5 { // fixture 3 + ended + active
			t.Fatalf("links: %d", n)
		}
		var sync struct{ SyncConnection struct{ Status string } }
		e.must(syncQ, map[string]any{"id": connID}, &sync)
		if sync.SyncConnection.Status != "OK" {
			t.Fatalf("sync with the stored tokens: %+v", sync.SyncConnection)
		}
		tokens := fk.Tokens()
		if len(tokens) == 0 {
			t.Fatal("the fake issued no token")
		}
		conn := c.PosConnection.GetX(ctx, pulid.ID(connID))
		for _, tok := range tokens {
			if strings.Contains(string(conn.Secrets), tok) {
				t.Fatal("tokens stored in clear")
			}
		}
		e.noClear(tokens...)
	})
}

// TestUbiregiUnavailable: without an OAuth client the button is hidden and
// the mutation says why.
func TestUbiregiUnavailable(t *testing.T) {
	e := start(t, testenv.Backend{Name: "sqlite"}, nil)
	var avail struct{ UbiregiAvailable bool }
	e.must(`{ ubiregiAvailable }`, nil, &avail)
	if avail.UbiregiAvailable {
		t.Fatal("ubiregiAvailable without a client")
	}
	r := e.q(startQ, nil)
	if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "ユビレジ") {
		t.Fatalf("start without a client: %+v", r.Errors)
	}
}
