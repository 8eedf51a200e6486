package feed

import (
	"context"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/viewer"
)

// Resume reads where a subscription starts from its cursor argument
// (field names it): nil without a cursor (the live end), else the event
// id to resume after. A cursor past the newest event is refused: one from
// another installation (or a restored backup) would silently skip every
// event up to it.
func Resume(ctx context.Context, client *ent.Client, cursor *string, field string) (*int64, error) {
	if cursor == nil {
		return nil, nil
	}
	id, err := DecodeCursor(*cursor, field)
	if err != nil {
		return nil, err
	}
	// The newest event of all accounts, read as the system: event ids, and
	// so cursors, count across them.
	newest, err := Newest(viewer.System(ctx), client)
	if err != nil {
		return nil, err
	}
	if id > newest {
		return nil, apperr.Invalid(field, "このカーソルはまだ存在しないイベントを指しています (cursor is ahead of the newest event)").Because(apperr.CURSOR_INVALID)
	}
	return &id, nil
}
