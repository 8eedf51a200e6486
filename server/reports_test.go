package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
)

func TestSalesSummaryOverGraphQL(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		s := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, s.DB.Client, s.AccountID)
		sale := time.Date(2026, 11, 22, 14, 59, 59, 0, time.UTC) // 23:59:59 JST
		for _, r := range []ingest.Receipt{
			{ExternalID: "a", Kind: journalentry.KindPAYMENT, OccurredAt: sale, Total: 3000, PaymentMethod: "現金"},
			{ExternalID: "a", Kind: journalentry.KindCANCEL, OccurredAt: sale.Add(time.Second), Total: 3000, PaymentMethod: "現金"},
		} {
			r.TerminalID = fx.TerminalIDs[0]
			if res := s.Ingester.Ingest(context.Background(), s.AccountID, r); res.Err != nil {
				t.Fatal(res.Err)
			}
		}
		var out struct {
			SalesSummary struct {
				Timezone string
				Rows     []struct {
					Key                     string
					Sales, Refunds, Net     int
					SalesCount, RefundCount int
				}
				Total struct{ Net int }
			}
		}
		s.MustQuery(t, `query { salesSummary(from: "2026-11-22T00:00:00+09:00", to: "2026-11-24T00:00:00+09:00", groupBy: DAY, where: {paymentMethods: ["現金"]}) {
			timezone rows { key sales refunds net salesCount refundCount } total { net } } }`, nil, &out)
		rows := out.SalesSummary.Rows
		if out.SalesSummary.Timezone != "Asia/Tokyo" || len(rows) != 2 || rows[0].Key != "2026-11-22" || rows[0].Sales != 3000 ||
			rows[1].Key != "2026-11-23" || rows[1].Refunds != 3000 || rows[1].Net != -3000 || out.SalesSummary.Total.Net != 0 {
			t.Fatalf("summary %+v", out)
		}
		r := s.Query(t, `query { salesSummary(from: "2026-01-01T00:00:00Z", to: "2026-02-02T00:00:00Z", groupBy: HOUR) { total { net } } }`, nil)
		if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != "to" {
			t.Errorf("HOUR over 32 days: %+v", r.Errors)
		}
		r = s.As(testenv.Anonymous).Query(t, `query { salesSummary(period: TODAY, groupBy: SHOP) { total { net } } }`, nil)
		if len(r.Errors) != 1 || r.Errors[0].Code() != "UNAUTHENTICATED" {
			t.Errorf("anonymous: %+v", r.Errors)
		}
	})
}
