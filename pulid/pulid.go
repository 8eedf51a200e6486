// Package pulid implements type-prefixed ULIDs: global IDs that say which
// entity they name (so node(id) needs no lookup table) and carry 80 random
// bits, so a partner cannot guess another tenant's ids.
package pulid

import (
	"crypto/rand"
	"database/sql/driver"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/regicam/regicam/apperr"
)

// ID is a prefixed ULID such as "JE01J9Z3...".
type ID string

// PrefixLen is the length of every entity prefix.
const PrefixLen = 2

var (
	entropyMu sync.Mutex
	entropy   = ulid.Monotonic(rand.Reader, 0)
)

// MustNew returns a new ID for now with the given prefix.
func MustNew(prefix string) ID {
	entropyMu.Lock()
	defer entropyMu.Unlock()
	return ID(prefix + ulid.MustNew(ulid.Timestamp(time.Now()), entropy).String())
}

// Valid reports whether s has the shape of an ID with the given prefix
// (any prefix when prefix is empty).
func Valid(s string, prefix string) bool {
	if len(s) != PrefixLen+ulid.EncodedSize {
		return false
	}
	if prefix != "" && s[:PrefixLen] != prefix {
		return false
	}
	_, err := ulid.ParseStrict(s[PrefixLen:])
	return err == nil
}

// Prefix returns the entity prefix of id.
func (u ID) Prefix() string {
	if len(u) < PrefixLen {
		return ""
	}
	return string(u[:PrefixLen])
}

// UnmarshalGQL implements graphql.Unmarshaler.
func (u *ID) UnmarshalGQL(v any) error {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case ID:
		s = string(v)
	default:
		return apperr.Invalid("", "ID は文字列で指定してください (ID must be a string, got %T)", v).Because(apperr.INVALID_ID)
	}
	if !Valid(s, "") {
		return apperr.Invalid("", "ID の形式が正しくありません (%q is not a valid ID)", s).Because(apperr.INVALID_ID)
	}
	*u = ID(s)
	return nil
}

// MarshalGQL implements graphql.Marshaler.
func (u ID) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(string(u)))
}

// Scan implements sql.Scanner.
func (u *ID) Scan(src any) error {
	switch src := src.(type) {
	case string:
		*u = ID(src)
	case []byte:
		*u = ID(src)
	case ID:
		*u = src
	case nil:
		return fmt.Errorf("pulid: expected a value")
	default:
		return fmt.Errorf("pulid: unexpected type %T", src)
	}
	return nil
}

// Value implements driver.Valuer.
func (u ID) Value() (driver.Value, error) { return string(u), nil }
