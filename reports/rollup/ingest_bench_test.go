package rollup_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/reports/rollup"
	"github.com/regicam/regicam/viewer"
)

// BenchmarkIngestCost is what counting in the ingest transaction costs:
// single receipts and batches of 100 sales, with and without rollups, on
// one built shop.
func BenchmarkIngestCost(b *testing.B) {
	dbtest.EachB(b, func(b *testing.B, d *db.DB) {
		ctx := viewer.System(context.Background())
		acc, err := d.Client.Account.Create().SetName("a").Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sh, err := d.Client.Shop.Create().SetAccountID(acc.ID).SetName("店").Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		conn, err := d.Client.PosConnection.Create().SetAccountID(acc.ID).SetProvider("PARTNER").SetContractID("c").Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		term, err := d.Client.Terminal.Create().SetAccountID(acc.ID).SetConnectionID(conn.ID).SetShopID(sh.ID).
			SetExternalID("1").SetName("レジ").Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		store := rollup.New(d.SQL, d.Dialect, slog.New(slog.DiscardHandler))
		if err := store.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		ext := 0
		receipt := func() ingest.Receipt {
			ext++
			return ingest.Receipt{TerminalID: term.ID, ExternalID: fmt.Sprintf("r%d", ext), Kind: journalentry.KindPAYMENT,
				OccurredAt: time.Now().Add(-time.Duration(ext) * time.Second), Total: 1000, StaffName: fmt.Sprintf("s%d", ext%7),
				PaymentMethod: "現金"}
		}
		for _, counting := range []bool{false, true} {
			in := ingest.New(d.Client, d.Dialect, nopBus{}, nil)
			name := "plain"
			if counting {
				in.Rollups, name = store, "rollups"
			}
			b.Run("single/"+name, func(b *testing.B) {
				for b.Loop() {
					if res := in.Ingest(ctx, acc.ID, receipt()); res.Err != nil {
						b.Fatal(res.Err)
					}
				}
			})
			b.Run("batch100/"+name, func(b *testing.B) {
				for b.Loop() {
					rs := make([]ingest.Receipt, 100)
					for i := range rs {
						rs[i] = receipt()
					}
					if _, err := in.IngestBatch(ctx, acc.ID, rs, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100), "µs/receipt")
			})
		}
	})
}
