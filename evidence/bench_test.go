package evidence_test

// Issue 18, "Measured": the evidence bundle of a case of 200 receipts with
// thumbnails, its time and peak heap, against a baseline in the same run
// that writes the same files into a plain zip.Writer from memory (no
// database, no store).

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/cases"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/evidence"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

type nopBus struct{}

func (nopBus) Publish(context.Context, int64) error { return nil }

// seedCase makes a case of n receipts, each with a 320 px thumbnail cut
// from the simulated camera's picture of its second, and returns the
// owner's context, the case and the store's reader.
func seedCase(tb testing.TB, d *db.DB, n int) (context.Context, pulid.ID, thumbs.Store) {
	tb.Helper()
	sys := viewer.System(context.Background())
	c := d.Client
	acc, err := c.Account.Create().SetName("ベンチ").Save(sys)
	if err != nil {
		tb.Fatal(err)
	}
	owner, err := c.User.Create().SetAccountID(acc.ID).SetEmail(strings.ToLower(string(pulid.MustNew("us"))) + "@bench.local").SetName("店長").
		SetRole("OWNER").Save(sys)
	if err != nil {
		tb.Fatal(err)
	}
	fx := testenv.NewFixture(tb, c, acc.ID)
	var store thumbs.Store
	if d.DSN != "" {
		store, err = thumbs.NewPostgres(sys, d.SQL)
	} else {
		store, err = thumbs.NewFS(tb.TempDir())
	}
	if err != nil {
		tb.Fatal(err)
	}
	base := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	rs := make([]ingest.Receipt, n)
	for i := range rs {
		rs[i] = ingest.Receipt{TerminalID: fx.TerminalIDs[i%2], ExternalID: fmt.Sprintf("b%04d", i),
			Kind: journalentry.KindPAYMENT, OccurredAt: base.Add(time.Duration(i) * 37 * time.Second),
			ReceiptNo: fmt.Sprintf("%04d", i), RegisterNo: "1", StaffName: "山田", Total: int64(500 + i), PaymentMethod: "現金",
			Items: []schematype.Item{{Name: "ブレンドコーヒー", Quantity: 1, Amount: 450}, {Name: "クロワッサン", Quantity: 1, Amount: int64(50 + i)}}}
	}
	res, err := ingest.New(c, d.Dialect, nopBus{}, nil).IngestBatch(sys, acc.ID, rs, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ids := make([]pulid.ID, n)
	for i, r := range res {
		if r.Err != nil {
			tb.Fatalf("ingest %d: %v", i, r.Err)
		}
		ids[i] = r.Entry.ID
		frame, err := camera.RenderAt(camera.SimulatedConfig{Name: "自宅カメラ"}, rs[i].OccurredAt)
		if err != nil {
			tb.Fatal(err)
		}
		th, err := thumbs.Make(frame, 320, 75)
		if err != nil {
			tb.Fatal(err)
		}
		key := thumbs.Key(string(acc.ID), string(r.Entry.ID))
		if err := store.Put(sys, key, th.JPEG); err != nil {
			tb.Fatal(err)
		}
		if err := c.Thumbnail.Create().SetAccountID(acc.ID).SetEntryID(r.Entry.ID).SetCameraID(fx.CameraIDs[0]).
			SetRequestedAt(rs[i].OccurredAt).SetCapturedAt(rs[i].OccurredAt).SetSkewMs(0).SetWidth(th.Width).
			SetHeight(th.Height).SetBytes(int64(len(th.JPEG))).SetStorageKey(key).SetSha256(th.SHA256).Exec(sys); err != nil {
			tb.Fatal(err)
		}
	}
	ctx := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: acc.ID, UserID: owner.ID,
		Role: viewer.RoleOwner, Scopes: auth.ScopesOf(viewer.RoleOwner)})
	svc := &cases.Service{Client: c}
	cs, err := svc.Create(ctx, cases.CreateInput{Title: "ベンチの事件", EntryIDs: ids[:min(n, cases.MaxIDsPerCall)]})
	if err != nil {
		tb.Fatal(err)
	}
	for i := cases.MaxIDsPerCall; i < n; i += cases.MaxIDsPerCall {
		if _, err := svc.AddItems(ctx, cs.ID, ids[i:min(n, i+cases.MaxIDsPerCall)], nil); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range 20 {
		if _, err := svc.AddNote(ctx, cs.ID, fmt.Sprintf("メモ %d: 防犯カメラの映像を確認した。", i)); err != nil {
			tb.Fatal(err)
		}
	}
	return ctx, cs.ID, store
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// peakHeap runs fn once and answers how far the heap rose above where it
// stood before, sampled every millisecond. The collector runs at GOGC=10
// meanwhile, so the figure is close to what fn keeps alive rather than the
// garbage the default pacing lets pile up (twice the live heap).
func peakHeap(fn func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	start := ms.HeapAlloc
	var peak atomic.Uint64
	peak.Store(start)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	return peak.Load() - start
}

type file struct {
	name    string
	data    []byte
	deflate bool
}

// plainZip is the baseline: the bundle's files, already in memory,
// written as the bundle writes them (pictures stored, text deflated).
func plainZip(w io.Writer, files []file) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		m := zip.Store
		if f.deflate {
			m = zip.Deflate
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: m})
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.data); err != nil {
			return err
		}
	}
	return zw.Close()
}

func BenchmarkEvidenceBundle(b *testing.B) {
	dbtest.EachB(b, func(b *testing.B, d *db.DB) {
		const entries = 200
		ctx, caseID, store := seedCase(b, d, entries)
		bundle := func(w io.Writer) {
			bd, err := evidence.Load(ctx, d.Client, string(caseID))
			if err != nil {
				b.Fatal(err)
			}
			who, err := evidence.Who(ctx, d.Client, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := bd.Write(ctx, d.Client, w, store.Get, who); err != nil {
				b.Fatal(err)
			}
		}
		// One bundle, read back: the baseline's files.
		var buf bytes.Buffer
		bundle(&buf)
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			b.Fatal(err)
		}
		var files []file
		var pictures int
		for _, f := range zr.File {
			rc, _ := f.Open()
			data, _ := io.ReadAll(rc)
			rc.Close()
			files = append(files, file{name: f.Name, data: data, deflate: f.Method == zip.Deflate})
			if f.Method == zip.Store {
				pictures++
			}
		}
		if pictures != entries {
			b.Fatalf("%d pictures in the bundle of %d receipts", pictures, entries)
		}
		size := int64(buf.Len())
		buf = bytes.Buffer{}

		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			bundle(&countWriter{})
		}
		b.StopTimer()
		perBundle := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		start := time.Now()
		for range b.N {
			if err := plainZip(&countWriter{}, files); err != nil {
				b.Fatal(err)
			}
		}
		perBase := float64(time.Since(start).Nanoseconds()) / float64(b.N)
		bundlePeak := peakHeap(func() { bundle(&countWriter{}) })
		basePeak := peakHeap(func() {
			if err := plainZip(&countWriter{}, files); err != nil {
				b.Fatal(err)
			}
		})
		// The largest case (cases.MaxItems receipts): its bundle is 2.5 times
		// the size; streamed, the heap grows by its rows, not by its pictures.
		b.StopTimer()
		bigCtx, bigID, bigStore := seedCase(b, d, cases.MaxItems)
		var big countWriter
		bigPeak := peakHeap(func() {
			bd, err := evidence.Load(bigCtx, d.Client, string(bigID))
			if err != nil {
				b.Fatal(err)
			}
			who, _ := evidence.Who(bigCtx, d.Client, time.Now())
			if _, err := bd.Write(bigCtx, d.Client, &big, bigStore.Get, who); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(float64(big.n)/(1<<20), "bundle-500-MiB")
		b.ReportMetric(float64(bigPeak)/(1<<20), "peak-heap-500-MiB")
		b.ReportMetric(perBundle/1e6, "ms/bundle")
		b.ReportMetric(perBase/1e6, "baseline-ms")
		b.ReportMetric(perBundle/perBase, "x-baseline")
		b.ReportMetric(float64(size)/(1<<20), "bundle-MiB")
		b.ReportMetric(float64(bundlePeak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(basePeak)/(1<<20), "baseline-peak-heap-MiB")
	})
}
