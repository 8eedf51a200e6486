package graph_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/regicam/regicam/cardmatch"
	entcardmatch "github.com/regicam/regicam/ent/cardmatch"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/internal/testclock"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

const soQuery = `query($in: StaffOutlierInput!) { staffOutliers(input: $in) {
	threshold staff { staffName sales flagged entriesWhere rates { metric count per100 score flagged } }
	peers { metric median mad } } }`

type soRate struct {
	Metric  string
	Count   int
	Per100  float64
	Score   float64
	Flagged bool
}

type soReport struct {
	StaffOutliers struct {
		Threshold float64
		Staff     []struct {
			StaffName    string
			Sales        int
			Flagged      bool
			EntriesWhere map[string]any
			Rates        []soRate
		}
		Peers []struct {
			Metric      string
			Median, Mad float64
		}
	}
}

// TestStaffOutliers ingests, as a POS partner would, a period of five
// peers with 10 sales each and one newcomer with 3, and checks the scores
// worked out by hand (minSales 10, threshold 3.5 by default):
//
//	staff  sales cancels modifies refunds discounts
//	青木    10    1       0        0       2
//	伊藤    10    2       0        1       2
//	上田    10    2       0        0       2
//	江藤    10    3       1        0       2
//	大野    10    8       1        0       2
//	加藤     3    3       0        0       0   (not a peer: 3 < 10 sales)
//
// CANCEL per 100: 10 20 20 30 80 → median 20; |dev| 10 0 0 10 60 → MAD
// 10; scale 1.4826 × 10 = 14.826. 大野: 60 / 14.826 = 4.0469 > 3.5,
// flagged; 江藤 0.6745, 青木 −0.6745; 加藤 (100 − 20) / 14.826 = 5.3959
// but too few sales to be flagged.
// MODIFY per 100: 0 0 0 10 10 → median 0, |dev| 0 0 0 10 10 → MAD 0:
// the scale falls back to 1.2533 × mean |dev| = 1.2533 × 4 = 5.0132;
// 江藤 and 大野 10 / 5.0132 = 1.9947, not flagged.
// REFUND per 100 (minus sales; they are not sales): 0 10 0 0 0 → MAD 0,
// mean |dev| 2, scale 2.5066; 伊藤 10 / 2.5066 = 3.9895, flagged.
// DISCOUNT per 100: 20 for everyone → MAD 0 and mean |dev| 0: scores 0.
// DELETE: none → scores 0.
func TestStaffOutliers(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		_, partner := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalWrite, viewer.ScopeJournalRead)
		from := time.Now().Add(-48 * time.Hour).Truncate(time.Hour).UTC()
		to := from.Add(24 * time.Hour)
		term := fx.TerminalIDs[0]
		type plan struct {
			name                                      string
			sales, cancels, modifies, refunds, discnt int
		}
		plans := []plan{
			{"青木", 10, 1, 0, 0, 2}, {"伊藤", 10, 2, 0, 1, 2}, {"上田", 10, 2, 0, 0, 2},
			{"江藤", 10, 3, 1, 0, 2}, {"大野", 10, 8, 1, 0, 2}, {"加藤", 3, 3, 0, 0, 0},
		}
		at := from.Add(time.Minute)
		next := func() time.Time { at = at.Add(time.Minute); return at }
		for si, p := range plans {
			var items []map[string]any
			for i := range p.sales {
				ext := fmt.Sprintf("S%d-%d", si, i)
				extra := map[string]any{"staffName": p.name}
				if i < p.discnt {
					extra["items"] = []map[string]any{{"name": "弁当", "quantity": 1, "amount": 1200}, {"name": "値引", "quantity": 1, "amount": -200}}
				}
				items = append(items, tjReceipt(term, ext, "PAYMENT", next(), extra))
			}
			tjMustIngest(t, partner, items...)
			items = nil
			for i := range p.cancels {
				// Each cancel is of one of the staff's own sales.
				items = append(items, tjReceipt(term, fmt.Sprintf("S%d-%d", si, i), "CANCEL", next(), map[string]any{"staffName": p.name}))
			}
			for i := range p.modifies {
				items = append(items, tjReceipt(term, fmt.Sprintf("S%d-%d", si, p.sales-1-i), "MODIFY", next(), map[string]any{"staffName": p.name, "total": 900, "deposit": 900}))
			}
			for i := range p.refunds {
				items = append(items, tjReceipt(term, fmt.Sprintf("R%d-%d", si, i), "PAYMENT", next(), map[string]any{"staffName": p.name, "total": -1000, "deposit": 0}))
			}
			if len(items) > 0 {
				tjMustIngest(t, partner, items...)
			}
		}
		// Outside the period, and without a staff name: not counted.
		tjMustIngest(t, partner,
			tjReceipt(term, "early", "CANCEL", from.Add(-time.Hour), map[string]any{"staffName": "大野"}),
			tjReceipt(term, "nobody", "CANCEL", next(), map[string]any{"staffName": ""}))

		var out soReport
		in := map[string]any{"from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339), "minSales": 10}
		srv.MustQuery(t, soQuery, map[string]any{"in": in}, &out)
		rep := out.StaffOutliers
		if rep.Threshold != 3.5 {
			t.Errorf("threshold %v, want the default 3.5", rep.Threshold)
		}
		near := func(a, b float64) bool { return math.Abs(a-b) < 5e-4 }
		wantPeers := map[string][2]float64{"CANCEL": {20, 10}, "MODIFY": {0, 0}, "DELETE": {0, 0}, "REFUND": {0, 0}, "DISCOUNT": {20, 0}}
		for _, p := range rep.Peers {
			w := wantPeers[p.Metric]
			if !near(p.Median, w[0]) || !near(p.Mad, w[1]) {
				t.Errorf("peers %s: median %v MAD %v, want %v %v", p.Metric, p.Median, p.Mad, w[0], w[1])
			}
		}
		if len(rep.Peers) != 5 {
			t.Errorf("%d peer metrics, want 5", len(rep.Peers))
		}
		type want struct {
			sales   int
			flagged bool
			scores  map[string]float64
			counts  map[string]int
			flags   map[string]bool
		}
		wants := map[string]want{
			"青木": {10, false, map[string]float64{"CANCEL": -0.6745, "MODIFY": 0, "REFUND": 0, "DISCOUNT": 0, "DELETE": 0}, map[string]int{"CANCEL": 1, "DISCOUNT": 2}, nil},
			"伊藤": {10, true, map[string]float64{"CANCEL": 0, "REFUND": 3.9895}, map[string]int{"CANCEL": 2, "REFUND": 1, "DISCOUNT": 2}, map[string]bool{"REFUND": true}},
			"上田": {10, false, map[string]float64{"CANCEL": 0}, map[string]int{"CANCEL": 2, "DISCOUNT": 2}, nil},
			"江藤": {10, false, map[string]float64{"CANCEL": 0.6745, "MODIFY": 1.9947}, map[string]int{"CANCEL": 3, "MODIFY": 1, "DISCOUNT": 2}, nil},
			"大野": {10, true, map[string]float64{"CANCEL": 4.0469, "MODIFY": 1.9947}, map[string]int{"CANCEL": 8, "MODIFY": 1, "DISCOUNT": 2}, map[string]bool{"CANCEL": true}},
			"加藤": {3, false, map[string]float64{"CANCEL": 5.3959}, map[string]int{"CANCEL": 3}, nil},
		}
		if len(rep.Staff) != len(wants) {
			t.Fatalf("%d staff, want %d: %+v", len(rep.Staff), len(wants), rep.Staff)
		}
		for _, s := range rep.Staff {
			w, ok := wants[s.StaffName]
			if !ok {
				t.Errorf("unexpected staff %q", s.StaffName)
				continue
			}
			if s.Sales != w.sales || s.Flagged != w.flagged {
				t.Errorf("%s: sales %d flagged %v, want %d %v", s.StaffName, s.Sales, s.Flagged, w.sales, w.flagged)
			}
			for _, r := range s.Rates {
				if sc, ok := w.scores[r.Metric]; ok && !near(r.Score, sc) {
					t.Errorf("%s %s: score %.4f, want %.4f", s.StaffName, r.Metric, r.Score, sc)
				}
				if r.Count != w.counts[r.Metric] {
					t.Errorf("%s %s: count %d, want %d", s.StaffName, r.Metric, r.Count, w.counts[r.Metric])
				}
				if r.Flagged != w.flags[r.Metric] {
					t.Errorf("%s %s: flagged %v (score %.4f)", s.StaffName, r.Metric, r.Flagged, r.Score)
				}
				if want := float64(r.Count) * 100 / float64(s.Sales); !near(r.Per100, want) {
					t.Errorf("%s %s: per100 %v, want %v", s.StaffName, r.Metric, r.Per100, want)
				}
			}
		}

		// The drill-down lists 大野's entries of the period: 10 sales, 8
		// cancels and 1 correction (not the early cancel).
		var 大野 map[string]any
		for _, s := range rep.Staff {
			if s.StaffName == "大野" {
				大野 = s.EntriesWhere
			}
		}
		var list struct {
			Journal struct{ TotalCount struct{ Count int } }
		}
		srv.MustQuery(t, `query($w: JournalWhere) { journal(where: $w, first: 1) { totalCount { count } } }`,
			map[string]any{"w": 大野}, &list)
		if list.Journal.TotalCount.Count != 19 {
			t.Errorf("drill-down of 大野 lists %d entries, want 19 (where %v)", list.Journal.TotalCount.Count, 大野)
		}

		// A higher threshold flags no one; the key of a partner with
		// journal:read may ask; a STAFF may not.
		in["threshold"] = 5
		partner.MustQuery(t, soQuery, map[string]any{"in": in}, &out)
		for _, s := range out.StaffOutliers.Staff {
			if s.Flagged {
				t.Errorf("threshold 5: %s flagged", s.StaffName)
			}
		}
		delete(in, "threshold")
		_, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, fx.ShopID)
		if r := staff.Query(t, soQuery, map[string]any{"in": in}); len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Errorf("STAFF asked for staff outliers: %s %+v", r.Data, r.Errors)
		}

		// Bad input names its field.
		for name, c := range map[string]struct {
			set   map[string]any
			field string
		}{
			"reversed":    {map[string]any{"to": from.Add(-time.Hour).Format(time.RFC3339)}, "input.to"},
			"too long":    {map[string]any{"to": from.Add(401 * 24 * time.Hour).Format(time.RFC3339)}, "input.to"},
			"threshold 0": {map[string]any{"threshold": 0}, "input.threshold"},
			"minSales 0":  {map[string]any{"minSales": 0}, "input.minSales"},
		} {
			bad := map[string]any{}
			for k, v := range in {
				bad[k] = v
			}
			for k, v := range c.set {
				bad[k] = v
			}
			r := srv.Query(t, soQuery, map[string]any{"in": bad})
			if len(r.Errors) == 0 || r.Errors[0].Field() != c.field {
				t.Errorf("%s: want an error on %s, got %s %+v", name, c.field, r.Data, r.Errors)
			}
		}
		other, _ := srv.NewAccount(t, "別会社")
		ofx := testenv.NewFixture(t, srv.DB.Client, other)
		in["shopIDs"] = []string{string(ofx.ShopID)}
		if r := srv.Query(t, soQuery, map[string]any{"in": in}); len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Errorf("another account's shop: %s %+v", r.Data, r.Errors)
		}
	})
}

// seedForeignCardMatch gives account acct card match rows for the tenant
// walk and returns their ids: a card terminal's sale (a WEBHOOK
// connection's register fed through ingestJournal with a masked card)
// matched with a register's card sale, and a register card cancel left
// unmatched. The matcher runs here as the server's would.
func seedForeignCardMatch(t *testing.T, srv *gqlEnv, acct pulid.ID) []pulid.ID {
	t.Helper()
	ctx := viewer.System(context.Background())
	c := srv.DB.Client
	sh, err := c.Shop.Query().Where(shop.AccountID(acct)).First(ctx)
	if err != nil {
		t.Fatalf("seed card matches: a shop of %s: %v", acct, err)
	}
	regTerm, err := c.Terminal.Query().Where(terminal.AccountID(acct), terminal.ShopID(sh.ID)).First(ctx)
	if err != nil {
		t.Fatalf("seed card matches: a register of %s: %v", acct, err)
	}
	_, owner := srv.NewUser(t, acct, viewer.RoleOwner)
	var conn struct {
		CreatePosConnection struct{ Connection struct{ ID string } }
	}
	owner.MustQuery(t, `mutation($in: CreatePosConnectionInput!) { createPosConnection(input: $in) { connection { id } } }`,
		map[string]any{"in": map[string]any{"provider": "WEBHOOK", "name": "カード端末", "shopID": sh.ID}}, &conn)
	var ct struct{ CreateTerminal struct{ ID pulid.ID } }
	owner.MustQuery(t, `mutation($in: CreateTerminalInput!) { createTerminal(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"connectionID": conn.CreatePosConnection.Connection.ID, "externalID": "CT-B", "shopID": sh.ID}}, &ct)
	clock := testclock.New(time.Now())
	m := cardmatch.New(c, srv.DB.Dialect, cardmatch.Options{Now: clock.Now})
	// The first step places the matcher's cursor (new databases start at
	// their newest event), so the entries below are after it.
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	_, key := srv.NewAPIKey(t, acct, viewer.ScopeJournalWrite, viewer.ScopeJournalRead)
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	tjMustIngest(t, key,
		tjReceipt(ct.CreateTerminal.ID, "B-card-1", "PAYMENT", at, map[string]any{"total": 4321, "deposit": 4321, "maskedCard": "411111******11", "paymentMethod": "VISA"}),
		tjReceipt(regTerm.ID, "B-reg-1", "PAYMENT", at.Add(30*time.Second), map[string]any{"total": 4321, "deposit": 4321, "paymentMethod": "クレジット"}),
		tjReceipt(regTerm.ID, "B-reg-2", "CANCEL", at.Add(time.Minute), map[string]any{"total": 1234, "deposit": 1234, "paymentMethod": "クレジット"}))
	clock.Add(time.Hour)
	if err := m.Step(ctx); err != nil {
		t.Fatal(err)
	}
	ids, err := c.CardMatch.Query().Where(entcardmatch.AccountID(acct)).IDs(ctx)
	if err != nil || len(ids) != 3 {
		t.Fatalf("seed card matches: %d rows of %s (%v), want 3", len(ids), acct, err)
	}
	return ids
}

// TestSeedForeignCardMatch checks what the tenant walk relies on: B's rows
// exist, B sees them, and A sees none of them.
func TestSeedForeignCardMatch(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		other, owner := srv.NewAccount(t, "B社ひみつ商会")
		testenv.NewFixture(t, srv.DB.Client, other)
		ids := seedForeignCardMatch(t, srv, other)
		q := `{ cardMatches(first: 200) { id state side counterpart { id } } }`
		var mine, theirs struct {
			CardMatches []struct {
				ID, State, Side string
				Counterpart     *struct{ ID string }
			}
		}
		srv.MustQuery(t, q, nil, &mine)
		if len(mine.CardMatches) != 0 {
			t.Errorf("A sees B's card matches: %+v", mine.CardMatches)
		}
		owner.MustQuery(t, q, nil, &theirs)
		states := map[string]int{}
		for _, m := range theirs.CardMatches {
			if !slices.Contains(ids, pulid.ID(m.ID)) {
				t.Errorf("B sees %s, not a seeded row", m.ID)
			}
			states[m.Side+" "+m.State]++
		}
		if states["CARD MATCHED"] != 1 || states["REGISTER MATCHED"] != 1 || states["REGISTER UNMATCHED"] != 1 {
			t.Errorf("B's rows: %v", states)
		}
	})
}
