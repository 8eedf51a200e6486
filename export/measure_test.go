package export_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"

	"github.com/regicam/regicam/ent"
	_ "github.com/regicam/regicam/ent/runtime" // privacy policies and defaults
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
)

type counter struct{ n atomic.Int64 }

func (c *counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// heapPeak samples the live heap until stop is called.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

func vmHWM() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}

// TestMeasureExport streams ~1M rows (the whole chain, 2026-10-01 to
// 2026-11-10 JST on the seeded 10M database) as CSV and reports rows/s and
// peak heap, next to the same rows read raw in one query and written with
// encoding/csv in the same run.
//
//	REGICAM_BENCH_DSN=postgres://postgres@127.0.0.1:5432/regicam_bench10m?sslmode=disable \
//	  go test -run TestMeasureExport -v -timeout 30m ./export/
func TestMeasureExport(t *testing.T) {
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
	var acct string
	if err := db.QueryRowContext(ctx, `SELECT account_id FROM journal_entries LIMIT 1`).Scan(&acct); err != nil {
		t.Fatal(err)
	}
	jst, _ := time.LoadLocation("Asia/Tokyo")
	from, to := time.Date(2026, 10, 1, 0, 0, 0, 0, jst).UTC(), time.Date(2026, 11, 10, 0, 0, 0, 0, jst).UTC()
	f := journal.Filter{AccountID: pulid.ID(acct), From: &from, To: &to}

	runtime.GC()
	t.Logf("VmHWM before: %s", vmHWM())
	out := &counter{}
	stop := heapPeak()
	start := time.Now()
	rows, err := export.Write(ctx, client, bufio.NewWriterSize(out, 64<<10), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	peak := stop()
	t.Logf("| export.Write (keyset pages of %d) | %d rows, %d MB | %s | %.0f rows/s | peak heap %.1f MB | VmHWM %s |",
		export.PageSize, rows, out.n.Load()>>20, d.Round(time.Millisecond), float64(rows)/d.Seconds(), float64(peak)/(1<<20), vmHWM())

	runtime.GC()
	out = &counter{}
	stop = heapPeak()
	start = time.Now()
	rs, err := db.QueryContext(ctx, `SELECT occurred_at, kind, receipt_no, register_no, staff_name, total, deposit, change,
		entered_at, payment_method, shop_id, terminal_id, camera_id, items FROM journal_entries
		WHERE account_id = $1 AND occurred_at >= $2 AND occurred_at < $3 ORDER BY occurred_at DESC, id DESC`, acct, from, to)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	cw := csv.NewWriter(bw)
	var n int64
	rec := make([]string, 14)
	for rs.Next() {
		var at time.Time
		var entered sql.NullTime
		var kind, rno, reg, staff, pay, shop, term string
		var cam sql.NullString
		var items []byte
		var total, dep, chg int64
		if err := rs.Scan(&at, &kind, &rno, &reg, &staff, &total, &dep, &chg, &entered, &pay, &shop, &term, &cam, &items); err != nil {
			t.Fatal(err)
		}
		rec[0], rec[1], rec[2], rec[3], rec[4] = at.In(jst).Format("2006/01/02 15:04:05"), kind, rno, reg, staff
		rec[5], rec[6], rec[7] = strconv.FormatInt(total, 10), strconv.FormatInt(dep, 10), strconv.FormatInt(chg, 10)
		rec[9], rec[10], rec[11], rec[12], rec[13] = pay, shop, term, cam.String, string(items)
		_ = cw.Write(rec)
		n++
	}
	rs.Close()
	cw.Flush()
	d2 := time.Since(start)
	peak2 := stop()
	t.Logf("| raw: one query, database/sql + encoding/csv | %d rows, %d MB | %s | %.0f rows/s | peak heap %.1f MB | |",
		n, out.n.Load()>>20, d2.Round(time.Millisecond), float64(n)/d2.Seconds(), float64(peak2)/(1<<20))
	t.Logf("ratio (time): %.2f×", d.Seconds()/d2.Seconds())
}
