package reports_test

import (
	"context"
	"database/sql"
	"os"
	"slices"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"

	"github.com/regicam/regicam/ent"
	_ "github.com/regicam/regicam/ent/runtime" // privacy policies and defaults
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports"
	"github.com/regicam/regicam/viewer"
)

// TestMeasureSummary times salesSummary on a large seeded database against
// the very same SQL run raw through database/sql, alternating the two so
// both see the same machine load. It only reads (no migration), so it can
// run on the perf helper's `regicam-bench seed` database:
//
//	REGICAM_BENCH_DSN=postgres://postgres@127.0.0.1:5432/regicam_bench10m?sslmode=disable \
//	  go test -run TestMeasureSummary -v -timeout 30m ./reports/
func TestMeasureSummary(t *testing.T) {
	dsn := os.Getenv("REGICAM_BENCH_DSN")
	if dsn == "" {
		t.Skip("REGICAM_BENCH_DSN not set")
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	client := ent.NewClient(ent.Driver(entsql.OpenDB("postgres", db)))
	ctx := context.Background()
	var acct, shop string
	var total int64
	if err := db.QueryRowContext(ctx, `SELECT account_id, shop_id FROM journal_entries LIMIT 1`).Scan(&acct, &shop); err != nil {
		t.Fatal(err)
	}
	_ = db.QueryRowContext(ctx, `SELECT count(*) FROM journal_entries`).Scan(&total)
	svc := &reports.Service{Client: client, DB: db, Dialect: "postgres"}
	v := viewer.Viewer{AccountID: pulid.ID(acct), Role: viewer.RoleOwner, Scopes: []viewer.Scope{viewer.ScopeJournalRead}}
	vctx := viewer.NewContext(ctx, v)
	jst, _ := time.LoadLocation("Asia/Tokyo")
	month := [2]time.Time{time.Date(2026, 10, 1, 0, 0, 0, 0, jst), time.Date(2026, 11, 1, 0, 0, 0, 0, jst)}
	year := [2]time.Time{time.Date(2025, 10, 20, 0, 0, 0, 0, jst), time.Date(2026, 11, 24, 0, 0, 0, 0, jst)}
	cases := []struct {
		name  string
		shops []pulid.ID
		g     reports.GroupBy
		span  [2]time.Time
		n     int
	}{
		{"one shop, one month, by day", []pulid.ID{pulid.ID(shop)}, reports.ByDay, month, 50},
		{"chain (50 shops), one month, by day", nil, reports.ByDay, month, 30},
		{"chain, one month, by shop", nil, reports.ByShop, month, 30},
		{"chain, one month, by staff", nil, reports.ByStaff, month, 30},
		{"chain, 400 days, by day", nil, reports.ByDay, year, 7},
	}
	t.Logf("%d entries in the database", total)
	for _, c := range cases {
		f := journal.Filter{AccountID: v.AccountID, ShopIDs: c.shops}
		from, to := c.span[0], c.span[1]
		query, args := svc.SQL(f, c.g, jst, from.UTC(), to.UTC())
		var ours, raw []time.Duration
		var rows int
		for i := 0; i < c.n+1; i++ {
			start := time.Now()
			sum, err := svc.Summarize(vctx, v, reports.Request{Filter: f, From: &from, To: &to, GroupBy: c.g})
			if err != nil {
				t.Fatal(err)
			}
			d1 := time.Since(start)
			start = time.Now()
			rs, err := db.QueryContext(ctx, query, args...)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rs.Next() {
				n++
			}
			rs.Close()
			d2 := time.Since(start)
			if i == 0 { // warm-up
				rows = len(sum.Rows)
				if n != rows {
					t.Fatalf("%s: raw %d rows, summary %d", c.name, n, rows)
				}
				continue
			}
			ours, raw = append(ours, d1), append(raw, d2)
		}
		p := func(ds []time.Duration, q float64) time.Duration {
			slices.Sort(ds)
			return ds[min(len(ds)-1, int(float64(len(ds))*q))]
		}
		t.Logf("| %s | %d rows | salesSummary p50 %s p99 %s | raw SQL p50 %s p99 %s | p50 %.2f× p99 %.2f× |",
			c.name, rows, p(ours, .5).Round(time.Microsecond*10), p(ours, .99).Round(time.Microsecond*10),
			p(raw, .5).Round(time.Microsecond*10), p(raw, .99).Round(time.Microsecond*10),
			float64(p(ours, .5))/float64(p(raw, .5)), float64(p(ours, .99))/float64(p(raw, .99)))
	}
	var plan string
	f := journal.Filter{AccountID: v.AccountID, ShopIDs: []pulid.ID{pulid.ID(shop)}}
	q, args := svc.SQL(f, reports.ByDay, jst, month[0].UTC(), month[1].UTC())
	rs, err := db.QueryContext(ctx, "EXPLAIN "+q, args...)
	if err == nil {
		for rs.Next() {
			var line string
			_ = rs.Scan(&line)
			plan += line + "\n"
		}
		rs.Close()
	}
	t.Logf("plan (one shop, one month):\n%s", plan)
}
