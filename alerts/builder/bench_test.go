package builder_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/alerts/builder"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

func p[T any](v T) *T { return &v }

// fiftyRules are 50 builder rules of every condition, none of which fires
// on the benchmark's receipts (so no alert write is counted): ten each of
// amount ranges, folded item names, night windows with weekdays, staff
// lists with payment methods, and window rules (5 bursts, 5 quick cancels)
// that cost a query on every cancel.
func fiftyRules(shop pulid.ID) []schematype.RuleConditions {
	var out []schematype.RuleConditions
	for i := range 10 {
		out = append(out,
			schematype.RuleConditions{Kinds: []string{"CANCEL", "DELETE"}, AmountMin: p(int64(1_000_000 + i))},
			schematype.RuleConditions{Item: &schematype.ItemCondition{NameContains: fmt.Sprintf("ｺｰﾗ%d", i), QuantityMin: p(2)}},
			schematype.RuleConditions{TimeFrom: "02:00", TimeTo: "02:01", Weekdays: []int{i % 7}, ShopIDs: []string{string(shop)}},
			schematype.RuleConditions{Staff: []string{"山田"}, PaymentMethods: []string{fmt.Sprintf("ポイント%d", i)}, StaySecondsMin: p(3600)},
		)
		if i < 5 {
			out = append(out, schematype.RuleConditions{Kinds: []string{"CANCEL"}, Burst: &schematype.WindowCondition{Count: 1000, WindowSeconds: 600}})
		} else {
			out = append(out, schematype.RuleConditions{Kinds: []string{"CANCEL"}, QuickCancel: &schematype.WindowCondition{WindowSeconds: 1}})
		}
	}
	return out
}

type benchEnv struct {
	svc  *alerts.Service
	in   *ingest.Ingester
	acct pulid.ID
	fx   testenv.Fixture
	ctx  context.Context
}

func newBenchEnv(b *testing.B, d *db.DB) benchEnv {
	ctx := context.Background()
	acc, err := d.Client.Account.Create().SetName("ベンチ").Save(ctx)
	if err != nil {
		b.Fatal(err)
	}
	box, err := secrets.New(secrets.NewKey("k1"))
	if err != nil {
		b.Fatal(err)
	}
	e := benchEnv{acct: acc.ID, fx: testenv.NewFixture(b, d.Client, acc.ID)}
	e.svc = alerts.New(d.Client, d.Dialect, box, testenv.Logger(), alerts.Options{})
	e.in = ingest.New(d.Client, d.Dialect, pubsub.NewMemory(), testenv.Logger())
	e.ctx = viewer.NewContext(ctx, viewer.Viewer{AccountID: acc.ID, Role: viewer.RoleOwner,
		Scopes: []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeJournalWrite, viewer.ScopeLinksWrite, viewer.ScopeAdmin}})
	return e
}

// BenchmarkRuleEvaluation is what 50 builder rules add per ingested entry
// (sales and their cancels, items and a payment method on each), against
// the same ingest with the observer and no rules, in the same run; the
// "50-rules" line reports the ratio as x-of-none.
//
//	go test -run '^$' -bench RuleEvaluation -benchtime 2000x ./alerts/builder/
func BenchmarkRuleEvaluation(b *testing.B) {
	dbtest.EachB(b, func(b *testing.B, d *db.DB) {
		e := newBenchEnv(b, d)
		e.in.Observer = e.svc
		at := time.Now().Add(-24 * time.Hour)
		run := func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += 2 {
				ext := fmt.Sprintf("%s-%d-%d", b.Name(), i, time.Now().UnixNano())
				at = at.Add(10 * time.Second)
				for _, k := range []journalentry.Kind{journalentry.KindPAYMENT, journalentry.KindCANCEL} {
					when := at
					if k == journalentry.KindCANCEL {
						when = at.Add(5 * time.Second)
					}
					res := e.in.Ingest(context.Background(), e.acct, ingest.Receipt{TerminalID: e.fx.TerminalIDs[0], ExternalID: ext,
						Kind: k, OccurredAt: when, StaffName: "山田", Total: 1000, ReceiptNo: "1", PaymentMethod: "現金",
						Items: []schematype.Item{{Name: "おにぎり", Quantity: 2, Amount: 300}, {Name: "お茶", Quantity: 1, Amount: 150}}})
					if res.Err != nil {
						b.Fatal(res.Err)
					}
				}
			}
		}
		var none float64
		b.Run("none", func(b *testing.B) {
			run(b)
			none = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		for i, c := range fiftyRules(e.fx.ShopID) {
			if _, _, err := e.svc.Create(e.ctx, alerts.Input{Name: fmt.Sprintf("r%d", i), Kind: alertrule.KindCUSTOM, Conditions: &c}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("50-rules", func(b *testing.B) {
			run(b)
			if none > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/none, "x-of-none")
			}
		})
	})
}

// previewSize is the seeded history of BenchmarkPreview30Days: entries
// over 30 days on 3 registers, a tenth of them cancels.
const previewSize = 50_000

// BenchmarkPreview30Days times previewAlertRule over 30 days of a seeded
// history for three rule shapes (one the database narrows, one decided
// only in Go on every entry, a burst replay), p50/p99 over all runs.
//
//	go test -run '^$' -bench Preview30Days -benchtime 20x ./alerts/builder/
func BenchmarkPreview30Days(b *testing.B) {
	dbtest.EachB(b, func(b *testing.B, d *db.DB) {
		e := newBenchEnv(b, d)
		ctx := viewer.System(context.Background())
		now := time.Now()
		t0, err := d.Client.Terminal.Get(ctx, e.fx.TerminalIDs[0])
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		staff := []string{"山田", "佐藤", "鈴木", "高橋", "田中"}
		items := []string{"コーラ", "おにぎり", "お茶", "ﾊﾟﾝ", "ＣＯＦＦＥＥ"}
		for done := 0; done < previewSize; {
			n := min(200, previewSize-done) // SQLite: at most 32766 variables a statement
			bulk := make([]*ent.JournalEntryCreate, n)
			for i := range n {
				k := journalentry.KindPAYMENT
				total := int64(100 + rng.IntN(20000))
				if rng.IntN(10) == 0 {
					k, total = journalentry.KindCANCEL, -total
				}
				at := now.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
				term := e.fx.TerminalIDs[rng.IntN(3)]
				bulk[i] = d.Client.JournalEntry.Create().SetAccountID(e.acct).SetConnectionID(t0.ConnectionID).
					SetTerminalID(term).SetShopID(e.fx.ShopID).SetKind(k).SetOccurredAt(at).SetReceivedAt(at).
					SetExternalID(fmt.Sprintf("x%d", done+i)).SetStaffName(staff[rng.IntN(len(staff))]).SetTotal(total).
					SetPaymentMethod("現金").SetItems([]schematype.Item{{Name: items[rng.IntN(len(items))], Quantity: 1 + rng.IntN(3), Amount: total}})
			}
			if err := d.Client.JournalEntry.CreateBulk(bulk...).Exec(ctx); err != nil {
				b.Fatal(err)
			}
			done += n
		}
		for _, c := range []struct {
			name string
			cond schematype.RuleConditions
		}{
			{"sql-narrowed", schematype.RuleConditions{Kinds: []string{"CANCEL"}, AmountMin: p(int64(15000))}},
			{"go-only", schematype.RuleConditions{Item: &schematype.ItemCondition{NameContains: "ｺｰﾗ", QuantityMin: p(2)}, TimeFrom: "22:00", TimeTo: "06:00"}},
			{"burst", schematype.RuleConditions{Kinds: []string{"CANCEL"}, Burst: &schematype.WindowCondition{Count: 3, WindowSeconds: 3600}}},
		} {
			b.Run(c.name, func(b *testing.B) {
				var times []time.Duration
				var res builder.PreviewResult
				for b.Loop() {
					t := time.Now()
					var err error
					res, err = builder.Preview(ctx, d.Client, builder.PreviewInput{Account: e.acct, Conditions: c.cond, Days: 30, Now: now})
					if err != nil {
						b.Fatal(err)
					}
					times = append(times, time.Since(t))
				}
				slices.Sort(times)
				b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(times[min(len(times)-1, len(times)*99/100)].Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(res.Scanned), "scanned")
				b.ReportMetric(float64(res.Hits), "hits")
			})
		}
	})
}
