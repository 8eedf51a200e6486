package shop

import (
	"fmt"
	"slices"
	"time"

	// Timezones are validated with time.LoadLocation; the embedded copy
	// makes that work on a bare machine or container without zoneinfo.
	_ "time/tzdata"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent/schema/schematype"
)

// DefaultZone is the timezone of a shop created without one.
const DefaultZone = "Asia/Tokyo"

// CheckZone returns the location named tz, or a field error when no such
// IANA zone exists. "Local" is refused: it means the server's own zone,
// which says nothing about where the shop is.
func CheckZone(field, tz string) (*time.Location, error) {
	loc, err := time.LoadLocation(tz)
	if tz == "" || tz == "Local" || err != nil {
		return nil, apperr.Invalid(field, "存在しないタイムゾーンです。Asia/Tokyo のような IANA 名で入力してください (unknown timezone %q)", tz).Because(apperr.TIMEZONE_UNKNOWN)
	}
	return loc, nil
}

// CheckHours validates opening hours and returns them sorted by weekday:
// each weekday 0–6 at most once, open and close as HH:MM, close before
// open allowed (the shop closes after midnight), open == close refused
// (it would mean both "never" and "all day"). Errors name the item, e.g.
// input.businessHours[2].close.
func CheckHours(field string, in schematype.BusinessHours) (schematype.BusinessHours, error) {
	seen := map[int]int{}
	out := make(schematype.BusinessHours, 0, len(in))
	for i, d := range in {
		at := fmt.Sprintf("%s[%d]", field, i)
		if d.Weekday < 0 || d.Weekday > 6 {
			return nil, apperr.Invalid(at+".weekday", "曜日は 0 (日曜) から 6 (土曜) で指定してください (weekday must be 0–6)").Because(apperr.VALUE_OUT_OF_RANGE)
		}
		if j, dup := seen[d.Weekday]; dup {
			return nil, apperr.Invalid(at+".weekday", "%s曜日が %s[%d] と重複しています (weekday listed twice)", weekdayJa[d.Weekday], field, j).Because(apperr.DUPLICATE_IN_LIST)
		}
		seen[d.Weekday] = i
		o, err := clock(at+".open", d.Open)
		if err != nil {
			return nil, err
		}
		c, err := clock(at+".close", d.Close)
		if err != nil {
			return nil, err
		}
		if o == c {
			return nil, apperr.Invalid(at+".close", "開店と閉店が同じ時刻です。深夜を越える場合は閉店を開店より前の時刻にしてください (open equals close)").Because(apperr.OPEN_EQUALS_CLOSE)
		}
		out = append(out, schematype.DayHours{Weekday: d.Weekday, Open: d.Open, Close: d.Close})
	}
	slices.SortFunc(out, func(a, b schematype.DayHours) int { return a.Weekday - b.Weekday })
	return out, nil
}

var weekdayJa = [7]string{"日", "月", "火", "水", "木", "金", "土"}

// clock parses exactly HH:MM (00:00–23:59) into minutes after midnight;
// time.Parse alone would also take "9:5".
func clock(field, s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, apperr.Invalid(field, "時刻は HH:MM (00:00〜23:59) で入力してください (%q is not HH:MM)", s).Because(apperr.INVALID_TIME)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// OpenAt reports whether a shop with hours h is open at t, read in the
// shop's own zone loc. No hours at all means always open (not set); a
// weekday without an entry is closed, except for the tail of the previous
// day's span that crosses midnight.
func OpenAt(h schematype.BusinessHours, loc *time.Location, t time.Time) bool {
	if len(h) == 0 {
		return true
	}
	t = t.In(loc)
	m := t.Hour()*60 + t.Minute()
	today, yesterday := int(t.Weekday()), (int(t.Weekday())+6)%7
	for _, d := range h {
		o, err1 := clock("", d.Open)
		c, err2 := clock("", d.Close)
		if err1 != nil || err2 != nil {
			continue
		}
		switch {
		case d.Weekday == today && o < c && m >= o && m < c:
			return true
		case d.Weekday == today && c < o && m >= o: // before midnight
			return true
		case d.Weekday == yesterday && c < o && m < c: // after midnight
			return true
		}
	}
	return false
}
