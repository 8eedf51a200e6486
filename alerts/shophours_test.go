package alerts_test

import (
	"context"
	"strings"
	"testing"

	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/internal/testenv"

	"github.com/regicam/regicam/alerts"
)

// TestOutsideTheShopsOwnHours: an OUTSIDE_HOURS rule without opensAt and
// closesAt follows each shop's business hours per weekday, in the shop's
// zone, including a span that crosses midnight; a weekday without hours
// is closed.
func TestOutsideTheShopsOwnHours(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		// Monday 10:00–22:00; Friday 18:00–02:00 (into Saturday).
		err := e.db.Client.Shop.UpdateOneID(e.fx.ShopID).SetTimezone("Asia/Tokyo").SetBusinessHours(schematype.BusinessHours{
			{Weekday: 1, Open: "10:00", Close: "22:00"}, {Weekday: 5, Open: "18:00", Close: "02:00"},
		}).Exec(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		e.rule(t, alerts.Input{Kind: alertrule.KindOUTSIDE_HOURS})
		for _, c := range []struct {
			at   string
			want bool
		}{
			{"2026-11-23 09:59:59", true},  // Monday, before opening
			{"2026-11-23 12:00:00", false}, // Monday, open
			{"2026-11-23 22:00:00", true},  // Monday, closed at 22:00
			{"2026-11-24 12:00:00", true},  // Tuesday: no hours, closed
			{"2026-11-27 17:59:00", true},  // Friday before 18:00
			{"2026-11-27 23:30:00", false}, // Friday night
			{"2026-11-28 01:30:00", false}, // Saturday 01:30: Friday's span
			{"2026-11-28 02:00:00", true},  // Saturday 02:00: closed
		} {
			_, as := e.ring(t, rec{kind: journalentry.KindPAYMENT, at: tokyo(c.at), total: 100, staff: "a"})
			fires(t, c.at+" JST", as, c.want)
			if c.want && len(as) > 0 && !strings.Contains(as[0].Message, "店舗の営業時間外") {
				t.Errorf("%s: message %q does not say the shop's hours", c.at, as[0].Message)
			}
		}
	})
}
