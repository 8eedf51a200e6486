package graph

import (
	"context"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/schema/pulid"
)

// visibleTo reports whether a node fetched by id belongs to the viewer's
// account; another tenant's node must read as not found.
func visibleTo(n ent.Noder, acct pulid.ID) bool {
	switch n := n.(type) {
	case *ent.Account:
		return n.ID == acct
	case *ent.User:
		return n.AccountID == acct
	case *ent.Shop:
		return n.AccountID == acct
	case *ent.ShopGroup:
		return n.AccountID == acct
	case *ent.Camera:
		return n.AccountID == acct
	case *ent.PosConnection:
		return n.AccountID == acct
	case *ent.Terminal:
		return n.AccountID == acct
	case *ent.Link:
		return n.AccountID == acct
	case *ent.JournalEntry:
		return n.AccountID == acct
	case *ent.Thumbnail:
		return n.AccountID == acct
	}
	return false
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
