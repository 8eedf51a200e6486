package builder

import (
	"time"

	"github.com/regicam/regicam/ent/schema/schematype"
	shophours "github.com/regicam/regicam/shop"
)

// SilenceHours are the hours a silence counts in: the rule's [From, To)
// (minutes after midnight, To before From spans midnight), or with Shop the
// shop's own business hours. Both the live silence check (package alerts)
// and the preview's replay read them here, so that a preview counts the
// silences the check would have raised.
type SilenceHours struct {
	From, To int
	Shop     bool
}

// SilenceHoursOf reads a silence rule's hours from its time window; no
// window means the shop's own hours. ok is false for a window that does not
// parse.
func SilenceHoursOf(c *Conditions) (SilenceHours, bool) {
	if c.TimeFrom == "" || c.TimeTo == "" {
		return SilenceHours{Shop: true}, true
	}
	f, err1 := clock(c.TimeFrom)
	t, err2 := clock(c.TimeTo)
	if err1 != nil || err2 != nil {
		return SilenceHours{}, false
	}
	return SilenceHours{From: f, To: t}, true
}

// Open reports whether a silence counts at local time t.
func (h SilenceHours) Open(hours schematype.BusinessHours, t time.Time) bool {
	if h.Shop {
		return shophours.OpenAt(hours, t.Location(), t)
	}
	return InWindow(h.From, h.To, t.Hour()*60+t.Minute())
}

// OpenedAt returns when the current business period began, if the shop is
// open at local time t: the rule's hours, or the shop's own business hours
// (walked back to the minute they opened, at most a day: a shop with no
// hours is always open, and its silence counts from a day back at most).
func (h SilenceHours) OpenedAt(hours schematype.BusinessHours, t time.Time) (time.Time, bool) {
	if !h.Open(hours, t) {
		return time.Time{}, false
	}
	if h.Shop {
		start := t.Truncate(time.Minute)
		for range 24 * 60 {
			if !h.Open(hours, start.Add(-time.Minute)) {
				break
			}
			start = start.Add(-time.Minute)
		}
		return start, true
	}
	start := time.Date(t.Year(), t.Month(), t.Day(), h.From/60, h.From%60, 0, 0, t.Location())
	if start.After(t) { // hours spanning midnight, after midnight
		start = start.AddDate(0, 0, -1)
	}
	return start, true
}

// WeekMinutes is how long a silence counts in a week (a shop without
// business hours: always).
func (h SilenceHours) WeekMinutes(hours schematype.BusinessHours) int {
	if !h.Shop {
		return openMinutes(h.From, h.To) * 7
	}
	if len(hours) == 0 {
		return 7 * 24 * 60
	}
	total := 0
	for _, d := range hours {
		o, err1 := clock(d.Open)
		c, err2 := clock(d.Close)
		if err1 == nil && err2 == nil {
			total += openMinutes(o, c)
		}
	}
	return total
}

// openMinutes is the length of [from, to) in minutes; to before from
// spans midnight.
func openMinutes(from, to int) int {
	open := to - from
	if open <= 0 {
		open += 24 * 60
	}
	return open
}

// Bounds of a learned silence threshold, and the history it learns from.
const (
	MinUsualSilence = 10 * time.Minute
	MaxUsualSilence = 4 * time.Hour
	UsualSilenceOf  = 7 * 24 * time.Hour
)

// UsualSilence is "longer than usual" for a register with n entries in the
// last UsualSilenceOf: three times its mean gap over the week's open
// minutes, kept within [MinUsualSilence, MaxUsualSilence]; zero (nothing
// is usual yet) without entries or open minutes.
func UsualSilence(n, weekMinutes int) time.Duration {
	if n <= 0 || weekMinutes <= 0 {
		return 0
	}
	gap := time.Duration(weekMinutes) * time.Minute / time.Duration(n)
	return min(max(3*gap, MinUsualSilence), MaxUsualSilence)
}
