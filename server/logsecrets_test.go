package server_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/internal/testenv"
)

// secretOf makes a fresh value for a test secret and registers it, so the
// log sink also fails any other test whose servers log it.
func secretOf(kind string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return testenv.Secret(kind + "-" + hex.EncodeToString(b[:]))
}

// TestNoSecretInLogs (issue 12, class 3) sends the requests an attacker or
// a buggy client would — malformed JSON, a batch, wrong parameter types,
// variables that do not coerce, bodies over the limit, bad credentials —
// each carrying a password, client secret, API key, session cookie or
// webhook secret, and then greps every log line every server of this
// process wrote (all levels, debug included, both backends) for them.
func TestNoSecretInLogs(t *testing.T) {
	// The sink sees what servers log, whatever the level.
	canary := "canary-" + hex.EncodeToString([]byte(t.Name()))
	testenv.Logger().Debug("sink self-check", "value", canary)
	if len(testenv.Scan(canary)) != 1 {
		t.Fatal("the log sink did not capture a debug line")
	}

	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		before := testenv.LogLines()
		// A Smaregi that refuses every credential at once.
		refuser := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error": "invalid_client"}`)
		}))
		t.Cleanup(refuser.Close)
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
			cfg.SmaregiIDURL = refuser.URL
			cfg.SmaregiAPIURL = refuser.URL
			cfg.MaxBodyBytes = 16 << 10
		})
		f := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)

		password := secretOf("Login-Password") // meets the password rules
		current, next := secretOf("current-password"), secretOf("new-password")
		clientSecret := secretOf("client-secret")
		apiKey := "rk_" + secretOf("apikey")
		cookie := secretOf("cookie")
		hookSecret := secretOf("webhook-secret")
		realKey, _ := srv.NewAPIKey(t, srv.AccountID, "journal:write") // registered by testenv
		srv.CreateUser(t, srv.AccountID, "owner2@example.jp", password, "OWNER")

		login := fmt.Sprintf(`mutation { login(email: "owner2@example.jp", password: %q) { user { id } } }`, password)
		loginVar := `mutation($p: String!) { login(email: "owner2@example.jp", password: $p) { user { id } } }`
		change := `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`
		connect := `mutation($in: SmaregiCredentialsInput!) { connectSmaregi(input: $in) { id } }`
		link := `mutation($in: AddSmaregiLinkInput!) { addSmaregiLink(input: $in) { id } }`
		creds := map[string]any{"contractID": "c1", "clientID": "id1", "clientSecret": clientSecret}
		linkIn := map[string]any{"contractID": "c1", "clientID": "id1", "clientSecret": clientSecret,
			"terminalID": "1", "cameraID": string(f.CameraIDs[0])}
		q := func(query string, vars any) string {
			b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
			return string(b)
		}
		bodies := []string{
			q(login, nil)[:len(q(login, nil))-3],                                 // truncated JSON
			`[` + q(login, nil) + `]`,                                            // a batch
			fmt.Sprintf(`{"query": {"password": %q}}`, password),                 // query not a string
			fmt.Sprintf(`{"query": %q, "variables": %q}`, loginVar, password),    // variables not an object
			q(loginVar, map[string]any{"p": map[string]any{"nested": password}}), // does not coerce
			q(loginVar, map[string]any{"p": []any{password, 1}}),
			q(login, nil) + `{"trailing": "` + password + `"}`,
			q(loginVar, map[string]any{"p": password}),                                                  // a wrong login (no such password? right one)
			q(strings.Replace(loginVar, "login(", "login(nope: 1, ", 1), map[string]any{"p": password}), // validation error
			q(change, map[string]any{"c": current, "n": next}),                                          // wrong current password
			q(change, map[string]any{"c": current, "n": map[string]any{"x": next}}),
			q(change, map[string]any{"c": current, "n": next})[:40] + next, // malformed
			q(connect, map[string]any{"in": creds}),                        // refused by "Smaregi"
			q(connect, map[string]any{"in": map[string]any{"clientSecret": clientSecret}}),
			q(link, map[string]any{"in": linkIn}),
			q(link, map[string]any{"in": map[string]any{"clientSecret": clientSecret, "cameraID": 5}}),
			q(link, map[string]any{"in": linkIn})[:60] + clientSecret,
			q(login, map[string]any{"pad": strings.Repeat(password, 20<<10/len(password))}), // over the limit
		}
		for i, body := range bodies {
			for _, accept := range []string{jsonCT, gqlResp} {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", accept)
				srv.Credential().Apply(req.Header)
				do(t, req, fmt.Sprintf("body %d", i))
			}
		}
		// Credentials in headers: a malformed key, a key of nobody, a
		// cookie of no session, each with a malformed body as well.
		for _, h := range []http.Header{
			{"Authorization": {"Bearer " + apiKey}},
			{"Authorization": {apiKey}},
			{"Authorization": {"Bearer " + realKey + "x"}},
			{"Cookie": {auth.CookieName + "=" + cookie}},
			{"Cookie": {auth.CookieName + "=" + cookie + "; other=" + password}},
			{"X-Request-Id": {password}},
		} {
			for _, body := range []string{q(`{ cameras { totalCount } }`, nil), `{"query": `} {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
				req.Header = h.Clone()
				req.Header.Set("Content-Type", "application/json")
				do(t, req, fmt.Sprint(h))
			}
		}
		// Webhooks: the secret in the path, in a signature header, in the body.
		for _, r := range []struct{ path, body string }{
			{"/webhooks/smaregi/" + string(f.TerminalIDs[0]) + "/" + hookSecret, `{"contract_id": "` + hookSecret + `"`},
			{"/webhooks/signed/" + string(f.TerminalIDs[0]), `{"records": [` + hookSecret},
		} {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+r.path, strings.NewReader(r.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Regicam-Signature", "sha256="+hookSecret)
			req.Header.Set("X-Regicam-Timestamp", hookSecret)
			do(t, req, r.path)
		}
		// A request id is the server's own, never the client's header.
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(`{"query": `))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", password)
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else {
			resp.Body.Close()
			if resp.Header.Get("X-Request-Id") == password {
				t.Error("the client's X-Request-Id became the request id that log lines carry")
			}
		}
		// The CSV export's POST form, malformed.
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/export/journal.csv", strings.NewReader(`{"where": {"search": "`+password))
		req.Header.Set("Content-Type", "application/json")
		srv.Credential().Apply(req.Header)
		do(t, req, "export")

		if testenv.LogLines() == before {
			t.Fatal("no log line of the server was captured: the check would prove nothing")
		}
		for name, secret := range map[string]string{"password": password, "current password": current,
			"new password": next, "client secret": clientSecret, "API key": apiKey, "real API key": realKey,
			"session cookie": cookie, "owner's session cookie": srv.Credential().Cookie, "webhook secret": hookSecret} {
			if lines := testenv.Scan(secret); len(lines) > 0 {
				t.Errorf("the %s reached %d log line(s), e.g. %s", name, len(lines),
					strings.ReplaceAll(lines[0], secret, "<"+name+">"))
			}
		}
	})
}

func do(t *testing.T, req *http.Request, what string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Errorf("%s: status %d", what, resp.StatusCode)
	}
}
