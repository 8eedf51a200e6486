// Package textcheck decides whether a string can be stored as text: no NUL
// byte and valid UTF-8. PostgreSQL refuses both (SQLSTATE 22021, and
// 22P05 for a \u0000 inside jsonb) while SQLite stores them, so without
// this check the same input is an INTERNAL error on one backend and
// stored garbage on the other. Callers at the edge (GraphQL arguments,
// CSV filters, partner payloads) refuse such text with BAD_USER_INPUT
// naming the field; data from POS providers, which the owner cannot fix,
// is cleaned instead (Clean, CleanJSON).
package textcheck

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/regicam/regicam/apperr"
)

// Problem names what makes s unstorable, or returns "" when s is fine.
func Problem(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return "NUL"
	case !utf8.ValidString(s):
		return "不正な UTF-8"
	}
	return ""
}

// String returns BAD_USER_INPUT on field when s cannot be stored.
func String(field, s string) error {
	switch Problem(s) {
	case "":
		return nil
	case "NUL":
		return apperr.Invalid(field, "文字列に使えない文字 (NUL) が含まれています (text contains a NUL byte)").Because(apperr.INVALID_TEXT)
	default:
		return apperr.Invalid(field, "文字列に使えない文字 (不正な UTF-8) が含まれています (text is not valid UTF-8)").Because(apperr.INVALID_TEXT)
	}
}

// Value walks a decoded JSON value (GraphQL variables, a JSON scalar) and
// returns the error of the first unstorable string, keys included, with
// its path below field: "input[2].staffName", "raw.note".
func Value(field string, v any) error {
	if !bad(v) {
		return nil // the common case, without building a path
	}
	return locate(field, v)
}

// bad reports whether v holds an unstorable string; it allocates nothing.
func bad(v any) bool {
	switch v := v.(type) {
	case string:
		return Problem(v) != ""
	case []any:
		for _, c := range v {
			if bad(c) {
				return true
			}
		}
	case []string:
		for _, c := range v {
			if Problem(c) != "" {
				return true
			}
		}
	case map[string]any:
		for k, c := range v {
			if Problem(k) != "" || bad(c) {
				return true
			}
		}
	}
	return false
}

// locate names the first unstorable string of v in a stable order.
func locate(field string, v any) error {
	switch v := v.(type) {
	case string:
		return String(field, v)
	case []any:
		for i, c := range v {
			if err := locate(fmt.Sprintf("%s[%d]", field, i), c); err != nil {
				return err
			}
		}
	case []string:
		for i, c := range v {
			if err := String(fmt.Sprintf("%s[%d]", field, i), c); err != nil {
				return err
			}
		}
	case map[string]any:
		// Sorted, so the same input always names the same field.
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := String(join(field, "(key)"), k); err != nil {
				return err
			}
			if err := locate(join(field, k), v[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// JSON checks every string and key of a JSON document. A document that
// does not decode is left to the caller's own parsing.
func JSON(field string, raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	if !utf8.Valid(raw) {
		// encoding/json quietly turns invalid UTF-8 into U+FFFD; the caller
		// would store the original bytes.
		return String(field, string(raw))
	}
	return Value(field, v)
}

func join(field, name string) string {
	if field == "" {
		return name
	}
	return field + "." + name
}

// Clean removes NUL bytes and replaces invalid UTF-8 with U+FFFD: for
// text a provider sends that must be stored anyway.
func Clean(s string) string {
	if Problem(s) == "" {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// CleanJSON returns raw with Clean applied to every string and key, or
// raw itself when nothing needed cleaning (or it does not decode).
func CleanJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || JSON("", raw) == nil {
		return raw
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	out, err := json.Marshal(cleanValue(v))
	if err != nil {
		return raw
	}
	return out
}

func cleanValue(v any) any {
	switch v := v.(type) {
	case string:
		return Clean(v)
	case []any:
		for i, c := range v {
			v[i] = cleanValue(c)
		}
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, c := range v {
			out[Clean(k)] = cleanValue(c)
		}
		return out
	}
	return v
}
