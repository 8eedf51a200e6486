package builder_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/alerts/builder"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

var jst = func() *time.Location {
	l, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return l
}()

// pos ingests receipts as a POS would (package ingest, the path of
// ingestJournal and the webhooks).
type pos struct {
	t *testing.T
	s *testenv.Server
}

func ptr[T any](v T) *T { return &v }

func (p pos) put(rc ingest.Receipt) pulid.ID {
	p.t.Helper()
	if rc.Kind == "" {
		rc.Kind = journalentry.KindPAYMENT
	}
	if rc.ExternalID == "" {
		rc.ExternalID = rc.ReceiptNo
	}
	res := p.s.Ingester.Ingest(context.Background(), p.s.AccountID, rc)
	if res.Err != nil {
		p.t.Fatalf("ingest %s: %v", rc.ReceiptNo, res.Err)
	}
	return res.Entry.ID
}

type preview struct {
	PreviewAlertRule struct {
		Days, Hits, Scanned int
		PerDay              []int
		Examples            []struct{ ReceiptNo string }
	}
}

const previewQ = `query($in: AlertRuleInput!, $days: Int) { previewAlertRule(input: $in, days: $days) { days hits perDay scanned examples { receiptNo } } }`

// labels are the hits' receipt numbers without the case prefix, sorted.
func (p preview) labels(prefix string) []string {
	var out []string
	for _, e := range p.PreviewAlertRule.Examples {
		out = append(out, strings.TrimPrefix(e.ReceiptNo, prefix))
	}
	sort.Strings(out)
	return out
}

func tryRule(t *testing.T, s *testenv.Server, prefix string, cond map[string]any) preview {
	t.Helper()
	var p preview
	s.MustQuery(t, previewQ, map[string]any{"in": map[string]any{"name": "試し", "kind": "CUSTOM",
		"scope": map[string]any{"search": prefix}, "conditions": cond}}, &p)
	pr := p.PreviewAlertRule
	sum := 0
	for _, n := range pr.PerDay {
		sum += n
	}
	if pr.Days != 7 || len(pr.PerDay) != 7 || sum != pr.Hits || pr.Hits != len(pr.Examples) || pr.Scanned < pr.Hits {
		t.Fatalf("%s: preview %+v", prefix, pr)
	}
	return p
}

// TestConditionEdges: every condition of the builder at its edges, tried
// over a history ingested as a POS sends it (previewAlertRule decides an
// entry with the same code as ingest).
func TestConditionEdges(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		s := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, s.DB.Client, s.AccountID)
		utc := testenv.NewFixture(t, s.DB.Client, s.AccountID) // a second shop, on UTC
		s.MustQuery(t, `mutation($id: ID!) { updateShop(id: $id, input: {timezone: "UTC"}) { id } }`, map[string]any{"id": utc.ShopID}, nil)
		var hours []map[string]any
		for d := range 7 {
			hours = append(hours, map[string]any{"weekday": d, "open": "09:00", "close": "21:00"})
		}
		s.MustQuery(t, `mutation($id: ID!, $h: [BusinessDayInput!]) { updateShop(id: $id, input: {businessHours: $h}) { id } }`,
			map[string]any{"id": fx.ShopID, "h": hours}, nil)

		p := pos{t, s}
		n := time.Now().In(jst).AddDate(0, 0, -3)
		at := func(h, m, sec int) time.Time { return time.Date(n.Year(), n.Month(), n.Day(), h, m, sec, 0, jst) }
		term := fx.TerminalIDs[0]
		put := func(no string, total int64, when time.Time, mod func(*ingest.Receipt)) {
			rc := ingest.Receipt{TerminalID: term, ReceiptNo: no, Total: total, OccurredAt: when, StaffName: "山田"}
			if mod != nil {
				mod(&rc)
			}
			p.put(rc)
		}
		noon := at(12, 0, 0)

		// Amount: inclusive bounds on the amount's size (a −¥1,500 cancel is ¥1,500).
		for i, v := range []int64{999, 1000, 2000, 2001} {
			put(fmt.Sprintf("AMT-%d", v), v, noon.Add(time.Duration(i)*time.Second), nil)
		}
		put("AMT-c1500", -1500, noon.Add(10*time.Second), func(r *ingest.Receipt) { r.Kind = journalentry.KindCANCEL; r.ExternalID = "AMT-x" })
		got := tryRule(t, s, "AMT-", map[string]any{"amountMin": 1000, "amountMax": 2000}).labels("AMT-")
		if want := []string{"1000", "2000", "c1500"}; !slices.Equal(got, want) {
			t.Errorf("amount: %v, want %v", got, want)
		}
		got = tryRule(t, s, "AMT-", map[string]any{"amountMin": 1000, "amountMax": 2000, "kinds": []string{"PAYMENT"}}).labels("AMT-")
		if want := []string{"1000", "2000"}; !slices.Equal(got, want) {
			t.Errorf("amount of payments: %v, want %v", got, want)
		}

		// Line items: name folded in width and case, quantity and line amount inclusive.
		items := map[string]schematype.Item{
			"a": {Name: "コーラ 500ml", Quantity: 2, Amount: 300}, "b": {Name: "ｺｰﾗ", Quantity: 3, Amount: 450},
			"c": {Name: "コーラ", Quantity: 4, Amount: 600}, "d": {Name: "コーラ", Quantity: 1, Amount: 150},
			"e": {Name: "ＣＯＬＡ", Quantity: 2, Amount: 301}, "f": {Name: "Cola Zero", Quantity: 2, Amount: 299},
		}
		i := 0
		for k, it := range items {
			i++
			put("ITM-"+k, it.Amount, noon.Add(time.Duration(20+i)*time.Second), func(r *ingest.Receipt) {
				r.Items = []schematype.Item{{Name: "レジ袋", Quantity: 1, Amount: 3}, it}
			})
		}
		got = tryRule(t, s, "ITM-", map[string]any{"item": map[string]any{"nameContains": "ｺｰﾗ", "quantityMin": 2, "quantityMax": 3}}).labels("ITM-")
		if want := []string{"a", "b"}; !slices.Equal(got, want) {
			t.Errorf("item コーラ 2–3: %v, want %v", got, want)
		}
		got = tryRule(t, s, "ITM-", map[string]any{"item": map[string]any{"nameContains": "cola", "lineAmountMin": 299, "lineAmountMax": 301}}).labels("ITM-")
		if want := []string{"e", "f"}; !slices.Equal(got, want) {
			t.Errorf("item cola ¥299–301: %v, want %v", got, want)
		}

		// Payment method (folded), staff by name or id.
		for i, m := range []string{"クレジットカード", "現金", ""} {
			put(fmt.Sprintf("PAY-%d", i), 100, noon.Add(time.Duration(40+i)*time.Second), func(r *ingest.Receipt) { r.PaymentMethod = m })
		}
		if got := tryRule(t, s, "PAY-", map[string]any{"paymentMethods": []string{"ｸﾚｼﾞｯﾄ"}}).labels("PAY-"); !slices.Equal(got, []string{"0"}) {
			t.Errorf("payment: %v", got)
		}
		put("STF-sato", 100, noon.Add(50*time.Second), func(r *ingest.Receipt) { r.StaffName = "佐藤" })
		put("STF-id", 100, noon.Add(51*time.Second), func(r *ingest.Receipt) { r.StaffName = "鈴木"; r.StaffID = "S-7" })
		put("STF-other", 100, noon.Add(52*time.Second), func(r *ingest.Receipt) { r.StaffName = "鈴木" })
		if got := tryRule(t, s, "STF-", map[string]any{"staff": []string{"佐藤", "S-7"}}).labels("STF-"); !slices.Equal(got, []string{"id", "sato"}) {
			t.Errorf("staff: %v", got)
		}

		// Stay between 入店 and payment: inclusive; no 入店 time never matches.
		for i, sec := range []int{59, 60, 300, 301} {
			when := noon.Add(time.Duration(60+i) * time.Second)
			entered := when.Add(-time.Duration(sec) * time.Second)
			put(fmt.Sprintf("STY-%d", sec), 100, when, func(r *ingest.Receipt) { r.EnteredAt = &entered })
		}
		put("STY-none", 100, noon.Add(70*time.Second), nil)
		if got := tryRule(t, s, "STY-", map[string]any{"staySecondsMin": 60, "staySecondsMax": 300}).labels("STY-"); !slices.Equal(got, []string{"300", "60"}) {
			t.Errorf("stay: %v", got)
		}

		// Time of day across midnight, shop time: [22:00, 06:00).
		for _, hm := range [][2]int{{21, 59}, {22, 0}, {23, 59}, {5, 59}, {6, 0}} {
			put(fmt.Sprintf("NGT-%02d%02d", hm[0], hm[1]), 100, at(hm[0], hm[1], 30), nil)
		}
		if got := tryRule(t, s, "NGT-", map[string]any{"timeFrom": "22:00", "timeTo": "06:00"}).labels("NGT-"); !slices.Equal(got, []string{"0559", "2200", "2359"}) {
			t.Errorf("night window: %v", got)
		}
		if got := tryRule(t, s, "NGT-", map[string]any{"timeFrom": "06:00", "timeTo": "22:00"}).labels("NGT-"); !slices.Equal(got, []string{"0600", "2159"}) {
			t.Errorf("day window: %v", got)
		}

		// Weekday in each shop's timezone: 08:30 in Tokyo is the day before in UTC.
		x := at(8, 30, 0)
		put("WKD-tokyo", 100, x, nil)
		put("WKD-utc", 100, x, func(r *ingest.Receipt) { r.TerminalID = utc.TerminalIDs[0] })
		tokyoDay, utcDay := int(x.In(jst).Weekday()), int(x.UTC().Weekday())
		if got := tryRule(t, s, "WKD-", map[string]any{"weekdays": []int{tokyoDay}}).labels("WKD-"); !slices.Equal(got, []string{"tokyo"}) {
			t.Errorf("weekday %d: %v", tokyoDay, got)
		}
		if got := tryRule(t, s, "WKD-", map[string]any{"weekdays": []int{utcDay}}).labels("WKD-"); !slices.Equal(got, []string{"utc"}) {
			t.Errorf("weekday %d: %v", utcDay, got)
		}
		// Shops and terminals by id.
		if got := tryRule(t, s, "WKD-", map[string]any{"shopIDs": []string{string(utc.ShopID)}}).labels("WKD-"); !slices.Equal(got, []string{"utc"}) {
			t.Errorf("shop: %v", got)
		}
		if got := tryRule(t, s, "WKD-", map[string]any{"terminalIDs": []string{string(term)}}).labels("WKD-"); !slices.Equal(got, []string{"tokyo"}) {
			t.Errorf("terminal: %v", got)
		}

		// Outside the shop's business hours 09:00–21:00.
		for _, hm := range [][2]int{{8, 59}, {9, 0}, {20, 59}, {21, 0}} {
			put(fmt.Sprintf("OUT-%02d%02d", hm[0], hm[1]), 100, at(hm[0], hm[1], 0), nil)
		}
		if got := tryRule(t, s, "OUT-", map[string]any{"outsideHours": true}).labels("OUT-"); !slices.Equal(got, []string{"0859", "2100"}) {
			t.Errorf("outside hours: %v", got)
		}

		// Quick cancel: within 60 s inclusive, same staff only.
		q := at(14, 0, 0)
		for i, c := range []struct {
			gap   int
			staff string
		}{{60, "山田"}, {61, "山田"}, {10, "佐藤"}} {
			ext := fmt.Sprintf("QCK-%d", i)
			sale := q.Add(time.Duration(i) * 10 * time.Minute)
			put(ext+"-sale", 500, sale, func(r *ingest.Receipt) { r.ExternalID = ext })
			put(ext+"-cancel", -500, sale.Add(time.Duration(c.gap)*time.Second), func(r *ingest.Receipt) {
				r.ExternalID, r.Kind, r.StaffName = ext, journalentry.KindCANCEL, c.staff
			})
		}
		if got := tryRule(t, s, "QCK-", map[string]any{"quickCancel": map[string]any{"windowSeconds": 60}}).labels("QCK-"); !slices.Equal(got, []string{"0-cancel"}) {
			t.Errorf("quick cancel: %v", got)
		}

		// Burst: 3 cancels by one staff in (t−600 s, t]; one hit per burst.
		bt := at(16, 0, 0)
		for i, off := range []int{0, 300, 599, 700, 1300, 1400, 1899} {
			put(fmt.Sprintf("BST-%d", i), -100, bt.Add(time.Duration(off)*time.Second), func(r *ingest.Receipt) {
				r.Kind, r.ExternalID = journalentry.KindCANCEL, fmt.Sprintf("BST-x%d", i)
			})
		}
		if got := tryRule(t, s, "BST-", map[string]any{"kinds": []string{"CANCEL"}, "burst": map[string]any{"count": 3, "windowSeconds": 600}}).labels("BST-"); !slices.Equal(got, []string{"2", "6"}) {
			t.Errorf("burst: %v", got)
		}

		// 30 days, and no other length.
		var p30 preview
		s.MustQuery(t, previewQ, map[string]any{"days": 30, "in": map[string]any{"name": "x", "kind": "CUSTOM", "conditions": map[string]any{"kinds": []string{"CANCEL"}}}}, &p30)
		if len(p30.PreviewAlertRule.PerDay) != 30 || p30.PreviewAlertRule.PerDay[26] != p30.PreviewAlertRule.Hits || p30.PreviewAlertRule.Hits < 10 {
			t.Errorf("30 days: %+v", p30.PreviewAlertRule)
		}
		r := s.Query(t, previewQ, map[string]any{"days": 5, "in": map[string]any{"name": "x", "kind": "CUSTOM", "conditions": map[string]any{"kinds": []string{"CANCEL"}}}})
		if len(r.Errors) != 1 || r.Errors[0].Field() != "days" {
			t.Errorf("days 5: %+v", r.Errors)
		}
		// The scan stops at its cap and says how far it got.
		capped, err := builder.Preview(viewer.System(context.Background()), s.DB.Client, builder.PreviewInput{Account: s.AccountID,
			Conditions: schematype.RuleConditions{AmountMin: ptr(int64(0))}, Days: 7, Now: time.Now(), MaxScan: 5})
		if err != nil || capped.Scanned != 5 || !capped.Capped || capped.Hits != 5 {
			t.Errorf("capped preview: %+v %v", capped, err)
		}
		// Previewing reads every shop's entries: owners and admins only.
		_, staff := s.NewUser(t, s.AccountID, viewer.RoleStaff, fx.ShopID)
		if r := staff.Query(t, previewQ, map[string]any{"in": map[string]any{"name": "x", "kind": "CUSTOM", "conditions": map[string]any{"amountMin": 0}}}); len(r.Errors) != 1 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Errorf("STAFF preview: %+v", r.Errors)
		}
		// Another account sees none of this history.
		other, as := s.NewAccount(t, "別会社")
		_ = other
		var po preview
		as.MustQuery(t, previewQ, map[string]any{"in": map[string]any{"name": "x", "kind": "CUSTOM", "conditions": map[string]any{"amountMin": 0}}}, &po)
		if po.PreviewAlertRule.Hits != 0 || po.PreviewAlertRule.Scanned != 0 {
			t.Errorf("another account's preview: %+v", po.PreviewAlertRule)
		}
	})
}

// TestBadConditions: refusals name the field; a window across midnight is
// accepted; another account's ids answer NOT_FOUND.
func TestBadConditions(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		s := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, s.DB.Client, s.AccountID)
		otherAcct, _ := s.NewAccount(t, "別会社")
		ofx := testenv.NewFixture(t, s.DB.Client, otherAcct)
		pos{t, s}.put(ingest.Receipt{TerminalID: fx.TerminalIDs[0], ReceiptNo: "k1", Total: 100, OccurredAt: time.Now().Add(-time.Hour), StaffName: "山田"})
		const create = `mutation($in: AlertRuleInput!) { createAlertRule(input: $in) { rule { id kind preset windowSeconds conditions { timeFrom timeTo kinds shopIDs } } } }`
		for _, c := range []struct {
			kind  string
			cond  map[string]any
			extra map[string]any
			field string
			code  string
		}{
			{"CUSTOM", nil, nil, "input.conditions", ""},
			{"CUSTOM", map[string]any{}, nil, "input.conditions", ""},
			{"CUSTOM", map[string]any{"amountMin": 5, "amountMax": 4}, nil, "input.conditions.amountMin", ""},
			{"CUSTOM", map[string]any{"amountMin": -1}, nil, "input.conditions.amountMin", ""},
			{"CUSTOM", map[string]any{"staySecondsMin": 10, "staySecondsMax": 9}, nil, "input.conditions.staySecondsMin", ""},
			{"CUSTOM", map[string]any{"item": map[string]any{"quantityMin": 3, "quantityMax": 2}}, nil, "input.conditions.item.quantityMin", ""},
			{"CUSTOM", map[string]any{"item": map[string]any{}}, nil, "input.conditions.item", ""},
			{"CUSTOM", map[string]any{"timeFrom": "22:00", "timeTo": "22:00"}, nil, "input.conditions.timeTo", ""},
			{"CUSTOM", map[string]any{"timeFrom": "24:30", "timeTo": "06:00"}, nil, "input.conditions.timeFrom", ""},
			{"CUSTOM", map[string]any{"timeFrom": "22:00"}, nil, "input.conditions.timeTo", ""},
			{"CUSTOM", map[string]any{"weekdays": []int{7}}, nil, "input.conditions.weekdays", ""},
			{"CUSTOM", map[string]any{"weekdays": []int{-1}}, nil, "input.conditions.weekdays", ""},
			{"CUSTOM", map[string]any{"shopIDs": []string{string(ofx.ShopID)}}, nil, "input.conditions.shopIDs", "NOT_FOUND"},
			{"CUSTOM", map[string]any{"terminalIDs": []string{string(ofx.TerminalIDs[0])}}, nil, "input.conditions.terminalIDs", "NOT_FOUND"},
			{"CUSTOM", map[string]any{"staff": []string{"山田", "誰か"}}, nil, "input.conditions.staff.1", ""},
			{"CUSTOM", map[string]any{"burst": map[string]any{"count": 0, "windowSeconds": 60}}, nil, "input.conditions.burst.count", ""},
			{"CUSTOM", map[string]any{"burst": map[string]any{"count": 3, "windowSeconds": 0}}, nil, "input.conditions.burst.windowSeconds", ""},
			{"CUSTOM", map[string]any{"quickCancel": map[string]any{"windowSeconds": 60}, "kinds": []string{"PAYMENT"}}, nil, "input.conditions.kinds", ""},
			// A silence has no entry to ask anything of: each per-entry
			// condition with it is named, and so is a window out of range.
			{"CUSTOM", map[string]any{"silence": map[string]any{"windowSeconds": 600}, "kinds": []string{"CANCEL"}}, nil, "input.conditions.kinds", ""},
			{"CUSTOM", map[string]any{"silence": map[string]any{"windowSeconds": 600}, "amountMin": 1}, nil, "input.conditions.amountMin", ""},
			{"CUSTOM", map[string]any{"silence": map[string]any{"windowSeconds": 600}, "staff": []string{"山田"}}, nil, "input.conditions.staff", ""},
			{"CUSTOM", map[string]any{"silence": map[string]any{"windowSeconds": 600}, "weekdays": []int{1}}, nil, "input.conditions.weekdays", ""},
			{"CUSTOM", map[string]any{"silence": map[string]any{"windowSeconds": 600}, "burst": map[string]any{"count": 3, "windowSeconds": 60}}, nil, "input.conditions.burst", ""},
			{"CUSTOM", map[string]any{"silence": map[string]any{"windowSeconds": 600}, "outsideHours": true}, nil, "input.conditions.outsideHours", ""},
			{"CUSTOM", map[string]any{"silence": map[string]any{"windowSeconds": 0}}, nil, "input.conditions.silence.windowSeconds", ""},
			{"CUSTOM", map[string]any{"silence": map[string]any{"windowSeconds": 7*24*3600 + 1}}, nil, "input.conditions.silence.windowSeconds", ""},
			{"CUSTOM", map[string]any{"silence": map[string]any{"windowSeconds": 600}, "timeFrom": "10:00", "timeTo": "10:00"}, nil, "input.conditions.timeTo", ""},
			{"AMOUNT_OVER", map[string]any{"amountMin": 1}, map[string]any{"amount": 1}, "input.conditions", ""},
			{"CARD_MISMATCH", nil, map[string]any{"windowSeconds": 59}, "input.windowSeconds", ""},
			{"CARD_MISMATCH", nil, map[string]any{"windowSeconds": 86401}, "input.windowSeconds", ""},
			{"CARD_MISMATCH", nil, map[string]any{"count": 2}, "input.count", ""},
			{"CARD_MISMATCH", nil, map[string]any{"amount": 2}, "input.amount", ""},
		} {
			in := map[string]any{"name": "r", "kind": c.kind}
			if c.cond != nil {
				in["conditions"] = c.cond
			}
			for k, v := range c.extra {
				in[k] = v
			}
			r := s.Query(t, create, map[string]any{"in": in})
			if len(r.Errors) != 1 || r.Errors[0].Field() != c.field || c.code != "" && r.Errors[0].Code() != c.code {
				t.Errorf("%s %v: %+v, want field %s", c.kind, c.cond, r.Errors, c.field)
				continue
			}
			if m := r.Errors[0].Message; !strings.ContainsFunc(m, func(r rune) bool { return r >= 0x3040 && r <= 0x9fff }) || englishInBrackets.MatchString(m) {
				t.Errorf("%s: message %q is not plain Japanese", c.field, m)
			}
		}
		// A silence is tried on history too (alerts' silence preview test
		// checks its counts): register 1 of a shop without hours has been
		// quiet since k1, an hour ago, which ended nothing.
		var sp preview
		s.MustQuery(t, previewQ, map[string]any{"in": map[string]any{"name": "沈黙", "kind": "CUSTOM",
			"conditions": map[string]any{"terminalIDs": []string{string(fx.TerminalIDs[0])}, "silence": map[string]any{"windowSeconds": 600}}}}, &sp)
		if p := sp.PreviewAlertRule; p.Hits != 1 || p.Scanned != 1 || len(p.Examples) != 0 || len(p.PerDay) != 7 || p.PerDay[5]+p.PerDay[6] != 1 {
			t.Errorf("preview of a silence: %+v", p)
		}
		var ok struct {
			CreateAlertRule struct {
				Rule struct {
					Kind, Preset  string
					WindowSeconds int
					Conditions    *struct {
						TimeFrom, TimeTo string
						Kinds, ShopIDs   []string
					}
				}
			}
		}
		s.MustQuery(t, create, map[string]any{"in": map[string]any{"name": "夜間", "kind": "CUSTOM",
			"conditions": map[string]any{"timeFrom": "22:00", "timeTo": "06:00", "kinds": []string{"CANCEL"}, "shopIDs": []string{string(fx.ShopID)}}}}, &ok)
		if c := ok.CreateAlertRule.Rule.Conditions; c == nil || c.TimeFrom != "22:00" || c.TimeTo != "06:00" || !slices.Equal(c.Kinds, []string{"CANCEL"}) || !slices.Equal(c.ShopIDs, []string{string(fx.ShopID)}) {
			t.Errorf("midnight window rule: %+v", ok.CreateAlertRule.Rule)
		}
		s.MustQuery(t, create, map[string]any{"in": map[string]any{"name": "照合", "kind": "CARD_MISMATCH"}}, &ok)
		if ok.CreateAlertRule.Rule.WindowSeconds != 600 {
			t.Errorf("CARD_MISMATCH default window: %+v", ok.CreateAlertRule.Rule)
		}
		var presets struct {
			AlertRulePresets []struct {
				Name, Label string
				Conditions  struct{ Kinds []string }
			}
		}
		s.MustQuery(t, `{ alertRulePresets { name label conditions { kinds } } }`, nil, &presets)
		var names []string
		for _, p := range presets.AlertRulePresets {
			names = append(names, p.Name)
		}
		if !slices.Equal(names, []string{"AMOUNT_OVER", "QUICK_CANCEL", "CANCEL_BURST", "OUTSIDE_HOURS", "UNLINKED_TERMINAL", "FEED_SILENT"}) {
			t.Errorf("presets %v", names)
		}
	})
}

var englishInBrackets = regexp.MustCompile(`[(（][^)）]*[A-Za-z]{2}[^)）]*[)）]`)

type alertList struct {
	Alerts struct {
		Edges []struct {
			Node struct {
				RuleKind, Message string
				Entry             *struct{ ReceiptNo string }
			}
		}
	}
}

// firedBy lists "KIND label" of the account's alerts whose receipt starts
// with prefix, as the owner sees them.
func firedBy(t *testing.T, s *testenv.Server, prefix string) []string {
	t.Helper()
	var l alertList
	s.MustQuery(t, `{ alerts(first: 200) { edges { node { ruleKind message entry { receiptNo } } } } }`, nil, &l)
	var out []string
	for _, e := range l.Alerts.Edges {
		if e.Node.Entry != nil && strings.HasPrefix(e.Node.Entry.ReceiptNo, prefix) {
			out = append(out, e.Node.RuleKind+" "+strings.TrimPrefix(e.Node.Entry.ReceiptNo, prefix))
		}
	}
	sort.Strings(out)
	return out
}

// TestPresetsMigrated: rules of the fixed kinds made through GraphQL fire
// as they always did; migrated at start-up to CUSTOM rules with their
// preset's conditions they fire on the same history the same way, fire
// nothing twice, and a second migration changes nothing. A CUSTOM rule
// fires at ingest too.
func TestPresetsMigrated(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		s := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, s.DB.Client, s.AccountID)
		ctx := viewer.System(context.Background())
		term0, err := s.DB.Client.Terminal.Get(ctx, fx.TerminalIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		lone, err := s.DB.Client.Terminal.Create().SetAccountID(s.AccountID).SetConnectionID(term0.ConnectionID).SetShopID(fx.ShopID).
			SetExternalID("lone").SetName("レジ9").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{
			`{name: "高額", kind: AMOUNT_OVER, amount: 10000, entryKinds: [CANCEL]}`,
			`{name: "即取消", kind: QUICK_CANCEL, windowSeconds: 60}`,
			`{name: "連続", kind: CANCEL_BURST, windowSeconds: 600, count: 3}`,
			`{name: "時間外", kind: OUTSIDE_HOURS, opensAt: "09:00", closesAt: "21:00"}`,
			`{name: "未連携", kind: UNLINKED_TERMINAL}`,
			`{name: "無通信", kind: FEED_SILENT, windowSeconds: 1800, opensAt: "10:00", closesAt: "22:00"}`,
			`{name: "深夜の取消", kind: CUSTOM, conditions: {kinds: [CANCEL], timeFrom: "22:00", timeTo: "06:00"}}`,
		} {
			s.MustQuery(t, `mutation { createAlertRule(input: `+in+`) { rule { id } } }`, nil, nil)
		}
		p := pos{t, s}
		history := func(prefix string, day time.Time) {
			at := func(h, m, sec int) time.Time {
				return time.Date(day.Year(), day.Month(), day.Day(), h, m, sec, 0, jst)
			}
			put := func(label string, kind journalentry.Kind, ext string, total int64, when time.Time, mod func(*ingest.Receipt)) {
				rc := ingest.Receipt{TerminalID: fx.TerminalIDs[0], ReceiptNo: prefix + label, ExternalID: prefix + ext, Kind: kind,
					Total: total, OccurredAt: when, StaffName: "山田"}
				if mod != nil {
					mod(&rc)
				}
				p.put(rc)
			}
			put("s1", journalentry.KindPAYMENT, "1", 10000, at(12, 0, 0), nil)
			put("c1", journalentry.KindCANCEL, "1", -10000, at(12, 1, 0), nil) // ¥10,000 is not over; 60 s is within
			put("s2", journalentry.KindPAYMENT, "2", 10001, at(12, 10, 0), nil)
			put("c2", journalentry.KindCANCEL, "2", -10001, at(12, 11, 1), nil) // over; 61 s is not within
			put("b1", journalentry.KindCANCEL, "b1", -10, at(13, 0, 0), func(r *ingest.Receipt) { r.StaffName = "佐藤" })
			put("b2", journalentry.KindCANCEL, "b2", -10, at(13, 5, 0), func(r *ingest.Receipt) { r.StaffName = "佐藤" })
			put("b3", journalentry.KindCANCEL, "b3", -10, at(13, 9, 59), func(r *ingest.Receipt) { r.StaffName = "佐藤" })
			put("b4", journalentry.KindCANCEL, "b4", -10, at(13, 11, 0), func(r *ingest.Receipt) { r.StaffName = "佐藤" })
			put("e1", journalentry.KindPAYMENT, "e1", 100, at(8, 59, 0), nil)
			put("e2", journalentry.KindPAYMENT, "e2", 100, at(9, 0, 0), nil)
			put("e3", journalentry.KindPAYMENT, "e3", 100, at(21, 0, 0), nil)
			put("n1", journalentry.KindCANCEL, "n1", -100, at(22, 30, 0), func(r *ingest.Receipt) { r.StaffName = "夜勤" })
			put("u1", journalentry.KindPAYMENT, "u1", 100, at(11, 0, 0), func(r *ingest.Receipt) { r.TerminalID = lone.ID })
		}
		want := []string{"AMOUNT_OVER c2", "CANCEL_BURST b3", "CUSTOM n1", "OUTSIDE_HOURS e1", "OUTSIDE_HOURS e3", "OUTSIDE_HOURS n1",
			"QUICK_CANCEL c1", "UNLINKED_TERMINAL u1"}
		day := time.Now().In(jst).AddDate(0, 0, -2)
		history("A-", day)
		if got := firedBy(t, s, "A-"); !slices.Equal(got, want) {
			t.Fatalf("fixed kinds fired %v\nwant %v", got, want)
		}
		n, err := s.Alerts().MigratePresets(context.Background())
		if err != nil || n != 6 {
			t.Fatalf("migrated %d: %v", n, err)
		}
		if n, err := s.Alerts().MigratePresets(context.Background()); err != nil || n != 0 {
			t.Fatalf("second migration %d: %v", n, err)
		}
		var rules struct {
			AlertRules []struct {
				Name, Kind, Preset string
				Conditions         *struct {
					AmountMin        *int
					TimeFrom, TimeTo string
					Silence          *struct{ WindowSeconds int }
				}
			}
		}
		s.MustQuery(t, `{ alertRules { name kind preset conditions { amountMin timeFrom timeTo silence { windowSeconds } } } }`, nil, &rules)
		for _, r := range rules.AlertRules {
			if r.Kind != "CUSTOM" || r.Conditions == nil || (r.Preset == "") != (r.Name == "深夜の取消") {
				t.Errorf("after migration: %+v", r)
			}
			if r.Preset == "AMOUNT_OVER" && (r.Conditions.AmountMin == nil || *r.Conditions.AmountMin != 10001) ||
				r.Preset == "OUTSIDE_HOURS" && (r.Conditions.TimeFrom != "21:00" || r.Conditions.TimeTo != "09:00") ||
				r.Preset == "FEED_SILENT" && (r.Conditions.Silence == nil || r.Conditions.Silence.WindowSeconds != 1800 ||
					r.Conditions.TimeFrom != "10:00" || r.Conditions.TimeTo != "22:00") {
				t.Errorf("preset conditions: %+v %+v", r, r.Conditions)
			}
		}
		// The recovery sweep may look at the old entries again: nothing twice.
		entries, err := s.DB.Client.JournalEntry.Query().Where(journalentry.AccountID(s.AccountID), journalentry.ReceiptNoHasPrefix("A-")).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			s.Alerts().Observe(ctx, e)
		}
		if got := firedBy(t, s, "A-"); !slices.Equal(got, want) {
			t.Fatalf("after migration, old history fired %v\nwant %v", got, want)
		}
		history("B-", day.AddDate(0, 0, 1))
		if got := firedBy(t, s, "B-"); !slices.Equal(got, want) {
			t.Fatalf("migrated rules fired %v\nwant %v", got, want)
		}
	})
}

// TestPresetsMigratedAtStart: a server starting on a database with rules of
// the fixed kinds migrates them before it serves; the one already running
// then reads them as CUSTOM rules with their preset.
func TestPresetsMigratedAtStart(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		dir := t.TempDir()
		s := testenv.Start(t, b, dir)
		s.MustQuery(t, `mutation { createAlertRule(input: {name: "未連携", kind: UNLINKED_TERMINAL}) { rule { id } } }`, nil, nil)
		s.MustQuery(t, `mutation { createAlertRule(input: {name: "無通信", kind: FEED_SILENT, opensAt: "10:00", closesAt: "22:00"}) { rule { id } } }`, nil, nil)
		var rules struct {
			AlertRules []struct {
				Kind, Preset string
				Conditions   *struct {
					UnlinkedTerminal bool
					TimeFrom, TimeTo string
					Silence          *struct{ WindowSeconds int }
				}
			}
		}
		q := `{ alertRules { kind preset conditions { unlinkedTerminal timeFrom timeTo silence { windowSeconds } } } }`
		s.MustQuery(t, q, nil, &rules)
		if r := rules.AlertRules; len(r) != 2 || r[0].Kind != "UNLINKED_TERMINAL" || r[0].Conditions == nil || !r[0].Conditions.UnlinkedTerminal ||
			r[1].Kind != "FEED_SILENT" || r[1].Conditions == nil || r[1].Conditions.Silence == nil {
			t.Fatalf("before restart: %+v", r)
		}
		testenv.Start(t, b, dir)
		s.MustQuery(t, q, nil, &rules)
		if r := rules.AlertRules; len(r) != 2 || r[0].Kind != "CUSTOM" || r[0].Preset != "UNLINKED_TERMINAL" || r[0].Conditions == nil || !r[0].Conditions.UnlinkedTerminal {
			t.Fatalf("after restart: %+v", r)
		}
		// FEED_SILENT without a window still learns it, within the same hours.
		if r := rules.AlertRules[1]; r.Kind != "CUSTOM" || r.Preset != "FEED_SILENT" || r.Conditions == nil || r.Conditions.Silence == nil ||
			r.Conditions.Silence.WindowSeconds != 0 || r.Conditions.TimeFrom != "10:00" || r.Conditions.TimeTo != "22:00" {
			t.Fatalf("FEED_SILENT after restart: %+v %+v", r, r.Conditions)
		}
	})
}
