package journal_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/viewer"
)

// The search box finds a receipt whatever width the POS stored it in and
// whatever width the owner typed: full-width digits, half-width katakana,
// kana with voiced marks. The list (SQL, on both databases) and the live
// stream (Match) must pick the same entries.
func TestSearchIgnoresWidth(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := viewer.System(t.Context())
		acc, err := d.Client.Account.Create().SetName("search").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fx := testenv.NewFixture(t, d.Client, acc.ID)
		term, err := d.Client.Terminal.Get(ctx, fx.TerminalIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		// receipt no, register no, staff name as different POSes write them.
		rows := [][3]string{
			{"9", "1", "山田"},
			{"0010", "2", "ｶﾀｵｶ"},  // half-width katakana
			{"0011", "3", "カタオカ"},  // full-width katakana
			{"0012", "1", "ﾀﾞｲｽｹ"}, // half-width with a separate voiced mark
			// Full-width digits; full-width letters in the case typed (SQLite's
			// LOWER folds ASCII only, so ｓｕｚｕｋｉ cannot find ＳＵＺＵＫＩ there).
			{"０１３", "２", "ｓｕｚｕｋｉ"},
			{"0014", "1", "佐藤"},
		}
		for i, r := range rows {
			err := d.Client.JournalEntry.Create().SetAccountID(acc.ID).SetConnectionID(term.ConnectionID).
				SetTerminalID(term.ID).SetShopID(fx.ShopID).SetKind(journalentry.KindPAYMENT).
				SetOccurredAt(base.Add(time.Duration(i) * time.Minute)).SetExternalID(fmt.Sprint("s-", i)).
				SetReceiptNo(r[0]).SetRegisterNo(r[1]).SetStaffName(r[2]).Exec(ctx)
			if err != nil {
				t.Fatal(err)
			}
		}
		all, err := d.Client.JournalEntry.Query().All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			q    string
			want []string // receipt numbers
		}{
			{"９", []string{"9"}},
			{"9", []string{"9"}},
			{"ｶﾀｵｶ", []string{"0010", "0011"}},
			{"カタオカ", []string{"0010", "0011"}},
			{"ｶタオ", []string{"0010", "0011"}}, // mixed widths typed: NFKC makes one
			{"ダイスケ", []string{"0012"}},
			{"ﾀﾞｲｽｹ", []string{"0012"}},
			{"013", []string{"０１３"}},
			{"ｓｕｚｕｋｉ", []string{"０１３"}},
			{"０１１", []string{"0011"}},
			{"佐藤", []string{"0014"}},
		} {
			f := journal.Filter{AccountID: acc.ID, Search: c.q}
			if err := f.Validate("where"); err != nil {
				t.Fatalf("%q: %v", c.q, err)
			}
			page, err := journal.List(ctx, d.Client, f, 50, nil, nil)
			if err != nil {
				t.Fatalf("%q: %v", c.q, err)
			}
			var bySQL, byMatch []string
			for _, e := range page.Edges {
				bySQL = append(bySQL, e.Entry.ReceiptNo)
			}
			for _, e := range all {
				if f.Match(e) {
					byMatch = append(byMatch, e.ReceiptNo)
				}
			}
			slices.Sort(bySQL)
			slices.Sort(byMatch)
			if !slices.Equal(bySQL, c.want) || !slices.Equal(byMatch, c.want) {
				t.Errorf("search %q: SQL %q, Match %q; want %q", c.q, bySQL, byMatch, c.want)
			}
		}
	})
}

// A search of MaxSearchLen characters is accepted whatever its width, and its
// variants stay distinct and few.
func TestSearchVariants(t *testing.T) {
	for q, want := range map[string][]string{
		"9":    {"9", "９"},
		"９":    {"９", "9"},
		"ｶﾀｵｶ": {"ｶﾀｵｶ", "カタオカ"},
		"ダイ":   {"ダイ", "ﾀﾞｲ"},
		"山田":   {"山田"},
	} {
		if got := journal.SearchVariants(q); !slices.Equal(got, want) {
			t.Errorf("SearchVariants(%q) = %q, want %q", q, got, want)
		}
	}
	long := journal.Filter{Search: string(slices.Repeat([]rune("ダ"), journal.MaxSearchLen))}
	if err := long.Validate("where"); err != nil {
		t.Errorf("%d full-width kana: %v", journal.MaxSearchLen, err)
	}
	tooLong := journal.Filter{Search: string(slices.Repeat([]rune("９"), journal.MaxSearchLen+1))}
	if err := tooLong.Validate("where"); err == nil {
		t.Errorf("%d characters accepted", journal.MaxSearchLen+1)
	}
}

func TestSearchVariantsStayBounded(t *testing.T) {
	q := strings.Repeat("ﷺ", journal.MaxSearchLen) // NFKC: 18 characters each
	for _, v := range journal.SearchVariants(q) {
		if n := utf8.RuneCountInString(v); n > 2*journal.MaxSearchLen {
			t.Fatalf("a variant of %d characters reaches the query", n)
		}
	}
	if vs := journal.SearchVariants("９"); !slices.Contains(vs, "9") {
		t.Fatalf("variants of ９: %q", vs)
	}
}

func TestCountStopsAtMaxCount(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := viewer.System(t.Context())
		acc, err := d.Client.Account.Create().SetName("count").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fx := testenv.NewFixture(t, d.Client, acc.ID)
		term, err := d.Client.Terminal.Get(ctx, fx.TerminalIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		base := time.Now().Add(-time.Hour).UTC()
		const n = journal.MaxCount + 2
		for start := 0; start < n; start += 500 {
			var bulk []*ent.JournalEntryCreate
			for i := start; i < min(n, start+500); i++ {
				staff := "Kato"
				if i%400 == 0 {
					staff = "ｓａｔｏ" // three of them, typed full-width
				}
				bulk = append(bulk, d.Client.JournalEntry.Create().SetAccountID(acc.ID).SetConnectionID(term.ConnectionID).
					SetTerminalID(term.ID).SetShopID(fx.ShopID).SetKind(journalentry.KindPAYMENT).
					SetOccurredAt(base.Add(time.Duration(i)*time.Millisecond)).SetExternalID(fmt.Sprint("c-", i)).
					SetReceiptNo(fmt.Sprint(i)).SetStaffName(staff))
			}
			if err := d.Client.JournalEntry.CreateBulk(bulk...).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			search string
			n      int
			more   bool
		}{{"", journal.MaxCount, true}, {"sato", 3, false}, {"ZZZ", 0, false}} {
			f := journal.Filter{AccountID: acc.ID, Search: tc.search}
			if err := f.Validate("where"); err != nil {
				t.Fatal(err)
			}
			got, more, err := journal.Count(ctx, d.Client, f)
			if err != nil || got != tc.n || more != tc.more {
				t.Errorf("Count(search %q) = %d, %v, %v; want %d, %v", tc.search, got, more, err, tc.n, tc.more)
			}
		}
	})
}
