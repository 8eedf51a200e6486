package alerts_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
)

// TestSilencePreviewAgreesWithTheCheck: a register's week, hand-checked,
// tried by previewAlertRule (alerts.Service.Preview) and raised by the live
// silence check run at every open minute of the same week: both count the
// same silences, on the same days. The shop is open Monday–Wednesday
// 10:00–22:00; the rules watch register 0 only (register 1, silent all
// week, is out of scope).
func TestSilencePreviewAgreesWithTheCheck(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		ctx := context.Background()
		var hours schematype.BusinessHours
		for wd := 1; wd <= 3; wd++ {
			hours = append(hours, schematype.DayHours{Weekday: wd, Open: "10:00", Close: "22:00"})
		}
		if err := e.db.Client.Shop.UpdateOneID(e.fx.ShopID).SetTimezone("Asia/Tokyo").SetBusinessHours(hours).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		term0 := []string{string(e.fx.TerminalIDs[0])}
		inputs := map[string]alerts.Input{
			// The shop's own hours.
			"shop": {Name: "店の営業時間", Kind: "CUSTOM", Conditions: &schematype.RuleConditions{TerminalIDs: term0,
				Silence: &schematype.SilenceCondition{WindowSeconds: 1800}}},
			// 10:00–22:00 every day, the shop's closed days included.
			"window": {Name: "時間帯", Kind: "CUSTOM", Conditions: &schematype.RuleConditions{TerminalIDs: term0, TimeFrom: "10:00", TimeTo: "22:00",
				Silence: &schematype.SilenceCondition{WindowSeconds: 1800}}},
			// A learned window: a week of a few entries is always the 4 h cap.
			"learned": {Name: "ふだん", Kind: "CUSTOM", Conditions: &schematype.RuleConditions{TerminalIDs: term0,
				Silence: &schematype.SilenceCondition{}}},
		}
		ids := map[pulid.ID]string{}
		for at, label := range map[string]string{
			"2026-11-22 21:50:00": "E1", // Sunday: the shop is closed
			"2026-11-23 21:30:00": "E2", // Monday: silent from opening (10:00), not from E1
			"2026-11-24 10:10:00": "E3", // 21:30–22:00 is 30 min but the shop closes at 22:00; 10:00–10:10
			"2026-11-24 10:39:00": "E4", // 29 min
			"2026-11-24 11:10:00": "E5", // 31 min: a silence from 10:39
			"2026-11-24 11:30:00": "E6",
			"2026-11-24 11:55:00": "E7",
			"2026-11-25 10:20:00": "E8", // 11:55 till closing; then 20 min from opening
		} {
			en, _ := e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo(at), total: 100})
			ids[en.ID] = label
		}
		e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo("2026-11-24 10:00:00"), total: 100, term: 1})
		now := tokyo("2026-11-25 10:50:00") // 30 min since E8: the check at now fires
		e.setNow(now)

		want := map[string]struct {
			hits     int
			perDay   []int // 11-19 … 11-25
			examples []string
		}{
			"shop":    {4, []int{0, 0, 0, 0, 1, 2, 1}, []string{"E8", "E5", "E2"}},
			"window":  {8, []int{1, 1, 1, 1, 1, 2, 1}, []string{"E8", "E5", "E2", "E1"}},
			"learned": {2, []int{0, 0, 0, 0, 1, 1, 0}, []string{"E8", "E2"}},
		}
		for name, in := range inputs {
			res, err := e.svc.Preview(e.ctx, in, nil)
			if err != nil {
				t.Fatalf("%s: preview: %v", name, err)
			}
			var ex []string
			for _, x := range res.Examples {
				ex = append(ex, ids[x.ID])
			}
			w := want[name]
			if res.Hits != w.hits || !slices.Equal(res.PerDay, w.perDay) || !slices.Equal(ex, w.examples) || res.Capped {
				t.Errorf("%s: preview %d hits %v, examples %v (capped %v); want %d %v %v", name, res.Hits, res.PerDay, ex, res.Capped,
					w.hits, w.perDay, w.examples)
			}
		}

		// The live check, run every minute of each morning (this week's one
		// minute long chance, 11:09 on the 24th, is there), every half hour
		// after, at 21:59 (29 min after E2) and at now.
		rules := map[pulid.ID]string{}
		for name, in := range inputs {
			rules[e.rule(t, in).ID] = name
		}
		var steps []time.Duration
		for m := range 90 {
			steps = append(steps, time.Duration(m)*time.Minute)
		}
		for m := 90; m < 12*60; m += 30 {
			steps = append(steps, time.Duration(m)*time.Minute)
		}
		steps = append(steps, 12*time.Hour-time.Minute)
		for d := tokyo("2026-11-19 10:00:00"); !d.After(now); d = d.Add(24 * time.Hour) {
			for _, s := range steps {
				at := d.Add(s)
				if at.After(now) {
					break
				}
				e.setNow(at)
				if _, err := e.svc.CheckSilent(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		as, err := e.db.Client.Alert.Query().Order(ent.Asc(alert.FieldOccurredAt)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]int{}
		for name := range inputs {
			got[name] = make([]int, 7)
		}
		for _, a := range as {
			if a.TerminalID == nil || *a.TerminalID != e.fx.TerminalIDs[0] {
				t.Errorf("alert on %v, out of the rules' scope", a.TerminalID)
				continue
			}
			// Every silence here is raised the day it began.
			day := int(a.OccurredAt.Sub(tokyo("2026-11-19 00:00:00")) / (24 * time.Hour))
			got[rules[a.RuleID]][day]++
		}
		for name, w := range want {
			if !slices.Equal(got[name], w.perDay) {
				t.Errorf("%s: the check raised %v per day, the preview counts %v", name, got[name], w.perDay)
			}
		}
		if t.Failed() {
			for _, a := range as {
				t.Log(rules[a.RuleID], a.OccurredAt.In(jst), a.Message)
			}
		}
	})
}
