package journal

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/pulid"
)

// Cursor is a keyset position in the newest-first journal order. Keyset,
// not offset, so pages stay stable while new entries arrive on top.
type Cursor struct {
	OccurredAt time.Time
	ID         pulid.ID
}

// Encode returns the opaque cursor string.
func (c Cursor) Encode() string {
	raw := strconv.FormatInt(c.OccurredAt.UnixMicro(), 10) + ":" + string(c.ID)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor parses a cursor produced by Encode; field names the argument
// for the error.
func DecodeCursor(s, field string) (Cursor, error) {
	bad := apperr.Invalid(field, "カーソルが不正です (malformed cursor): use an edge cursor returned by a previous page").Because(apperr.CURSOR_INVALID)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	ts, id, ok := strings.Cut(string(raw), ":")
	if !ok || !pulid.Valid(id, "JE") {
		return Cursor{}, bad
	}
	us, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Cursor{}, bad
	}
	return Cursor{OccurredAt: time.UnixMicro(us).UTC(), ID: pulid.ID(id)}, nil
}
