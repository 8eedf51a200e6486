package fake_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/regicam/regicam/pos/ubiregi/fake"
)

// TestConsentPage: with Options.Consent the authorize endpoint shows the
// owner a page naming the account, and grants a code only after 許可する;
// 拒否する sends access_denied back. A wrong client still gets no page.
func TestConsentPage(t *testing.T) {
	s := fake.New(fake.Options{Consent: true, AccountName: "デモカフェ"})
	defer s.Shutdown()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"response_type": {"code"}, "client_id": {s.ClientID()}, "redirect_uri": {"https://app.example/cb?x=1"}, "state": {"st<&>"}}
	resp, err := noRedirect.Get(s.URL() + "/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || !strings.Contains(page, "デモカフェ (1001)") || !strings.Contains(page, "許可する") || !strings.Contains(page, "拒否する") {
		t.Fatalf("consent page: %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, "st<&>") || !strings.Contains(page, `value="st&lt;&amp;&gt;"`) {
		t.Errorf("the state is carried escaped:\n%s", page)
	}
	if len(s.States()) != 1 {
		t.Errorf("states seen: %q", s.States())
	}

	decide := func(d string) *url.URL {
		t.Helper()
		dq := url.Values{}
		for k, v := range q {
			dq[k] = v
		}
		dq.Set("decision", d)
		resp, err := noRedirect.Get(s.URL() + "/oauth2/authorize?" + dq.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Host != "app.example" || loc.Query().Get("x") != "1" || loc.Query().Get("state") != "st<&>" {
			t.Fatalf("%s: %d %s", d, resp.StatusCode, loc)
		}
		return loc
	}
	if loc := decide("allow"); loc.Query().Get("code") == "" || loc.Query().Get("error") != "" {
		t.Errorf("allow: %s", loc)
	}
	if loc := decide("deny"); loc.Query().Get("code") != "" || loc.Query().Get("error") != "access_denied" {
		t.Errorf("deny: %s", loc)
	}

	q.Set("client_id", "someone-else")
	resp, err = noRedirect.Get(s.URL() + "/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown client: %d, want 400 and no consent page", resp.StatusCode)
	}
}

// TestContinueAfter: the next checkout is numbered after the given id.
func TestContinueAfter(t *testing.T) {
	s := fake.New(fake.Options{})
	defer s.Shutdown()
	s.ContinueAfter(9000)
	if id := s.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: 1, Count: 1, Sales: 450}}}); id != "9001" {
		t.Errorf("next checkout %s, want 9001", id)
	}
	s.ContinueAfter(10) // never backwards
	if id := s.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: 1, Count: 1, Sales: 450}}}); id != "9002" {
		t.Errorf("next checkout %s, want 9002", id)
	}
}
