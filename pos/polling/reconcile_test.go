package polling_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/polling"
	"github.com/regicam/regicam/pos/smaregi"
	"github.com/regicam/regicam/pos/smaregi/fake"
)

// offsetClock is the runtime's clock: real time moved on by a test, so
// missing ranges can age a day without waiting one.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// sweepEnv is a Smaregi fake, a connection to it, and one or more poll
// runtimes (replicas) on the test's database.
type sweepEnv struct {
	t      *testing.T
	client *ent.Client
	fk     *fake.Server
	conn   *ent.PosConnection
	clock  *offsetClock
	rts    []*polling.Runtime
	srcs   []*countingSource
}

// countingSource is a replica's Smaregi source that counts its sweeps.
type countingSource struct {
	*smaregi.Poller
	sweeps atomic.Int32
}

func (c *countingSource) Reconcile(ctx context.Context, from, to time.Time) ([]pos.Record, error) {
	c.sweeps.Add(1)
	return c.Poller.Reconcile(ctx, from, to)
}

func newSweepEnv(t *testing.T, b testenv.Backend, replicas int) *sweepEnv {
	return newSweepEnvWith(t, b, replicas, polling.Options{Interval: time.Hour})
}

func newSweepEnvWith(t *testing.T, b testenv.Backend, replicas int, opt polling.Options) *sweepEnv {
	ctx := context.Background()
	srv := testenv.Start(t, b, "")
	fk := fake.New(fake.Options{})
	t.Cleanup(fk.Close)
	// Other server processes on the same database, each with its own app,
	// database client and ingester; started before the connection exists,
	// so the apps' own runtimes (which cannot open it: no credentials)
	// never hold its lease.
	var others []*testenv.Server
	for range replicas - 1 {
		others = append(others, testenv.Start(t, b, ""))
	}
	conn, err := srv.DB.Client.PosConnection.Create().SetAccountID(srv.AccountID).SetProvider(posconnection.ProviderSMAREGI).
		SetContractID("fake_contract").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := &sweepEnv{t: t, client: srv.DB.Client, fk: fk, conn: conn, clock: &offsetClock{}}
	add := func(client *ent.Client, in *ingest.Ingester) {
		api, err := smaregi.New(smaregi.Config{IDBaseURL: fk.URL(), APIBaseURL: fk.URL(), ContractID: "fake_contract",
			ClientID: "fake_client", ClientSecret: "fake_secret", MaxRetries: 1,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxWait: 2 * time.Second, Log: testenv.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		src := &countingSource{Poller: smaregi.NewPoller(api, smaregi.PollerOptions{})}
		e.srcs = append(e.srcs, src)
		o := opt
		o.Now = e.clock.now
		rt := polling.New(client, in, testenv.Logger(), o,
			map[posconnection.Provider]pos.Factory{
				posconnection.ProviderSMAREGI: func(context.Context, *ent.PosConnection) (pos.Source, error) { return src, nil },
			})
		t.Cleanup(rt.Close)
		e.rts = append(e.rts, rt)
	}
	add(srv.DB.Client, srv.Ingester)
	for _, o := range others {
		add(o.DB.Client, o.Ingester)
	}
	return e
}

// sweepAll runs a sweep on every replica at the same moment and adds up
// what they found.
func (e *sweepEnv) sweepAll() polling.SweepResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var sum polling.SweepResult
	var wg sync.WaitGroup
	for _, rt := range e.rts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := rt.ReconcileNow(ctx, e.conn.ID)
			if err != nil {
				e.t.Errorf("sweep: %v", err)
			}
			mu.Lock()
			sum.Checked += res.Checked
			sum.Vanished += res.Vanished
			sum.Changed += res.Changed
			sum.Recovered += res.Recovered
			sum.Lost += res.Lost
			mu.Unlock()
		}()
	}
	wg.Wait()
	if e.t.Failed() {
		e.t.FailNow()
	}
	return sum
}

func (e *sweepEnv) entries() []*ent.JournalEntry {
	e.t.Helper()
	es, err := e.client.JournalEntry.Query().Where(journalentry.ConnectionID(e.conn.ID)).All(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

// kinds counts entries by kind and fails on any idempotency key stored twice.
func (e *sweepEnv) kinds() (map[journalentry.Kind]int, int) {
	e.t.Helper()
	byKey := map[string]int{}
	kinds := map[journalentry.Kind]int{}
	dups := 0
	for _, je := range e.entries() {
		k := je.ExternalID + "|" + string(je.Kind) + "|" + je.Revision
		byKey[k]++
		if byKey[k] > 1 {
			dups++
		}
		kinds[je.Kind]++
	}
	if dups > 0 {
		e.t.Fatalf("%d entries stored twice under one key", dups)
	}
	return kinds, dups
}

func (e *sweepEnv) terminal(ext string) *ent.Terminal {
	e.t.Helper()
	tm, err := e.client.Terminal.Query().Where(terminal.ConnectionID(e.conn.ID), terminal.ExternalID(ext)).Only(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return tm
}

func rangesOf(tm *ent.Terminal) string {
	var parts []string
	for _, r := range polling.MissingRanges(tm.MissingRanges) {
		s := strconv.FormatInt(r.From, 10) + "-" + strconv.FormatInt(r.To, 10)
		if r.Lost {
			s += " lost"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// TestReconcileFaultRun is the fault run of issue 17: sales deleted
// without trace, edits the poller cannot see, and a register that skips
// uploading two ranges of its receipt numbers (one arrives later, one
// never). One replica on each backend.
func TestReconcileFaultRun(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) { faultRun(t, newSweepEnv(t, b, 1)) })
}

// TestReconcileTwoServers is the same run with two servers on one
// PostgreSQL database, both sweeping at the same moments: every finding is
// stored once.
func TestReconcileTwoServers(t *testing.T) {
	faultRun(t, newSweepEnv(t, testenv.Postgres(t), 2))
}

func faultRun(t *testing.T, e *sweepEnv) {
	ctx := context.Background()
	const vanishK, changeM = 4, 3
	base := time.Now().Add(-6 * time.Hour).Truncate(time.Second)
	n := 0
	sale := func(term string) string {
		n++
		at := base.Add(time.Duration(n) * 2 * time.Minute)
		return e.fk.RingUp(fake.TransactionSpec{TerminalID: term, Total: int64(1000 + n), At: at, ServerAt: at})
	}
	held := func(term string) string {
		n++
		at := base.Add(time.Duration(n) * 2 * time.Minute)
		return e.fk.RingUpHeld(fake.TransactionSpec{TerminalID: term, Total: int64(1000 + n), At: at, ServerAt: at})
	}
	var sales []string
	// Register 1: receipts 1–10, 11–13 not uploaded (later they are),
	// 14–18, 19–20 never uploaded, 21–25. Register 2: 15 receipts.
	for range 10 {
		sales = append(sales, sale("1"))
	}
	var late []string
	for range 3 {
		late = append(late, held("1"))
	}
	for range 5 {
		sales = append(sales, sale("1"))
	}
	held("1")
	held("1")
	for range 5 {
		sales = append(sales, sale("1"))
	}
	for range 15 {
		sales = append(sales, sale("2"))
	}
	if err := e.rts[0].SyncNow(ctx, e.conn.ID); err != nil {
		t.Fatal(err)
	}
	e.waitSwept()
	kinds, _ := e.kinds()
	if kinds[journalentry.KindPAYMENT] != len(sales) {
		t.Fatalf("after the first poll: %v, want %d sales", kinds, len(sales))
	}
	t1 := e.terminal("1")
	if got := rangesOf(t1); got != "19-20, 11-13" || t1.LastSequence == nil || *t1.LastSequence != 25 || t1.LastReceiptAt == nil {
		t.Fatalf("register 1 after the poll: ranges %q, last %v, last receipt %v", got, t1.LastSequence, t1.LastReceiptAt)
	}

	// K sales vanish and M are edited, none of it visible to a poller.
	vanished := map[string]bool{}
	for _, id := range []string{sales[2], sales[12], sales[22], sales[30]} {
		if err := e.fk.VanishSilently(id); err != nil {
			t.Fatal(err)
		}
		vanished[id] = true
	}
	for _, id := range []string{sales[3], sales[13], sales[31]} {
		if err := e.fk.EditSilently(id, func(tx *fake.Transaction) {
			tx.Total += 500
			tx.DepositCash += 500
			tx.CashTotal += 500
			tx.Deposit += 500
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.rts[0].SyncNow(ctx, e.conn.ID); err != nil {
		t.Fatal(err)
	}
	if kinds, _ := e.kinds(); kinds[journalentry.KindDELETE]+kinds[journalentry.KindMODIFY] != 0 {
		t.Fatalf("the poller saw faults it cannot see: %v", kinds)
	}
	cursor := mustConn(t, e).SyncCursor

	// First sweep: exactly the K vanished and the M changed.
	vanishedMetric := counter(t, "regicam_reconcile_findings_total", map[string]string{"provider": "smaregi", "kind": "vanished"})
	res := e.sweepAll()
	if got := counter(t, "regicam_reconcile_findings_total", map[string]string{"provider": "smaregi", "kind": "vanished"}); got < vanishedMetric+vanishK {
		t.Fatalf("regicam_reconcile_findings_total{kind=vanished} went from %v to %v", vanishedMetric, got)
	}
	if counter(t, "regicam_ingest_entries_total", map[string]string{"provider": "smaregi", "path": "reconcile", "result": "created"}) < vanishK+changeM {
		t.Fatal("the sweep's entries are not counted under path reconcile")
	}
	if res.Vanished != vanishK || res.Changed != changeM || res.Recovered != 0 {
		t.Fatalf("first sweep found %+v, want %d vanished and %d changed", res, vanishK, changeM)
	}
	kinds, dups := e.kinds()
	if kinds[journalentry.KindDELETE] != vanishK || kinds[journalentry.KindMODIFY] != changeM {
		t.Fatalf("entries after the sweep: %v", kinds)
	}
	for _, je := range e.entries() {
		if je.Kind != journalentry.KindDELETE {
			continue
		}
		if !vanished[je.ExternalID] || je.RelatedID == nil {
			t.Fatalf("DELETE entry %s for %s related to %v", je.ID, je.ExternalID, je.RelatedID)
		}
		orig, err := e.client.JournalEntry.Get(ctx, *je.RelatedID)
		if err != nil || orig.Kind != journalentry.KindPAYMENT || orig.ExternalID != je.ExternalID || orig.DeletedAt == nil {
			t.Fatalf("original of DELETE %s: %+v %v", je.ExternalID, orig, err)
		}
		if time.Since(je.OccurredAt) > 5*time.Minute {
			t.Fatalf("DELETE at %s, want the moment it was noticed", je.OccurredAt)
		}
	}
	c := mustConn(t, e)
	if c.ReconciledAt == nil || c.NextReconcileAt == nil || c.ReconcileError != "" || c.ReconcileChecked == 0 || c.SyncCursor != cursor {
		t.Fatalf("connection after the sweep: reconciled %v next %v error %q checked %d cursor %q (was %q)",
			c.ReconciledAt, c.NextReconcileAt, c.ReconcileError, c.ReconcileChecked, c.SyncCursor, cursor)
	}
	if len(e.rts) == 1 && (c.ReconcileVanished != vanishK || c.ReconcileChanged != changeM) {
		t.Fatalf("connection records %d vanished, %d changed", c.ReconcileVanished, c.ReconcileChanged)
	}

	// The register uploads 11–13: the next sweep closes that range.
	if err := e.fk.Upload(late...); err != nil {
		t.Fatal(err)
	}
	res = e.sweepAll()
	if res.Recovered != len(late) || res.Vanished != 0 || res.Changed != 0 {
		t.Fatalf("second sweep found %+v, want the %d late receipts", res, len(late))
	}
	if got := rangesOf(e.terminal("1")); got != "19-20" {
		t.Fatalf("register 1 ranges after the upload: %q", got)
	}
	// A third sweep finds nothing new and stores nothing.
	before := len(e.entries())
	if res = e.sweepAll(); res.Vanished+res.Changed+res.Recovered+res.Lost != 0 {
		t.Fatalf("third sweep found %+v", res)
	}
	if after := len(e.entries()); after != before {
		t.Fatalf("an idle sweep stored %d entries", after-before)
	}
	rs := polling.MissingRanges(e.terminal("1").MissingRanges)
	if len(rs) != 1 || rs[0].Checks < 3 || rs[0].Lost {
		t.Fatalf("range 19-20 after three sweeps: %+v", rs)
	}

	// A day later 19–20 have still not come: declared lost.
	e.clock.off.Store(int64(polling.LostAfter + time.Hour))
	res = e.sweepAll()
	if res.Lost != 2 {
		t.Fatalf("sweep a day later: %+v, want 2 lost", res)
	}
	t1 = e.terminal("1")
	rs = polling.MissingRanges(t1.MissingRanges)
	if len(rs) != 1 || !rs[0].Lost || polling.OpenMissing(rs) != 0 {
		t.Fatalf("range 19-20 a day later: %+v", rs)
	}
	kinds, dups = e.kinds()
	if kinds[journalentry.KindPAYMENT] != len(sales)+len(late) || kinds[journalentry.KindDELETE] != vanishK ||
		kinds[journalentry.KindMODIFY] != changeM || len(kinds) != 3 {
		t.Fatalf("entries at the end: %v", kinds)
	}
	if c := mustConn(t, e); c.SyncCursor != cursor || c.Status != posconnection.StatusOK {
		t.Fatalf("sweeps moved the cursor or the status: %q %s", c.SyncCursor, c.Status)
	}
	t.Logf("fault run, %d replica(s): %d sales uploaded + %d late; vanished found %d of %d, changed %d of %d, missing ranges 11-13 (3, arrived) and 19-20 (2, lost), duplicates %d",
		len(e.rts), len(sales), len(late), kinds[journalentry.KindDELETE], vanishK, kinds[journalentry.KindMODIFY], changeM, dups)
}

// waitSwept waits for the sweep the lease holder runs on its own after its
// first poll (the connection was never swept), so the faults a test makes
// next are found by the sweeps the test runs.
func (e *sweepEnv) waitSwept() {
	e.t.Helper()
	for deadline := time.Now().Add(time.Minute); mustConn(e.t, e).ReconciledAt == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatal("the lease holder did not sweep after its first poll")
		}
	}
}

// counter reads a counter of the metrics registry (0 when absent).
func counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func mustConn(t *testing.T, e *sweepEnv) *ent.PosConnection {
	t.Helper()
	c, err := e.client.PosConnection.Get(context.Background(), e.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReconcileRateLimitStorm: 429s during a sweep are paced and retried
// (the refused window split); a storm that outlasts it fails the sweep
// with a plain error, and neither moves the poll cursor.
func TestReconcileRateLimitStorm(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		e := newSweepEnv(t, b, 1)
		base := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
		var ids []string
		for i := range 6 {
			at := base.Add(time.Duration(i) * time.Minute)
			ids = append(ids, e.fk.RingUp(fake.TransactionSpec{TerminalID: "1", Total: 500, At: at, ServerAt: at}))
		}
		if err := e.rts[0].SyncNow(ctx, e.conn.ID); err != nil {
			t.Fatal(err)
		}
		e.waitSwept()
		cursor := mustConn(t, e).SyncCursor
		if err := e.fk.VanishSilently(ids[1]); err != nil {
			t.Fatal(err)
		}

		// A storm the client's retries and one split outlast: the sweep
		// goes through and finds the vanished sale.
		limited := e.fk.Stats().RateLimited
		e.fk.Inject(fake.Fault429, 5)
		res, err := e.rts[0].ReconcileNow(ctx, e.conn.ID)
		if err != nil || res.Vanished != 1 {
			t.Fatalf("sweep through a 429 storm: %+v, %v", res, err)
		}
		if c := mustConn(t, e); c.SyncCursor != cursor || c.ReconcileError != "" || c.Status != posconnection.StatusOK {
			t.Fatalf("after the storm: cursor %q (was %q), error %q, status %s", c.SyncCursor, cursor, c.ReconcileError, c.Status)
		}
		st := e.fk.Stats()
		t.Logf("storm of 5 × 429: sweep paced through, %d requests answered 429", st.RateLimited+st.Faults-limited)

		// A storm longer than every retry and split: the sweep stops with
		// a plain reason, the cursor stays, polling goes on.
		e.fk.Inject(fake.Fault429, 10)
		if _, err := e.rts[0].ReconcileNow(ctx, e.conn.ID); err == nil {
			t.Fatal("a sweep through a 429 storm that never ends reported success")
		}
		c := mustConn(t, e)
		if !strings.Contains(c.ReconcileError, "429") || c.SyncCursor != cursor || c.Status != posconnection.StatusOK || c.NextReconcileAt == nil {
			t.Fatalf("after a failed sweep: error %q cursor %q status %s next %v", c.ReconcileError, c.SyncCursor, c.Status, c.NextReconcileAt)
		}
		if err := e.rts[0].SyncNow(ctx, e.conn.ID); err != nil {
			t.Fatalf("poll after the storm: %v", err)
		}
		if kinds, _ := e.kinds(); kinds[journalentry.KindDELETE] != 1 || kinds[journalentry.KindPAYMENT] != 6 {
			t.Fatalf("entries: %v", kinds)
		}
	})
}

// TestReconcileScheduledByLeaseHolder: two servers on one PostgreSQL
// database run their pollers; only the replica holding the connection's
// poll lease sweeps on its own, every ReconcileEvery, and a sale that
// vanishes becomes one DELETE entry however many sweeps follow.
func TestReconcileScheduledByLeaseHolder(t *testing.T) {
	ctx := context.Background()
	e := newSweepEnvWith(t, testenv.Postgres(t), 2, polling.Options{Interval: 50 * time.Millisecond, ReconcileEvery: 150 * time.Millisecond})
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var ids []string
	for i := range 5 {
		at := base.Add(time.Duration(i) * time.Minute)
		ids = append(ids, e.fk.RingUp(fake.TransactionSpec{TerminalID: "1", Total: 700, At: at, ServerAt: at}))
	}
	for _, rt := range e.rts {
		if err := rt.Rescan(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.waitSwept()
	if err := e.fk.VanishSilently(ids[2]); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if kinds, _ := e.kinds(); kinds[journalentry.KindDELETE] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no scheduled sweep found the vanished sale")
		}
	}
	// Several more sweeps: still one DELETE, five sales.
	before := e.srcs[0].sweeps.Load() + e.srcs[1].sweeps.Load()
	for deadline := time.Now().Add(time.Minute); e.srcs[0].sweeps.Load()+e.srcs[1].sweeps.Load() < before+3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the lease holder stopped sweeping")
		}
	}
	if kinds, dups := e.kinds(); kinds[journalentry.KindDELETE] != 1 || kinds[journalentry.KindPAYMENT] != 5 || dups != 0 {
		t.Fatalf("entries after repeated sweeps: %v", kinds)
	}
	a, b := e.srcs[0].sweeps.Load(), e.srcs[1].sweeps.Load()
	if (a == 0) == (b == 0) {
		t.Fatalf("sweeps per replica: %d and %d; want only the lease holder sweeping", a, b)
	}
	t.Logf("scheduled sweeps: %d by the lease holder, 0 by the other replica; 1 DELETE entry", max(a, b))
}

// TestReconcileMassVanishHeld: a provider that suddenly lists none of the
// window's sales (an empty answer, another contract) does not turn the
// day into DELETE entries; the sweep stops and says why.
func TestReconcileMassVanishHeld(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		e := newSweepEnv(t, b, 1)
		base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
		var ids []string
		for i := range polling.MassVanish + 2 {
			at := base.Add(time.Duration(i) * time.Minute)
			ids = append(ids, e.fk.RingUp(fake.TransactionSpec{TerminalID: "1", Total: 300, At: at, ServerAt: at}))
		}
		if err := e.rts[0].SyncNow(ctx, e.conn.ID); err != nil {
			t.Fatal(err)
		}
		e.waitSwept()
		for _, id := range ids {
			if err := e.fk.VanishSilently(id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.rts[0].ReconcileNow(ctx, e.conn.ID); err == nil {
			t.Fatal("a sweep that found every sale gone reported success")
		}
		if kinds, _ := e.kinds(); kinds[journalentry.KindDELETE] != 0 {
			t.Fatalf("mass vanish stored %d DELETE entries", kinds[journalentry.KindDELETE])
		}
		if c := mustConn(t, e); !strings.Contains(c.ReconcileError, "保留") {
			t.Fatalf("reconcile_error %q", c.ReconcileError)
		}
	})
}
