package playback

import (
	"context"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
)

// The clip of a receipt by default: 10 s before its second, 20 s after
// (an account changes them with updateRecordingSettings).
const (
	DefaultLeadIn  = 10 * time.Second
	DefaultLeadOut = 20 * time.Second
)

// ClipSpan is a receipt's clip: its mark (the entry's corrected time when
// its register's clock offset is known, else occurred_at) and the span
// around it by the account's lead-in and lead-out, read as the viewer in
// ctx. A clip is never empty: with both leads at 0 it is the mark's second.
func ClipSpan(ctx context.Context, c *ent.Client, e *ent.JournalEntry) (mark, from, to time.Time, err error) {
	mark = Mark(e)
	acc, err := c.Account.Query().Where(account.ID(e.AccountID)).
		Select(account.FieldClipLeadInSeconds, account.FieldClipLeadOutSeconds).Only(ctx)
	in, out := DefaultLeadIn, DefaultLeadOut
	switch {
	case err == nil:
		in = time.Duration(acc.ClipLeadInSeconds) * time.Second
		out = time.Duration(acc.ClipLeadOutSeconds) * time.Second
	case !ent.IsNotFound(err):
		return time.Time{}, time.Time{}, time.Time{}, err
	}
	if in+out == 0 {
		out = time.Second
	}
	return mark, mark.Add(-in), mark.Add(out), nil
}

// Mark is the receipt's second on the camera's clock: corrected_at ??
// occurred_at (ent/schema/journalentry.go).
func Mark(e *ent.JournalEntry) time.Time {
	if e.CorrectedAt != nil {
		return *e.CorrectedAt
	}
	return e.OccurredAt
}
