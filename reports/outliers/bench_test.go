package outliers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/reports"
	"github.com/regicam/regicam/reports/outliers"
	"github.com/regicam/regicam/viewer"
)

// BenchmarkReport times a staff outlier report over 30 days of 50,000
// entries (20 staff, a tenth of the sales with a discount line) against
// the sales summary by staff over the same entries, the one aggregate the
// dashboard already runs, alternating the two in the same run. The extra
// cost is the JSON scan of the items of each sale. ratio = outliers /
// summary.
//
//	go test -run '^$' -bench BenchmarkReport -benchtime 20x ./reports/outliers/
func BenchmarkReport(b *testing.B) {
	dbtest.EachB(b, func(b *testing.B, d *db.DB) {
		ctx := viewer.System(context.Background())
		acc, err := d.Client.Account.Create().SetName("bench").Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fx := testenv.NewFixture(b, d.Client, acc.ID)
		term, _ := d.Client.Terminal.Get(ctx, fx.TerminalIDs[0])
		from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
		const n = 50_000
		kinds := []journalentry.Kind{journalentry.KindPAYMENT, journalentry.KindPAYMENT, journalentry.KindPAYMENT,
			journalentry.KindPAYMENT, journalentry.KindPAYMENT, journalentry.KindPAYMENT, journalentry.KindCANCEL,
			journalentry.KindMODIFY, journalentry.KindPAYMENT, journalentry.KindDELETE}
		for start := 0; start < n; start += 1000 {
			bulk := make([]*ent.JournalEntryCreate, 0, 1000)
			for i := start; i < start+1000; i++ {
				items := []schematype.Item{{Name: "弁当", Quantity: 1, Amount: 800}}
				if i%10 == 0 {
					items = append(items, schematype.Item{Name: "値引", Quantity: 1, Amount: -100})
				}
				bulk = append(bulk, d.Client.JournalEntry.Create().SetAccountID(acc.ID).SetConnectionID(term.ConnectionID).
					SetTerminalID(term.ID).SetShopID(fx.ShopID).SetKind(kinds[i%len(kinds)]).
					SetOccurredAt(from.Add(time.Duration(i)*50*time.Second)).SetExternalID(fmt.Sprint("b-", i)).
					SetStaffName(fmt.Sprint("担当", i%20)).SetTotal(700).SetItems(items))
			}
			if err := d.Client.JournalEntry.CreateBulk(bulk...).Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
		v := viewer.Viewer{AccountID: acc.ID, Role: viewer.RoleOwner, Scopes: []viewer.Scope{viewer.ScopeJournalRead}}
		vctx := viewer.NewContext(context.Background(), v)
		to := from.Add(30 * 24 * time.Hour)
		out := &outliers.Service{Client: d.Client, DB: d.SQL, Dialect: d.Dialect}
		sum := &reports.Service{Client: d.Client, DB: d.SQL, Dialect: d.Dialect}
		var tOut, tSum time.Duration
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			rep, err := out.Report(vctx, v, outliers.Request{From: from, To: to})
			if err != nil || len(rep.Staff) != 20 {
				b.Fatalf("report: %v (%d staff)", err, len(rep.Staff))
			}
			t1 := time.Now()
			if _, err := sum.Summarize(vctx, v, reports.Request{From: &from, To: &to, GroupBy: reports.ByStaff}); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			tOut += t1.Sub(t0)
			tSum += t2.Sub(t1)
		}
		b.ReportMetric(float64(tOut.Microseconds())/float64(b.N)/1000, "ms/report")
		b.ReportMetric(float64(tSum.Microseconds())/float64(b.N)/1000, "ms/summary")
		b.ReportMetric(float64(tOut)/float64(tSum), "ratio")
	})
}
