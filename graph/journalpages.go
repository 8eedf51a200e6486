package graph

import (
	"context"

	"github.com/regicam/regicam/journal"
)

// journalPage is a page of Query.journal, through the page cache when this
// process has one (pagecache decides what it may serve).
func (r *queryResolver) journalPage(ctx context.Context, f journal.Filter, first int, after *journal.Cursor) (*journal.Page, error) {
	if r.JournalPages == nil {
		return journal.List(ctx, r.Client, f, first, after, withEdges(ctx))
	}
	return r.JournalPages.List(ctx, f, first, after, edgeVariant(ctx), withEdges(ctx))
}

// edgeVariant names the edges withEdges loads for this selection: a page
// loaded without the camera is not the page a selection of the camera needs.
func edgeVariant(ctx context.Context) string {
	sel := nodeSelection(ctx)
	v := []byte("-----")
	for i, f := range []bool{sel["camera"], sel["terminal"], sel["shop"], sel["thumbnail"] || sel["picture"], sel["related"]} {
		if f {
			v[i] = '+'
		}
	}
	return string(v)
}
