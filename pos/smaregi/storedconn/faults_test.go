package storedconn_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/smaregi/fake"
	"github.com/regicam/regicam/pulid"
)

// The faults suite drives the Smaregi connector only through its fake over
// real HTTP and asserts on the stored journal entries: every record the
// provider has is stored exactly once per (externalID, kind).

const (
	fContract = "sb_faults1"
	fClient   = "cli-faults"
	fSecret   = "faults-secret-1234"
)

type entryKey struct {
	ext  string
	kind journalentry.Kind
}

func (k entryKey) String() string { return k.ext + "/" + string(k.kind) }

// smEnv is one server with one Smaregi connection to a fake.
type smEnv struct {
	t    *testing.T
	b    testenv.Backend
	dir  string
	fk   *fake.Server
	api  string // base URL the server is told (the fake, or a recording proxy)
	srv  *testenv.Server
	conn pulid.ID
	want map[entryKey]bool // expected entries
}

func newSmEnv(t *testing.T, b testenv.Backend, opt fake.Options) *smEnv {
	t.Helper()
	opt.ContractID, opt.ClientID, opt.ClientSecret = fContract, fClient, fSecret
	fk := fake.New(opt)
	t.Cleanup(fk.Close)
	e := &smEnv{t: t, b: b, dir: t.TempDir(), fk: fk, api: fk.URL(), want: map[entryKey]bool{}}
	return e
}

func (e *smEnv) start(interval time.Duration) {
	e.t.Helper()
	e.srv = testenv.StartWith(e.t, e.b, e.dir, func(cfg *app.Config, _ string) {
		cfg.SmaregiIDURL, cfg.SmaregiAPIURL = e.api, e.api
		if interval > 0 {
			cfg.PollInterval = interval
		}
	})
}

func (e *smEnv) connect(secret string) {
	e.t.Helper()
	var out struct{ ConnectSmaregi struct{ ID, Status string } }
	e.srv.MustQuery(e.t, connectQ, map[string]any{"in": map[string]any{"contractID": fContract, "clientID": fClient, "clientSecret": secret}}, &out)
	if out.ConnectSmaregi.Status != "OK" {
		e.t.Fatalf("connect: %+v", out.ConnectSmaregi)
	}
	if e.conn != "" && pulid.ID(out.ConnectSmaregi.ID) != e.conn {
		e.t.Fatalf("re-connect made a new connection %s (had %s)", out.ConnectSmaregi.ID, e.conn)
	}
	e.conn = pulid.ID(out.ConnectSmaregi.ID)
}

type syncResult struct{ Status, LastError, NextRetryAt, LastSyncAt string }

func (e *smEnv) sync() syncResult {
	e.t.Helper()
	var o struct{ SyncConnection syncResult }
	e.srv.MustQuery(e.t, `mutation($id: ID!){ syncConnection(id: $id){ status lastError nextRetryAt lastSyncAt } }`,
		map[string]any{"id": e.conn}, &o)
	return o.SyncConnection
}

// syncUntilOK syncs until the connection reports OK (at most n times) and
// returns the statuses seen on the way.
func (e *smEnv) syncUntilOK(n int) []syncResult {
	e.t.Helper()
	var seen []syncResult
	for range n {
		r := e.sync()
		seen = append(seen, r)
		if r.Status == "OK" {
			return seen
		}
		if r.LastError == "" {
			e.t.Errorf("status %s without lastError", r.Status)
		}
	}
	e.t.Fatalf("connection not OK after %d syncs: %+v", n, seen)
	return nil
}

func (e *smEnv) counts() map[entryKey]int {
	e.t.Helper()
	es, err := e.srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(e.conn)).All(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[entryKey]int{}
	for _, x := range es {
		m[entryKey{x.ExternalID, x.Kind}]++
	}
	return m
}

// checkOnce asserts the stored entries are exactly e.want, each once.
func (e *smEnv) checkOnce(when string) {
	e.t.Helper()
	got := e.counts()
	var bad []string
	for k := range e.want {
		if got[k] != 1 {
			bad = append(bad, fmt.Sprintf("%s stored %d times", k, got[k]))
		}
	}
	for k, n := range got {
		if !e.want[k] {
			bad = append(bad, fmt.Sprintf("unexpected %s ×%d", k, n))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		e.t.Errorf("%s: entries not exactly once (%d expected, %d keys stored): %s", when, len(e.want), len(got), strings.Join(bad, "; "))
	}
}

// ringUp rings up a sale whose server stamp is already a second or two
// old, so the current poll window holds it without waiting.
func (e *smEnv) ringUp(term string, total int64) string {
	id := e.fk.RingUp(fake.TransactionSpec{StoreID: "1", TerminalID: term, StaffName: "山田", Total: total,
		At: time.Now().Add(-3 * time.Second), ServerAt: time.Now().Add(-2 * time.Second)})
	e.want[entryKey{id, journalentry.KindPAYMENT}] = true
	return id
}

func recent() time.Time { return time.Now().Add(-time.Second) }

func TestSmaregiFaultsExactlyOnce(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := newSmEnv(t, b, fake.Options{SlowDelay: 300 * time.Millisecond})
		e.start(0)
		e.connect(fSecret)
		for i := range 6 {
			e.ringUp(fmt.Sprint(1+i%3), int64(100*(i+1)))
		}
		e.syncUntilOK(1)
		e.checkOnce("first sync")

		cases := []struct {
			name   string
			inject func()
		}{
			{"500", func() { e.fk.Inject(fake.Fault500, 2) }},
			{"503", func() { e.fk.Inject(fake.Fault503, 2) }},
			{"429", func() { e.fk.Inject(fake.Fault429, 2) }},
			{"timeout", func() { e.fk.Inject(fake.FaultTimeout, 2) }},
			{"truncated JSON", func() { e.fk.Inject(fake.FaultTruncated, 2) }},
			{"malformed JSON", func() { e.fk.Inject(fake.FaultMalformedJSON, 2) }},
			{"mixed", func() {
				e.fk.Inject(fake.Fault503, 1)
				e.fk.Inject(fake.FaultTruncated, 1)
				e.fk.Inject(fake.FaultMalformedJSON, 1)
			}},
			{"expired token", func() { e.fk.RevokeTokens() }},
			{"token endpoint faults", func() {
				e.fk.RevokeTokens()
				e.fk.InjectToken(fake.Fault503, 1)
				e.fk.InjectToken(fake.FaultTruncated, 1)
				e.fk.InjectToken(fake.FaultMalformedJSON, 1)
			}},
		}
		prevB := ""
		for i, c := range cases {
			// New sales, a cancel of a new one or an edit of one stored
			// before, then the fault.
			a := e.ringUp("1", int64(1000+i))
			bb := e.ringUp("2", int64(2000+i))
			if i%2 == 0 || prevB == "" {
				if err := e.fk.Cancel(a, recent()); err != nil {
					t.Fatal(err)
				}
				e.want[entryKey{a, journalentry.KindCANCEL}] = true
			} else {
				if err := e.fk.Edit(prevB, func(tx *fake.Transaction) { tx.StaffName = "編集" + c.name }, recent()); err != nil {
					t.Fatal(err)
				}
				e.want[entryKey{prevB, journalentry.KindMODIFY}] = true
			}
			prevB = bb
			before := e.fk.Stats()
			c.inject()
			seen := e.syncUntilOK(4)
			after := e.fk.Stats()
			if after.Faults == before.Faults && c.name != "expired token" {
				t.Errorf("%s: no fault was served (%+v → %+v)", c.name, before, after)
			}
			t.Logf("%s: %d sync(s), fake %+v", c.name, len(seen), after)
			e.checkOnce(c.name)
			e.sync() // a quiet poll re-reads the overlap: still once
			e.checkOnce(c.name + ", quiet poll")
		}
	})
}

// Junk values (amounts that are not numbers, unknown fields, a bad enter
// time) in a response must neither lose nor duplicate entries: a sale read
// once with junk and once clean must not become two entries.
func TestSmaregiMalformedFieldsExactlyOnce(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := newSmEnv(t, b, fake.Options{})
		e.start(0)
		e.connect(fSecret)
		old := e.ringUp("1", 1200)
		e.syncUntilOK(1)
		e.checkOnce("clean sync")

		fresh := e.ringUp("2", 3400)
		e.fk.Inject(fake.FaultMalformedFields, 1)
		e.syncUntilOK(3)
		e.syncUntilOK(3) // clean again
		e.checkOnce("after a response with junk fields")
		ctx := context.Background()
		all, _ := e.srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(e.conn)).Order(journalentry.ByID()).All(ctx)
		for _, x := range all {
			t.Logf("stored: %s %s total %d staff %q", x.ExternalID, x.Kind, x.Total, x.StaffName)
		}
		for _, id := range []string{old, fresh} {
			x, err := e.srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(e.conn), journalentry.ExternalID(id),
				journalentry.KindEQ(journalentry.KindPAYMENT)).Only(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tx, _ := e.fk.Transaction(id)
			if x.Total != tx.Total {
				t.Errorf("sale %s stored with total %d, provider says %d", id, x.Total, tx.Total)
			}
		}
	})
}

// A rate-limit storm: the fake allows 1 request a second, the client
// budgets 10; several syncs back to back must all end OK, exactly once.
func TestSmaregiRateLimitStorm(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := newSmEnv(t, b, fake.Options{RatePerSecond: 1})
		e.start(0)
		e.connect(fSecret)
		for round := range 4 {
			for i := range 5 {
				e.ringUp(fmt.Sprint(1+i%4), int64(100*(round+1)+i))
			}
			e.syncUntilOK(3)
		}
		e.checkOnce("rate-limited syncs")
		st := e.fk.Stats()
		if st.RateLimited == 0 {
			t.Errorf("the fake never rate limited: %+v", st)
		}
		t.Logf("fake: %+v", st)
	})
}

// Persistent failure: the client gives up after its retries; the status is
// ERROR with the last error and a next retry, and the next sync recovers
// without losing or duplicating anything. Slow (the client backs off for
// ~45–90 s before giving up), so it runs in parallel and not with -short.
func TestSmaregiPersistentFaultStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits out the client's retries")
	}
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		t.Parallel()
		e := newSmEnv(t, b, fake.Options{})
		e.start(0)
		e.connect(fSecret)
		e.ringUp("1", 500)
		e.syncUntilOK(1)
		pending := e.ringUp("2", 600)
		delete(e.want, entryKey{pending, journalentry.KindPAYMENT}) // not read yet while failing
		e.fk.Inject(fake.Fault500, 9)                               // MaxRetries (8) + 1 attempts
		start := time.Now()
		r := e.sync()
		t.Logf("failing sync took %v: %+v", time.Since(start).Round(time.Millisecond), r)
		if r.Status != string(posconnection.StatusERROR) || r.LastError == "" || r.NextRetryAt == "" {
			t.Errorf("while failing: %+v, want ERROR with lastError and nextRetryAt", r)
		}
		e.checkOnce("while failing")
		e.want[entryKey{pending, journalentry.KindPAYMENT}] = true
		r = e.sync()
		if r.Status != "OK" || r.LastError != "" || r.NextRetryAt != "" {
			t.Errorf("after recovery: %+v", r)
		}
		e.checkOnce("after recovery")
	})
}

// Wrong secret (the owner re-issued it at Smaregi): NEEDS_REAUTH with
// Smaregi's own message; entering the new secret keeps history, and
// nothing is lost or duplicated.
func TestSmaregiWrongSecretNeedsReauth(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := newSmEnv(t, b, fake.Options{})
		e.start(0)
		e.connect(fSecret)
		e.ringUp("1", 700)
		e.syncUntilOK(1)

		e.fk.Default().SetSecret("rotated-secret-5678")
		e.fk.RevokeTokens()
		pending := e.ringUp("1", 800)
		r := e.sync()
		if r.Status != string(posconnection.StatusNEEDS_REAUTH) || !strings.Contains(r.LastError, "Client authentication failed") ||
			!strings.Contains(r.LastError, "invalid_client") {
			t.Fatalf("after the secret changed: %+v", r)
		}
		if r2 := e.sync(); r2.Status != string(posconnection.StatusNEEDS_REAUTH) {
			t.Fatalf("second sync with the old secret: %+v", r2)
		}
		if e.counts()[entryKey{pending, journalentry.KindPAYMENT}] != 0 {
			t.Fatal("a sale was read with refused credentials")
		}
		e.connect("rotated-secret-5678")
		e.syncUntilOK(2)
		e.checkOnce("after new secret")

		// Scopes taken away: also the owner's to fix.
		e.fk.Default().SetScopes("pos.stores:read")
		e.fk.RevokeTokens()
		if r := e.sync(); r.Status != string(posconnection.StatusNEEDS_REAUTH) || !strings.Contains(r.LastError, "pos.transactions:read") {
			t.Errorf("without the transactions scope: %+v", r)
		}
	})
}

// Duplicate and out-of-order webhooks: the same notification twice, an
// edited notification after the deletion, and deleted before edited.
func TestSmaregiWebhookDuplicatesAndOrder(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		e := newSmEnv(t, b, fake.Options{})
		e.start(0)
		e.connect(fSecret)
		edited := e.ringUp("1", 1000)
		deleted := e.ringUp("1", 2000)
		both := e.ringUp("2", 3000)
		canceled := e.ringUp("2", 4000)
		e.syncUntilOK(1)
		e.checkOnce("first sync")

		var ep struct{ CreateWebhookSecret struct{ Path, Secret string } }
		e.srv.MustQuery(t, `mutation($id: ID!){ createWebhookSecret(id: $id){ path secret } }`, map[string]any{"id": e.conn}, &ep)
		hook := e.srv.URL + ep.CreateWebhookSecret.Path
		send := func(action string, ids ...string) {
			t.Helper()
			if err := e.fk.SendWebhook(ctx, hook, action, ids...); err != nil {
				t.Fatalf("webhook %s %v: %v", action, ids, err)
			}
		}

		// Two edits, their notifications in reverse order, each twice (one
		// with the same event id): one MODIFY (both read the current state).
		if err := e.fk.Edit(edited, func(tx *fake.Transaction) { tx.StaffName = "佐藤" }, recent()); err != nil {
			t.Fatal(err)
		}
		if err := e.fk.Edit(edited, func(tx *fake.Transaction) { tx.StaffName = "鈴木" }, time.Time{}); err != nil {
			t.Fatal(err)
		}
		e.want[entryKey{edited, journalentry.KindMODIFY}] = true
		if err := e.fk.Default().SendWebhookEvent(ctx, hook, "0b7e4c1a-1111-4222-8333-444455556666", "edited", edited); err != nil {
			t.Fatal(err)
		}
		if err := e.fk.Default().SendWebhookEvent(ctx, hook, "0b7e4c1a-1111-4222-8333-444455556666", "edited", edited); err != nil {
			t.Fatal(err)
		}
		send("edited", edited)

		// Deleted, then a late "edited" about it, then the deletion again.
		if err := e.fk.Delete(deleted); err != nil {
			t.Fatal(err)
		}
		e.want[entryKey{deleted, journalentry.KindDELETE}] = true
		send("deleted", deleted)
		send("edited", deleted)
		send("deleted", deleted)
		send("bulk-deleted", deleted)

		// Edited then deleted at the provider; the deletion arrives first.
		if err := e.fk.Edit(both, func(tx *fake.Transaction) { tx.StaffName = "高橋" }, recent()); err != nil {
			t.Fatal(err)
		}
		if err := e.fk.Delete(both); err != nil {
			t.Fatal(err)
		}
		e.want[entryKey{both, journalentry.KindDELETE}] = true
		send("deleted", both)
		send("edited", both)

		// A cancel whose "canceled" notification overtakes a "created" one
		// of the same sale.
		if err := e.fk.Cancel(canceled, recent()); err != nil {
			t.Fatal(err)
		}
		e.want[entryKey{canceled, journalentry.KindCANCEL}] = true
		send("canceled", canceled)
		send("created", canceled)
		send("canceled", canceled)
		e.checkOnce("after webhooks")

		// The poller sees the same changes afterwards: still once.
		e.syncUntilOK(2)
		e.checkOnce("webhooks then poll")
	})
}

// Clock-skewed registers: every one is stored at its own time, none is
// rejected; before the register's offset is known (two samples), the one
// far ahead of Smaregi's server is pictured at the server's time
// (corrected_at), the one a little ahead at its own (ingest/clock.go).
func TestSmaregiClockSkew(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		e := newSmEnv(t, b, fake.Options{})
		e.start(0)
		e.connect(fSecret)
		server := time.Now().Add(-2 * time.Second).Truncate(time.Second)
		far := e.fk.RingUp(fake.TransactionSpec{TerminalID: "5", Total: 900, At: server.Add(25 * time.Minute), ServerAt: server})
		near := e.fk.RingUp(fake.TransactionSpec{TerminalID: "5", Total: 901, At: server.Add(8 * time.Minute), ServerAt: server})
		behind := e.fk.RingUp(fake.TransactionSpec{TerminalID: "5", Total: 902, At: server.Add(-30 * time.Hour), ServerAt: server})
		for _, id := range []string{far, near, behind} {
			e.want[entryKey{id, journalentry.KindPAYMENT}] = true
		}
		e.syncUntilOK(2)
		e.checkOnce("skewed registers")
		entry := func(id string) *ent.JournalEntry {
			x, err := e.srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(e.conn), journalentry.ExternalID(id)).Only(ctx)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			return x
		}
		at := func(id string) time.Time { return entry(id).OccurredAt }
		if x := entry(far); !x.OccurredAt.Equal(server.Add(25*time.Minute)) || x.CorrectedAt == nil || !x.CorrectedAt.Equal(server) {
			t.Errorf("register 25 min ahead stored at %v corrected %v, want its own time and the server time %v", x.OccurredAt, x.CorrectedAt, server)
		}
		if x := entry(near); x.CorrectedAt != nil {
			t.Errorf("register 8 min ahead corrected to %v before its offset is known", x.CorrectedAt)
		}
		if got := at(near); !got.Equal(server.Add(8 * time.Minute)) {
			t.Errorf("register 8 min ahead stored at %v, want %v", got, server.Add(8*time.Minute))
		}
		if got := at(behind); !got.Equal(server.Add(-30 * time.Hour)) {
			t.Errorf("offline register stored at %v, want %v", got, server.Add(-30*time.Hour))
		}
	})
}

// recorder is a reverse proxy in front of the fake that notes the query of
// every transactions list request.
type recorder struct {
	hs *httptest.Server
	mu sync.Mutex
	qs []url.Values
}

func newRecorder(t *testing.T, target string) *recorder {
	u, _ := url.Parse(target)
	r := &recorder{}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host // Link headers name the proxy
	}}
	r.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/pos/transactions") {
			r.mu.Lock()
			r.qs = append(r.qs, req.URL.Query())
			r.mu.Unlock()
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(r.hs.Close)
	return r
}

func (r *recorder) lists() []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]url.Values(nil), r.qs...)
}

// Cursor persistence: stop the server, ring up more, start a new server on
// the same database: its first poll starts from the stored cursor (minus
// the overlap), the new sales arrive, nothing is read twice into the
// journal.
func TestSmaregiCursorAcrossRestart(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		e := newSmEnv(t, b, fake.Options{})
		rec := newRecorder(t, e.fk.URL())
		e.api = rec.hs.URL
		e.start(0)
		e.connect(fSecret)
		for i := range 4 {
			e.ringUp(fmt.Sprint(1+i%2), int64(100+i))
		}
		e.syncUntilOK(1)
		e.checkOnce("before restart")
		conn, err := e.srv.DB.Client.PosConnection.Get(ctx, e.conn)
		if err != nil {
			t.Fatal(err)
		}
		cursor := conn.SyncCursor
		if !strings.HasPrefix(cursor, "smaregi:upd:") {
			t.Fatalf("stored cursor %q", cursor)
		}
		e.srv.App.Close()
		firstSrv := e.srv

		time.Sleep(1100 * time.Millisecond) // the cursor's second is over
		for i := range 3 {
			e.ringUp("3", int64(500+i))
		}
		// A probe older than cursor − overlap (5 min) but inside the 24 h a
		// cursor-less first poll reads: it appears only if the cursor was
		// forgotten.
		probe := e.fk.RingUp(fake.TransactionSpec{TerminalID: "9", Total: 1, At: time.Now().Add(-2 * time.Hour), ServerAt: time.Now().Add(-2 * time.Hour)})
		n0 := len(rec.lists())

		e.start(0) // the runtime polls at once on start
		if e.srv == firstSrv {
			t.Fatal("same server")
		}
		e.syncUntilOK(2)
		e.checkOnce("after restart")
		if c := e.counts()[entryKey{probe, journalentry.KindPAYMENT}]; c != 0 {
			t.Errorf("restart re-read from the initial lookback (probe stored %d times): cursor not used", c)
		}
		after := rec.lists()[n0:]
		if len(after) == 0 {
			t.Fatal("no list request after restart")
		}
		ct, _ := time.Parse(time.RFC3339, strings.TrimPrefix(cursor, "smaregi:upd:"))
		from, err := time.Parse("2006-01-02T15:04:05-07:00", after[0].Get("upd_date_time-from"))
		if err != nil {
			t.Fatalf("first poll after restart: %v (%v)", err, after[0])
		}
		if !from.Equal(ct.Add(-5 * time.Minute)) {
			t.Errorf("first poll after restart read from %v, want stored cursor %v − 5m", from, ct)
		}
	})
}
