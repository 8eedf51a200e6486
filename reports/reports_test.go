package reports_test

import (
	"context"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports"
	"github.com/regicam/regicam/viewer"
)

type env struct {
	db    *db.DB
	acct  pulid.ID
	fx    testenv.Fixture
	svc   *reports.Service
	ctx   context.Context
	v     viewer.Viewer
	conn  pulid.ID
	extID int
}

func open(t *testing.T, b testenv.Backend) *env {
	t.Helper()
	ctx := context.Background()
	db := dbtest.Open(t, b.DatabaseURL)
	acc, err := db.Client.Account.Create().SetName("テスト").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fx := testenv.NewFixture(t, db.Client, acc.ID)
	term, err := db.Client.Terminal.Get(ctx, fx.TerminalIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	v := viewer.Viewer{AccountID: acc.ID, Role: viewer.RoleOwner, Scopes: []viewer.Scope{viewer.ScopeJournalRead}}
	return &env{db: db, acct: acc.ID, fx: fx, conn: term.ConnectionID, v: v, ctx: viewer.NewContext(ctx, v),
		svc: &reports.Service{Client: db.Client, DB: db.SQL, Dialect: db.Dialect}}
}

var jst = time.FixedZone("JST", 9*3600)

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, jst)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// add stores an entry directly (ingest rules are not under test here).
func (e *env) add(t *testing.T, kind journalentry.Kind, when time.Time, total int64, staff, pay string, related *ent.JournalEntry) *ent.JournalEntry {
	t.Helper()
	e.extID++
	c := e.db.Client.JournalEntry.Create().SetAccountID(e.acct).SetConnectionID(e.conn).SetTerminalID(e.fx.TerminalIDs[0]).
		SetShopID(e.fx.ShopID).SetKind(kind).SetOccurredAt(when).SetExternalID(string(rune('a'+e.extID%26)) + time.Now().Format("150405.000000000")).
		SetTotal(total).SetStaffName(staff).SetPaymentMethod(pay)
	if related != nil {
		c.SetRelatedID(related.ID)
	}
	en, err := c.Save(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return en
}

// fixture: a sale at 23:59:59 JST cancelled at 00:00:00 JST the next day,
// i.e. on either side of 15:00 UTC.
func (e *env) fixture(t *testing.T) {
	e.add(t, journalentry.KindPAYMENT, at("2026-11-21 23:59:59"), 700, "山田", "現金", nil) // the day before
	e.add(t, journalentry.KindPAYMENT, at("2026-11-22 10:00:00"), 1000, "山田", "現金", nil)
	late := e.add(t, journalentry.KindPAYMENT, at("2026-11-22 23:59:59"), 3000, "佐藤", "クレジットカード", nil)
	e.add(t, journalentry.KindCANCEL, at("2026-11-23 00:00:00"), 3000, "佐藤", "クレジットカード", late)
	e.add(t, journalentry.KindPAYMENT, at("2026-11-23 09:30:00"), 500, "山田", "現金", nil)
	e.add(t, journalentry.KindMODIFY, at("2026-11-23 09:40:00"), 600, "山田", "現金", nil)
	e.add(t, journalentry.KindDELETE, at("2026-11-23 09:50:00"), 500, "山田", "現金", nil)
	e.add(t, journalentry.KindOTHER, at("2026-11-23 10:00:00"), 2000, "山田", "", nil)     // 入金: no figure
	e.add(t, journalentry.KindPAYMENT, at("2026-11-24 00:00:00"), 9000, "山田", "現金", nil) // the day after
}

type fig struct {
	key                                 string
	sales, refunds, net, sc, rc, mc, dc int64
}

func figOf(r reports.Row) fig {
	return fig{r.Key, r.Sales, r.Refunds, r.Net(), r.SalesCount, r.RefundCount, r.ModifyCount, r.DeleteCount}
}

func check(t *testing.T, sum *reports.Summary, want []fig, total fig) {
	t.Helper()
	if len(sum.Rows) != len(want) {
		t.Fatalf("rows: got %d %+v, want %d %+v", len(sum.Rows), sum.Rows, len(want), want)
	}
	for i, r := range sum.Rows {
		if got := figOf(r); got != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, got, want[i])
		}
	}
	total.key = "total"
	if got := figOf(sum.Total); got != total {
		t.Errorf("total: got %+v, want %+v", got, total)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSummaryFigures(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		e.fixture(t)
		from, to := at("2026-11-22 00:00:00"), at("2026-11-24 00:00:00")
		run := func(g reports.GroupBy, f journal.Filter) *reports.Summary {
			t.Helper()
			sum, err := e.svc.Summarize(e.ctx, e.v, reports.Request{Filter: f, From: &from, To: &to, GroupBy: g})
			if err != nil {
				t.Fatal(err)
			}
			return sum
		}
		total := fig{sales: 4500, refunds: 3000, net: 1500, sc: 3, rc: 1, mc: 1, dc: 1}

		t.Run("day: a late cancel is a refund on its own day", func(t *testing.T) {
			sum := run(reports.ByDay, journal.Filter{})
			check(t, sum, []fig{
				{"2026-11-22", 4000, 0, 4000, 2, 0, 0, 0},
				{"2026-11-23", 500, 3000, -2500, 1, 1, 1, 1},
			}, total)
			if sum.Timezone != "Asia/Tokyo" || !sum.Rows[1].Start.Equal(at("2026-11-23 00:00:00")) {
				t.Errorf("zone %s start %v", sum.Timezone, sum.Rows[1].Start)
			}
		})
		t.Run("hour", func(t *testing.T) {
			check(t, run(reports.ByHour, journal.Filter{}), []fig{
				{"2026-11-22T10", 1000, 0, 1000, 1, 0, 0, 0},
				{"2026-11-22T23", 3000, 0, 3000, 1, 0, 0, 0},
				{"2026-11-23T00", 0, 3000, -3000, 0, 1, 0, 0},
				{"2026-11-23T09", 500, 0, 500, 1, 0, 1, 1},
			}, total)
		})
		t.Run("staff", func(t *testing.T) {
			sum := run(reports.ByStaff, journal.Filter{})
			check(t, sum, []fig{
				{"佐藤", 3000, 3000, 0, 1, 1, 0, 0},
				{"山田", 1500, 0, 1500, 2, 0, 1, 1},
			}, total)
		})
		t.Run("payment method", func(t *testing.T) {
			check(t, run(reports.ByPaymentMethod, journal.Filter{}), []fig{
				{"クレジットカード", 3000, 3000, 0, 1, 1, 0, 0},
				{"現金", 1500, 0, 1500, 2, 0, 1, 1},
			}, total)
		})
		t.Run("shop, with the search filter", func(t *testing.T) {
			sum := run(reports.ByShop, journal.Filter{PaymentMethods: []string{"現金"}, MinTotal: ptr(int64(600))})
			check(t, sum, []fig{{string(e.fx.ShopID), 1000, 0, 1000, 1, 0, 1, 0}}, fig{sales: 1000, net: 1000, sc: 1, mc: 1})
			if sum.Rows[0].Label != "渋谷店" {
				t.Errorf("label %q", sum.Rows[0].Label)
			}
		})
		t.Run("terminal", func(t *testing.T) {
			sum := run(reports.ByTerminal, journal.Filter{})
			if len(sum.Rows) != 1 || sum.Rows[0].Label != "レジ1" {
				t.Fatalf("rows %+v", sum.Rows)
			}
		})
		t.Run("period shortcuts in JST", func(t *testing.T) {
			// 00:30 JST on the 23rd is still the 22nd in UTC.
			e.svc.Now = func() time.Time { return at("2026-11-23 00:30:00") }
			defer func() { e.svc.Now = nil }()
			for p, want := range map[reports.Period]fig{
				reports.Today:     {"total", 500, 3000, -2500, 1, 1, 1, 1},
				reports.Yesterday: {"total", 4000, 0, 4000, 2, 0, 0, 0},
				reports.ThisMonth: {"total", 14200, 3000, 11200, 5, 1, 1, 1},
			} {
				sum, err := e.svc.Summarize(e.ctx, e.v, reports.Request{Period: p, GroupBy: reports.ByDay})
				if err != nil {
					t.Fatal(err)
				}
				if got := figOf(sum.Total); got != want {
					t.Errorf("%s: got %+v, want %+v", p, got, want)
				}
			}
		})
	})
}

func TestSummaryDSTZoneAgreesOnBothBackends(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		if err := e.db.Client.Shop.UpdateOneID(e.fx.ShopID).SetTimezone("America/New_York").Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		// US DST ends 2026-11-01 02:00 EDT (06:00 UTC).
		utc := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
		e.add(t, journalentry.KindPAYMENT, utc("2026-11-01T03:30:00Z"), 1, "a", "", nil) // 10-31 23:30 EDT
		e.add(t, journalentry.KindPAYMENT, utc("2026-11-01T04:30:00Z"), 2, "a", "", nil) // 11-01 00:30 EDT
		e.add(t, journalentry.KindPAYMENT, utc("2026-11-02T04:30:00Z"), 4, "a", "", nil) // 11-01 23:30 EST
		e.add(t, journalentry.KindPAYMENT, utc("2026-11-02T05:30:00Z"), 8, "a", "", nil) // 11-02 00:30 EST
		from, to := utc("2026-10-25T00:00:00Z"), utc("2026-11-08T00:00:00Z")
		sum, err := e.svc.Summarize(e.ctx, e.v, reports.Request{From: &from, To: &to, GroupBy: reports.ByDay})
		if err != nil {
			t.Fatal(err)
		}
		check(t, sum, []fig{
			{"2026-10-31", 1, 0, 1, 1, 0, 0, 0},
			{"2026-11-01", 6, 0, 6, 2, 0, 0, 0},
			{"2026-11-02", 8, 0, 8, 1, 0, 0, 0},
		}, fig{sales: 15, net: 15, sc: 4})
	})
}

func TestSummaryLimitsAndAccess(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		e.fixture(t)
		from := at("2026-01-01 00:00:00")
		for _, c := range []struct {
			g     reports.GroupBy
			days  int
			field string
		}{{reports.ByHour, 31, ""}, {reports.ByHour, 32, "to"}, {reports.ByDay, 400, ""}, {reports.ByDay, 401, "to"}, {reports.ByStaff, 401, "to"}} {
			to := from.AddDate(0, 0, c.days)
			_, err := e.svc.Summarize(e.ctx, e.v, reports.Request{From: &from, To: &to, GroupBy: c.g})
			ae, _ := apperr.As(err)
			switch {
			case c.field == "" && err != nil:
				t.Errorf("%s over %d days: %v", c.g, c.days, err)
			case c.field != "" && (ae == nil || ae.Code != apperr.BadUserInput || ae.Field != c.field):
				t.Errorf("%s over %d days: got %v, want BAD_USER_INPUT on %s", c.g, c.days, err, c.field)
			}
		}
		to := at("2026-11-24 00:00:00")
		if _, err := e.svc.Summarize(e.ctx, e.v, reports.Request{From: &from, To: &to, Period: reports.Today, GroupBy: reports.ByDay}); err == nil {
			t.Error("period with from/to accepted")
		}

		// STAFF: another shop is not found; a group they belong to is visible,
		// one they do not belong to is not.
		ctx := context.Background()
		other, _ := e.db.Client.Shop.Create().SetAccountID(e.acct).SetName("新宿店").Save(ctx)
		u, err := e.db.Client.User.Create().SetAccountID(e.acct).SetEmail("staff@example.com").SetName("スタッフ").SetRole("STAFF").SetPasswordHash("x").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mine, _ := e.db.Client.ShopGroup.Create().SetAccountID(e.acct).SetName("東京").AddShopIDs(e.fx.ShopID).AddUserIDs(u.ID).Save(ctx)
		theirs, _ := e.db.Client.ShopGroup.Create().SetAccountID(e.acct).SetName("大阪").AddShopIDs(other.ID).Save(ctx)
		staff := viewer.Viewer{AccountID: e.acct, UserID: u.ID, Role: viewer.RoleStaff, Restricted: true, ShopIDs: []pulid.ID{e.fx.ShopID},
			Scopes: []viewer.Scope{viewer.ScopeJournalRead}}
		sctx := viewer.NewContext(ctx, staff)
		f, t2 := at("2026-11-22 00:00:00"), at("2026-11-24 00:00:00")
		_, err = e.svc.Summarize(sctx, staff, reports.Request{Filter: journal.Filter{ShopIDs: []pulid.ID{other.ID}}, From: &f, To: &t2, GroupBy: reports.ByDay})
		if ae, _ := apperr.As(err); ae == nil || ae.Code != apperr.NotFound {
			t.Errorf("staff, other shop: %v", err)
		}
		_, err = e.svc.Summarize(sctx, staff, reports.Request{ShopGroupID: &theirs.ID, From: &f, To: &t2, GroupBy: reports.ByDay})
		if ae, _ := apperr.As(err); ae == nil || ae.Code != apperr.NotFound || ae.Field != "shopGroupID" {
			t.Errorf("staff, foreign group: %v", err)
		}
		sum, err := e.svc.Summarize(sctx, staff, reports.Request{ShopGroupID: &mine.ID, From: &f, To: &t2, GroupBy: reports.ByDay})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Total.Sales != 4500 {
			t.Errorf("group total %+v", sum.Total)
		}
		// The owner sees the other group, which has no entries.
		sum, err = e.svc.Summarize(e.ctx, e.v, reports.Request{ShopGroupID: &theirs.ID, From: &f, To: &t2, GroupBy: reports.ByDay})
		if err != nil || len(sum.Rows) != 0 {
			t.Errorf("owner, empty group: %v %+v", err, sum)
		}
	})
}
