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

// Observers tells each of its observers in turn (alert rules, clip
// prewarming); a PictureObserver among them is told of pictures too.
type Observers []Observer

// Observe tells each observer of e.
func (os Observers) Observe(ctx context.Context, e *ent.JournalEntry) {
	for _, o := range os {
		if o != nil {
			o.Observe(ctx, e)
		}
	}
}

// ObservePicture tells each observer that is a PictureObserver.
func (os Observers) ObservePicture(ctx context.Context, e *ent.JournalEntry) {
	for _, o := range os {
		if po, ok := o.(PictureObserver); ok {
			po.ObservePicture(ctx, e)
		}
	}
}
