package bench

import (
	"context"
	"database/sql"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/store"
)

// TestJournalFilterPlans prints the plan of the first page of the dashboard
// filters other than the benchmarked one (one camera, one tab) on the
// benchmark database, and flags pages that read far more rows than they
// return. It is a report, not a gate: it runs only with
// REGICAM_BENCH_PLANS=1 and never fails on a plan.
//
//	REGICAM_BENCH_PLANS=1 go test -run JournalFilterPlans -v ./bench/
func TestJournalFilterPlans(t *testing.T) {
	if os.Getenv("REGICAM_BENCH_PLANS") == "" {
		t.Skip("set REGICAM_BENCH_PLANS=1 to print the plans of the journal filters on the benchmark database")
	}
	admin := adminURL()
	requirePostgres(t, admin)
	env := seedBenchDB(t, admin)
	ctx := context.Background()
	d, err := store.Open(ctx, env.DSN, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t0, err := d.Client.Terminal.Query().Where(terminal.AccountID(env.AccountID), terminal.ExternalID("bench-t-000")).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cam1, err := d.Client.Terminal.Query().Where(terminal.AccountID(env.AccountID), terminal.ExternalID("bench-t-002")).
		QueryLinks().QueryCamera().Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", env.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	acc, cam0 := env.AccountID, env.CameraID
	kinds := func(ks ...journalentry.Kind) []journalentry.Kind { return ks }
	for _, c := range []struct {
		name string
		f    journal.Filter
	}{
		{"camera, 支払い tab (benchmarked)", journal.Filter{CameraIDs: []pulid.ID{cam0}, Kinds: kinds(journalentry.KindPAYMENT)}},
		{"camera, すべて", journal.Filter{CameraIDs: []pulid.ID{cam0}}},
		{"camera, 削除 tab", journal.Filter{CameraIDs: []pulid.ID{cam0}, Kinds: kinds(journalentry.KindDELETE)}},
		{"all cameras, 削除 tab", journal.Filter{Kinds: kinds(journalentry.KindDELETE)}},
		{"two cameras, すべて", journal.Filter{CameraIDs: []pulid.ID{cam0, cam1.ID}}},
		{"shop, 削除 tab", journal.Filter{ShopIDs: []pulid.ID{t0.ShopID}, Kinds: kinds(journalentry.KindDELETE)}},
		{"terminal, キャンセル tab", journal.Filter{TerminalIDs: []pulid.ID{t0.ID}, Kinds: kinds(journalentry.KindCANCEL)}},
		{"camera, search receipt no", journal.Filter{CameraIDs: []pulid.ID{cam0}, Search: "000123"}},
		{"all cameras, search receipt no", journal.Filter{Search: "000123"}},
	} {
		c.f.AccountID = acc
		page, stmts, main := captureListSQL(t, db, c.f)
		plan := explain(t, db, stmts[main].SQL, stmts[main].Args)
		read := rowsRead(plan)
		t.Logf("%s: %d entries, %d statements, %d rows read by the page query\n%s", c.name, len(page.Edges), len(stmts), read, plan)
		if read > 10*(journal.DefaultPageSize+1) {
			t.Logf("  ^ %s reads %d rows for a page of %d: no index serves this filter in journal order", c.name, read, len(page.Edges))
		}
	}
}

var (
	actualRows = regexp.MustCompile(`actual time=[0-9.]+\.\.[0-9.]+ rows=([0-9]+) loops=([0-9]+)`)
	removed    = regexp.MustCompile(`Rows Removed by Filter: ([0-9]+)`)
)

// rowsRead estimates the rows the scans of plan touched: what the deepest
// node returned plus what filters threw away (per-loop figures times loops).
func rowsRead(plan string) int {
	n, loops, deepest := 0, 1, 0
	for _, line := range strings.Split(plan, "\n") {
		if m := actualRows.FindStringSubmatch(line); m != nil {
			rows, _ := strconv.Atoi(m[1])
			loops, _ = strconv.Atoi(m[2])
			deepest = rows * loops
		}
		if m := removed.FindStringSubmatch(line); m != nil {
			r, _ := strconv.Atoi(m[1])
			n += r * loops
		}
	}
	return n + deepest
}
