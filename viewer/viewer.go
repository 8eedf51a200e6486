// Package viewer carries who is asking through a request's context. Every
// read and write is scoped to the viewer's account.
package viewer

import (
	"context"

	"github.com/regicam/regicam/ent/schema/pulid"
)

type ctxKey struct{}

// Viewer is the caller of one request.
type Viewer struct {
	AccountID pulid.ID
}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer of ctx, if any.
func FromContext(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(ctxKey{}).(Viewer)
	return v, ok && v.AccountID != ""
}
