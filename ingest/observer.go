package ingest

import (
	"context"

	"github.com/regicam/regicam/ent"
)

// Observer is told of every new entry after its transaction committed (the
// exception rules of package alerts). It must not fail the ingest: it
// handles its own errors.
type Observer interface {
	Observe(ctx context.Context, e *ent.JournalEntry)
}

func (in *Ingester) observe(ctx context.Context, e *ent.JournalEntry) {
	if in.Observer != nil {
		in.Observer.Observe(ctx, e)
	}
}
