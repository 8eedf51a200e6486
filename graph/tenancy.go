package graph

import (
	"context"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/ent/investigation"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/sharelink"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/shopgroup"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/pulid"
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
	table, err := nodeType(ctx, id)
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
	case cameracloudconnection.Table:
		if !seesCameraClouds(ctx) {
			return false, nil
		}
		return c.CameraCloudConnection.Query().Where(cameracloudconnection.ID(id), cameracloudconnection.AccountID(acct)).Exist(ctx)
	case link.Table:
		return c.Link.Query().Where(link.ID(id), link.AccountID(acct)).Exist(ctx)
	case journalentry.Table:
		return c.JournalEntry.Query().Where(journalentry.ID(id), journalentry.AccountID(acct)).Exist(ctx)
	case thumbnail.Table:
		return c.Thumbnail.Query().Where(thumbnail.ID(id), thumbnail.AccountID(acct)).Exist(ctx)
	case sharelink.Table:
		// Share links are the managers' (access.Table): STAFF and keys
		// do not see them as nodes either.
		if v, _ := viewer.FromContext(ctx); !v.Allows(viewer.ScopeAdmin) {
			return false, nil
		}
		return c.ShareLink.Query().Where(sharelink.ID(id), sharelink.AccountID(acct)).Exist(ctx)
	case investigation.Table:
		// A case is journal data: a key that only links registers
		// (links:write) does not read it, as it cannot list cases.
		if v, _ := viewer.FromContext(ctx); !v.Allows(viewer.ScopeJournalRead) {
			return false, nil
		}
		return c.Investigation.Query().Where(investigation.ID(id), investigation.AccountID(acct)).Exist(ctx)
	}
	// A case's notes (CN) and history rows (CV) are not nodes: they are
	// read through their case, and their ids answer NOT_FOUND here.
	return false, nil
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

// nodeType is ent.IDToType with the camera-cloud connections, a Node of
// the schema that ent's prefix map leaves out (its template skips every
// type with an entgql.Skip annotation, and the connection skips its
// filters and inputs).
func nodeType(ctx context.Context, id pulid.ID) (string, error) {
	if id.Prefix() == "CC" {
		return cameracloudconnection.Table, nil
	}
	return ent.IDToType(ctx, id)
}
