package pos

import (
	"context"
	"time"

	"github.com/regicam/regicam/ent"
)

// Source is one provider connection as the runtime sees it.
type Source interface {
	// Poll returns the records changed since cursor and the cursor to keep
	// once they are stored ("" cursor: the provider's sensible start).
	Poll(ctx context.Context, cursor string) (recs []Record, next string, err error)
}

// Backfiller reads a past range in windows, handing each window's records
// to emit as it goes.
type Backfiller interface {
	Backfill(ctx context.Context, from, to time.Time, emit func(window, windows int, recs []Record) error) error
}

// Factory builds the Source of a connection row; it may open its sealed
// secrets. Returning an error wrapping ErrAuth or
// ErrLegacyCredentials marks the connection NEEDS_REAUTH.
type Factory func(ctx context.Context, c *ent.PosConnection) (Source, error)

// Reconciler is a Source that can re-read a recent past for the
// reconciliation sweep (pos/polling/reconcile.go), which compares the
// provider's records with what was ingested and so finds sales that
// vanished without a webhook and changes the poller did not see.
type Reconciler interface {
	// Reconcile returns every record the provider holds now of the sales
	// in [from, to), paced within the provider's rate limits and page
	// caps; a window the provider refuses (too long, 429) is split or
	// retried, never skipped. An error means the listing is incomplete:
	// the sweep then concludes nothing.
	Reconcile(ctx context.Context, from, to time.Time) ([]Record, error)
	// Gone returns which of ids (sale ExternalIDs ingested with a time in
	// the window that Reconcile did not list) the provider no longer has.
	// A provider that can look an id up asks it; one whose listing is
	// complete by construction returns ids. Only these become DELETE
	// entries.
	Gone(ctx context.Context, ids []string) ([]string, error)
}
