package harness_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/bench/harness"
	"github.com/regicam/regicam/internal/pgtest"
)

// The harness starts subscribers and extra servers as children of its own
// executable; in a test that is this test binary.
func TestMain(m *testing.M) {
	if os.Getenv(harness.ChildEnv) != "" {
		os.Exit(harness.ChildMain())
	}
	os.Exit(m.Run())
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"10M": 10_000_000, "50k": 50_000, "1_000_000": 1_000_000, "20000": 20000, "1.5m": 1_500_000} {
		if got, err := harness.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-5", "0"} {
		if _, err := harness.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

// ciRows is the CI dataset: 300 entries per camera, so the CANCEL tab of
// the camera Q1 pages through holds ~15 entries (with 20,000 it held ~5,
// and one CI run in 150 drew none and failed the kind-tab check).
const ciRows = 60_000

// TestSeedAndRun is the harness end to end at CI size: seed ciRows
// entries through the real migration, then a short run with every
// measurement. The PostGraphile comparison is off here (--peer=off): it
// downloads Node 22 and PostGraphile from npm, which CI does not do on
// every run; `regicam-bench run` turns it on by default. No timing is
// asserted; what must hold is correctness: every row loaded, every event
// delivered exactly once across two server processes, every ingested
// entry stored, the table printed, and the dataset left as seeded.
func TestSeedAndRun(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds a database and runs the harness")
	}
	dsn := pgtest.New(t)
	ctx := context.Background()
	var log bytes.Buffer
	ds, err := harness.Seed(ctx, dsn, ciRows, &log)
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, log.String())
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func() (n int) {
		if err := db.QueryRow(`SELECT count(*) FROM journal_entries`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if ds.Rows != ciRows || count() != ciRows {
		t.Fatalf("seeded %d (table holds %d), want %d", ds.Rows, count(), ciRows)
	}
	kinds := map[string]int{}
	rows, err := db.Query(`SELECT kind, count(*) FROM journal_entries GROUP BY kind`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		kinds[k] = n
	}
	rows.Close()
	if kinds["PAYMENT"] < ciRows*8/10 || kinds["CANCEL"] < ciRows/40 || kinds["MODIFY"] == 0 || kinds["DELETE"] == 0 || kinds["OTHER"] == 0 {
		t.Errorf("kind mix %v: want mostly PAYMENT, a few %% CANCEL, some MODIFY, DELETE and OTHER", kinds)
	}
	// Seeding again is a no-op.
	if again, err := harness.Seed(ctx, dsn, ciRows, &log); err != nil || again.Rows != ciRows || count() != ciRows {
		t.Fatalf("second seed: %v, %d rows", err, count())
	}

	out := filepath.Join(t.TempDir(), "bench.json")
	opts, err := harness.ParseRunFlags([]string{"--database-url", dsn, "--peer=off", "--json", out, "--db-max-conns", "8",
		"--duration", "300ms", "--clients", "1,4", "--subs", "200", "--rate", "50", "--s1-duration", "1s",
		"--s2-subs", "60", "--s2-events", "10", "--i1-entries", "1000"})
	if err != nil {
		t.Fatal(err)
	}
	opts.ChildCmd = []string{os.Args[0]}
	var table bytes.Buffer
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := harness.Run(runCtx, opts, &table); err != nil {
		t.Fatalf("run: %v\n%s", err, table.String())
	}
	text := table.String()
	for _, want := range []string{"Q1 timeline page", "S1 fan-out", "S2:", "I1 ingest", "EXPLAIN (ANALYZE, BUFFERS)", "Targets:", "Index Scan"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	var rep harness.Report
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Q1) != 8 {
		t.Errorf("%d Q1 rows, want 4 variants × 2 client counts", len(rep.Q1))
	}
	for _, q := range rep.Q1 {
		if q.Regicam.Ops == 0 || q.Raw.Ops == 0 || q.Regicam.Errors > 0 || q.Raw.Errors > 0 {
			t.Errorf("Q1 %s @%d: regicam %d ops (%d errors: %s), raw %d ops", q.Variant, q.Clients,
				q.Regicam.Ops, q.Regicam.Errors, q.Regicam.FirstErr, q.Raw.Ops)
		}
	}
	if len(rep.S1) != 1 || rep.S1[0].Missing != 0 || rep.S1[0].Dups != 0 || rep.S1[0].Delivered == 0 {
		t.Errorf("S1: %+v", rep.S1)
	}
	if rep.S2 == nil || !rep.S2.OK || rep.S2.Delivered != 60*10 {
		t.Errorf("S2 not exactly once: %+v", rep.S2)
	}
	if rep.I1 == nil || rep.I1.Created != 1000 {
		t.Errorf("I1: %+v", rep.I1)
	}
	if !strings.Contains(rep.Peer, "off") {
		t.Errorf("peer %q, want off", rep.Peer)
	}
	if n := count(); n != ciRows {
		t.Errorf("the run left %d entries, want the %d seeded", n, ciRows)
	}
}
