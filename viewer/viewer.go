// Package viewer carries who is asking through a request's context. Every
// read and write is scoped to the viewer's account.
package viewer

import (
	"context"
	"slices"

	"entgo.io/ent/privacy"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/pulid"
)

type ctxKey struct{}

// Scope is one permission a viewer may hold. Users get scopes from their
// role; API keys carry the scopes chosen when they were created.
type Scope string

const (
	ScopeJournalRead  Scope = "journal:read"  // journal, buckets, thumbnails, subscriptions
	ScopeJournalWrite Scope = "journal:write" // ingestJournal
	ScopeLinksWrite   Scope = "links:write"   // link portal: connections, terminals, links
	ScopeAdmin        Scope = "admin"         // users, API keys, audit log (OWNER/ADMIN sessions only)
)

// Role of a dashboard user.
type Role string

const (
	RoleOwner Role = "OWNER"
	RoleAdmin Role = "ADMIN"
	RoleStaff Role = "STAFF"
)

// Viewer is the caller of one request: a logged-in user (UserID set) or a
// partner's API key (APIKeyID set).
type Viewer struct {
	AccountID pulid.ID
	UserID    pulid.ID
	Role      Role
	APIKeyID  pulid.ID
	SessionID pulid.ID
	Scopes    []Scope
	// Restricted is true for STAFF: they see only ShopIDs (assigned directly
	// or through a ShopGroup). Other viewers see the whole account.
	Restricted bool
	ShopIDs    []pulid.ID
	// IP is the client address the request came from (for the audit log).
	IP string
}

// Allows reports whether v holds scope s.
func (v Viewer) Allows(s Scope) bool { return slices.Contains(v.Scopes, s) }

// SeesShop reports whether v may see rows of shop id.
func (v Viewer) SeesShop(id pulid.ID) bool {
	return !v.Restricted || slices.Contains(v.ShopIDs, id)
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

// Require returns the viewer of ctx when it holds scope s: UNAUTHENTICATED
// without a viewer, FORBIDDEN without the scope.
func Require(ctx context.Context, s Scope) (Viewer, error) {
	v, ok := FromContext(ctx)
	if !ok {
		return Viewer{}, apperr.Unauthenticatedf("ログインしてください (not signed in)").Because(apperr.NOT_SIGNED_IN)
	}
	if !v.Allows(s) {
		return v, apperr.Forbiddenf("この操作の権限がありません (needs %s)", string(s)).Because(apperr.FORBIDDEN)
	}
	return v, nil
}

type systemKey struct{}

// System marks ctx as the server's own work (POS polling, webhooks, the
// demo generator, retention sweeps, the live feed): ent privacy rules
// allow it everything, and no viewer is needed. Request handlers never use
// it for what a caller asked; they run as the caller's viewer.
func System(ctx context.Context) context.Context {
	return privacy.DecisionContext(context.WithValue(ctx, systemKey{}, true), privacy.Allow)
}

// IsSystem reports whether ctx was made by System.
func IsSystem(ctx context.Context) bool {
	b, _ := ctx.Value(systemKey{}).(bool)
	return b
}

type requestKey struct{}

// InRequest marks ctx as serving a caller over the network: without a
// viewer it may read nothing (see ent/schema/rule).
func InRequest(ctx context.Context) bool {
	b, _ := ctx.Value(requestKey{}).(bool)
	return b
}

// WithRequest marks ctx as serving a caller over the network.
func WithRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, requestKey{}, true)
}
