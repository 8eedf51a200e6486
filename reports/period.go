package reports

import (
	"fmt"
	"time"

	"github.com/regicam/regicam/apperr"
)

// Period is a shortcut for a range of whole days in the shops' timezone,
// as card-terminal admin screens offer them.
type Period string

const (
	Today     Period = "TODAY"
	Yesterday Period = "YESTERDAY"
	ThisWeek  Period = "THIS_WEEK"
	LastWeek  Period = "LAST_WEEK"
	ThisMonth Period = "THIS_MONTH"
	LastMonth Period = "LAST_MONTH"
)

// Range returns [from, to) of p around now in loc. Weeks start on Monday.
func (p Period) Range(now time.Time, loc *time.Location) (time.Time, time.Time, error) {
	n := now.In(loc)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, loc) }
	today := day(n.Year(), n.Month(), n.Day())
	monday := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	month := day(n.Year(), n.Month(), 1)
	switch p {
	case Today:
		return today, today.AddDate(0, 0, 1), nil
	case Yesterday:
		return today.AddDate(0, 0, -1), today, nil
	case ThisWeek:
		return monday, monday.AddDate(0, 0, 7), nil
	case LastWeek:
		return monday.AddDate(0, 0, -7), monday, nil
	case ThisMonth:
		return month, month.AddDate(0, 1, 0), nil
	case LastMonth:
		return month.AddDate(0, -1, 0), month, nil
	}
	return time.Time{}, time.Time{}, apperr.Invalid("period", "期間 %q は使えません (unknown period)", string(p)).Because(apperr.INVALID_CHOICE)
}

// maxSpan bounds the period per grouping: more rows than a screen or an
// accountant can use, and scans that would hold the database for long.
var maxSpan = map[GroupBy]time.Duration{
	ByHour: 31 * 24 * time.Hour,
	ByDay:  400 * 24 * time.Hour,
}

const defaultMaxSpan = 400 * 24 * time.Hour

func checkSpan(g GroupBy, from, to time.Time) error {
	if !from.Before(to) {
		return apperr.Invalid("to", "終了日時は開始日時より後にしてください (to must be after from)").Because(apperr.RANGE_REVERSED)
	}
	limit, ok := maxSpan[g]
	if !ok {
		limit = defaultMaxSpan
	}
	if to.Sub(from) > limit {
		return apperr.Invalid("to", "%s 単位の集計は %d 日までです (period too long for %s: at most %d days)",
			groupLabel[g], int(limit/(24*time.Hour)), g, int(limit/(24*time.Hour))).Because(apperr.RANGE_TOO_LONG)
	}
	return nil
}

var groupLabel = map[GroupBy]string{
	ByDay: "日", ByHour: "時間", ByShop: "店舗", ByTerminal: "端末", ByStaff: "担当", ByPaymentMethod: "支払い方法",
}

// segment is a stretch of time with one UTC offset.
type segment struct {
	until  time.Time // exclusive; zero for the last segment
	offset int       // seconds east of UTC
}

// offsets splits [from, to) at loc's offset changes, so SQLite, which has
// no time zone database, can shift each timestamp by the right offset.
// Asia/Tokyo yields one segment: JST has had no DST since 1951.
func offsets(loc *time.Location, from, to time.Time) []segment {
	_, off := from.In(loc).Zone()
	var segs []segment
	// Zone changes fall on whole quarter hours; step by hours and bisect.
	prev := from
	for t := from.Add(time.Hour); ; t = t.Add(time.Hour) {
		if t.After(to) {
			t = to
		}
		if _, o := t.In(loc).Zone(); o != off {
			lo, hi := prev, t
			for hi.Sub(lo) > time.Second {
				mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
				if _, mo := mid.In(loc).Zone(); mo == off {
					lo = mid
				} else {
					hi = mid
				}
			}
			segs = append(segs, segment{until: hi, offset: off})
			_, off = hi.In(loc).Zone()
		}
		if !t.Before(to) {
			break
		}
		prev = t
	}
	return append(segs, segment{offset: off})
}

// sqliteTime formats t like the stored column (modernc's "sqlite" time
// format in UTC), so text comparison orders by time.
func sqliteTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.999999999-07:00")
}

func minutes(sec int) string { return fmt.Sprintf("'%+d minutes'", sec/60) }
