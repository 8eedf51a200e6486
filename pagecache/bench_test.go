package pagecache_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// BenchmarkFirstPage: the first 50 entries of one camera, as the dashboard
// asks them, at 1 and 8 clients: served by the cache (a hit: the probe of
// the newest event id and the map), by journal.List (what regicam did
// before) and by raw SQL of the same columns on the same pool (lib/pq on
// PostgreSQL), all in the same run. ns/op is the cached page; the
// *-ns/page metrics are each variant's wall time per page, and
// cached-vs-raw / cached-vs-uncached how many times faster the cache is.
func BenchmarkFirstPage(b *testing.B) {
	dbtest.EachB(b, func(b *testing.B, d *db.DB) {
		p := start(b, d, newBus())
		tn := newTenant(b, d.Client)
		seed(b, p, tn, 5000)
		owner := as(tn, viewer.RoleOwner)
		f := journal.Filter{AccountID: tn.account, CameraIDs: []pulid.ID{tn.fx.CameraIDs[0]}}
		const first = journal.DefaultPageSize
		cached := func() error {
			pg, err := p.cache.List(owner, f, first, nil, "", nil)
			if err == nil && len(pg.Edges) != first {
				err = fmt.Errorf("cached page has %d entries", len(pg.Edges))
			}
			return err
		}
		uncached := func() error {
			_, err := journal.List(owner, d.Client, f, first, nil, nil)
			return err
		}
		raw := rawPage(d, tn, first)
		for _, clients := range []int{1, 8} {
			b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
				if err := cached(); err != nil { // fill
					b.Fatal(err)
				}
				b.ResetTimer()
				tc := run(b, clients, b.N, cached)
				b.StopTimer()
				n := min(b.N, 2000)
				tu := run(b, clients, n, uncached)
				tr := run(b, clients, n, raw)
				perC, perU, perR := tc/float64(b.N), tu/float64(n), tr/float64(n)
				b.ReportMetric(perC, "cached-ns/page")
				b.ReportMetric(perU, "uncached-ns/page")
				b.ReportMetric(perR, "raw-ns/page")
				b.ReportMetric(perU/perC, "cached-vs-uncached")
				b.ReportMetric(perR/perC, "cached-vs-raw")
			})
		}
		if s := p.cache.Stats(); s.Hits == 0 {
			b.Fatalf("the cached variant never hit: %+v", s)
		}
	})
}

// run does n calls of fn spread over clients goroutines and returns the
// wall time in nanoseconds.
func run(b *testing.B, clients, n int, fn func() error) float64 {
	var wg sync.WaitGroup
	var once sync.Once
	var failed error
	start := time.Now()
	for c := range clients {
		share := n / clients
		if c < n%clients {
			share++
		}
		wg.Go(func() {
			for range share {
				if err := fn(); err != nil {
					once.Do(func() { failed = err })
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if failed != nil {
		b.Fatal(failed)
	}
	return float64(el.Nanoseconds())
}

// rawPage is the page as a hand-written query over the same pool, scanned
// into plain values: the floor under any library.
func rawPage(d *db.DB, tn tenant, first int) func() error {
	cols := strings.Join(journal.ListColumns, ", ")
	q := "SELECT " + cols + " FROM journal_entries WHERE account_id = $1 AND camera_id = $2 ORDER BY occurred_at DESC, id DESC LIMIT $3"
	if d.Dialect != "postgres" {
		q = strings.NewReplacer("$1", "?", "$2", "?", "$3", "?").Replace(q)
	}
	return func() error {
		rows, err := d.SQL.QueryContext(context.Background(), q, string(tn.account), string(tn.fx.CameraIDs[0]), first+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		vals := make([]any, len(journal.ListColumns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != first+1 {
			return fmt.Errorf("raw page has %d rows", n)
		}
		return nil
	}
}

// seed ingests n sales on the tenant's registers (camera 0 watches both
// of 渋谷店's) through the ingester, in batches.
func seed(b *testing.B, p *process, tn tenant, n int) {
	b.Helper()
	ctx := viewer.System(context.Background())
	base := time.Now().Add(-30 * 24 * time.Hour).UTC()
	for i := 0; i < n; {
		batch := make([]ingest.Receipt, 0, 500)
		for ; i < n && len(batch) < cap(batch); i++ {
			batch = append(batch, ingest.Receipt{TerminalID: tn.fx.TerminalIDs[i%2], ExternalID: fmt.Sprintf("seed-%d", i),
				Kind: journalentry.KindPAYMENT, OccurredAt: base.Add(time.Duration(i) * time.Minute), Total: int64(100 + i%900),
				ReceiptNo: fmt.Sprint(i), StaffName: "山田"})
		}
		res, err := p.ing.IngestBatch(ctx, tn.account, batch, make([]error, len(batch)))
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Status != ingest.Created {
				b.Fatalf("seed: %s %v", r.Status, r.Err)
			}
		}
	}
}
