package ubiregi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Money is an amount in 1/10000 yen. Ubiregi sends amounts as decimal
// strings ("385.0"); keeping the fraction until the very end means a line's
// sales + tax − discounts is rounded once, as the register rounds it.
type Money int64

const moneyScale = 10000

// Yen rounds m to whole yen, halves away from zero.
func (m Money) Yen() int64 {
	q, r := int64(m)/moneyScale, int64(m)%moneyScale
	switch {
	case r >= moneyScale/2:
		q++
	case r <= -moneyScale/2:
		q--
	}
	return q
}

// The limit keeps sums of a thousand lines far from int64 overflow; no
// register sells anything near ¥10^13.
const maxMoneyDigits = 13

var errNotNumber = errors.New("not a decimal number")

// ParseMoney reads a decimal string such as "385.0", "-12" or "0.4762".
// Exponents, thousands separators and NaN are refused: they are not what
// Ubiregi sends, and guessing would turn garbage into a sale.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && (!hasDot || frac == "") {
		return 0, errNotNumber
	}
	if len(intPart) > maxMoneyDigits {
		return 0, fmt.Errorf("amount %q out of range", s)
	}
	var v int64
	for i := 0; i < len(intPart); i++ {
		c := intPart[i]
		if c < '0' || c > '9' {
			return 0, errNotNumber
		}
		v = v*10 + int64(c-'0')
	}
	var f int64
	scale := int64(moneyScale)
	for i := 0; i < len(frac); i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0, errNotNumber
		}
		// Digits past 1/10000 yen are cut, not rounded: cutting never moves
		// a value across the half-yen that Yen rounds at, rounding twice
		// could ("0.49999").
		if scale > 1 {
			scale /= 10
			f += int64(c-'0') * scale
		}
	}
	v = v*moneyScale + f
	if neg {
		v = -v
	}
	return Money(v), nil
}

// UnmarshalJSON takes the documented string form and, because clients of
// other versions have been seen sending them, bare JSON numbers; null is 0.
func (m *Money) UnmarshalJSON(b []byte) error {
	s, err := scalar(b)
	if err != nil {
		return err
	}
	if s == "" {
		*m = 0
		return nil
	}
	v, err := ParseMoney(s)
	if err != nil {
		return fmt.Errorf("amount %.40q: %w", s, err)
	}
	*m = v
	return nil
}

// scalar returns a JSON string's contents or a number's text; null and ""
// give "". Objects, arrays and booleans are errors.
func scalar(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		return "", nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", err
		}
		return s, nil
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		return string(b), nil
	}
	return "", fmt.Errorf("want a string or number, got %.20s", b)
}

// flexID is an id Ubiregi documents as a number but which some endpoints
// and older clients send as a string; the journal keeps ids as text.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	s, err := scalar(b)
	if err != nil {
		return err
	}
	if strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseFloat(s, 64); err == nil && n == float64(int64(n)) {
			s = strconv.FormatInt(int64(n), 10)
		}
	}
	*f = flexID(s)
	return nil
}

// flexInt is a count sent as a number or numeric string.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s, err := scalar(b)
	if err != nil {
		return err
	}
	if s == "" {
		*f = 0
		return nil
	}
	m, err := ParseMoney(s)
	if err != nil {
		return fmt.Errorf("count %.40q: %w", s, err)
	}
	if m%moneyScale != 0 {
		return fmt.Errorf("count %.40q is not a whole number", s)
	}
	n := int64(m) / moneyScale
	if n > 1<<31-1 || n < -(1<<31) {
		return fmt.Errorf("count %.40q out of range", s)
	}
	*f = flexInt(n)
	return nil
}

// Time layouts seen from Ubiregi: RFC 3339 in UTC ("…Z") is documented;
// offsets, fractions and the zone-less form are accepted because a time is
// worth more than a strict parser.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
}

// ParseTime reads a Ubiregi timestamp; a time without zone is UTC, as the
// API documents all its times to be.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if y := t.UTC().Year(); y < 2000 || y > 2200 {
				return time.Time{}, fmt.Errorf("time %.40q out of range", s)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %.40q: not RFC 3339", s)
}

// FormatTime writes t the way Ubiregi writes times, for a since cursor.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// flexTime is an optional timestamp; null and "" are zero.
type flexTime time.Time

func (f *flexTime) UnmarshalJSON(b []byte) error {
	s, err := scalar(b)
	if err != nil {
		return err
	}
	if s == "" {
		*f = flexTime{}
		return nil
	}
	t, err := ParseTime(s)
	if err != nil {
		return err
	}
	*f = flexTime(t)
	return nil
}

// looseTime is a register-supplied time (paid_at, created_at): one that
// cannot be read counts as absent, and Records falls back to the server's
// updated_at, because a sale placed at the upload time beats a lost sale.
type looseTime time.Time

func (f *looseTime) UnmarshalJSON(b []byte) error {
	var t flexTime
	if t.UnmarshalJSON(b) != nil {
		t = flexTime{}
	}
	*f = looseTime(t)
	return nil
}
