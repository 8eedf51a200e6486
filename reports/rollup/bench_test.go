package rollup_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports"
	"github.com/regicam/regicam/reports/rollup"
	"github.com/regicam/regicam/viewer"
)

// benchEntries is the size of the seeded journal: $REGICAM_ROLLUP_BENCH_N,
// else 200,000 on PostgreSQL and 50,000 on SQLite.
func benchEntries(d *db.DB) int {
	if n, err := strconv.Atoi(os.Getenv("REGICAM_ROLLUP_BENCH_N")); err == nil && n > 0 {
		return n
	}
	if d.Dialect == dialect.Postgres {
		return 200_000
	}
	return 50_000
}

// benchChain is a chain of 20 shops in Tokyo with three registers each,
// 30 staff and five payment methods, its entries spread over 420 days up
// to 2026-11-30: 90% sales, the rest cancels, edits, deletions and 入出金.
type benchChain struct {
	account pulid.ID
	shops   []pulid.ID
	terms   [][2]pulid.ID // terminal, connection
}

func seedChain(b *testing.B, d *db.DB, n int) benchChain {
	ctx := viewer.System(context.Background())
	acc, err := d.Client.Account.Create().SetName("chain").Save(ctx)
	if err != nil {
		b.Fatal(err)
	}
	c := benchChain{account: acc.ID}
	conn, err := d.Client.PosConnection.Create().SetAccountID(acc.ID).SetProvider("PARTNER").SetContractID("bench").Save(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 20 {
		sh, err := d.Client.Shop.Create().SetAccountID(acc.ID).SetName(fmt.Sprintf("店%02d", i)).Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		c.shops = append(c.shops, sh.ID)
		for j := range 3 {
			t, err := d.Client.Terminal.Create().SetAccountID(acc.ID).SetConnectionID(conn.ID).SetShopID(sh.ID).
				SetExternalID(fmt.Sprintf("%d-%d", i, j)).SetName(fmt.Sprintf("レジ%d", j)).Save(ctx)
			if err != nil {
				b.Fatal(err)
			}
			c.terms = append(c.terms, [2]pulid.ID{t.ID, conn.ID})
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	end := time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	span := int64(420 * 24 * time.Hour / time.Second)
	kinds := []string{"CANCEL", "MODIFY", "DELETE", "OTHER"}
	pays := []string{"現金", "クレジットカード", "QR", "電子マネー", ""}
	row := func(i int) []any {
		k := "PAYMENT"
		if r := rng.IntN(100); r < 10 {
			k = kinds[r%4]
		}
		ti := rng.IntN(len(c.terms))
		t, shop := c.terms[ti], c.shops[ti/3]
		at := end.Add(-time.Duration(rng.Int64N(span)) * time.Second)
		return []any{string(pulid.MustNew("JE")), string(c.account), string(t[1]), string(t[0]), string(shop), k,
			at, at, fmt.Sprintf("e%08d", i), fmt.Sprintf("スタッフ%02d", rng.IntN(30)), int64(100 + rng.IntN(20000)), pays[rng.IntN(len(pays))]}
	}
	cols := []string{"id", "account_id", "connection_id", "terminal_id", "shop_id", "kind", "occurred_at", "received_at",
		"external_id", "staff_name", "total", "payment_method"}
	start := time.Now()
	if d.Dialect == dialect.Postgres {
		copyRows(b, d.SQL, cols, n, row)
		if _, err := d.SQL.ExecContext(ctx, "ANALYZE journal_entries"); err != nil {
			b.Fatal(err)
		}
	} else {
		insertRows(b, d.SQL, cols, n, row)
	}
	b.Logf("seeded %d entries in %s", n, time.Since(start).Round(time.Millisecond))
	return c
}

func copyRows(b *testing.B, sqlDB *sql.DB, cols []string, n int, row func(int) []any) {
	const chunk = 100_000
	for done := 0; done < n; done += chunk {
		tx, err := sqlDB.Begin()
		if err != nil {
			b.Fatal(err)
		}
		stmt, err := tx.Prepare(pq.CopyIn("journal_entries", cols...))
		if err != nil {
			b.Fatal(err)
		}
		for i := done; i < min(n, done+chunk); i++ {
			if _, err := stmt.Exec(row(i)...); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := stmt.Exec(); err != nil {
			b.Fatal(err)
		}
		if err := stmt.Close(); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

func insertRows(b *testing.B, sqlDB *sql.DB, cols []string, n int, row func(int) []any) {
	tx, err := sqlDB.Begin()
	if err != nil {
		b.Fatal(err)
	}
	const per = 200
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	for done := 0; done < n; done += per {
		k := min(per, n-done)
		args := make([]any, 0, k*len(cols))
		for i := range k {
			args = append(args, row(done+i)...)
		}
		q := "INSERT INTO journal_entries (" + strings.Join(cols, ", ") + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", k), ", ")
		if _, err := tx.Exec(q, args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSummaries: chain-wide summaries over a seeded journal, the same
// request answered from the journal and from rollups in each iteration;
// journal-ms/op, rollup-ms/op and x-faster are per request.
func BenchmarkSummaries(b *testing.B) {
	dbtest.EachB(b, func(b *testing.B, d *db.DB) {
		n := benchEntries(d)
		c := seedChain(b, d, n)
		store := rollup.New(d.SQL, d.Dialect, slog.New(slog.DiscardHandler))
		start := time.Now()
		if err := store.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Logf("built rollups of %d entries in %s", n, time.Since(start).Round(time.Millisecond))
		if d.Dialect == dialect.Postgres {
			if _, err := d.SQL.Exec("ANALYZE daily_rollups"); err != nil {
				b.Fatal(err)
			}
		}
		plain := &reports.Service{Client: d.Client, DB: d.SQL, Dialect: d.Dialect}
		fast := &reports.Service{Client: d.Client, DB: d.SQL, Dialect: d.Dialect, Rollups: store}
		v := viewer.Viewer{AccountID: c.account, Role: viewer.RoleOwner, Scopes: []viewer.Scope{viewer.ScopeJournalRead}}
		ctx := viewer.NewContext(context.Background(), v)
		jst, _ := time.LoadLocation("Asia/Tokyo")
		month := [2]time.Time{time.Date(2026, 10, 1, 0, 0, 0, 0, jst), time.Date(2026, 11, 1, 0, 0, 0, 0, jst)}
		days400 := [2]time.Time{time.Date(2026, 11, 30, 0, 0, 0, 0, jst).AddDate(0, 0, -399), time.Date(2026, 11, 30, 0, 0, 0, 0, jst)}
		cases := []struct {
			name string
			g    reports.GroupBy
			span [2]time.Time
		}{
			{"month-by-day", reports.ByDay, month},
			{"month-by-shop", reports.ByShop, month},
			{"month-by-staff", reports.ByStaff, month},
			{"400days-by-day", reports.ByDay, days400},
			{"400days-by-shop", reports.ByShop, days400},
		}
		for _, cs := range cases {
			req := reports.Request{Filter: journal.Filter{}, From: &cs.span[0], To: &cs.span[1], GroupBy: cs.g}
			if d.Dialect == dialect.Postgres && cs.name == "month-by-staff" {
				explain(b, d, store, rollup.Query{Account: c.account, Dimension: rollup.Staff,
					FromDay: "2026-10-01", ToDay: "2026-11-01"})
			}
			b.Run(cs.name, func(b *testing.B) {
				var tj, tr time.Duration
				for b.Loop() {
					t0 := time.Now()
					want, err := plain.Summarize(ctx, v, req)
					if err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					got, err := fast.Summarize(ctx, v, req)
					if err != nil {
						b.Fatal(err)
					}
					tr += time.Since(t1)
					tj += t1.Sub(t0)
					if !got.FromRollups || got.Total != want.Total {
						b.Fatalf("rollups %v total %+v, journal %+v", got.FromRollups, got.Total, want.Total)
					}
				}
				ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
				b.ReportMetric(ms(tj), "journal-ms/op")
				b.ReportMetric(ms(tr), "rollup-ms/op")
				b.ReportMetric(float64(tj)/float64(tr), "x-faster")
			})
		}
	})
}

// explain logs the plan of one rollup query (EXPLAIN ANALYZE, PostgreSQL).
func explain(b *testing.B, d *db.DB, store *rollup.Store, q rollup.Query) {
	query, args := store.SQL(q)
	rows, err := d.SQL.Query("EXPLAIN (ANALYZE, BUFFERS) "+query, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			b.Fatal(err)
		}
		plan = append(plan, line)
	}
	b.Logf("EXPLAIN %s\n%s", query, strings.Join(plan, "\n"))
}
