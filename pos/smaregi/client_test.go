package smaregi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/smaregi"
	"github.com/regicam/regicam/pos/smaregi/fake"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newClient points a client at the fake with test-sized waits.
func newClient(t *testing.T, srv *fake.Server, mod ...func(*smaregi.Config)) *smaregi.Client {
	t.Helper()
	cfg := smaregi.Config{
		IDBaseURL: srv.URL(), APIBaseURL: srv.URL(),
		ContractID: "fake_contract", ClientID: "fake_client", ClientSecret: "fake_secret",
		RatePerSecond: 1000, RequestTimeout: 2 * time.Second,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxWait: 1500 * time.Millisecond,
		Log: quiet,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := smaregi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newFake(t *testing.T, opt fake.Options) *fake.Server {
	t.Helper()
	srv := fake.New(opt)
	t.Cleanup(srv.Close)
	return srv
}

// lastDay is an upd_date_time window over the last 24 hours.
func lastDay() smaregi.Window {
	now := time.Now()
	return smaregi.Window{Field: smaregi.FieldUpdated, From: now.Add(-24 * time.Hour), To: now.Add(time.Minute)}
}

func ringUp(srv *fake.Server, n int, at time.Time) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = srv.RingUp(fake.TransactionSpec{Total: int64(100 + i), TerminalID: fmt.Sprint(1 + i%5), At: at})
	}
	return ids
}

func assertExactly(t *testing.T, got []smaregi.Transaction, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, tx := range got {
		seen[tx.TransactionHeadID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("transaction %s returned %d times", id, n)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("transaction %s missing", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d transactions, want %d", len(got), len(want))
	}
}

func TestTokenCachedAndRefreshedOn401(t *testing.T) {
	srv := newFake(t, fake.Options{})
	c := newClient(t, srv)
	ids := ringUp(srv, 3, time.Now())
	ctx := context.Background()
	for range 3 {
		got, err := c.Transactions(ctx, lastDay(), "")
		if err != nil {
			t.Fatal(err)
		}
		assertExactly(t, got, ids)
	}
	if n := srv.Stats().TokensIssued; n != 1 {
		t.Fatalf("tokens issued = %d, want 1 (cached)", n)
	}
	srv.RevokeTokens()
	got, err := c.Transactions(ctx, lastDay(), "")
	if err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	assertExactly(t, got, ids)
	if n := srv.Stats().TokensIssued; n != 2 {
		t.Fatalf("tokens issued = %d, want 2 (one refresh on 401)", n)
	}
}

func TestTokenExpiryOnProviderClock(t *testing.T) {
	clock := fake.NewManualClock(time.Now())
	srv := newFake(t, fake.Options{Clock: clock.Now, TokenTTL: time.Hour})
	c := newClient(t, srv)
	srv.RingUp(fake.TransactionSpec{Total: 100})
	ctx := context.Background()
	if _, err := c.Transactions(ctx, lastDay(), ""); err != nil {
		t.Fatal(err)
	}
	// Smaregi's clock says the token has expired while ours does not.
	clock.Advance(2 * time.Hour)
	if _, err := c.Transactions(ctx, smaregi.Window{From: clock.Now().Add(-3 * time.Hour), To: clock.Now()}, ""); err != nil {
		t.Fatalf("expired token not refreshed: %v", err)
	}
	if n := srv.Stats().TokensIssued; n != 2 {
		t.Fatalf("tokens issued = %d, want 2", n)
	}
}

func TestShortTokenLifetimeRenewsEarly(t *testing.T) {
	srv := newFake(t, fake.Options{TokenTTL: 2 * time.Second})
	c := newClient(t, srv)
	ctx := context.Background()
	if err := c.CheckCredentials(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past half of the lifetime
	if _, err := c.Transactions(ctx, lastDay(), ""); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.TokensIssued != 2 || st.Unauthorized != 0 {
		t.Fatalf("stats %+v: want a renewal before expiry and no 401", st)
	}
}

func TestWrongSecretIsAuthErrorWithProviderMessage(t *testing.T) {
	srv := newFake(t, fake.Options{})
	c := newClient(t, srv, func(cfg *smaregi.Config) { cfg.ClientSecret = "wrong" })
	ctx := context.Background()
	err := c.CheckCredentials(ctx)
	if !errors.Is(err, pos.ErrAuth) {
		t.Fatalf("err = %v, want pos.ErrAuth", err)
	}
	if !strings.Contains(err.Error(), "Client authentication failed") {
		t.Fatalf("message %q lacks the provider's description", err)
	}
	var ae *smaregi.AuthError
	if !errors.As(err, &ae) || ae.Code != "invalid_client" || ae.Status != http.StatusUnauthorized {
		t.Fatalf("AuthError = %+v", ae)
	}
	if _, err := c.Transactions(ctx, lastDay(), ""); !errors.Is(err, pos.ErrAuth) {
		t.Fatalf("Transactions err = %v, want pos.ErrAuth", err)
	}
	if n := srv.Stats().TokenRequests; n != 2 {
		t.Fatalf("token requests = %d: a refusal must not be retried", n)
	}

	// The owner re-enters the right secret: a new client works.
	if err := newClient(t, srv).CheckCredentials(ctx); err != nil {
		t.Fatal(err)
	}
	// Unknown contract id.
	err = newClient(t, srv, func(cfg *smaregi.Config) { cfg.ContractID = "nope" }).CheckCredentials(ctx)
	if !errors.Is(err, pos.ErrAuth) {
		t.Fatalf("unknown contract: %v", err)
	}
}

func TestScopes(t *testing.T) {
	srv := newFake(t, fake.Options{Scopes: []string{"pos.transactions:read"}})
	ctx := context.Background()
	err := newClient(t, srv).CheckCredentials(ctx)
	var ae *smaregi.AuthError
	if !errors.Is(err, pos.ErrAuth) || !errors.As(err, &ae) || ae.Code != "invalid_scope" {
		t.Fatalf("asking an ungranted scope: %v", err)
	}
	c := newClient(t, srv, func(cfg *smaregi.Config) { cfg.Scopes = []string{"pos.transactions:read"} })
	if _, err := c.Transactions(ctx, lastDay(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stores(ctx); !errors.Is(err, pos.ErrAuth) || !strings.Contains(err.Error(), "スコープ") {
		t.Fatalf("stores without pos.stores:read: %v", err)
	}
}

func TestPagination(t *testing.T) {
	for _, tc := range []struct {
		name     string
		noLink   bool
		n        int
		requests int
	}{
		{"link", false, 2500, 3},
		{"link exact pages", false, 2000, 2},
		{"page+1", true, 2500, 3},
		{"page+1 exact pages", true, 2000, 3}, // one empty page ends it
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, fake.Options{NoLink: tc.noLink})
			ids := ringUp(srv, tc.n, time.Now())
			// A 1000-row page can take seconds on a loaded machine under
			// -race: a timed-out attempt would count as an extra request.
			c := newClient(t, srv, func(cfg *smaregi.Config) { cfg.RequestTimeout = 30 * time.Second })
			got, err := c.Transactions(context.Background(), lastDay(), "")
			if err != nil {
				t.Fatal(err)
			}
			assertExactly(t, got, ids)
			if n := srv.Stats().APIRequests; n != tc.requests {
				t.Errorf("API requests = %d, want %d", n, tc.requests)
			}
		})
	}
}

func TestItemsUseSmallerPages(t *testing.T) {
	srv := newFake(t, fake.Options{})
	id := srv.RingUp(fake.TransactionSpec{Total: 330, Items: []fake.Detail{
		{ProductID: "9", ProductName: "コーヒー", Quantity: 2, SalesPrice: 150}, {ProductID: "10", ProductName: "", Quantity: 1, SalesPrice: 30},
	}})
	ids := append([]string{id}, ringUp(srv, 150, time.Now())...)
	c := newClient(t, srv, func(cfg *smaregi.Config) { cfg.Items = true })
	got, err := c.Transactions(context.Background(), lastDay(), "")
	if err != nil {
		t.Fatal(err)
	}
	assertExactly(t, got, ids)
	if n := srv.Stats().APIRequests; n != 2 {
		t.Errorf("API requests = %d, want 2 pages of 100", n)
	}
	recs := smaregi.Records(got[0])
	items := recs[0].Receipt.Items
	if len(items) != 2 || items[0].Name != "コーヒー" || items[0].Quantity != 2 || items[0].Amount != 300 || items[1].Name != "商品 10" {
		t.Fatalf("items = %+v", items)
	}
}

func TestRateLimitStormDeliversEverythingOnce(t *testing.T) {
	// A budget small enough that even a machine slowed down by -race and
	// other work sends faster than it allows.
	srv := newFake(t, fake.Options{RatePerSecond: 2})
	ids := ringUp(srv, 600, time.Now())
	// The client believes it may send far more than the contract allows.
	c := newClient(t, srv, func(cfg *smaregi.Config) { cfg.Items = true; cfg.RatePerSecond = 200; cfg.MaxRetries = 20 })
	start := time.Now()
	got, err := c.Transactions(context.Background(), lastDay(), "")
	if err != nil {
		t.Fatal(err)
	}
	assertExactly(t, got, ids)
	st := srv.Stats()
	if st.RateLimited == 0 {
		t.Fatalf("no 429 seen (%+v): the storm did not happen", st)
	}
	t.Logf("%d transactions in %d pages, %d requests, %d answered 429, %s", len(got), len(ids)/100, st.APIRequests, st.RateLimited, time.Since(start).Round(time.Millisecond))
}

func TestClientRateLimitAvoids429(t *testing.T) {
	srv := newFake(t, fake.Options{RatePerSecond: 10})
	ringUp(srv, 500, time.Now())
	c := newClient(t, srv, func(cfg *smaregi.Config) { cfg.Items = true; cfg.RatePerSecond = 5 })
	if _, err := c.Transactions(context.Background(), lastDay(), ""); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.RateLimited != 0 {
		t.Fatalf("a client within its budget was rate limited: %+v", st)
	}
}

func TestFaultsThenRecovery(t *testing.T) {
	for _, f := range []struct {
		name  string
		fault fake.Fault
	}{
		{"500", fake.Fault500}, {"503", fake.Fault503}, {"429", fake.Fault429}, {"timeout", fake.FaultTimeout},
		{"truncated", fake.FaultTruncated}, {"malformed JSON", fake.FaultMalformedJSON},
	} {
		t.Run(f.name, func(t *testing.T) {
			srv := newFake(t, fake.Options{SlowDelay: 5 * time.Second})
			ids := ringUp(srv, 250, time.Now())
			// Pages of 100 keep a normal answer far below the timeout.
			mod := func(cfg *smaregi.Config) {
				cfg.Items, cfg.RequestTimeout, cfg.MaxRetries = true, time.Second, 1
				cfg.MaxWait = 200 * time.Millisecond // caps the fake's Retry-After: 1
			}
			ctx := context.Background()

			// More faults in a row than retries: the call fails, cleanly.
			srv.Inject(f.fault, 2)
			if _, err := newClient(t, srv, mod).Transactions(ctx, lastDay(), ""); err == nil {
				t.Fatal("no error after 2 faults with 1 retry")
			}
			// Fewer: retried away, everything once.
			srv.Inject(f.fault, 1)
			got, err := newClient(t, srv, mod).Transactions(ctx, lastDay(), "")
			if err != nil {
				t.Fatal(err)
			}
			assertExactly(t, got, ids)
		})
	}
}

func TestTokenEndpointFaultsAreRetried(t *testing.T) {
	srv := newFake(t, fake.Options{})
	srv.InjectToken(fake.Fault503, 1)
	srv.InjectToken(fake.FaultTruncated, 1)
	srv.InjectToken(fake.FaultMalformedJSON, 1)
	if err := newClient(t, srv).CheckCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := srv.Stats().TokenRequests; n != 4 {
		t.Fatalf("token requests = %d, want 4", n)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	srv := newFake(t, fake.Options{})
	srv.Inject(fake.Fault503, 1000)
	c := newClient(t, srv, func(cfg *smaregi.Config) { cfg.MinBackoff = 50 * time.Millisecond; cfg.MaxRetries = 100 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Transactions(ctx, lastDay(), "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %s after the context ended", d)
	}
}

func TestMalformedFieldsDoNotBreakAPage(t *testing.T) {
	srv := newFake(t, fake.Options{})
	ids := ringUp(srv, 5, time.Now())
	srv.Inject(fake.FaultMalformedFields, 1)
	got, err := newClient(t, srv).Transactions(context.Background(), lastDay(), "")
	if err != nil {
		t.Fatal(err)
	}
	assertExactly(t, got, ids)
	// Junk amounts are a broken response to read again, never ¥0.
	for _, tx := range got {
		recs, err := smaregi.MapTransaction(tx)
		if !errors.Is(err, smaregi.ErrUnreadableAmount) || !strings.Contains(err.Error(), "total") {
			t.Errorf("%s: unreadable amount not reported: %v", tx.TransactionHeadID, err)
		}
		if len(recs) != 0 {
			t.Errorf("%s: records from unreadable amounts: %+v", tx.TransactionHeadID, recs)
		}
	}
}

func TestWindowChecks(t *testing.T) {
	srv := newFake(t, fake.Options{})
	c := newClient(t, srv)
	ctx := context.Background()
	now := time.Now()
	if _, err := c.Transactions(ctx, smaregi.Window{From: now.Add(-32 * 24 * time.Hour), To: now}, ""); err == nil {
		t.Fatal("a 32-day window was sent")
	}
	if _, err := c.Transactions(ctx, smaregi.Window{From: now, To: now.Add(-time.Hour)}, ""); err == nil {
		t.Fatal("a reversed window was sent")
	}
	if _, err := c.Transactions(ctx, smaregi.Window{Field: "sum_date", From: now, To: now}, ""); err == nil {
		t.Fatal("unknown field accepted")
	}
	if n := srv.Stats().APIRequests; n != 0 {
		t.Fatalf("%d requests for invalid windows", n)
	}
	if _, err := c.Transactions(ctx, smaregi.Window{From: now.Add(-smaregi.MaxWindow), To: now}, ""); err != nil {
		t.Fatalf("a 31-day window: %v", err)
	}
}

func TestSplitWindows(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(70*24*time.Hour + 5*time.Second)
	ws := smaregi.SplitWindows(from, to, smaregi.MaxWindow)
	if len(ws) != 3 {
		t.Fatalf("%d windows", len(ws))
	}
	if !ws[0].From.Equal(from) || !ws[2].To.Equal(to) {
		t.Fatalf("windows do not span the range: %+v", ws)
	}
	for i, w := range ws {
		if w.To.Sub(w.From) > smaregi.MaxWindow {
			t.Errorf("window %d is %s", i, w.To.Sub(w.From))
		}
		if i > 0 && !w.From.Equal(ws[i-1].To.Add(time.Second)) {
			t.Errorf("window %d starts at %s after %s: gap or overlap", i, w.From, ws[i-1].To)
		}
	}
	if ws := smaregi.SplitWindows(to, from, smaregi.MaxWindow); len(ws) != 0 {
		t.Fatalf("reversed range gave %d windows", len(ws))
	}
	if ws := smaregi.SplitWindows(from, from, smaregi.MaxWindow); len(ws) != 1 {
		t.Fatalf("one-second range gave %d windows", len(ws))
	}

	// Every sale of a 70-day range, read window by window, exactly once.
	srv := newFake(t, fake.Options{})
	var ids []string
	for d := 0; d < 70; d += 3 {
		at := time.Now().Add(-time.Duration(d) * 24 * time.Hour)
		ids = append(ids, srv.RingUp(fake.TransactionSpec{Total: 100, At: at, ServerAt: at}))
	}
	c := newClient(t, srv)
	var got []smaregi.Transaction
	for _, w := range smaregi.SplitWindows(time.Now().Add(-71*24*time.Hour), time.Now(), smaregi.MaxWindow) {
		w.Field = smaregi.FieldTransaction
		part, err := c.Transactions(context.Background(), w, "")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, part...)
	}
	assertExactly(t, got, ids)
}

// TestFakeValidatesLikeSmaregi calls the fake directly with what a careless
// client might send.
func TestFakeValidatesLikeSmaregi(t *testing.T) {
	srv := newFake(t, fake.Options{})
	tok := token(t, srv)
	now := time.Now()
	from, to := smaregi.FormatTime(now.Add(-time.Hour)), smaregi.FormatTime(now)
	for _, tc := range []struct {
		name   string
		query  url.Values
		status int
	}{
		{"ok", url.Values{"upd_date_time-from": {from}, "upd_date_time-to": {to}}, 200},
		{"no range", url.Values{"limit": {"10"}}, 400},
		{"half a range", url.Values{"upd_date_time-from": {from}}, 400},
		{"RFC3339 Z", url.Values{"upd_date_time-from": {now.UTC().Format(time.RFC3339)}, "upd_date_time-to": {to}}, 400},
		{"no zone", url.Values{"upd_date_time-from": {"2026-01-01T00:00:00"}, "upd_date_time-to": {"2026-01-02T00:00:00"}}, 400},
		{"32 days", url.Values{"transaction_date_time-from": {smaregi.FormatTime(now.Add(-32 * 24 * time.Hour))}, "transaction_date_time-to": {to}}, 400},
		{"reversed", url.Values{"upd_date_time-from": {to}, "upd_date_time-to": {from}}, 400},
		{"limit 1001", url.Values{"upd_date_time-from": {from}, "upd_date_time-to": {to}, "limit": {"1001"}}, 400},
		{"limit 1000 with details", url.Values{"upd_date_time-from": {from}, "upd_date_time-to": {to}, "limit": {"1000"}, "with_details": {"all"}}, 400},
		{"limit 100 with details", url.Values{"upd_date_time-from": {from}, "upd_date_time-to": {to}, "limit": {"100"}, "with_details": {"summary"}}, 200},
		{"page 0", url.Values{"upd_date_time-from": {from}, "upd_date_time-to": {to}, "page": {"0"}}, 400},
		{"bad sort", url.Values{"upd_date_time-from": {from}, "upd_date_time-to": {to}, "sort": {"total:asc"}}, 400},
		{"sum_date", url.Values{"sum_date-from": {"2026-01-01"}, "sum_date-to": {"2026-01-31"}}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/fake_contract/pos/transactions?"+tc.query.Encode(), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
		})
	}
}

func token(t *testing.T, srv *fake.Server) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/app/fake_contract/token",
		strings.NewReader("grant_type=client_credentials&scope=pos.transactions%3Aread"))
	req.Header.Set("Authorization", fake.BasicAuth("fake_client", "fake_secret"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	_, rest, _ := strings.Cut(string(body), `"access_token":"`)
	tok, _, _ := strings.Cut(rest, `"`)
	if resp.StatusCode != 200 || tok == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	return tok
}

func TestStores(t *testing.T) {
	var stores []fake.Store
	for i := 1; i <= 1205; i++ {
		stores = append(stores, fake.Store{ID: fmt.Sprint(i), Name: fmt.Sprintf("店舗%d", i)})
	}
	for _, noLink := range []bool{false, true} {
		srv := newFake(t, fake.Options{Stores: stores, NoLink: noLink})
		got, err := newClient(t, srv).Stores(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1205 || got[0].ID != "1" || got[0].Name != "店舗1" || got[1204].ID != "1205" {
			t.Fatalf("noLink=%v: %d stores, first %+v", noLink, len(got), got[0])
		}
	}
}

func TestGetByID(t *testing.T) {
	srv := newFake(t, fake.Options{})
	a := srv.RingUp(fake.TransactionSpec{Total: 100})
	b := srv.RingUp(fake.TransactionSpec{Total: 200})
	if err := srv.Delete(b); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv)
	found, missing, err := c.Get(context.Background(), []string{a, b, a, "999"})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].TransactionHeadID != a || found[0].Total != "100" {
		t.Fatalf("found %+v", found)
	}
	if strings.Join(missing, ",") != b+",999" {
		t.Fatalf("missing %v", missing)
	}
	if _, _, err := c.Get(context.Background(), []string{"../stores"}); err == nil {
		t.Fatal("a path in an id was requested")
	}
}

func TestRefusesLinkToAnotherHost(t *testing.T) {
	other := newFake(t, fake.Options{}) // the host a hostile Link points at
	srv := newFake(t, fake.Options{})   // issues the token
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<`+other.URL()+`/fake_contract/pos/transactions?page=2>; rel="next"`)
		w.Write([]byte("[]"))
	}))
	t.Cleanup(api.Close)
	c := newClient(t, srv, func(cfg *smaregi.Config) { cfg.APIBaseURL = api.URL })
	_, err := c.Transactions(context.Background(), lastDay(), "")
	if err == nil || !strings.Contains(err.Error(), "outside the API host") {
		t.Fatalf("err = %v", err)
	}
	if other.Stats().APIRequests != 0 {
		t.Fatal("the bearer token went to another host")
	}
}
