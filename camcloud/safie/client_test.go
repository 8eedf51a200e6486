package safie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testclock"

	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/camera"
)

var jst = time.FixedZone("JST", 9*3600)

type env struct {
	clk  *testclock.Clock
	fake *fake.Safie
	srv  *httptest.Server
}

func newEnv(t *testing.T, opts fake.Options) *env {
	t.Helper()
	clk := testclock.New(time.Date(2026, 12, 2, 15, 4, 5, 0, jst))
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	f := fake.New(opts)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &env{clk: clk, fake: f, srv: srv}
}

// client is fast: small backoffs, a generous rate, a short timeout.
func (e *env) client(creds Credentials, tune ...func(*Config)) *Client {
	cfg := Config{
		BaseURL: e.srv.URL, Rate: 1000, Burst: 100,
		MaxRetries: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		HTTP: &http.Client{Timeout: 30 * time.Second},
		Now:  e.clk.Now,
	}
	for _, f := range tune {
		f(&cfg)
	}
	return New(cfg, creds)
}

func key() Credentials { return Credentials{APIKey: fake.DefaultAPIKey} }

func (e *env) register() {
	e.fake.AddDevice(fake.Device{ID: "dev1", Serial: "201000192", Name: "Register", Model: "CC-2L_SF", ItemIDs: []int{42}, Streaming: true})
}

// shows fails the test unless the JPEG's drawn clock reads want's second.
func shows(t *testing.T, jpeg []byte, want time.Time) {
	t.Helper()
	got, err := camera.DecodeTime(jpeg)
	if err != nil {
		t.Fatal(err)
	}
	if want = want.Truncate(time.Second); !got.Equal(want) {
		t.Fatalf("picture shows %s, want %s", got.In(jst), want.In(jst))
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
	if strings.Contains(err.Error(), fake.DefaultAPIKey) {
		t.Fatalf("error says the key: %v", err)
	}
}

func TestBothAuthHeaders(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	ctx := context.Background()
	access, _ := e.fake.IssueToken()
	for name, creds := range map[string]Credentials{
		"api key": key(),
		"bearer":  {AccessToken: access},
		// The token wins: a stale key beside it does not matter.
		"bearer over key": {AccessToken: access, APIKey: "stale-key"},
	} {
		devs, err := e.client(creds).Devices(ctx, nil)
		if err != nil || len(devs) != 1 {
			t.Fatalf("%s: %v %v", name, devs, err)
		}
	}
	_, err := e.client(Credentials{APIKey: "wrong-key-123"}).Devices(ctx, nil)
	wantErr(t, err, ErrAuth)
	if strings.Contains(err.Error(), "wrong-key-123") {
		t.Fatalf("error says the key: %v", err)
	}
	_, err = e.client(Credentials{}).Devices(ctx, nil)
	wantErr(t, err, ErrAuth)
}

func TestDevicesPagesAndItemFilter(t *testing.T) {
	e := newEnv(t, fake.Options{})
	for i := range 250 {
		d := fake.Device{ID: fmt.Sprintf("d%03d", i), Serial: fmt.Sprint(201000000 + i), Name: fmt.Sprintf("カメラ%d", i), Model: "CC-2L_SF", Streaming: i%2 == 0}
		if i%5 != 0 {
			d.ItemIDs = []int{7, 42}
		}
		e.fake.AddDevice(d)
	}
	c := e.client(key())
	ctx := context.Background()
	all, err := c.Devices(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 || all[0].ID != "d000" || all[249].ID != "d249" {
		t.Fatalf("%d devices, first %v", len(all), all[0])
	}
	if got := e.fake.Requests("/v2/devices"); got != 3 {
		t.Fatalf("%d page requests for 250 devices, want 3", got)
	}
	pos := 42
	withOption, err := c.Devices(ctx, &pos)
	if err != nil {
		t.Fatal(err)
	}
	if len(withOption) != 200 {
		t.Fatalf("%d devices with the option, want 200", len(withOption))
	}
	for _, d := range withOption {
		if d.ID == "d005" {
			t.Fatal("a device without the option is listed")
		}
	}
	d := withOption[0]
	if d.ID != "d001" || d.Streaming || d.Label() != "カメラ1 (CC-2L_SF : 201000001)" {
		t.Fatalf("device %+v label %q", d, d.Label())
	}
	other := 99
	none, err := c.Devices(ctx, &other)
	if err != nil || len(none) != 0 {
		t.Fatalf("%v %v", none, err)
	}
}

func TestImageAtTimestampDecodesItsSecond(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key())
	ctx := context.Background()
	// A receipt that arrives 2 hours late still gets its own second.
	at := e.clk.Now().Add(-2*time.Hour - 250*time.Millisecond)
	b, err := c.Image(ctx, "dev1", at)
	if err != nil {
		t.Fatal(err)
	}
	shows(t, b, at)
	// A time in another zone is the same instant.
	b, err = c.Image(ctx, "dev1", at.UTC())
	if err != nil {
		t.Fatal(err)
	}
	shows(t, b, at)

	latest, err := c.Image(ctx, "dev1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	shows(t, latest, e.clk.Now())
	thumb, err := c.Thumbnail(ctx, "dev1")
	if err != nil {
		t.Fatal(err)
	}
	shows(t, thumb, e.clk.Now())
}

func TestImageNotRecorded(t *testing.T) {
	e := newEnv(t, fake.Options{Retention: 24 * time.Hour})
	e.register()
	c := e.client(key())
	ctx := context.Background()
	now := e.clk.Now()
	e.fake.AddGap("dev1", now.Add(-30*time.Minute), now.Add(-20*time.Minute))

	_, err := c.Image(ctx, "dev1", now.Add(-25*time.Minute))
	wantErr(t, err, ErrNotFound)
	// Either edge of the gap: its start is missing, its end recorded.
	_, err = c.Image(ctx, "dev1", now.Add(-30*time.Minute))
	wantErr(t, err, ErrNotFound)
	b, err := c.Image(ctx, "dev1", now.Add(-20*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	shows(t, b, now.Add(-20*time.Minute))

	_, err = c.Image(ctx, "dev1", now.Add(-24*time.Hour-time.Second))
	wantErr(t, err, ErrNotFound)
	if _, err := c.Image(ctx, "dev1", now.Add(-24*time.Hour+time.Second)); err != nil {
		t.Fatalf("inside the retention: %v", err)
	}
	_, err = c.Image(ctx, "gone", now.Add(-time.Minute))
	wantErr(t, err, ErrNotFound)
	// The cloud refuses the future: not "no picture", a refused request.
	_, err = c.Image(ctx, "dev1", now.Add(time.Minute))
	wantErr(t, err, ErrRefused)
	if errors.Is(err, ErrNotFound) {
		t.Fatal("a future time is not a gap")
	}
}

func TestThumbnailOfAStoppedCameraIsItsLastPicture(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key())
	ctx := context.Background()
	stopped := e.clk.Now()
	e.fake.SetStreaming("dev1", false)
	e.clk.Add(10 * time.Minute)
	devs, err := c.Devices(ctx, nil)
	if err != nil || devs[0].Streaming {
		t.Fatalf("%v %v", devs, err)
	}
	b, err := c.Thumbnail(ctx, "dev1")
	if err != nil {
		t.Fatal(err)
	}
	shows(t, b, stopped.Add(-time.Second))
	_, err = c.Image(ctx, "dev1", stopped.Add(5*time.Minute))
	wantErr(t, err, ErrNotFound)

	ev, err := c.StandardEvents(ctx, "dev1", stopped.Add(-time.Minute), e.clk.Now().Add(-time.Minute))
	if err != nil || len(ev) != 1 || ev[0].Type != EventDisconnect || !ev[0].At.Equal(stopped) {
		t.Fatalf("events %v %v", ev, err)
	}
}

func TestMediaSpansAroundGaps(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key())
	ctx := context.Background()
	now := e.clk.Now()
	g1, g2 := now.Add(-50*time.Minute), now.Add(-40*time.Minute)
	g3, g4 := now.Add(-20*time.Minute), now.Add(-15*time.Minute)
	e.fake.AddGap("dev1", g1, g2)
	e.fake.AddGap("dev1", g3, g4)
	start, end := now.Add(-time.Hour), now.Add(-5*time.Minute)
	spans, err := c.Media(ctx, "dev1", start, end)
	if err != nil {
		t.Fatal(err)
	}
	want := []Span{{start, g1.Sub(start)}, {g2, g3.Sub(g2)}, {g4, end.Sub(g4)}}
	if len(spans) != len(want) {
		t.Fatalf("spans %v, want %v", spans, want)
	}
	for i := range want {
		if !spans[i].Start.Equal(want[i].Start) || spans[i].Duration != want[i].Duration {
			t.Fatalf("span %d = %v..%v, want %v..%v", i, spans[i].Start, spans[i].End(), want[i].Start, want[i].End())
		}
	}
	// Nothing recorded in a range inside a gap.
	spans, err = c.Media(ctx, "dev1", g1.Add(time.Minute), g1.Add(3*time.Minute))
	if err != nil || len(spans) != 0 {
		t.Fatalf("%v %v", spans, err)
	}
}

func TestStandardEventsPagesAndTypes(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key())
	ctx := context.Background()
	base := e.clk.Now().Add(-3 * time.Hour)
	for i := range 250 {
		e.fake.AddEvent("dev1", EventPerson, base.Add(time.Duration(249-i)*time.Second))
	}
	for i := range 30 {
		e.fake.AddEvent("dev1", EventMotion, base.Add(time.Duration(i)*time.Second))
	}
	// Outside the range: not listed.
	e.fake.AddEvent("dev1", EventPerson, base.Add(-time.Hour))

	persons, err := c.StandardEvents(ctx, "dev1", base, base.Add(time.Hour), EventPerson)
	if err != nil {
		t.Fatal(err)
	}
	if len(persons) != 250 {
		t.Fatalf("%d person events, want 250", len(persons))
	}
	for i, ev := range persons {
		if ev.Type != EventPerson || !ev.At.Equal(base.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("event %d = %v (not oldest first, or not a person)", i, ev)
		}
	}
	if n := e.fake.Requests("/v2/devices/dev1/standard_events"); n != 3 {
		t.Fatalf("%d pages for 250 events, want 3", n)
	}
	all, err := c.StandardEvents(ctx, "dev1", base, base.Add(time.Hour))
	if err != nil || len(all) != 280 {
		t.Fatalf("%d events, %v", len(all), err)
	}
	// Both edges are inside.
	edge, err := c.StandardEvents(ctx, "dev1", base.Add(10*time.Second), base.Add(70*time.Second), EventPerson)
	if err != nil || len(edge) != 61 {
		t.Fatalf("%d events at the edges, %v", len(edge), err)
	}
}

func TestRangeRefusedBeforeAsking(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key())
	ctx := context.Background()
	now := e.clk.Now()
	for name, r := range map[string][2]time.Time{
		"shorter than a minute": {now.Add(-10 * time.Minute), now.Add(-10*time.Minute + 59*time.Second)},
		"longer than a day":     {now.Add(-25*time.Hour - time.Second), now.Add(-time.Hour)},
		"end too recent":        {now.Add(-10 * time.Minute), now.Add(-59 * time.Second)},
		"end before start":      {now.Add(-10 * time.Minute), now.Add(-20 * time.Minute)},
	} {
		_, err := c.Media(ctx, "dev1", r[0], r[1])
		wantErr(t, err, ErrRange)
		_, err = c.StandardEvents(ctx, "dev1", r[0], r[1], EventPerson)
		if !errors.Is(err, ErrRange) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n := e.fake.Requests("/v2/"); n != 0 {
		t.Fatalf("%d requests for ranges the cloud refuses", n)
	}
	// The limits themselves are allowed: exactly 1 minute, exactly 1 day,
	// ending exactly 1 minute ago.
	if _, err := c.Media(ctx, "dev1", now.Add(-2*time.Minute), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Media(ctx, "dev1", now.Add(-25*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The clock is Config.Now: a minute later, the recent end is fine.
	e.clk.Add(time.Minute)
	if _, err := c.StandardEvents(ctx, "dev1", now.Add(-10*time.Minute), now.Add(-59*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestAuthRefusals(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key())
	ctx := context.Background()
	for _, st := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		e.fake.FailNext(1, st)
		before := e.fake.Requests("/v2/")
		_, err := c.Devices(ctx, nil)
		wantErr(t, err, ErrAuth)
		if n := e.fake.Requests("/v2/") - before; n != 1 {
			t.Fatalf("HTTP %d asked %d times; an auth refusal is not retried", st, n)
		}
	}
	e.fake.RevokeKey(fake.DefaultAPIKey)
	_, err := c.Image(ctx, "dev1", e.clk.Now().Add(-time.Minute))
	wantErr(t, err, ErrAuth)
	if !strings.Contains(err.Error(), "invalid API key") {
		t.Fatalf("error without the cloud's reason: %v", err)
	}
}

// recordSleeps makes the client's waits instant and lists them.
func recordSleeps(c *Client) *[]time.Duration {
	var mu sync.Mutex
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return &waits
}

func TestRateLimitedHonoursRetryAfterThenSucceeds(t *testing.T) {
	e := newEnv(t, fake.Options{RetryAfter: 2 * time.Second})
	e.register()
	c := e.client(key(), func(cfg *Config) { cfg.MaxBackoff = 10 * time.Second })
	waits := recordSleeps(c)
	e.fake.FailNext(2, http.StatusTooManyRequests)
	devs, err := c.Devices(context.Background(), nil)
	if err != nil || len(devs) != 1 {
		t.Fatalf("%v %v", devs, err)
	}
	if n := e.fake.Requests("/v2/devices"); n != 3 {
		t.Fatalf("%d requests, want 2 refused + 1", n)
	}
	// Each 429 waits at least the cloud's 2 s before the next request.
	var long int
	for _, w := range *waits {
		if w >= 1900*time.Millisecond {
			long++
		}
	}
	if long < 2 {
		t.Fatalf("waits %v: Retry-After not honoured", *waits)
	}
}

func TestRateLimitedForEver(t *testing.T) {
	e := newEnv(t, fake.Options{RetryAfter: -1})
	e.register()
	c := e.client(key())
	e.fake.FailNext(100, http.StatusTooManyRequests)
	_, err := c.Thumbnail(context.Background(), "dev1")
	wantErr(t, err, ErrRateLimited)
	if n := e.fake.Requests("/v2/"); n != 4 {
		t.Fatalf("%d requests, want 1 + MaxRetries 3", n)
	}
}

func TestLongRetryAfterIsTheCallersToWait(t *testing.T) {
	e := newEnv(t, fake.Options{RetryAfter: 30 * time.Second})
	e.register()
	c := e.client(key(), func(cfg *Config) { cfg.MaxBackoff = time.Second })
	e.fake.FailNext(1, http.StatusTooManyRequests)
	_, err := c.Thumbnail(context.Background(), "dev1")
	wantErr(t, err, ErrRateLimited)
	if d := RetryAfterOf(err); d != 30*time.Second {
		t.Fatalf("RetryAfterOf = %s, want the cloud's 30 s", d)
	}
	// The next call of this client does not ask before then either.
	_, err = c.Devices(context.Background(), nil)
	wantErr(t, err, ErrRateLimited)
	if d := RetryAfterOf(err); d < 25*time.Second || d > 30*time.Second {
		t.Fatalf("RetryAfterOf = %s", d)
	}
	if n := e.fake.Requests("/v2/"); n != 1 {
		t.Fatalf("%d requests; the cloud asked for 30 s of quiet", n)
	}
	if RetryAfterOf(errors.New("other")) != 0 {
		t.Fatal("RetryAfterOf of another error")
	}
}

func TestServerErrorThenSuccess(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key())
	e.fake.FailNext(2, http.StatusInternalServerError)
	at := e.clk.Now().Add(-time.Hour)
	b, err := c.Image(context.Background(), "dev1", at)
	if err != nil {
		t.Fatal(err)
	}
	shows(t, b, at)
	if n := e.fake.Requests("/v2/"); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	e.fake.FailNext(100, http.StatusServiceUnavailable)
	_, err = c.Image(context.Background(), "dev1", at)
	wantErr(t, err, ErrUnavailable)
}

func TestGarbageIsRefusedNotRetried(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key())
	ctx := context.Background()
	now := e.clk.Now()
	calls := []func() error{
		func() error { _, err := c.Devices(ctx, nil); return err },
		func() error { _, err := c.Media(ctx, "dev1", now.Add(-time.Hour), now.Add(-time.Minute)); return err },
		func() error {
			_, err := c.StandardEvents(ctx, "dev1", now.Add(-time.Hour), now.Add(-time.Minute))
			return err
		},
		func() error { _, err := c.Image(ctx, "dev1", now.Add(-time.Hour)); return err },
		func() error { _, err := c.Thumbnail(ctx, "dev1"); return err },
	}
	for i, call := range calls {
		e.fake.FailNext(1, 0)
		before := e.fake.Requests("/v2/")
		wantErr(t, call(), ErrBadResponse)
		if n := e.fake.Requests("/v2/") - before; n != 1 {
			t.Fatalf("call %d: garbage asked %d times", i, n)
		}
	}
}

func TestOversizedImageRefused(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key(), func(cfg *Config) { cfg.MaxImageBytes = 1000 })
	_, err := c.Thumbnail(context.Background(), "dev1")
	wantErr(t, err, ErrBadResponse)
}

func TestSlowAnswerTimesOut(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key(), func(cfg *Config) {
		cfg.HTTP = &http.Client{Timeout: 100 * time.Millisecond}
		cfg.MaxRetries = 1
	})
	e.fake.Delay(time.Minute)
	done := make(chan error, 1)
	go func() { _, err := c.Devices(context.Background(), nil); done <- err }()
	select {
	case err := <-done:
		wantErr(t, err, ErrUnavailable)
	case <-time.After(20 * time.Second):
		t.Fatal("a slow cloud hangs the call")
	}
	e.fake.Delay(0)
}

func TestCancelDuringBackoffReturnsPromptly(t *testing.T) {
	e := newEnv(t, fake.Options{})
	e.register()
	c := e.client(key(), func(cfg *Config) {
		cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour
	})
	e.fake.FailNext(100, http.StatusInternalServerError)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := c.Devices(ctx, nil); done <- err }()
	for e.fake.Requests("/v2/") == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("cancel did not stop the backoff")
	}
	if n := e.fake.Requests("/v2/"); n != 1 {
		t.Fatalf("%d requests after the cancel", n)
	}
}

func TestLimiterPaces(t *testing.T) {
	// A cloud that answers at once, so only the limiter sets the pace.
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = w.Write([]byte{0xFF, 0xD8, 0xFF, 0xD9})
	}))
	defer srv.Close()
	// 20 requests a second after a burst of 2: within 500 ms at most
	// 2 + 10 (+1 for the edges), where an unpaced loop sends hundreds.
	c := New(Config{BaseURL: srv.URL, Rate: 20, Burst: 2}, key())
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, _ = c.Thumbnail(ctx, "dev1")
			}
		}()
	}
	wg.Wait()
	if got := n.Load(); got > 13 || got < 2 {
		t.Fatalf("%d requests in 500 ms at 20/s, burst 2", got)
	}
}

func TestOAuthExchangeRefreshAndRefusal(t *testing.T) {
	e := newEnv(t, fake.Options{ClientID: "cid", ClientSecret: "csecret-xyz"})
	e.register()
	ctx := context.Background()
	o := OAuthConfig{
		ClientID: "cid", ClientSecret: "csecret-xyz", RedirectURL: "https://regicam.example/oauth/safie/callback",
		AuthorizeURL: e.srv.URL + "/auth/authorize", TokenURL: e.srv.URL + "/v1/auth/token",
	}
	u, err := url.Parse(o.AuthCodeURL("st4te"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("client_id") != "cid" || q.Get("state") != "st4te" || q.Get("scope") != "safie-api" ||
		q.Get("response_type") != "code" || q.Get("redirect_uri") != o.RedirectURL {
		t.Fatalf("authorize URL %s", u)
	}
	// The owner's browser: the fake approves and redirects with a code.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || back.Query().Get("state") != "st4te" || back.Query().Get("code") == "" {
		t.Fatalf("authorize answered %d %s", resp.StatusCode, back)
	}
	code := back.Query().Get("code")
	tok, err := o.Exchange(ctx, nil, code)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || !tok.Expiry.After(time.Now()) {
		t.Fatalf("token %+v", tok)
	}
	if _, err := e.client(Credentials{AccessToken: tok.AccessToken}).Devices(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// A code is good once.
	_, err = o.Exchange(ctx, nil, code)
	wantErr(t, err, ErrAuth)

	renewed, err := o.Refresh(ctx, nil, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.AccessToken == "" || renewed.AccessToken == tok.AccessToken || renewed.RefreshToken != tok.RefreshToken {
		t.Fatalf("renewed %+v from %+v", renewed, tok)
	}
	if _, err := e.client(Credentials{AccessToken: renewed.AccessToken}).Devices(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// The owner revokes the app: the refresh is refused, and so is the
	// access token.
	e.fake.RevokeKey(tok.RefreshToken)
	e.fake.RevokeKey(renewed.AccessToken)
	_, err = o.Refresh(ctx, nil, tok.RefreshToken)
	wantErr(t, err, ErrAuth)
	for _, secret := range []string{tok.RefreshToken, "csecret-xyz"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error says a secret: %v", err)
		}
	}
	_, err = e.client(Credentials{AccessToken: renewed.AccessToken}).Devices(ctx, nil)
	wantErr(t, err, ErrAuth)

	// A wrong client secret is refused too.
	bad := o
	bad.ClientSecret = "nope"
	_, err = bad.Exchange(ctx, nil, e.fake.Code(o.RedirectURL))
	wantErr(t, err, ErrAuth)
}

func TestOAuthDefaults(t *testing.T) {
	u, _ := url.Parse(OAuthConfig{ClientID: "c", RedirectURL: "https://x.example/cb"}.AuthCodeURL("s"))
	if u.Scheme+"://"+u.Host+u.Path != DefaultAuthorizeURL || u.Query().Get("scope") != "safie-api" {
		t.Fatalf("default authorize URL %s", u)
	}
}

// echo is a cloud that quotes the request's credentials back, at length.
func echo(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		msg := "bad key " + r.Header.Get("Safie-API-Key") + " / " + r.Header.Get("Authorization") + " " + strings.Repeat("x", 1000)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}
}

func TestErrorsNeverSayTheSecretAndAreClipped(t *testing.T) {
	for _, st := range []int{401, 403, 404, 400, 429, 500} {
		srv := httptest.NewServer(echo(st))
		for _, creds := range []Credentials{{APIKey: "sk-very-secret-key"}, {AccessToken: "at-very-secret-token"}} {
			c := New(Config{BaseURL: srv.URL, MaxRetries: 1, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, creds)
			_, err := c.Devices(context.Background(), nil)
			if err == nil {
				t.Fatalf("HTTP %d: no error", st)
			}
			msg := err.Error()
			if strings.Contains(msg, "very-secret") {
				t.Fatalf("HTTP %d: error says the secret: %s", st, msg)
			}
			if len(msg) > 300 {
				t.Fatalf("HTTP %d: error of %d bytes", st, len(msg))
			}
		}
		srv.Close()
	}
}

func TestEndlessPagesRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"list":[],"count":0,"has_next":true}`))
	}))
	defer srv.Close()
	_, err := New(Config{BaseURL: srv.URL}, key()).Devices(context.Background(), nil)
	wantErr(t, err, ErrBadResponse)
}

func TestTimestampOnTheWire(t *testing.T) {
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		if r.Header.Get("Safie-API-Key") != fake.DefaultAPIKey {
			w.WriteHeader(401)
			return
		}
		_, _ = w.Write([]byte(`{"list":[{"timestamp":"2026-12-02T14:00:00.5+09:00","duration":1500.5}]}`))
	}))
	defer srv.Close()
	c := New(Config{BaseURL: srv.URL, Now: func() time.Time { return time.Date(2026, 12, 2, 16, 0, 0, 0, jst) }}, key())
	start := time.Date(2026, 12, 2, 14, 0, 0, 999e6, jst)
	spans, err := c.Media(context.Background(), "a/b", start, start.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("start") != "2026-12-02T14:00:00+09:00" || got.Get("end") != "2026-12-02T15:00:00+09:00" {
		t.Fatalf("query %v", got)
	}
	if len(spans) != 1 || spans[0].Duration != 1500500*time.Microsecond || !spans[0].Start.Equal(time.Date(2026, 12, 2, 14, 0, 0, 5e8, jst)) {
		t.Fatalf("spans %v", spans)
	}
}

func TestOversizedJSONRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"list":[`))
		for range 5 << 20 / 64 {
			_, _ = w.Write([]byte(`{"device_id":"x","serial":"1","setting":{"name":"a"}},          `))
		}
	}))
	defer srv.Close()
	_, err := New(Config{BaseURL: srv.URL}, key()).Devices(context.Background(), nil)
	wantErr(t, err, ErrBadResponse)
}

func TestTransportErrorsRetried(t *testing.T) {
	// failing drops the first `drop` connections before any answer.
	failing := func(drop int32) (*httptest.Server, *atomic.Int32) {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) <= drop {
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
				return
			}
			_, _ = w.Write([]byte(`{"list":[],"count":0,"has_next":false}`))
		}))
		t.Cleanup(srv.Close)
		return srv, &n
	}
	srv, n := failing(2)
	cfg := Config{BaseURL: srv.URL, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	devs, err := New(cfg, key()).Devices(context.Background(), nil)
	if err != nil || len(devs) != 0 || n.Load() != 3 {
		t.Fatalf("%v %v after %d requests", devs, err, n.Load())
	}
	srv, n = failing(1000)
	cfg.BaseURL, cfg.MaxRetries = srv.URL, 2
	_, err = New(cfg, key()).Devices(context.Background(), nil)
	wantErr(t, err, ErrUnavailable)
	if got := n.Load(); got != 3 {
		t.Fatalf("%d attempts, want 1 + MaxRetries 2", got)
	}
}

// A redirect is never followed: Go would drop Authorization on the way to
// another host but keep Safie-API-Key, handing the key to that host.
func TestRedirectNeverCarriesTheKey(t *testing.T) {
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Safie-API-Key") != "" || r.Header.Get("Authorization") != "" || r.FormValue("client_secret") != "" {
			leaked.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"list":[{"device_id":"evil","serial":"1"}],"has_next":false,"access_token":"x","token_type":"bearer"}`))
	}))
	defer other.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	defer redirect.Close()
	ctx := context.Background()
	for _, hc := range []*http.Client{nil, {Timeout: 5 * time.Second}} {
		c := New(Config{BaseURL: redirect.URL, HTTP: hc, MaxRetries: 1, MinBackoff: time.Millisecond}, key())
		devs, err := c.Devices(ctx, nil)
		wantErr(t, err, ErrBadResponse)
		if devs != nil {
			t.Fatalf("the redirected answer was believed: %+v", devs)
		}
	}
	o := OAuthConfig{ClientID: "cid", ClientSecret: "csecret-xyz", TokenURL: redirect.URL + "/v1/auth/token"}
	_, err := o.Exchange(ctx, nil, "code")
	wantErr(t, err, ErrBadResponse)
	_, err = o.Refresh(ctx, &http.Client{}, "refresh")
	wantErr(t, err, ErrBadResponse)
	if n := leaked.Load(); n != 0 {
		t.Fatalf("the other host received a credential %d times", n)
	}
}

// An empty page that says has_next (and a count) ends the call at once,
// not after thousands of requests.
func TestEmptyPageWithCountStops(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = w.Write([]byte(`{"list":[],"count":1,"has_next":true}`))
	}))
	defer srv.Close()
	_, err := New(Config{BaseURL: srv.URL}, key()).Devices(context.Background(), nil)
	wantErr(t, err, ErrBadResponse)
	if got := n.Load(); got != 1 {
		t.Fatalf("%d requests, want 1", got)
	}
}

// A cloud that always has a next page is followed for MaxItems/100+1
// pages at most, for devices (even pages of one device) and for events
// (even events of a type not asked for).
func TestPageCap(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if strings.HasSuffix(r.URL.Path, "/standard_events") {
			var b strings.Builder
			b.WriteString(`{"list":[`)
			for j := range pageLimit {
				if j > 0 {
					b.WriteString(",")
				}
				b.WriteString(`{"type":"motion","timestamp":"2026-12-02T15:00:00+09:00"}`)
			}
			b.WriteString(`]}`)
			_, _ = w.Write([]byte(b.String()))
			return
		}
		fmt.Fprintf(w, `{"list":[{"device_id":"d%d","serial":"1"}],"count":1,"has_next":true}`, i)
	}))
	defer srv.Close()
	c := New(Config{BaseURL: srv.URL, Rate: 100000, Burst: 1000}, key())
	_, err := c.Devices(context.Background(), nil)
	wantErr(t, err, ErrBadResponse)
	if got := n.Load(); got != maxPages {
		t.Fatalf("%d device pages asked, want %d", got, maxPages)
	}
	n.Store(0)
	end := time.Now().Add(-time.Hour)
	_, err = c.StandardEvents(context.Background(), "dev1", end.Add(-time.Hour), end, EventPerson)
	wantErr(t, err, ErrBadResponse)
	if got := n.Load(); got > maxPages {
		t.Fatalf("%d event pages asked, want at most %d", got, maxPages)
	}
}
