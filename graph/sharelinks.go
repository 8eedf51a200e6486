package graph

// Share links of a receipt's clip: the resolvers over package sharelink,
// which owns the rules (who may make one, the token, the clip window,
// expiry, the audit rows).

import (
	"context"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/sharelink"
)

// shareLinkService is the service the resolvers call. Without a
// configured one (Resolver.ShareLinks, built by app with the public URL)
// a link's URL is a path, which the dashboard resolves against its own
// origin.
func (r *Resolver) shareLinkService() *sharelink.Service {
	if r.ShareLinks != nil {
		return r.ShareLinks
	}
	return &sharelink.Service{Client: r.Client}
}

func (r *Resolver) createShareLink(ctx context.Context, in model.CreateShareLinkInput) (*model.CreatedShareLink, error) {
	ttl, err := sharelink.TTL(in.ExpiresInHours)
	if err != nil {
		return nil, err
	}
	var note string
	if in.Note != nil {
		note = *in.Note
	}
	l, url, err := r.shareLinkService().Create(ctx, in.EntryID, ttl, note)
	if err != nil {
		return nil, err
	}
	return &model.CreatedShareLink{Link: l, URL: url}, nil
}

func (r *Resolver) revokeShareLink(ctx context.Context, id pulid.ID) (*ent.ShareLink, error) {
	return r.shareLinkService().Revoke(ctx, id)
}

func (r *Resolver) shareLinks(ctx context.Context, entryID *pulid.ID, after *entgql.Cursor[pulid.ID], first *int) (*ent.ShareLinkConnection, error) {
	return r.shareLinkService().List(ctx, entryID, after, first)
}

// shareLinkEntry is the link's receipt as the viewer sees it; null once
// the receipt is gone.
func shareLinkEntry(ctx context.Context, l *ent.ShareLink) (*ent.JournalEntry, error) {
	e, err := l.QueryEntry().Where(journalentry.AccountID(l.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return e, err
}

func shareLinkActive(l *ent.ShareLink) bool { return sharelink.Active(l, time.Now()) }
