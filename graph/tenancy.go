package graph

import (
	"context"

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
)

// owns reports whether id names a row of the viewer's account; another
// tenant's node must read as not found. It asks the database, not the
// loaded node, whose columns depend on what the query selected.
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

// ownConnection loads a POS connection of the viewer's account.
func (r *Resolver) ownConnection(ctx context.Context, id pulid.ID) (*ent.PosConnection, error) {
	acct, err := accountOf(ctx)
	if err != nil {
		return nil, err
	}
	c, err := r.Client.PosConnection.Query().Where(posconnection.ID(id), posconnection.AccountID(acct)).Only(ctx)
	if err != nil {
		return nil, notFound("id", err)
	}
	return c, nil
}
