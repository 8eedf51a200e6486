package graph

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/shopgroup"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/viewer"
)

// owns reports whether id names a row the viewer may see; another
// tenant's node must read as not found. It asks the database, not the
// loaded node, whose columns depend on what the query selected. The
// queries run as the viewer, so the ent privacy rules (ent/schema/rule)
// apply on top of the account predicate: a STAFF viewer owns only its
// shops' rows, and tables without a case here (users' sessions, API keys,
// the audit log) are never nodes.
func owns(ctx context.Context, c *ent.Client, acct, id pulid.ID) (bool, error) {
	table, err := ent.IDToType(ctx, id)
	if err != nil {
		return false, nil
	}
	switch table {
	case account.Table:
		return id == acct, nil
	case user.Table:
		return c.User.Query().Where(user.ID(id), user.AccountID(acct)).Exist(ctx)
	case shop.Table:
		return c.Shop.Query().Where(shop.ID(id), shop.AccountID(acct)).Exist(ctx)
	case shopgroup.Table:
		return c.ShopGroup.Query().Where(shopgroup.ID(id), shopgroup.AccountID(acct)).Exist(ctx)
	case camera.Table:
		return c.Camera.Query().Where(camera.ID(id), camera.AccountID(acct)).Exist(ctx)
	case posconnection.Table:
		return c.PosConnection.Query().Where(posconnection.ID(id), posconnection.AccountID(acct)).Exist(ctx)
	case terminal.Table:
		return c.Terminal.Query().Where(terminal.ID(id), terminal.AccountID(acct)).Exist(ctx)
	case link.Table:
		return c.Link.Query().Where(link.ID(id), link.AccountID(acct)).Exist(ctx)
	case journalentry.Table:
		return c.JournalEntry.Query().Where(journalentry.ID(id), journalentry.AccountID(acct)).Exist(ctx)
	case thumbnail.Table:
		return c.Thumbnail.Query().Where(thumbnail.ID(id), thumbnail.AccountID(acct)).Exist(ctx)
	}
	return false, nil
}

// mayGrant refuses an ADMIN giving or touching the OWNER role: only owners
// hand ownership around.
func mayGrant(v viewer.Viewer, role viewer.Role) error {
	if role == viewer.RoleOwner && v.Role != viewer.RoleOwner {
		return &apperr.Error{Code: apperr.Forbidden, Field: "role", Message: "オーナーの権限はオーナーだけが変更できます (only an OWNER manages owners)"}
	}
	return nil
}

// keepAnOwner refuses to remove the last OWNER of an account.
func (r *Resolver) keepAnOwner(ctx context.Context, u *ent.User) error {
	n, err := r.Client.User.Query().Where(user.RoleEQ(user.RoleOWNER), user.IDNEQ(u.ID)).Count(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return &apperr.Error{Code: apperr.Conflict, Field: "id", Message: "最後のオーナーは変更・削除できません (the account needs an OWNER)"}
	}
	return nil
}

// assignableShops checks that shops and shop groups are the viewer's.
func (r *Resolver) assignableShops(ctx context.Context, shopIDs, groupIDs []pulid.ID) ([]pulid.ID, error) {
	if len(shopIDs) > 0 {
		n, err := r.Client.Shop.Query().Where(shop.IDIn(shopIDs...)).Count(ctx)
		if err != nil {
			return nil, err
		}
		if n != len(slices.Compact(slices.Sorted(slices.Values(shopIDs)))) {
			return nil, apperr.Missing("shopIDs", "店舗が見つかりません (shop not found)")
		}
	}
	if len(groupIDs) > 0 {
		n, err := r.Client.ShopGroup.Query().Where(shopgroup.IDIn(groupIDs...)).Count(ctx)
		if err != nil {
			return nil, err
		}
		if n != len(slices.Compact(slices.Sorted(slices.Values(groupIDs)))) {
			return nil, apperr.Missing("shopGroupIDs", "店舗グループが見つかりません (shop group not found)")
		}
	}
	return shopIDs, nil
}

func (r *Resolver) audit(ctx context.Context, action string, target pulid.ID, detail string) {
	if err := audit.Record(ctx, r.Client, audit.Entry{Action: action, TargetID: string(target), Detail: detail}); err != nil {
		graphql.AddError(ctx, err)
	}
}

// readerOf returns the account of a viewer that may list the account's
// shops, cameras, terminals and links: journal:read, or links:write (the
// link portal of a partner).
func readerOf(ctx context.Context) (pulid.ID, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil && v.Allows(viewer.ScopeLinksWrite) {
		return v.AccountID, nil
	}
	return v.AccountID, err
}

// journalReaderOf returns the account of a viewer holding journal:read.
func journalReaderOf(ctx context.Context) (pulid.ID, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	return v.AccountID, err
}

// writerOf returns the account of a viewer holding journal:write (ingest).
func writerOf(ctx context.Context) (pulid.ID, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalWrite)
	return v.AccountID, err
}
