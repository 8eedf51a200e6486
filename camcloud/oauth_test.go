package camcloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

func withOAuth(e *env) {
	e.cfg.OAuth = &safie.OAuthConfig{ClientID: e.cloud.ClientID(), ClientSecret: e.cloud.ClientSecret(),
		RedirectURL:  "https://regicam.example/oauth/safie/callback",
		AuthorizeURL: e.cloud.URL() + "/auth/authorize", TokenURL: e.cloud.URL() + "/v1/auth/token"}
}

// grant runs the browser's round trip: Safie's consent page (the fake
// approves at once) and back to the callback as viewer ctx. It returns
// the query the callback sent the browser to the dashboard with.
func (e *env) grant(authorizeURL string, as context.Context, tamper func(url.Values)) url.Values {
	e.t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authorizeURL)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(back.String(), "https://regicam.example/oauth/safie/callback?") {
		e.t.Fatalf("consent page answered %d → %q", resp.StatusCode, back)
	}
	q := back.Query()
	if tamper != nil {
		tamper(q)
	}
	req := httptest.NewRequest(http.MethodGet, "/oauth/safie/callback?"+q.Encode(), nil).WithContext(as)
	rec := httptest.NewRecorder()
	e.svc.OAuthCallback().ServeHTTP(rec, req)
	done, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || err != nil || done.Path != "/" || done.Fragment != "/settings" {
		e.t.Fatalf("callback answered %d → %q", rec.Code, rec.Header().Get("Location"))
	}
	return done.Query()
}

func (e *env) tokens(id pulid.ID) (access, refresh string) {
	e.t.Helper()
	conn := e.conn(id)
	raw, err := e.box.Open(conn.Secrets, secrets.CameraCloudSecretsAAD(id))
	if err != nil {
		e.t.Fatal(err)
	}
	var st struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Access == "" || st.Refresh == "" {
		e.t.Fatalf("sealed tokens %v", err)
	}
	if strings.Contains(string(conn.Secrets), st.Access) || strings.Contains(string(conn.Secrets), st.Refresh) {
		e.t.Fatal("tokens stored in clear")
	}
	return st.Access, st.Refresh
}

// TestOAuthConnect: start → Safie's consent → callback makes an OAUTH
// connection with its tokens sealed and its cameras; a state of another
// session, or a refusal at Safie, stores nothing and says why.
func TestOAuthConnect(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, withOAuth)
		if !e.svc.OAuthAvailable() {
			t.Fatal("OAuth configured but not available")
		}
		start := func() string {
			t.Helper()
			u, err := e.svc.StartOAuth(e.owner, camcloud.StartOAuthInput{Name: "本店", RetentionDays: ptr(14)})
			if err != nil {
				t.Fatal(err)
			}
			return u
		}

		other := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: e.account, Role: viewer.RoleOwner, SessionID: pulid.MustNew("SE"),
			Scopes: []viewer.Scope{viewer.ScopeAdmin}})
		if q := e.grant(start(), other, nil); q.Get("cameraCloud") != "error" || q.Get("reason") != apperr.SAFIE_OAUTH_STATE {
			t.Fatalf("another session's state: %v", q)
		}
		if q := e.grant(start(), e.owner, func(q url.Values) { q.Del("code"); q.Set("error", "access_denied") }); q.Get("reason") != apperr.SAFIE_OAUTH_DENIED {
			t.Fatalf("refused at Safie: %v", q)
		}
		if n := e.c.CameraCloudConnection.Query().CountX(e.sys); n != 0 {
			t.Fatal("a failed grant stored a connection")
		}

		q := e.grant(start(), e.owner, nil)
		if q.Get("cameraCloud") != "connected" || q.Get("connected") == "" {
			t.Fatalf("callback: %v", q)
		}
		conn := e.conn(pulid.ID(q.Get("connected")))
		if conn.AuthKind != cameracloudconnection.AuthKindOAUTH || conn.Name != "本店" || conn.RetentionDays != 14 ||
			conn.Status != cameracloudconnection.StatusOK || conn.AccountID != e.account {
			t.Fatalf("connection %+v", conn)
		}
		if cams := e.cameras(); len(cams) != 2 || cams[devHome.ID].Name != labelHome {
			t.Fatalf("cameras %v", cams)
		}
		access, refresh := e.tokens(conn.ID)
		e.noSecretsLogged(access, refresh, e.cloud.ClientSecret())
	})
}

// TestOAuthTokens: an expired access token is refreshed (and stored)
// before use; a refresh the cloud refuses marks NEEDS_REAUTH; signing in
// at Safie again renews the same connection.
func TestOAuthTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, withOAuth)
		u, err := e.svc.StartOAuth(e.owner, camcloud.StartOAuthInput{Name: "Safie"})
		if err != nil {
			t.Fatal(err)
		}
		id := pulid.ID(e.grant(u, e.owner, nil).Get("connected"))
		access, refresh := e.tokens(id)

		e.clock.Add(2 * time.Hour)
		e.cloud.ExpireTokens()
		refreshes := e.cloud.Requests("/v1/auth/token")
		got, err := e.svc.SyncNow(e.owner, id)
		if err != nil || got.Status != cameracloudconnection.StatusOK {
			t.Fatalf("sync after expiry: %+v, %v", got, err)
		}
		if e.cloud.Requests("/v1/auth/token") != refreshes+1 {
			t.Fatal("the expired token was not refreshed once")
		}
		access2, refresh2 := e.tokens(id)
		if access2 == access {
			t.Fatal("the refreshed token was not stored")
		}
		cl, err := e.svc.Client(e.sys, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Devices(e.sys, nil); err != nil {
			t.Fatalf("client after refresh: %v", err)
		}

		// The cloud revokes the grant: the refresh is refused.
		e.cloud.RevokeKey(refresh2)
		e.clock.Add(2 * time.Hour)
		e.cloud.ExpireTokens()
		got, err = e.svc.SyncNow(e.owner, id)
		if err != nil || got.Status != cameracloudconnection.StatusNEEDS_REAUTH || !strings.Contains(got.LastError, "連携し直してください") {
			t.Fatalf("refused refresh: %+v, %v", got, err)
		}
		if _, err := e.svc.Client(e.sys, id); !errors.Is(err, safie.ErrAuth) {
			t.Fatalf("client of a refused grant: %v", err)
		}

		// 「Safie で再ログイン」: the same name renews the same connection.
		u, err = e.svc.StartOAuth(e.owner, camcloud.StartOAuthInput{Name: "Safie"})
		if err != nil {
			t.Fatal(err)
		}
		if again := e.grant(u, e.owner, nil).Get("connected"); again != string(id) {
			t.Fatalf("re-login made connection %s, want %s renewed", again, id)
		}
		if c := e.conn(id); c.Status != cameracloudconnection.StatusOK || c.LastError != "" {
			t.Fatalf("after re-login: %+v", c)
		}
		if n := e.c.CameraCloudConnection.Query().CountX(e.sys); n != 1 {
			t.Fatalf("%d connections", n)
		}
		e.noSecretsLogged(access, refresh, access2, refresh2, e.cloud.ClientSecret())
	})
}

// TestOAuthUnavailable: without an OAuth client the start says so.
func TestOAuthUnavailable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		_, err := e.svc.StartOAuth(e.owner, camcloud.StartOAuthInput{})
		wantReason(t, err, apperr.FEATURE_DISABLED, "input")
	})
}

// callbackWith runs the callback again with a query the browser sent once.
func (e *env) callbackWith(q url.Values, as context.Context) url.Values {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/oauth/safie/callback?"+q.Encode(), nil).WithContext(as)
	rec := httptest.NewRecorder()
	e.svc.OAuthCallback().ServeHTTP(rec, req)
	done, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || err != nil {
		e.t.Fatalf("callback answered %d → %q", rec.Code, rec.Header().Get("Location"))
	}
	return done.Query()
}

// TestOAuthStateSingleUseAndAdminRechecked: a state is good for one
// callback (a replay is refused and changes nothing); an owner demoted
// while at Safie's consent page gets nothing saved.
func TestOAuthStateSingleUseAndAdminRechecked(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, withOAuth)
		u, err := e.svc.StartOAuth(e.owner, camcloud.StartOAuthInput{Name: "Safie"})
		if err != nil {
			t.Fatal(err)
		}
		var sent url.Values
		done := e.grant(u, e.owner, func(q url.Values) { sent = url.Values{}; maps.Copy(sent, q) })
		if done.Get("cameraCloud") != "connected" {
			t.Fatalf("first callback: %v", done)
		}
		again := e.callbackWith(sent, e.owner)
		if again.Get("cameraCloud") != "error" || again.Get("reason") != apperr.SAFIE_OAUTH_STATE {
			t.Fatalf("replayed state: %v", again)
		}

		u, err = e.svc.StartOAuth(e.owner, camcloud.StartOAuthInput{Name: "二台目"})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := viewer.FromContext(e.owner)
		v.Role, v.Scopes = viewer.RoleStaff, []viewer.Scope{viewer.ScopeJournalRead}
		demoted := viewer.NewContext(context.Background(), v)
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		back, _ := url.Parse(resp.Header.Get("Location"))
		if got := e.callbackWith(back.Query(), demoted); got.Get("reason") != apperr.ADMIN_ONLY {
			t.Fatalf("demoted mid-flow: %v", got)
		}
		if n := e.c.CameraCloudConnection.Query().CountX(e.sys); n != 1 {
			t.Fatalf("%d connections, want the first only", n)
		}
	})
}
