package alerts_test

import (
	"context"
	"testing"
	"time"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
)

// silentAt runs the silence check at Tokyo time at and returns how many
// alerts it raised.
func (e *env) silentAt(t *testing.T, at string) int {
	t.Helper()
	e.setNow(tokyo(at))
	n, err := e.svc.CheckSilent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFeedSilentMigrated: a FEED_SILENT rule fires on a day's silences; moved
// to its preset at start-up (a CUSTOM rule with a silence) it fires on the
// next day's same silences at the same edges — not a second earlier, once
// per silence, never at night — with the same kind, and never on an entry.
func TestFeedSilentMigrated(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		r := e.rule(t, alerts.Input{Kind: alertrule.KindFEED_SILENT, WindowSeconds: ptr(1800), OpensAt: ptr("10:00"), ClosesAt: ptr("22:00"),
			Scope: &journal.Filter{TerminalIDs: []pulid.ID{e.fx.TerminalIDs[0]}}})
		day := func(d string) {
			t.Helper()
			// Last sale the evening before: the night does not count.
			prev, _ := time.Parse(time.DateOnly, d)
			_, as := e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo(prev.AddDate(0, 0, -1).Format(time.DateOnly) + " 21:00:00"), total: 100})
			fires(t, "an entry", as, false)
			for _, c := range []struct {
				at   string
				want int
			}{
				{"09:59:00", 0}, // closed
				{"10:29:59", 0}, // 29:59 since opening
				{"10:30:00", 1}, // 30:00
				{"10:45:00", 0}, // the same silence
			} {
				if n := e.silentAt(t, d+" "+c.at); n != c.want {
					t.Errorf("%s %s JST: %d alerts, want %d", d, c.at, n, c.want)
				}
			}
			_, as = e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo(d + " 10:50:00"), total: 100})
			fires(t, "an entry", as, false)
			for _, c := range []struct {
				at   string
				want int
			}{{"11:19:59", 0}, {"11:20:00", 1}, {"22:30:00", 0}} {
				if n := e.silentAt(t, d+" "+c.at); n != c.want {
					t.Errorf("%s %s JST: %d alerts, want %d", d, c.at, n, c.want)
				}
			}
		}
		day("2026-11-23")
		n, err := e.svc.MigratePresets(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("migrated %d: %v", n, err)
		}
		row, err := e.db.Client.AlertRule.Get(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if row.Kind != alertrule.KindCUSTOM || row.Preset != "FEED_SILENT" || row.Conditions == nil || row.Conditions.Silence == nil ||
			row.Conditions.Silence.WindowSeconds != 1800 || row.Conditions.TimeFrom != "10:00" || row.Conditions.TimeTo != "22:00" {
			t.Fatalf("migrated rule: %+v %+v", row, row.Conditions)
		}
		// The first day's silences are not raised again by the migrated rule.
		if n := e.silentAt(t, "2026-11-23 11:20:00"); n != 0 {
			t.Errorf("migrated rule raised %d alerts for a silence already raised", n)
		}
		day("2026-11-24")
		as, err := e.db.Client.Alert.Query().Order(ent.Asc(alert.FieldSeq)).All(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"2026-11-23 10:30:00", "2026-11-23 11:20:00", "2026-11-24 10:30:00", "2026-11-24 11:20:00"}
		if len(as) != len(want) {
			t.Fatalf("%d alerts, want %d", len(as), len(want))
		}
		for i, a := range as {
			if a.RuleKind != "FEED_SILENT" || !a.OccurredAt.Equal(tokyo(want[i])) || a.TerminalID == nil || *a.TerminalID != e.fx.TerminalIDs[0] || a.EntryID != nil {
				t.Errorf("alert %d: %s at %s on %v (entry %v), want FEED_SILENT at %s", i, a.RuleKind, a.OccurredAt.In(jst), a.TerminalID, a.EntryID, want[i])
			}
		}
	})
}

// TestSilenceConditionShopHours: a builder rule with a silence and no time
// window counts from the shop's own opening time (Monday 10:00–20:00,
// closed on Sunday), only on the terminals its conditions name, and its
// alerts are CUSTOM.
func TestSilenceConditionShopHours(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		if err := e.db.Client.Shop.UpdateOneID(e.fx.ShopID).SetTimezone("Asia/Tokyo").SetBusinessHours(schematype.BusinessHours{
			{Weekday: 1, Open: "10:00", Close: "20:00"}}).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.rule(t, alerts.Input{Name: "レジ1の沈黙", Kind: alertrule.KindCUSTOM, Conditions: &schematype.RuleConditions{
			TerminalIDs: []string{string(e.fx.TerminalIDs[1])}, Silence: &schematype.SilenceCondition{WindowSeconds: 600}}})
		_, as := e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo("2026-11-22 12:00:00"), total: 100, term: 1}) // Sunday
		fires(t, "an entry", as, false)
		for _, c := range []struct {
			at   string
			want int
		}{
			{"2026-11-22 15:00:00", 0}, // Sunday: closed
			{"2026-11-23 09:59:00", 0}, // Monday before opening
			{"2026-11-23 10:09:59", 0},
			{"2026-11-23 10:10:00", 1}, // ten minutes after opening, one terminal only
			{"2026-11-23 19:00:00", 0}, // the same silence
			{"2026-11-23 20:30:00", 0}, // closed
		} {
			if n := e.silentAt(t, c.at); n != c.want {
				t.Errorf("%s JST: %d alerts, want %d", c.at, n, c.want)
			}
		}
		a, err := e.db.Client.Alert.Query().Only(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if a.RuleKind != "CUSTOM" || *a.TerminalID != e.fx.TerminalIDs[1] || !a.OccurredAt.Equal(tokyo("2026-11-23 10:10:00")) {
			t.Errorf("alert %s on %s at %s", a.RuleKind, *a.TerminalID, a.OccurredAt.In(jst))
		}
	})
}

// A shop without business hours is always open, and a register quiet for
// more than a day is one silence, raised once, not once per check (the
// silence's start is capped at a day back and moves with the clock).
func TestSilenceLongerThanADayOnce(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		e.rule(t, alerts.Input{Name: "一日以上", Kind: "CUSTOM", Conditions: &schematype.RuleConditions{
			TerminalIDs: []string{string(e.fx.TerminalIDs[0])}, Silence: &schematype.SilenceCondition{WindowSeconds: 1800}}})
		_, as := e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo("2026-11-20 09:00:00"), total: 100})
		fires(t, "an entry", as, false)
		for _, c := range []struct {
			at   string
			want int
		}{
			{"2026-11-20 09:29:59", 0},
			{"2026-11-20 09:30:00", 1},
			{"2026-11-21 12:00:00", 0}, // 27 h quiet: the same silence
			{"2026-11-21 12:01:00", 0},
			{"2026-11-22 08:00:00", 0},
		} {
			if n := e.silentAt(t, c.at); n != c.want {
				t.Errorf("%s JST: %d alerts, want %d", c.at, n, c.want)
			}
		}
		_, as = e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo("2026-11-22 09:00:00"), total: 100})
		fires(t, "an entry", as, false)
		if n := e.silentAt(t, "2026-11-22 09:30:00"); n != 1 {
			t.Errorf("a new silence after an entry: %d alerts, want 1", n)
		}
	})
}
