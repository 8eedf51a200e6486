package fake_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/pos/ubiregi/fake"
)

// The fake is checked here with plain HTTP, independently of the client,
// against the protocol facts it is meant to reproduce.
func TestProtocol(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := fake.New(fake.Options{PageSize: 1, RedirectURIs: []string{"https://app.example/cb"}, Now: clock})
	defer s.Shutdown()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	get := func(u string) *http.Response {
		t.Helper()
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	q := url.Values{"response_type": {"code"}, "client_id": {s.ClientID()}, "redirect_uri": {"https://evil.example/cb"}, "state": {"s"}}
	if r := get(s.URL() + "/oauth2/authorize?" + q.Encode()); r.StatusCode != 400 {
		t.Fatalf("unregistered redirect_uri: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	q.Set("redirect_uri", "https://app.example/cb")
	r := get(s.URL() + "/oauth2/authorize?" + q.Encode())
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != 302 || loc.Host != "app.example" || loc.Query().Get("state") != "s" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", r.StatusCode, loc)
	}

	token := func(form url.Values, user, pass string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", s.URL()+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code := loc.Query().Get("code")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example/cb"}}
	if st, m := token(form, "", ""); st != 401 || m["error"] != "invalid_client" {
		t.Fatalf("no basic auth: %d %v", st, m)
	}
	st, m := token(form, s.ClientID(), s.ClientSecret())
	if st != 200 || m["access_token"] == "" || m["refresh_token"] == "" || m["expires_in"].(float64) != 3600 {
		t.Fatalf("exchange: %d %v", st, m)
	}
	if st, m := token(form, s.ClientID(), s.ClientSecret()); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("code reuse: %d %v", st, m)
	}
	at := m["access_token"].(string)

	api := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", path, nil)
		req.Header.Set("X-Ubiregi-Auth-Token", at)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	s.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: 1, Count: 1, Sales: 100, Tax: 10}}})
	s.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: 2, Count: 1, Sales: 200}}})
	// Pages share one snapshot, until = the first timestamp (exclusive):
	// a bill stored in that very second waits for the next poll.
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	st, page := api(s.APIBaseURL() + "/accounts/current/checkouts")
	next, _ := page["next-url"].(string)
	cs := page["checkouts"].([]any)
	c0 := cs[0].(map[string]any)
	if st != 200 || len(cs) != 1 || c0["price"] != "110.0" || c0["status"] != "close" ||
		!strings.Contains(next, "/accounts/"+s.AccountID()+"/checkouts") || !strings.Contains(next, "glb=") {
		t.Fatalf("page 1: %d %v", st, page)
	}
	st, page = api(next)
	if st != 200 || len(page["checkouts"].([]any)) != 1 || page["next-url"] != nil {
		t.Fatalf("page 2: %d %v", st, page)
	}
	at = "nope"
	if st, _ := api(s.APIBaseURL() + "/accounts/current"); st != 401 {
		t.Fatalf("bad token: %d", st)
	}
}
