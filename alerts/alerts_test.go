package alerts_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

type env struct {
	db   *db.DB
	acct pulid.ID
	fx   testenv.Fixture
	svc  *alerts.Service
	in   *ingest.Ingester
	ctx  context.Context // an OWNER
	n    atomic.Int64
	now  atomic.Pointer[time.Time]
}

func open(t testing.TB, b testenv.Backend) *env {
	t.Helper()
	return newEnv(t, dbtest.Open(t, b.DatabaseURL))
}

// newEnv is open on a database the caller already has (the benchmark's
// come from dbtest.EachB).
func newEnv(t testing.TB, db *db.DB) *env {
	t.Helper()
	ctx := context.Background()
	acc, err := db.Client.Account.Create().SetName("テスト").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secrets.New(secrets.NewKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, acct: acc.ID, fx: testenv.NewFixture(t, db.Client, acc.ID)}
	e.svc = alerts.New(db.Client, db.Dialect, box, testenv.Logger(), alerts.Options{Backoff: time.Second, MaxBackoff: time.Minute,
		HTTP: &http.Client{Timeout: 2 * time.Second}, AllowPrivate: true}) // webhooks go to httptest on 127.0.0.1
	start := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	e.now.Store(&start)
	e.svc.Now = func() time.Time { return *e.now.Load() }
	e.in = ingest.New(db.Client, db.Dialect, pubsub.NewMemory(), testenv.Logger())
	e.in.Observer = e.svc
	e.ctx = viewer.NewContext(ctx, viewer.Viewer{AccountID: acc.ID, Role: viewer.RoleOwner,
		Scopes: []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeJournalWrite, viewer.ScopeLinksWrite, viewer.ScopeAdmin}})
	return e
}

func (e *env) setNow(t time.Time) { e.now.Store(&t) }

func (e *env) rule(t *testing.T, in alerts.Input) *ent.AlertRule {
	t.Helper()
	if in.Name == "" {
		in.Name = string(in.Kind)
	}
	r, _, err := e.svc.Create(e.ctx, in)
	if err != nil {
		t.Fatalf("create rule: %v", err)
	}
	return r
}

type rec struct {
	kind   journalentry.Kind
	at     time.Time
	total  int64
	staff  string
	sale   string // the sale a cancel changes
	term   int
	termID pulid.ID
}

// ring ingests one record and returns its entry and the alerts it raised.
func (e *env) ring(t *testing.T, r rec) (*ent.JournalEntry, []*ent.Alert) {
	t.Helper()
	ext := fmt.Sprintf("x%d", e.n.Add(1))
	if r.sale != "" {
		ext = r.sale
	}
	term := r.termID
	if term == "" {
		term = e.fx.TerminalIDs[r.term]
	}
	res := e.in.Ingest(context.Background(), e.acct, ingest.Receipt{TerminalID: term, ExternalID: ext, Kind: r.kind,
		OccurredAt: r.at, StaffName: r.staff, Total: r.total, ReceiptNo: ext, RegisterNo: "1"})
	if res.Err != nil {
		t.Fatalf("ingest: %v", res.Err)
	}
	as, err := e.db.Client.Alert.Query().Where(alert.EntryID(res.Entry.ID)).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res.Entry, as
}

var jst = time.FixedZone("JST", 9*3600)

func tokyo(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, jst)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func ptr[T any](v T) *T { return &v }

func fires(t *testing.T, what string, as []*ent.Alert, want bool) {
	t.Helper()
	if (len(as) > 0) != want {
		t.Errorf("%s: got %d alerts, want firing=%v", what, len(as), want)
	}
}

func TestRulesFireAtTheirEdges(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		t.Run("amount over", func(t *testing.T) {
			e.rule(t, alerts.Input{Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(10000)), EntryKinds: []journalentry.Kind{journalentry.KindCANCEL}})
			at := tokyo("2026-11-23 12:00:00")
			_, as := e.ring(t, rec{kind: journalentry.KindCANCEL, at: at, total: 10000, staff: "a"})
			fires(t, "cancel of exactly ¥10,000", as, false)
			_, as = e.ring(t, rec{kind: journalentry.KindCANCEL, at: at, total: 10001, staff: "a"})
			fires(t, "cancel of ¥10,001", as, true)
			if len(as) == 1 && (as[0].Amount != 10001 || as[0].RuleKind != "AMOUNT_OVER") {
				t.Errorf("alert %+v", as[0])
			}
			_, as = e.ring(t, rec{kind: journalentry.KindPAYMENT, at: at, total: 50000, staff: "a"})
			fires(t, "a sale of ¥50,000", as, false)
		})
		clear := func(t *testing.T) {
			if _, err := e.db.Client.AlertRule.Delete().Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			e.svc.Forget(e.acct)
		}
		t.Run("quick cancel by the same staff", func(t *testing.T) {
			clear(t)
			e.rule(t, alerts.Input{Kind: alertrule.KindQUICK_CANCEL, WindowSeconds: ptr(60)})
			for _, c := range []struct {
				gap         time.Duration
				staff       string
				want        bool
				description string
			}{{60 * time.Second, "山田", true, "60 s later, same staff"}, {61 * time.Second, "山田", false, "61 s later"},
				{10 * time.Second, "佐藤", false, "another staff"}} {
				sale, _ := e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo("2026-11-23 12:00:00"), total: 500, staff: "山田"})
				_, as := e.ring(t, rec{kind: journalentry.KindCANCEL, at: sale.OccurredAt.Add(c.gap), total: 500, staff: c.staff, sale: sale.ExternalID})
				fires(t, c.description, as, c.want)
			}
		})
		t.Run("cancel burst", func(t *testing.T) {
			clear(t)
			e.rule(t, alerts.Input{Kind: alertrule.KindCANCEL_BURST, WindowSeconds: ptr(600), Count: ptr(3)})
			t0 := tokyo("2026-11-23 13:00:00")
			for i, c := range []struct {
				staff string
				off   time.Duration
				want  bool
			}{
				{"佐藤", 0, false}, {"佐藤", 300 * time.Second, false}, {"佐藤", 600 * time.Second, false}, // the first left the window
				{"山田", 0, false}, {"山田", 100 * time.Second, false}, {"山田", 599 * time.Second, true},
				{"山田", 650 * time.Second, false}, // same burst: one alert
			} {
				_, as := e.ring(t, rec{kind: journalentry.KindCANCEL, at: t0.Add(c.off), total: 100, staff: c.staff})
				fires(t, fmt.Sprintf("cancel %d (%s +%s)", i, c.staff, c.off), as, c.want)
			}
		})
		t.Run("outside business hours in shop time", func(t *testing.T) {
			clear(t)
			e.rule(t, alerts.Input{Kind: alertrule.KindOUTSIDE_HOURS, OpensAt: ptr("10:00"), ClosesAt: ptr("22:00")})
			for at, want := range map[string]bool{
				"2026-11-23 09:59:59": true, "2026-11-23 10:00:00": false, "2026-11-23 21:59:59": false, "2026-11-23 22:00:00": true,
			} {
				_, as := e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo(at), total: 100, staff: "a"})
				fires(t, at+" JST", as, want)
			}
		})
		t.Run("terminal without camera", func(t *testing.T) {
			clear(t)
			e.rule(t, alerts.Input{Kind: alertrule.KindUNLINKED_TERMINAL})
			term0, _ := e.db.Client.Terminal.Get(context.Background(), e.fx.TerminalIDs[0])
			lone, err := e.db.Client.Terminal.Create().SetAccountID(e.acct).SetConnectionID(term0.ConnectionID).SetShopID(e.fx.ShopID).
				SetExternalID("lone").SetName("レジ9").Save(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			_, as := e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo("2026-11-23 12:00:00"), total: 100, termID: lone.ID})
			fires(t, "unlinked terminal", as, true)
			_, as = e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo("2026-11-23 12:00:00"), total: 100})
			fires(t, "linked terminal", as, false)
		})
		t.Run("scope limits a rule", func(t *testing.T) {
			clear(t)
			e.rule(t, alerts.Input{Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(0)),
				Scope: &journal.Filter{TerminalIDs: []pulid.ID{e.fx.TerminalIDs[1]}}})
			_, as := e.ring(t, rec{kind: journalentry.KindDELETE, at: tokyo("2026-11-23 12:00:00"), total: 100, term: 0})
			fires(t, "terminal outside the scope", as, false)
			_, as = e.ring(t, rec{kind: journalentry.KindDELETE, at: tokyo("2026-11-23 12:00:00"), total: 100, term: 1})
			fires(t, "terminal inside the scope", as, true)
		})
	})
}

func TestFeedSilentOnAControlledClock(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		e.rule(t, alerts.Input{Kind: alertrule.KindFEED_SILENT, WindowSeconds: ptr(1800), OpensAt: ptr("10:00"), ClosesAt: ptr("22:00"),
			Scope: &journal.Filter{TerminalIDs: []pulid.ID{e.fx.TerminalIDs[0]}}})
		check := func(at string, want int) {
			t.Helper()
			e.setNow(tokyo(at))
			n, err := e.svc.CheckSilent(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("at %s JST: %d alerts, want %d", at, n, want)
			}
		}
		// Last sale yesterday evening: the night does not count.
		e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo("2026-11-22 21:00:00"), total: 100})
		check("2026-11-23 09:59:00", 0) // closed
		check("2026-11-23 10:29:59", 0) // 29:59 since opening
		check("2026-11-23 10:30:00", 1) // 30:00
		check("2026-11-23 10:45:00", 0) // the same silence: no second alert
		e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo("2026-11-23 10:50:00"), total: 100})
		check("2026-11-23 11:19:59", 0)
		check("2026-11-23 11:20:00", 1) // a new silence
		check("2026-11-23 22:30:00", 0) // closed again
		as, err := e.db.Client.Alert.Query().Order(ent.Asc(alert.FieldSeq)).All(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 2 || !as[0].OccurredAt.Equal(tokyo("2026-11-23 10:30:00")) || *as[0].TerminalID != e.fx.TerminalIDs[0] {
			t.Errorf("alerts %+v", as)
		}
	})
}

func TestRuleValidation(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo("2026-11-23 12:00:00"), total: 100, staff: "山田"})
		for _, c := range []struct {
			in    alerts.Input
			field string
		}{
			{alerts.Input{Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(-1))}, "input.amount"},
			{alerts.Input{Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(1)), EntryKinds: []journalentry.Kind{journalentry.KindPAYMENT}}, "input.entryKinds"},
			{alerts.Input{Kind: alertrule.KindQUICK_CANCEL, WindowSeconds: ptr(0)}, "input.windowSeconds"},
			{alerts.Input{Kind: alertrule.KindCANCEL_BURST, WindowSeconds: ptr(60), Count: ptr(0)}, "input.count"},
			{alerts.Input{Kind: alertrule.KindCANCEL_BURST, WindowSeconds: ptr(-5), Count: ptr(3)}, "input.windowSeconds"},
			{alerts.Input{Kind: alertrule.KindOUTSIDE_HOURS, OpensAt: ptr("25:00"), ClosesAt: ptr("22:00")}, "input.opensAt"},
			{alerts.Input{Kind: alertrule.KindOUTSIDE_HOURS, OpensAt: ptr("10:00"), ClosesAt: ptr("10:00")}, "input.closesAt"},
			{alerts.Input{Kind: alertrule.KindFEED_SILENT, WindowSeconds: ptr(0), OpensAt: ptr("10:00"), ClosesAt: ptr("22:00")}, "input.windowSeconds"},
			{alerts.Input{Kind: alertrule.KindUNLINKED_TERMINAL, Scope: &journal.Filter{Staff: "幽霊"}}, "input.scope.staff"},
			{alerts.Input{Kind: alertrule.KindUNLINKED_TERMINAL, WebhookURL: ptr("ftp://example.com")}, "input.webhookURL"},
		} {
			c.in.Name = "r"
			_, _, err := e.svc.Create(e.ctx, c.in)
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.BadUserInput || ae.Field != c.field {
				t.Errorf("%s %+v: got %v, want BAD_USER_INPUT on %s", c.in.Kind, c.in, err, c.field)
			}
		}
		if _, _, err := e.svc.Create(e.ctx, alerts.Input{Name: "ok", Kind: alertrule.KindUNLINKED_TERMINAL, Scope: &journal.Filter{Staff: "山田"}}); err != nil {
			t.Errorf("known staff: %v", err)
		}
	})
}

func TestWebhookRetriesUntilDelivered(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		var mu sync.Mutex
		var got []alerts.Payload
		var sigOK []bool
		var calls atomic.Int64
		var key []byte
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if calls.Add(1) <= 2 { // down for the first two attempts
				http.Error(w, "maintenance", http.StatusServiceUnavailable)
				return
			}
			var p alerts.Payload
			_ = json.Unmarshal(body, &p)
			mu.Lock()
			defer mu.Unlock()
			got = append(got, p)
			want := alerts.Sign(key, r.Header.Get("X-Regicam-Timestamp"), body)
			sigOK = append(sigOK, hmac.Equal([]byte(want), []byte(r.Header.Get("X-Regicam-Signature"))))
		}))
		defer hook.Close()
		r, secret, err := e.svc.Create(e.ctx, alerts.Input{Name: "高額キャンセル", Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(1000)),
			WebhookURL: ptr(hook.URL)})
		if err != nil {
			t.Fatal(err)
		}
		if secret == "" {
			t.Fatal("no webhook secret returned")
		}
		key = []byte(secret)
		_, as := e.ring(t, rec{kind: journalentry.KindCANCEL, at: tokyo("2026-11-23 12:00:00"), total: 5000, staff: "a"})
		if len(as) != 1 || as[0].WebhookState != alert.WebhookStatePENDING {
			t.Fatalf("alerts %+v", as)
		}
		ctx := viewer.System(context.Background())
		t0 := *e.now.Load()
		for i, step := range []struct {
			at    time.Duration
			sent  int
			state alert.WebhookState
		}{
			{0, 1, alert.WebhookStatePENDING},                      // 503
			{500 * time.Millisecond, 0, alert.WebhookStatePENDING}, // backing off (1 s)
			{2 * time.Second, 1, alert.WebhookStatePENDING},        // 503 again; next in ~2 s
			{3 * time.Second, 0, alert.WebhookStatePENDING},
			{10 * time.Second, 1, alert.WebhookStateDELIVERED},
			{time.Hour, 0, alert.WebhookStateDELIVERED}, // never twice
		} {
			e.setNow(t0.Add(step.at))
			if n := e.svc.DeliverDue(ctx); n != step.sent {
				t.Errorf("step %d: %d sent, want %d", i, n, step.sent)
			}
			a, _ := e.db.Client.Alert.Get(ctx, as[0].ID)
			if a.WebhookState != step.state {
				t.Errorf("step %d: state %s, want %s (%s)", i, a.WebhookState, step.state, a.WebhookLastError)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 || got[0].ID != string(as[0].ID) || got[0].RuleID != string(r.ID) || got[0].Amount != 5000 || !sigOK[0] {
			t.Errorf("delivered %+v, signature ok %v", got, sigOK)
		}
	})
}

// TestWebhookClaimedOnce: two servers' senders on one PostgreSQL race for
// the same pending alerts; each alert is POSTed exactly once.
func TestWebhookClaimedOnce(t *testing.T) {
	b := testenv.Postgres(t)
	e := open(t, b)
	var posts sync.Map
	var dup atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, loaded := posts.LoadOrStore(r.Header.Get("X-Regicam-Alert-Id"), true); loaded {
			dup.Add(1)
		}
	}))
	defer hook.Close()
	if _, _, err := e.svc.Create(e.ctx, alerts.Input{Name: "全部", Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(0)), WebhookURL: ptr(hook.URL)}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		e.ring(t, rec{kind: journalentry.KindCANCEL, at: tokyo("2026-11-23 12:00:00").Add(time.Duration(i) * time.Second), total: 100, staff: "a"})
	}
	second := alerts.New(e.db.Client, e.db.Dialect, e.svc.Box, testenv.Logger(), alerts.Options{AllowPrivate: true})
	second.Now = e.svc.Now
	ctx := viewer.System(context.Background())
	var wg sync.WaitGroup
	for _, s := range []*alerts.Service{e.svc, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.DeliverDue(ctx) > 0 {
			}
		}()
	}
	wg.Wait()
	n := 0
	posts.Range(func(any, any) bool { n++; return true })
	pending, _ := e.db.Client.Alert.Query().Where(alert.WebhookStateNEQ(alert.WebhookStateDELIVERED)).Count(ctx)
	if n != 30 || dup.Load() != 0 || pending != 0 {
		t.Errorf("%d alerts posted, %d twice, %d not delivered", n, dup.Load(), pending)
	}
}

// TestFeedSilentLearnsWhatIsUsual: without windowSeconds, "too long" is
// three times the terminal's mean gap in business hours over seven days.
func TestFeedSilentLearnsWhatIsUsual(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		e.rule(t, alerts.Input{Kind: alertrule.KindFEED_SILENT, OpensAt: ptr("10:00"), ClosesAt: ptr("22:00"),
			Scope: &journal.Filter{TerminalIDs: []pulid.ID{e.fx.TerminalIDs[0]}}})
		e.setNow(tokyo("2026-11-23 12:00:00"))
		if n, err := e.svc.CheckSilent(context.Background()); err != nil || n != 0 {
			t.Fatalf("no history: %d alerts, %v", n, err)
		}
		// Twelve sales a day, 10:00–10:55, from the 17th to the 22nd:
		// 72 in the last seven days of 12 open hours → a usual gap of
		// 70 minutes → silent after 3 h 30 min.
		for d := 17; d <= 22; d++ {
			for m := 0; m < 60; m += 5 {
				e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo(fmt.Sprintf("2026-11-%02d 10:%02d:00", d, m)), total: 100})
			}
		}
		for at, want := range map[string]int{"2026-11-23 13:29:59": 0, "2026-11-23 13:30:00": 1} {
			e.setNow(tokyo(at))
			if n, err := e.svc.CheckSilent(context.Background()); err != nil || n != want {
				t.Errorf("at %s JST: %d alerts (%v), want %d", at, n, err, want)
			}
		}
	})
}
