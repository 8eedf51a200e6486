package shop_test

import (
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/shop"
)

func TestCheckHours(t *testing.T) {
	for _, c := range []struct {
		name  string
		in    schematype.BusinessHours
		field string // "" = accepted
	}{
		{"day span", schematype.BusinessHours{{Weekday: 1, Open: "10:00", Close: "20:00"}}, ""},
		{"past midnight", schematype.BusinessHours{{Weekday: 5, Open: "18:00", Close: "02:00"}}, ""},
		{"closing at midnight", schematype.BusinessHours{{Weekday: 0, Open: "09:00", Close: "00:00"}}, ""},
		{"open equals close", schematype.BusinessHours{{Weekday: 1, Open: "10:00", Close: "20:00"}, {Weekday: 2, Open: "09:30", Close: "09:30"}}, "in[1].close"},
		{"weekday twice", schematype.BusinessHours{{Weekday: 3, Open: "10:00", Close: "12:00"}, {Weekday: 3, Open: "13:00", Close: "18:00"}}, "in[1].weekday"},
		{"weekday -1", schematype.BusinessHours{{Weekday: -1, Open: "10:00", Close: "12:00"}}, "in[0].weekday"},
		{"one-digit hour", schematype.BusinessHours{{Weekday: 1, Open: "9:00", Close: "12:00"}}, "in[0].open"},
		{"24:00", schematype.BusinessHours{{Weekday: 1, Open: "10:00", Close: "24:00"}}, "in[0].close"},
		{"seconds", schematype.BusinessHours{{Weekday: 1, Open: "10:00:00", Close: "12:00"}}, "in[0].open"},
	} {
		_, err := shop.CheckHours("in", c.in)
		e, _ := apperr.As(err)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.field != "" && (e == nil || e.Code != apperr.BadUserInput || e.Field != c.field):
			t.Errorf("%s: got %v, want BAD_USER_INPUT on %s", c.name, err, c.field)
		}
	}
}

func TestCheckZone(t *testing.T) {
	for tz, ok := range map[string]bool{"Asia/Tokyo": true, "America/New_York": true, "UTC": true,
		"Asia/Atlantis": false, "": false, "Local": false, "../../etc/passwd": false} {
		if _, err := shop.CheckZone("input.timezone", tz); (err == nil) != ok {
			t.Errorf("%q: err %v, want accepted=%v", tz, err, ok)
		}
	}
}

func TestOpenAt(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	h := schematype.BusinessHours{{Weekday: 1, Open: "10:00", Close: "22:00"}, {Weekday: 6, Open: "18:00", Close: "02:00"}}
	at := func(s string) time.Time {
		t, err := time.ParseInLocation("2006-01-02 15:04", s, tokyo)
		if err != nil {
			panic(err)
		}
		return t.UTC() // OpenAt reads it in the shop's zone
	}
	for s, want := range map[string]bool{
		"2026-11-23 09:59": false, "2026-11-23 10:00": true, "2026-11-23 21:59": true, "2026-11-23 22:00": false, // Monday
		"2026-11-24 12:00": false,                                                     // Tuesday: no hours
		"2026-11-28 17:59": false, "2026-11-28 18:00": true, "2026-11-28 23:59": true, // Saturday
		"2026-11-29 00:00": true, "2026-11-29 01:59": true, "2026-11-29 02:00": false, // Sunday, Saturday's tail
		"2026-11-22 01:00": true, // Saturday the 21st's span runs into Sunday the 22nd too
	} {
		if got := shop.OpenAt(h, tokyo, at(s)); got != want {
			t.Errorf("%s JST: open=%v, want %v", s, got, want)
		}
	}
	if !shop.OpenAt(nil, tokyo, at("2026-11-24 03:00")) {
		t.Error("a shop without hours must count as always open")
	}
}
