package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/viewer"
)

// BenchmarkJournalFirstPage: Query.journal's first page of one camera (50
// entries with camera and register) over HTTP on PostgreSQL, at 1 and 8
// clients, all in one run on one server: cached (the page cache answers),
// uncached (the same page with `from` set far in the past, which the cache
// leaves to the database: the same query and response otherwise), and raw
// SQL of the page's columns through lib/pq. ns/op is the cached page;
// cached-vs-uncached and cached-vs-raw are how many times faster it is.
func BenchmarkJournalFirstPage(b *testing.B) {
	be := testenv.Postgres(b)
	srv := testenv.Start(b, be, "")
	fx := testenv.NewFixture(b, srv.DB.Client, srv.AccountID)
	ctx := viewer.System(context.Background())
	base := time.Now().Add(-30 * 24 * time.Hour).UTC()
	for i := 0; i < 5000; {
		batch := make([]ingest.Receipt, 0, 500)
		for ; i < 5000 && len(batch) < cap(batch); i++ {
			batch = append(batch, ingest.Receipt{TerminalID: fx.TerminalIDs[i%2], ExternalID: fmt.Sprintf("bench-%d", i),
				Kind: journalentry.KindPAYMENT, OccurredAt: base.Add(time.Duration(i) * time.Minute), Total: int64(100 + i%900),
				ReceiptNo: fmt.Sprint(i), StaffName: "山田"})
		}
		if _, err := srv.Ingester.IngestBatch(ctx, srv.AccountID, batch, make([]error, len(batch))); err != nil {
			b.Fatal(err)
		}
	}
	const q = `query($where: JournalWhere) { journal(where: $where, first: 50) { edges { cursor node {
  id kind kindLabel occurredAt receiptNo registerNo staffName total paymentMethod thumbnailReason
  camera { id name } terminal { id name } } } pageInfo { hasNextPage endCursor } } }`
	cam := fx.CameraIDs[0]
	cachedBody, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"where": map[string]any{"cameraIDs": []any{cam}}}})
	uncachedBody, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"where": map[string]any{"cameraIDs": []any{cam}, "from": "2000-01-01T00:00:00Z"}}})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	post := func(body []byte) func() error {
		return func() error {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			srv.Credential().Apply(req.Header)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK || bytes.Contains(got, []byte(`"errors"`)) {
				return fmt.Errorf("status %d: %.200s", resp.StatusCode, got)
			}
			return nil
		}
	}
	pq, err := sql.Open("postgres", be.DatabaseURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pq.Close() })
	pq.SetMaxIdleConns(16)
	cols := ""
	for i, c := range journal.ListColumns {
		if i > 0 {
			cols += ", "
		}
		cols += c
	}
	rawQ := "SELECT " + cols + " FROM journal_entries WHERE account_id = $1 AND camera_id = $2 ORDER BY occurred_at DESC, id DESC LIMIT 51"
	raw := func() error {
		rows, err := pq.QueryContext(context.Background(), rawQ, string(srv.AccountID), string(cam))
		if err != nil {
			return err
		}
		defer rows.Close()
		vals := make([]any, len(journal.ListColumns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	cached, uncached := post(cachedBody), post(uncachedBody)
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			if err := cached(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			tc := wall(b, clients, b.N, cached)
			b.StopTimer()
			n := min(b.N, 2000)
			tu, tr := wall(b, clients, n, uncached), wall(b, clients, n, raw)
			perC, perU, perR := tc/float64(b.N), tu/float64(n), tr/float64(n)
			b.ReportMetric(perU, "uncached-ns/page")
			b.ReportMetric(perR, "raw-ns/page")
			b.ReportMetric(perU/perC, "cached-vs-uncached")
			b.ReportMetric(perR/perC, "cached-vs-raw")
		})
	}
}

// wall does n calls of fn over clients goroutines and returns the wall time
// in nanoseconds.
func wall(b *testing.B, clients, n int, fn func() error) float64 {
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for c := range clients {
		share := n / clients
		if c < n%clients {
			share++
		}
		wg.Go(func() {
			for range share {
				if err := fn(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return float64(el.Nanoseconds())
}
