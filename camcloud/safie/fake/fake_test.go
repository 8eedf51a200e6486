package fake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
)

// The client package tests the protocol end to end; these check what the
// fake promises beyond it, over plain HTTP.

var t0 = time.Date(2026, 12, 2, 15, 4, 5, 0, time.FixedZone("JST", 9*3600))

func get(t *testing.T, s *Safie, path string, q url.Values) (int, []byte) {
	t.Helper()
	u := s.URL() + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Safie-API-Key", s.APIKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err) // not Fatal: also called from goroutines
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func start(t *testing.T, opts Options) *Safie {
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	s, stop := Start(opts)
	t.Cleanup(stop)
	s.AddDevice(Device{ID: "d1", Serial: "201000192", Name: "Counter", Model: "CC-2L_SF", ItemIDs: []int{42}, Streaming: true})
	return s
}

func TestUploadDelay(t *testing.T) {
	s := start(t, Options{UploadDelay: 5 * time.Second})
	st, _ := get(t, s, "/v2/devices/d1/image", url.Values{"timestamp": {t0.Add(-3 * time.Second).Format(time.RFC3339)}})
	if st != http.StatusNotFound {
		t.Fatalf("a second not uploaded yet: %d", st)
	}
	st, b := get(t, s, "/v2/devices/d1/image", url.Values{"timestamp": {t0.Add(-6 * time.Second).Format(time.RFC3339)}})
	if st != http.StatusOK {
		t.Fatalf("%d %s", st, b)
	}
	// The latest picture is the newest uploaded one.
	_, b = get(t, s, "/v2/devices/d1/thumbnail", nil)
	if got, err := camera.DecodeTime(b); err != nil || !got.Equal(t0.Add(-5*time.Second)) {
		t.Fatalf("thumbnail shows %v %v", got, err)
	}
}

func TestRefusals(t *testing.T) {
	s := start(t, Options{})
	for _, c := range []struct {
		path string
		q    url.Values
		want int
	}{
		{"/v2/devices", url.Values{"limit": {"101"}}, 400},
		{"/v2/devices", url.Values{"item_id": {"x"}}, 400},
		{"/v2/devices/d1/image", url.Values{"timestamp": {"yesterday"}}, 400},
		{"/v2/devices/d1/image", url.Values{"timestamp": {t0.Add(time.Second).Format(time.RFC3339)}}, 400},
		{"/v2/devices/d1/media", url.Values{"start": {t0.Add(-time.Hour).Format(time.RFC3339)}, "end": {t0.Add(-30 * time.Second).Format(time.RFC3339)}}, 400},
		{"/v2/devices/d1/media", url.Values{"start": {t0.Add(-90 * time.Second).Format(time.RFC3339)}, "end": {t0.Add(-time.Minute).Format(time.RFC3339)}}, 400},
		{"/v2/devices/d1/standard_events", url.Values{"start": {t0.Add(-26 * time.Hour).Format(time.RFC3339)}, "end": {t0.Add(-time.Hour).Format(time.RFC3339)}}, 400},
		{"/v2/devices/d1/standard_events", url.Values{"start": {t0.Add(-time.Hour).Format(time.RFC3339)}, "end": {t0.Add(-time.Minute).Format(time.RFC3339)}, "event_types": {"cat"}}, 400},
		{"/v2/devices/nope/thumbnail", nil, 404},
	} {
		if st, b := get(t, s, c.path, c.q); st != c.want {
			t.Errorf("%s?%s: %d %s, want %d", c.path, c.q.Encode(), st, b, c.want)
		} else if !strings.Contains(string(b), `"message"`) {
			t.Errorf("%s: error without a message: %s", c.path, b)
		}
	}
}

func TestDeviceLifecycle(t *testing.T) {
	s := start(t, Options{})
	s.SetDevice(Device{ID: "d1", Serial: "201000192", Name: "Renamed", Model: "CC-2L_SF", Streaming: false})
	_, b := get(t, s, "/v2/devices", url.Values{"item_id": {"42"}})
	var page struct {
		List    []json.RawMessage `json:"list"`
		Count   int               `json:"count"`
		HasNext bool              `json:"has_next"`
	}
	if err := json.Unmarshal(b, &page); err != nil || page.Count != 0 || len(page.List) != 0 {
		t.Fatalf("option dropped, still listed: %s", b)
	}
	_, b = get(t, s, "/v2/devices", nil)
	if !strings.Contains(string(b), `"name":"Renamed"`) || !strings.Contains(string(b), `"video_streaming":false`) {
		t.Fatalf("%s", b)
	}
	// Going offline through SetDevice logged the disconnect.
	q := url.Values{"start": {t0.Add(-time.Hour).Format(time.RFC3339)}, "end": {t0.Add(-time.Minute).Format(time.RFC3339)}}
	if d, _ := s.Device("d1"); d.Streaming {
		t.Fatal("still streaming")
	}
	s.RemoveDevice("d1")
	if st, _ := get(t, s, "/v2/devices/d1/media", q); st != http.StatusNotFound {
		t.Fatalf("a removed device answers %d", st)
	}
	if _, ok := s.Device("d1"); ok {
		t.Fatal("removed device still there")
	}
}

func TestTokenEndpointTakesBasicAuth(t *testing.T) {
	s := start(t, Options{})
	code := s.Code("https://app.example/cb")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://app.example/cb"}}
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v1/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.ClientID(), s.ClientSecret())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 {
		t.Fatalf("%d %+v %v", resp.StatusCode, tok, err)
	}
	req, _ = http.NewRequest(http.MethodGet, s.URL()+"/v2/devices", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 200 {
		t.Fatalf("bearer refused: %d", resp2.StatusCode)
	}
}

func TestConcurrentPicturesAreSafe(t *testing.T) {
	s := start(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := t0.Add(-time.Duration(i%4) * time.Second)
			st, b := get(t, s, "/v2/devices/d1/image", url.Values{"timestamp": {at.Format(time.RFC3339)}})
			if got, err := camera.DecodeTime(b); st != 200 || err != nil || !got.Equal(at) {
				errs <- fmt.Errorf("%s: %d %v %v", at, st, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.Requests("/v2/devices/d1/image"); n != 16 {
		t.Fatalf("%d requests counted", n)
	}
}

func TestAccessTokensExpire(t *testing.T) {
	now := t0
	var mu sync.Mutex
	s := start(t, Options{TokenTTL: time.Minute, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	access, _ := s.IssueToken()
	ask := func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v2/devices", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, b := ask(); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if st, b := ask(); st != 401 || !strings.Contains(b, "expired") || strings.Contains(b, access) {
		t.Fatalf("%d %s", st, b)
	}
}
