package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pulid"
)

// ErrNoEntry: RecordPresence was given an entry that does not exist.
var ErrNoEntry = errors.New("ingest: no such journal entry")

// RecordPresence stores how many people the camera saw around an entry
// (persons nil: checked, but unknown — e.g. past the cloud's retention) and
// appends an UPDATED event in the same transaction, so live views refresh
// the card exactly once. An entry already checked is left alone and gets
// no second event: two replicas checking the same entry record it once.
func (in *Ingester) RecordPresence(ctx context.Context, entryID pulid.ID, persons *int, checkedAt time.Time) error {
	if persons != nil && *persons < 0 {
		return fmt.Errorf("record presence of %s: negative count %d", entryID, *persons)
	}
	tx, err := in.client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("record presence: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// The conditional update is the idempotency: on PostgreSQL a second
	// writer waits on the row lock and then matches nothing.
	n, err := tx.JournalEntry.Update().
		Where(journalentry.ID(entryID), journalentry.PersonsCheckedAtIsNil()).
		SetNillablePersonsNearby(persons).SetPersonsCheckedAt(normTime(checkedAt)).Save(ctx)
	if err != nil {
		return fmt.Errorf("record presence of %s: %w", entryID, err)
	}
	if n == 0 {
		exists, err := tx.JournalEntry.Query().Where(journalentry.ID(entryID)).Exist(ctx)
		if err != nil {
			return fmt.Errorf("record presence of %s: %w", entryID, err)
		}
		if !exists {
			return fmt.Errorf("record presence of %s: %w", entryID, ErrNoEntry)
		}
		return nil // already checked
	}
	e, err := tx.JournalEntry.Query().Where(journalentry.ID(entryID)).
		Select(journalentry.FieldID, journalentry.FieldAccountID, journalentry.FieldCameraID).Only(ctx)
	if err != nil {
		return fmt.Errorf("record presence of %s: %w", entryID, err)
	}
	id, err := in.appendEvents(ctx, tx, eventOf{e, event.TypeUPDATED})
	if err != nil {
		return fmt.Errorf("record presence of %s: %w", entryID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record presence of %s: %w", entryID, err)
	}
	in.publish(ctx, id)
	return nil
}
