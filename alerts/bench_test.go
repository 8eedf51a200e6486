package alerts_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
)

// BenchmarkIngestWithRules is the cost rule evaluation adds to ingest: the
// same sale+cancel pairs ingested with no observer (baseline), with the
// observer but no rules, and with one rule of each entry-based kind (none
// of which fires, so no alert writes are counted). ns/op is per entry.
//
//	go test -run '^$' -bench IngestWithRules -benchtime 2000x ./alerts/
func BenchmarkIngestWithRules(b *testing.B) {
	dbtest.EachB(b, func(b *testing.B, d *db.DB) {
		e := newEnv(b, d)
		run := func(b *testing.B, observer ingest.Observer) {
			e.in.Observer = observer
			at := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
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
						Kind: k, OccurredAt: when, StaffName: "山田", Total: 1000, ReceiptNo: "1"})
					if res.Err != nil {
						b.Fatal(res.Err)
					}
				}
			}
		}
		b.Run("baseline-no-observer", func(b *testing.B) { run(b, nil) })
		b.Run("observer-no-rules", func(b *testing.B) { run(b, e.svc) })
		for _, in := range []alerts.Input{
			{Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(1_000_000))},
			{Kind: alertrule.KindQUICK_CANCEL, WindowSeconds: ptr(1)},
			{Kind: alertrule.KindCANCEL_BURST, WindowSeconds: ptr(600), Count: ptr(1000)},
			{Kind: alertrule.KindOUTSIDE_HOURS, OpensAt: ptr("00:00"), ClosesAt: ptr("23:59")},
			{Kind: alertrule.KindUNLINKED_TERMINAL},
		} {
			in.Name = string(in.Kind)
			if _, _, err := e.svc.Create(e.ctx, in); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("observer-five-rules", func(b *testing.B) { run(b, e.svc) })
	})
}
