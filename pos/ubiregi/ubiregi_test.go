package ubiregi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/ubiregi"
	"github.com/regicam/regicam/pos/ubiregi/fake"
	"github.com/regicam/regicam/pulid"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	clock *clock
	fake  *fake.Server
	cli   *ubiregi.Client
	tok   ubiregi.Token
}

const redirect = "https://regicam.example/connect/ubiregi/callback"

func setup(t *testing.T, opts fake.Options, tweak func(*ubiregi.Config)) *env {
	t.Helper()
	e := &env{clock: newClock()}
	opts.Now = e.clock.Now
	e.fake = fake.New(opts)
	t.Cleanup(e.fake.Shutdown)
	cfg := ubiregi.Config{
		AuthBaseURL: e.fake.URL(), APIBaseURL: e.fake.APIBaseURL(),
		ClientID: e.fake.ClientID(), ClientSecret: e.fake.ClientSecret(), RedirectURL: redirect,
		Now: e.clock.Now, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Overlap: -1,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	var err error
	if e.cli, err = ubiregi.New(cfg); err != nil {
		t.Fatal(err)
	}
	if e.tok, err = e.cli.Exchange(context.Background(), e.fake.Code(redirect)); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestOAuthFlow drives the authorization code flow as a browser would:
// the app's start and callback handlers, the fake's authorize page and
// token endpoint, all over real HTTP.
func TestOAuthFlow(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	f := fake.New(fake.Options{Now: clk.Now})
	defer f.Shutdown()

	var app *httptest.Server
	var cli *ubiregi.Client
	var mu sync.Mutex
	var got []ubiregi.Token
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		state := ubiregi.NewState()
		http.SetCookie(w, &http.Cookie{Name: "oauth_state", Value: state, Path: "/", HttpOnly: true})
		http.Redirect(w, r, cli.AuthorizeURL(state), http.StatusFound)
	})
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("oauth_state")
		want := ""
		if c != nil {
			want = c.Value
		}
		if err := ubiregi.CheckState(want, r.URL.Query().Get("state")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if e := r.URL.Query().Get("error"); e != "" {
			http.Error(w, e, http.StatusForbidden)
			return
		}
		tok, err := cli.Exchange(r.Context(), r.URL.Query().Get("code"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		mu.Lock()
		got = append(got, tok)
		mu.Unlock()
		w.Write([]byte("connected"))
	})
	app = httptest.NewServer(mux)
	defer app.Close()
	var err error
	cli, err = ubiregi.New(ubiregi.Config{AuthBaseURL: f.URL(), APIBaseURL: f.APIBaseURL(),
		ClientID: f.ClientID(), ClientSecret: f.ClientSecret(), RedirectURL: app.URL + "/callback", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(app.URL + "/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(got) != 1 {
		t.Fatalf("flow: status %d, tokens %d", resp.StatusCode, len(got))
	}
	states := f.States()
	if len(states) != 1 || len(states[0]) < 22 {
		t.Fatalf("state sent to authorize: %q (want ≥128 random bits)", states)
	}
	tok := got[0]
	if tok.AccessToken == "" || tok.RefreshToken == "" || !tok.Expiry.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("token %+v", tok)
	}
	acct, err := cli.Account(ctx, tok)
	if err != nil || acct.ID != f.AccountID() || acct.Name != "Ubiregi Cafe" || acct.PaymentTypes["2"] != "クレジットカード" {
		t.Fatalf("account %+v, %v", acct, err)
	}

	// Login CSRF: the attacker's own code delivered to the victim's
	// browser with a state the victim never issued.
	calls := f.TokenCalls()
	forged := app.URL + "/callback?code=" + f.Code(app.URL+"/callback") + "&state=" + ubiregi.NewState()
	resp, err = browser.Get(forged)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || f.TokenCalls() != calls || len(got) != 1 {
		t.Fatalf("forged callback: status %d, token calls %d→%d", resp.StatusCode, calls, f.TokenCalls())
	}
	// No cookie at all (another browser) is a mismatch too.
	resp, err = http.Get(app.URL + "/callback?code=x&state=")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback without session state: %d", resp.StatusCode)
	}

	// The owner says no.
	f.Deny(true)
	resp, err = browser.Get(app.URL + "/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(got) != 1 {
		t.Fatalf("denied: status %d", resp.StatusCode)
	}
}

func TestCheckState(t *testing.T) {
	s := ubiregi.NewState()
	if s == ubiregi.NewState() {
		t.Fatal("NewState repeats")
	}
	for _, c := range []struct {
		want, got string
		ok        bool
	}{{s, s, true}, {s, s + "x", false}, {s, "", false}, {"", "", false}, {s, strings.ToUpper(s), s == strings.ToUpper(s)}} {
		if err := ubiregi.CheckState(c.want, c.got); (err == nil) != c.ok || err != nil && !errors.Is(err, ubiregi.ErrStateMismatch) {
			t.Errorf("CheckState(%q, %q) = %v", c.want, c.got, err)
		}
	}
}

func TestAuthErrors(t *testing.T) {
	ctx := context.Background()
	e := setup(t, fake.Options{}, nil)

	// A code is single use.
	code := e.fake.Code(redirect)
	if _, err := e.cli.Exchange(ctx, code); err != nil {
		t.Fatal(err)
	}
	_, err := e.cli.Exchange(ctx, code)
	var ae *ubiregi.AuthError
	if !errors.Is(err, pos.ErrAuth) || !errors.As(err, &ae) || ae.Code != "invalid_grant" || ae.Description == "" {
		t.Fatalf("reused code: %v", err)
	}

	// Wrong client secret: NEEDS_REAUTH with the provider's own words.
	bad, _ := ubiregi.New(ubiregi.Config{AuthBaseURL: e.fake.URL(), APIBaseURL: e.fake.APIBaseURL(),
		ClientID: e.fake.ClientID(), ClientSecret: "wrong", RedirectURL: redirect})
	_, err = bad.Refresh(ctx, e.tok.RefreshToken)
	if !errors.Is(err, pos.ErrAuth) || !strings.Contains(err.Error(), "invalid_client") ||
		!strings.Contains(err.Error(), "Client authentication failed") {
		t.Fatalf("wrong secret: %v", err)
	}

	// A token endpoint outage is not an auth problem.
	e.fake.Inject(fake.Fault{Path: "/oauth2/token", Status: 503})
	_, err = e.cli.Refresh(ctx, e.tok.RefreshToken)
	var apiErr *ubiregi.APIError
	if errors.Is(err, pos.ErrAuth) || !errors.As(err, &apiErr) || !apiErr.Temporary() {
		t.Fatalf("token 503: %v", err)
	}
}

func TestTokenRefresh(t *testing.T) {
	ctx := context.Background()
	e := setup(t, fake.Options{RotateRefreshTokens: true, TokenTTL: time.Hour}, nil)
	e.fake.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: 1, Count: 1, Sales: 500, Tax: 50}}})

	var saved []ubiregi.Token
	save := func(t ubiregi.Token) error { saved = append(saved, t); return nil }

	// Fresh token: no refresh.
	b, err := e.cli.Sync(ctx, e.tok, "", save)
	if err != nil || len(saved) != 0 || len(b.Checkouts) != 1 {
		t.Fatalf("fresh: %v, saved %d, %d checkouts", err, len(saved), len(b.Checkouts))
	}

	// Expired by the clock: refreshed before the call, new token saved.
	e.clock.Add(2 * time.Hour)
	b, err = e.cli.Sync(ctx, e.tok, "", save)
	if err != nil || len(saved) != 1 || b.Token != saved[0] || b.Token.RefreshToken == e.tok.RefreshToken {
		t.Fatalf("expired: %v, saved %d", err, len(saved))
	}
	tok := b.Token

	// Rejected by the API although not expired by our clock: refresh on 401.
	e.fake.ExpireAccessTokens()
	if _, err := e.cli.All(ctx, tok, ""); !errors.Is(err, ubiregi.ErrTokenExpired) {
		t.Fatalf("All with dead token: %v", err)
	}
	b, err = e.cli.Sync(ctx, tok, "", save)
	if err != nil || len(saved) != 2 || b.Token != saved[1] || len(b.Checkouts) != 1 {
		t.Fatalf("401: %v, saved %d", err, len(saved))
	}

	// The old, rotated refresh token is dead: that is NEEDS_REAUTH.
	if _, err := e.cli.Refresh(ctx, tok.RefreshToken); !errors.Is(err, pos.ErrAuth) {
		t.Fatalf("rotated refresh token: %v", err)
	}

	// Uninstalled app: the refresh fails, the error says why.
	e.fake.RevokeRefreshTokens()
	_, err = e.cli.Sync(ctx, b.Token, "", save)
	if !errors.Is(err, pos.ErrAuth) || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("revoked: %v", err)
	}

	// A failing save stops the sync before the new token is used.
	e2 := setup(t, fake.Options{}, nil)
	e2.clock.Add(2 * time.Hour)
	_, err = e2.cli.Sync(ctx, e2.tok, "", func(ubiregi.Token) error { return errors.New("db down") })
	if err == nil || !strings.Contains(err.Error(), "db down") {
		t.Fatalf("save failure: %v", err)
	}
}

func TestPagination(t *testing.T) {
	ctx := context.Background()
	e := setup(t, fake.Options{PageSize: 3}, nil)
	var ids []string
	for i := range 10 {
		ids = append(ids, e.fake.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: int64(i + 1), Count: 1, Sales: 100}}}))
		e.clock.Add(time.Second)
	}
	b, err := e.cli.All(ctx, e.tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Checkouts) != 10 || len(b.Invalid) != 0 {
		t.Fatalf("got %d checkouts, %d invalid", len(b.Checkouts), len(b.Invalid))
	}
	for i, c := range b.Checkouts {
		if c.ID != ids[i] {
			t.Fatalf("checkout %d is %s, want %s", i, c.ID, ids[i])
		}
	}
	if b.Since != ubiregi.FormatTime(e.clock.Now()) {
		t.Fatalf("since %q, want the server timestamp %q", b.Since, ubiregi.FormatTime(e.clock.Now()))
	}
	var pages int
	for _, r := range e.fake.Requests() {
		if strings.HasSuffix(r.Path, "/checkouts") {
			pages++
			if r.Header.Get("X-Ubiregi-Auth-Token") != e.tok.AccessToken {
				t.Fatal("request without X-Ubiregi-Auth-Token")
			}
		}
	}
	if pages != 4 {
		t.Fatalf("%d page requests, want 4", pages)
	}

	// Nothing new: an empty poll, cursor moves to the new timestamp.
	e.clock.Add(time.Minute)
	b2, err := e.cli.All(ctx, e.tok, b.Since)
	if err != nil || len(b2.Checkouts) != 0 || b2.Since != ubiregi.FormatTime(e.clock.Now()) {
		t.Fatalf("idle poll: %v, %d checkouts, since %q", err, len(b2.Checkouts), b2.Since)
	}

	// A checkout edited while we page through: page 2 no longer holds it
	// (its updated_at is past the snapshot), and the next poll brings it.
	e.fake.Update(ids[0], func(c *fake.Checkout) { c.Change = 50 })
	e.clock.Add(time.Second)
	b3, err := e.cli.All(ctx, e.tok, b2.Since)
	if err != nil || len(b3.Checkouts) != 1 || b3.Checkouts[0].ID != ids[0] || b3.Checkouts[0].Change.Yen() != 50 {
		t.Fatalf("edited: %v %+v", err, b3.Checkouts)
	}
}

// A checkout edited between two page requests is never lost: the pages
// share one snapshot (until = first timestamp) and the next poll, from
// that timestamp, picks the edit up.
func TestPaginationConcurrentEdit(t *testing.T) {
	ctx := context.Background()
	var e *env
	var once sync.Once
	var ids []string
	e = setup(t, fake.Options{PageSize: 2}, func(c *ubiregi.Config) {
		c.HTTP = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("glb") != "" {
				once.Do(func() {
					e.clock.Add(time.Second)
					e.fake.Update(ids[3], func(c *fake.Checkout) { c.CashierID = 12 })
					e.fake.Update(ids[0], func(c *fake.Checkout) { c.CashierID = 12 })
				})
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
	})
	for range 5 {
		ids = append(ids, e.fake.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: 1, Count: 1, Sales: 100}}}))
	}
	e.clock.Add(time.Second)
	b, err := e.cli.All(ctx, e.tok, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range b.Checkouts {
		got[c.ID] = true
	}
	if len(got) != 4 || got[ids[3]] {
		t.Fatalf("first poll saw %v; want all but the one edited mid-poll", got)
	}
	e.clock.Add(time.Second)
	b2, err := e.cli.All(ctx, e.tok, b.Since)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, c := range b2.Checkouts {
		seen[c.ID] = c.CashierID
	}
	if seen[ids[3]] != "12" || seen[ids[0]] != "12" {
		t.Fatalf("second poll %v: edits lost", seen)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestOverlap(t *testing.T) {
	ctx := context.Background()
	e := setup(t, fake.Options{}, func(c *ubiregi.Config) { c.Overlap = 0 }) // default: 1 min
	e.fake.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: 1, Count: 1, Sales: 100}}})
	e.clock.Add(10 * time.Second)
	b, err := e.cli.All(ctx, e.tok, ubiregi.FormatTime(e.clock.Now()))
	if err != nil || len(b.Checkouts) != 1 {
		t.Fatalf("overlap should re-read the last minute: %v, %d", err, len(b.Checkouts))
	}
	reqs := e.fake.Requests()
	if q := reqs[len(reqs)-1].Query.Get("since"); q != ubiregi.FormatTime(e.clock.Now().Add(-time.Minute)) {
		t.Fatalf("since sent %q", q)
	}
}

func terminalID() pulid.ID { return pulid.MustNew("TE") }

func TestStatusMapping(t *testing.T) {
	ctx := context.Background()
	e := setup(t, fake.Options{}, nil)
	acct, err := e.cli.Account(ctx, e.tok)
	if err != nil {
		t.Fatal(err)
	}
	names := acct.Names()
	paidAt := e.clock.Now().Add(-3 * time.Minute)
	sale := e.fake.Close(fake.Checkout{
		PaidAt: paidAt, CashierID: 11, Change: 450, GUID: "g-sale",
		Items: []fake.Item{
			{MenuItemID: 7, Count: 2, Sales: 600, Tax: 60},
			{MenuItemID: 8, Count: -1, Sales: -200, Tax: -20}, // a return
			{MenuItemID: 9, Count: 1, Sales: 100, Tax: 10, DiscountSales: 10, DiscountTax: 1},
		},
		Payments: []fake.Payment{{PaymentTypeID: 1, Amount: 500}, {PaymentTypeID: 99, Amount: 489}},
	})
	e.clock.Add(time.Minute)
	open := e.fake.Open(fake.Checkout{Items: []fake.Item{{MenuItemID: 1, Count: 1, Sales: 300}}})
	openAt := e.clock.Now()
	e.clock.Add(time.Minute)
	canceled := e.fake.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: 1, Count: 1, Sales: 300}}})
	e.clock.Add(time.Minute)
	e.fake.Cancel(canceled)
	cancelAt := e.clock.Now()
	deleted := e.fake.Open(fake.Checkout{})
	e.clock.Add(time.Minute)
	e.fake.Delete(deleted)
	deleteAt := e.clock.Now()
	e.clock.Add(time.Second)

	b, err := e.cli.All(ctx, e.tok, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range b.Invalid {
		t.Errorf("invalid checkout %s: %v", inv.ID, inv.Err)
	}
	byID := map[string]ubiregi.Checkout{}
	for _, c := range b.Checkouts {
		byID[c.ID] = c
	}
	acctID := e.fake.AccountID()
	check := func(recs []pos.Record) {
		t.Helper()
		for _, r := range recs {
			if r.TerminalExternalID != acctID || r.StoreName != "Ubiregi Cafe" {
				t.Errorf("terminal %q store %q", r.TerminalExternalID, r.StoreName)
			}
			rc := r.Receipt
			rc.TerminalID = terminalID()
			if err := rc.Validate(e.clock.Now()); err != nil {
				t.Errorf("%s %s does not validate: %v", rc.Kind, rc.ExternalID, err)
			}
		}
	}

	recs := names.Records(acctID, byID[sale])
	check(recs)
	if len(recs) != 1 {
		t.Fatalf("close: %d records", len(recs))
	}
	r := recs[0].Receipt
	if r.Kind != journalentry.KindPAYMENT || !r.OccurredAt.Equal(paidAt) || r.UpdatedAt == nil || r.ExternalID != sale || r.ReceiptNo != "g-sale" {
		t.Fatalf("close: %+v", r)
	}
	if r.Total != 539 || r.Change != 450 || r.Deposit != 989 {
		t.Fatalf("close amounts: total %d change %d deposit %d", r.Total, r.Change, r.Deposit)
	}
	if len(r.Items) != 3 || r.Items[0].Name != "メニュー 7" || r.Items[0].Quantity != 2 || r.Items[0].Amount != 660 ||
		r.Items[1].Quantity != -1 || r.Items[1].Amount != -220 || r.Items[2].Amount != 99 {
		t.Fatalf("close items: %+v", r.Items)
	}
	if r.PaymentMethod != "現金 / 支払い種別 99" || r.StaffID != "11" || r.StaffName != "山田" {
		t.Fatalf("close payment %q staff %q %q", r.PaymentMethod, r.StaffID, r.StaffName)
	}
	if len(r.Raw) == 0 {
		t.Fatal("close: no raw")
	}

	recs = names.Records(acctID, byID[open])
	check(recs)
	if len(recs) != 1 || recs[0].Receipt.Kind != journalentry.KindOTHER || !recs[0].Receipt.OccurredAt.Equal(openAt) || recs[0].Receipt.Total != 0 {
		t.Fatalf("open: %+v", recs)
	}

	recs = names.Records(acctID, byID[canceled])
	check(recs)
	if len(recs) != 2 || recs[0].Receipt.Kind != journalentry.KindPAYMENT || recs[1].Receipt.Kind != journalentry.KindCANCEL ||
		!recs[1].Receipt.OccurredAt.Equal(cancelAt) || recs[1].Receipt.ExternalID != canceled || recs[1].Receipt.Total != 300 {
		t.Fatalf("cancel: %+v", recs)
	}

	recs = names.Records(acctID, byID[deleted])
	check(recs)
	if len(recs) != 1 || recs[0].Receipt.Kind != journalentry.KindDELETE || !recs[0].Receipt.OccurredAt.Equal(deleteAt) {
		t.Fatalf("delete: %+v", recs)
	}

	// A closed checkout edited later: the same PAYMENT key with new content
	// and a later UpdatedAt, which ingest turns into a MODIFY entry.
	e.clock.Add(time.Minute)
	e.fake.Update(sale, func(c *fake.Checkout) { c.CashierID = 12 })
	editAt := e.clock.Now()
	e.clock.Add(time.Second)
	b2, err := e.cli.All(ctx, e.tok, b.Since)
	if err != nil || len(b2.Checkouts) != 1 {
		t.Fatalf("edit poll: %v %d", err, len(b2.Checkouts))
	}
	recs = names.Records(acctID, b2.Checkouts[0])
	check(recs)
	if len(recs) != 1 || recs[0].Receipt.Kind != journalentry.KindPAYMENT || !recs[0].Receipt.UpdatedAt.Equal(editAt) ||
		recs[0].Receipt.StaffName != "佐藤" || !recs[0].Receipt.OccurredAt.Equal(paidAt) {
		t.Fatalf("edit: %+v", recs)
	}
}

func TestRecordsEdgeCases(t *testing.T) {
	updated := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	parse := func(js string) ubiregi.Checkout {
		t.Helper()
		c, err := ubiregi.ParseCheckout([]byte(js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return c
	}
	// The iPad's clock ran ahead: paid_at after the server stored it. The
	// entry keeps the iPad's time; the server's goes beside it, a clock
	// sample (ingest corrects the picture's time from them).
	c := parse(`{"id":1,"status":"close","paid_at":"2026-03-01T10:00:00Z","updated_at":"2026-03-01T09:00:00Z","price":"100.0","change":"0.0"}`)
	recs := ubiregi.Records("A", c)
	if len(recs) != 1 || !recs[0].Receipt.OccurredAt.Equal(updated.Add(time.Hour)) ||
		recs[0].Receipt.ServerAt == nil || !recs[0].Receipt.ServerAt.Equal(updated) {
		t.Fatalf("skewed paid_at: %+v", recs)
	}
	// A paid_at of the year 2000: the sale is at the server's time, the
	// iPad's goes to the estimator to be refused and counted.
	c = parse(`{"id":6,"status":"close","paid_at":"2000-01-01T00:00:00Z","updated_at":"2026-03-01T09:00:00Z","price":"100"}`)
	if recs := ubiregi.Records("A", c); len(recs) != 1 || !recs[0].Receipt.OccurredAt.Equal(updated) ||
		recs[0].Receipt.RegisterAt == nil || recs[0].Receipt.RegisterAt.Year() != 2000 {
		t.Fatalf("year-2000 paid_at: %+v", recs)
	}
	// A paid_at that cannot be a time: the sale still counts, at upload time.
	c = parse(`{"id":5,"status":"close","paid_at":"0001-01-01T00:00:00Z","updated_at":"2026-03-01T09:00:00Z","price":"100"}`)
	if recs := ubiregi.Records("A", c); len(recs) != 1 || !recs[0].Receipt.OccurredAt.Equal(updated) {
		t.Fatalf("garbage paid_at: %+v", recs)
	}
	// A broken updated_at (the server's own clock) makes the checkout unreadable.
	if _, err := ubiregi.ParseCheckout([]byte(`{"id":6,"status":"close","updated_at":"soon"}`)); err == nil {
		t.Fatal("garbage updated_at accepted")
	}
	// Unknown status: OTHER, nothing guessed.
	c = parse(`{"id":2,"status":"Refunded","created_at":"2026-03-01T09:00:00Z","price":"100"}`)
	if recs := ubiregi.Records("A", c); len(recs) != 1 || recs[0].Receipt.Kind != journalentry.KindOTHER {
		t.Fatalf("unknown status: %+v", recs)
	}
	// Capitalized status as POSTed by registers; numbers as numbers;
	// fractional tax rounded once per line; zero-count lines dropped.
	c = parse(`{"id":"3","status":"Close","paid_at":"2026-03-01T18:00:00+09:00","price":385,"change":"15",
		"items":[{"menu_item_id":5,"count":"3","sales":"330.0","tax":"26.4","discount_sales":"0","discount_tax":"0"},
		         {"menu_item_id":6,"count":0,"sales":"0","tax":"0"}],
		"payments":[{"payment_type_id":1,"amount":"400"}]}`)
	recs = ubiregi.Records("A", c)
	if len(recs) != 1 || recs[0].Receipt.Kind != journalentry.KindPAYMENT || recs[0].Receipt.Total != 385 ||
		recs[0].Receipt.Deposit != 400 || len(recs[0].Receipt.Items) != 1 || recs[0].Receipt.Items[0].Amount != 356 ||
		!recs[0].Receipt.OccurredAt.Equal(updated) || recs[0].Receipt.PaymentMethod != "支払い種別 1" {
		t.Fatalf("loose checkout: %+v", recs)
	}
	// No time at all: nothing to place on the timeline.
	c = parse(`{"id":4,"status":"close"}`)
	if recs := ubiregi.Records("A", c); len(recs) != 0 {
		t.Fatalf("timeless: %+v", recs)
	}
}

func TestParseCheckouts(t *testing.T) {
	p, err := ubiregi.ParseCheckouts([]byte(`{"timestamp":"2026-03-01T09:00:00Z","last_updated_at":"2026-03-01T08:00:00Z",
		"checkouts":[{"id":1,"status":"close","price":"12x"},{"id":2,"status":"close","price":"1.5"},7,{"status":"open"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Checkouts) != 1 || p.Checkouts[0].ID != "2" || len(p.Invalid) != 3 || p.Invalid[0].ID != "1" ||
		p.Invalid[0].Index != 0 || p.Invalid[1].Index != 2 || p.LastUpdatedAt == "" {
		t.Fatalf("page %+v", p)
	}
	for _, bad := range []string{``, `[]`, `{"checkouts":{}}`, `{"checkouts":[`, `{"timestamp":5}`} {
		if _, err := ubiregi.ParseCheckouts([]byte(bad)); !errors.Is(err, ubiregi.ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseMoney(t *testing.T) {
	for _, c := range []struct {
		in  string
		yen int64
		ok  bool
	}{
		{"385.0", 385, true}, {"-12", -12, true}, {"0.5", 1, true}, {"-0.5", -1, true}, {"0.49999", 0, true}, {"0.99995", 1, true}, {"-2.50001", -3, true},
		{"1.23456", 1, true}, {"+7.", 7, true}, {".5", 1, true}, {"1e3", 0, false}, {"1,000", 0, false},
		{"NaN", 0, false}, {"", 0, false}, {"-", 0, false}, {".", 0, false}, {"99999999999999", 0, false},
	} {
		m, err := ubiregi.ParseMoney(c.in)
		if (err == nil) != c.ok || c.ok && m.Yen() != c.yen {
			t.Errorf("ParseMoney(%q) = %d (%d yen), %v", c.in, m, m.Yen(), err)
		}
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	e := setup(t, fake.Options{PageSize: 2}, func(c *ubiregi.Config) {
		c.HTTP = &http.Client{Timeout: time.Second}
		c.MaxRetries = 3
	})
	for range 5 {
		e.fake.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: 1, Count: 1, Sales: 100}}})
	}
	e.clock.Add(time.Second)
	all := func() (ubiregi.Batch, error) { return e.cli.All(ctx, e.tok, "") }
	mustRecover := func(what string) {
		t.Helper()
		b, err := all()
		if err != nil || len(b.Checkouts) != 5 || b.Since == "" {
			t.Fatalf("%s: no recovery: %v, %d", what, err, len(b.Checkouts))
		}
	}

	// Transient trouble within the retry budget is invisible.
	e.fake.Inject(fake.Fault{Status: 503})
	e.fake.Inject(fake.Fault{Status: 429, RetryAfter: time.Second})
	e.fake.Inject(fake.Fault{Delay: 3 * time.Second}) // one client timeout
	mustRecover("within budget")

	// A 429 storm beyond it: a temporary error, the cursor stays.
	e.fake.Inject(fake.Fault{Status: 429, Times: 4}) // MaxRetries+1 attempts
	b, err := all()
	var ae *ubiregi.APIError
	if !errors.As(err, &ae) || ae.Status != 429 || !ae.Temporary() || b.Since != "" {
		t.Fatalf("429 storm: %v, since %q", err, b.Since)
	}
	mustRecover("after 429 storm")

	// Failure on page 2: page 1 is returned, the cursor is not.
	e.fake.Inject(fake.Fault{Path: "/api/3/accounts/" + e.fake.AccountID(), Status: 500, Times: 4})
	b, err = all()
	if err == nil || len(b.Checkouts) != 2 || b.Since != "" {
		t.Fatalf("page 2 failure: %v, %d checkouts, since %q", err, len(b.Checkouts), b.Since)
	}
	mustRecover("after 5xx")

	// Truncated and garbage JSON: ErrMalformed, no panic, then recovery.
	e.fake.Inject(fake.Fault{Truncate: true})
	if _, err := all(); !errors.Is(err, ubiregi.ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	mustRecover("after truncation")
	e.fake.Inject(fake.Fault{Garbage: `<html>502 Bad Gateway</html>`})
	if _, err := all(); !errors.Is(err, ubiregi.ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
	mustRecover("after garbage")

	// A page without a readable timestamp must not become the cursor.
	e.fake.Inject(fake.Fault{Garbage: `{"checkouts":[]}`})
	if b, err := all(); !errors.Is(err, ubiregi.ErrMalformed) || b.Since != "" {
		t.Fatalf("no timestamp: %v %q", err, b.Since)
	}

	// next-url pointing elsewhere: never sent our token there.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("token leaked to %s", r.URL)
	}))
	defer evil.Close()
	e.fake.Inject(fake.Fault{Garbage: `{"timestamp":"2026-03-01T09:00:00Z","next-url":"` + evil.URL + `/api/3/x","checkouts":[]}`})
	if _, err := all(); !errors.Is(err, ubiregi.ErrMalformed) {
		t.Fatalf("foreign next-url: %v", err)
	}
	// next-url that loops.
	self := e.fake.APIBaseURL() + "/accounts/current/checkouts?glb=1"
	e.fake.Inject(fake.Fault{Garbage: `{"timestamp":"2026-03-01T09:00:00Z","next-url":"` + self + `","checkouts":[]}`, Times: 2})
	if _, err := all(); !errors.Is(err, ubiregi.ErrMalformed) {
		t.Fatalf("looping next-url: %v", err)
	}

	// 402: the shop's subscription ran out; not temporary, not auth.
	e.fake.Inject(fake.Fault{Status: 402})
	if _, err := all(); !errors.As(err, &ae) || ae.Status != 402 || ae.Temporary() || errors.Is(err, pos.ErrAuth) {
		t.Fatalf("402: %v", err)
	}
	mustRecover("at the end")

	// Cancellation stops the backoff at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.cli.All(cctx, e.tok, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestRateLimitedFake(t *testing.T) {
	ctx := context.Background()
	e := setup(t, fake.Options{PageSize: 1, RateLimit: 3}, func(c *ubiregi.Config) {
		c.MaxBackoff = 1100 * time.Millisecond
		c.MaxRetries = 5
	})
	for range 6 {
		e.fake.Close(fake.Checkout{Items: []fake.Item{{MenuItemID: 1, Count: 1, Sales: 100}}})
	}
	e.clock.Add(time.Second)
	b, err := e.cli.All(ctx, e.tok, "")
	if err != nil || len(b.Checkouts) != 6 {
		t.Fatalf("rate-limited poll: %v, %d", err, len(b.Checkouts))
	}
}
