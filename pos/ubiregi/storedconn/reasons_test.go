package storedconn_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/ubiregi/fake"
)

// TestCallbackSaysWhichFailure: the way back from Ubiregi's consent page
// names its failure (?reason=, which the dashboard words) and carries no
// provider text in ?error=.
func TestCallbackSaysWhichFailure(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		fk := fake.New(fake.Options{AccountName: "カフェ青山"})
		t.Cleanup(fk.Shutdown)
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
			cfg.UbiregiAuthURL, cfg.UbiregiAPIURL = fk.URL(), fk.APIBaseURL()
			cfg.UbiregiClientID, cfg.UbiregiClientSecret = fk.ClientID(), fk.ClientSecret()
		})
		browser := signedIn(srv)
		back := func(path string) (problem, reason string) {
			t.Helper()
			resp, err := browser.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			q := resp.Request.URL.Query()
			return q.Get("error"), q.Get("reason")
		}
		if p, r := back("/oauth/ubiregi/callback?code=x&state=forged"); r != apperr.UBIREGI_STATE_MISMATCH || p == "" {
			t.Fatalf("forged state: error %q reason %q", p, r)
		}
		fk.Deny(true)
		p, r := back("/oauth/ubiregi/start")
		if r != apperr.UBIREGI_DENIED || strings.Contains(p, "access_denied") {
			t.Fatalf("denied consent: error %q reason %q", p, r)
		}
	})
}

// TestSealedStateIsGoodOnce: the dashboard's consent URL (a state sealed for
// the viewer, no cookie) connects once; the same callback again — from the
// browser's history, say — is refused before its code is spent.
func TestSealedStateIsGoodOnce(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		fk := fake.New(fake.Options{AccountName: "カフェ青山"})
		t.Cleanup(fk.Shutdown)
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
			cfg.UbiregiAuthURL, cfg.UbiregiAPIURL = fk.URL(), fk.APIBaseURL()
			cfg.UbiregiClientID, cfg.UbiregiClientSecret = fk.ClientID(), fk.ClientSecret()
		})
		r := srv.Query(t, `mutation { startUbiregiOAuth(returnTo: "/portal") { authorizeURL } }`, nil)
		if len(r.Errors) > 0 {
			t.Fatalf("startUbiregiOAuth: %+v", r.Errors)
		}
		var d struct {
			StartUbiregiOAuth struct{ AuthorizeURL string } `json:"startUbiregiOAuth"`
		}
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		browser := signedIn(srv)
		resp, err := browser.Get(d.StartUbiregiOAuth.AuthorizeURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Query().Get("connected") == "" {
			t.Fatalf("first callback ended at %s; want ?connected=", resp.Request.URL)
		}
		var callback string
		for via := resp.Request; via != nil; via = via.Response.Request {
			if strings.HasPrefix(via.URL.Path, "/oauth/ubiregi/callback") {
				callback = via.URL.String()
				break
			}
			if via.Response == nil {
				break
			}
		}
		if callback == "" {
			t.Fatal("no callback among the redirects")
		}
		again, err := browser.Get(callback)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		if q := again.Request.URL.Query(); q.Get("reason") != apperr.UBIREGI_STATE_MISMATCH || q.Get("connected") != "" {
			t.Fatalf("replayed callback ended at %s; want reason %s", again.Request.URL, apperr.UBIREGI_STATE_MISMATCH)
		}
	})
}
