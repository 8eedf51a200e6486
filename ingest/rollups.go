package ingest

import (
	"context"
	"fmt"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/event"
)

// Rollups keeps figures derived from the journal in step with it (package
// reports/rollup). Count runs inside the transaction that inserts the
// entries, after the event lock is taken: an entry that commits is counted
// with it, one that rolls back is not, a duplicate inserts nothing and so
// counts nothing, and a rebuild that takes the same lock never interleaves.
// An error fails the ingest, since a count that did not happen cannot be
// made up later without rebuilding.
type Rollups interface {
	Count(ctx context.Context, tx *ent.Tx, entries []*ent.JournalEntry) error
}

// countInRollups hands the new entries among evs to the Rollups, if set.
func (in *Ingester) countInRollups(ctx context.Context, tx *ent.Tx, evs []eventOf) error {
	if in.Rollups == nil {
		return nil
	}
	var added []*ent.JournalEntry
	for _, e := range evs {
		if e.typ == event.TypeADDED {
			added = append(added, e.entry)
		}
	}
	if len(added) == 0 {
		return nil
	}
	if err := in.Rollups.Count(ctx, tx, added); err != nil {
		return fmt.Errorf("count in rollups: %w", err)
	}
	return nil
}
