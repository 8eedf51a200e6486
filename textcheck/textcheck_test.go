package textcheck

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/regicam/regicam/apperr"
)

func TestValueNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     any
		field string // "" when the value is fine
		what  string
	}{
		{"plain", map[string]any{"staff": "山田", "n": 3.0, "ok": true, "none": nil}, "", ""},
		{"nul in a string", "a\x00b", "input", "NUL"},
		{"invalid utf-8", "\xff", "input", "不正な UTF-8"},
		{"list element", []any{"ok", "x\x00"}, "input[1]", "NUL"},
		{"nested object", []any{map[string]any{"staffName": "ok", "items": []any{map[string]any{"name": "\x00"}}}}, "input[0].items[0].name", "NUL"},
		{"object key", map[string]any{"no\x00te": "x"}, "input.(key)", "NUL"},
		{"string list", []string{"VISA", "現金\x00"}, "input[1]", "NUL"},
		{"first in key order", map[string]any{"b": "\x00", "a": "\x00"}, "input.a", "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Value("input", tc.v)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.BadUserInput || e.Field != tc.field || !strings.Contains(e.Message, "("+tc.what+")") {
				t.Fatalf("got %#v, want BAD_USER_INPUT on %s about %s", err, tc.field, tc.what)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	if err := JSON("raw", []byte(`{"note":"a\u0000b"}`)); err == nil || !strings.HasPrefix(err.Error(), "raw.note: ") {
		t.Fatalf("escaped NUL: %v", err)
	}
	if err := JSON("raw", []byte("{\"note\":\"\xff\"}")); err == nil {
		t.Fatal("invalid UTF-8 in the document passed")
	}
	if err := JSON("raw", []byte(`{"note":"普通"}`)); err != nil {
		t.Fatal(err)
	}
}

func TestClean(t *testing.T) {
	if got := Clean("山\x00田\xff"); got != "山田\uFFFD" {
		t.Fatalf("Clean: %q", got)
	}
	if s := "そのまま"; Clean(s) != s {
		t.Fatal("clean text changed")
	}
	raw := CleanJSON(json.RawMessage(`{"a\u0000":["x\u0000y"]}`))
	if JSON("", raw) != nil || string(raw) != `{"a":["xy"]}` {
		t.Fatalf("CleanJSON: %s", raw)
	}
	same := json.RawMessage(`{"b": 1,  "a": 2}`)
	if got := CleanJSON(same); string(got) != string(same) {
		t.Fatalf("clean JSON rewritten: %s", got)
	}
}

// BenchmarkValue walks variables the size of a full ingestJournal batch
// (1,000 receipts of 14 strings and 3 items each): the price every
// operation pays for the edge check.
func BenchmarkValue(b *testing.B) {
	items := make([]any, 1000)
	for i := range items {
		items[i] = map[string]any{
			"terminalID": "TE01HZXJ4Q8Y3V6W2N5R7T9K0M", "externalID": "tx-000123", "kind": "PAYMENT",
			"occurredAt": "2026-03-01T18:04:05+09:00", "receiptNo": "0042", "registerNo": "1", "staffID": "7",
			"staffName": "山田 太郎", "paymentMethod": "クレジットカード", "maskedCard": "411111******11",
			"relatedExternalID": "", "updatedAt": "2026-03-01T18:04:05+09:00", "enteredAt": "2026-03-01T18:00:00+09:00",
			"total": 1200.0, "deposit": 1200.0, "change": 0.0,
			"items": []any{
				map[string]any{"name": "ブレンドコーヒー", "quantity": 2.0, "amount": 800.0},
				map[string]any{"name": "チーズケーキ", "quantity": 1.0, "amount": 400.0},
				map[string]any{"name": "袋", "quantity": 1.0, "amount": 0.0},
			},
		}
	}
	vars := map[string]any{"input": items}
	for b.Loop() {
		if err := Value("", vars); err != nil {
			b.Fatal(err)
		}
	}
}
