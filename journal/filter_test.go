package journal_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/journal"
)

// The list query (SQL) and the live stream (Match) must select the same
// entries for every filter, on both databases.
func TestFilterSQLAndMatchAgree(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		methods := []string{"現金", "クレジットカード", "交通系IC"}
		staff := []string{"山田", "佐藤", "Suzuki"}
		cards := []string{"", "411111******11", "530000******42"}
		items := []string{"ブレンドコーヒー", "チーズケーキ", "100%ジュース", "A_B"}
		for i := range 40 {
			r := ingest.Receipt{TerminalID: fx.TerminalIDs[i%3], ExternalID: fmt.Sprintf("x-%d", i),
				Kind: journalentry.KindPAYMENT, OccurredAt: base.Add(time.Duration(i) * time.Minute),
				ReceiptNo: fmt.Sprintf("R%04d", i), RegisterNo: fmt.Sprint(i % 3), StaffID: fmt.Sprint(100 + i%3),
				StaffName: staff[i%3], Total: int64(100 * i), Deposit: int64(100 * i), PaymentMethod: methods[i%3],
				MaskedCard: cards[i%3], Items: []schematype.Item{{Name: items[i%4], Quantity: 1, Amount: int64(100 * i)}}}
			if res := srv.Ingester.Ingest(ctx, srv.AccountID, r); res.Err != nil {
				t.Fatal(res.Err)
			}
		}
		i64 := func(v int64) *int64 { return &v }
		from := base.Add(10 * time.Minute)
		for name, f := range map[string]journal.Filter{
			"amount range":     {MinTotal: i64(500), MaxTotal: i64(1500)},
			"payment methods":  {PaymentMethods: []string{"現金", "交通系IC"}},
			"item text":        {ItemText: "ケーキ"},
			"item text with %": {ItemText: "100%"},
			"item text with _": {ItemText: "a_b"},
			"card first 6":     {MaskedCard: "411111"},
			"card last 2":      {MaskedCard: "42"},
			"card whole":       {MaskedCard: "530000******42"},
			"external id":      {ExternalID: "x-7"},
			"staff by name":    {Staff: "佐藤"},
			"staff by id":      {Staff: "102"},
			"search ascii":     {Search: "suzuki"},
			"combined":         {Kinds: []journalentry.Kind{journalentry.KindPAYMENT}, MinTotal: i64(1000), PaymentMethods: []string{"現金"}, From: &from},
		} {
			f.AccountID = srv.AccountID
			if err := f.Validate("where"); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			page, err := journal.List(ctx, srv.DB.Client, f, 200, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var bySQL, byMatch []string
			for _, e := range page.Edges {
				bySQL = append(bySQL, e.Entry.ExternalID)
			}
			all, _ := srv.DB.Client.JournalEntry.Query().All(ctx)
			for _, e := range all {
				if f.Match(e) {
					byMatch = append(byMatch, e.ExternalID)
				}
			}
			sort.Strings(bySQL)
			sort.Strings(byMatch)
			if fmt.Sprint(bySQL) != fmt.Sprint(byMatch) || len(bySQL) == 0 {
				t.Errorf("%s: SQL %v, Match %v", name, bySQL, byMatch)
			}
		}
		bad := journal.Filter{MinTotal: i64(10), MaxTotal: i64(5)}
		if err := bad.Validate("where"); err == nil {
			t.Error("minTotal > maxTotal accepted")
		}
		bad = journal.Filter{MaskedCard: "4111-11"}
		if err := bad.Validate("where"); err == nil {
			t.Error("malformed card filter accepted")
		}
	})
}
