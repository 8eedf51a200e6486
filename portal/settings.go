package portal

import (
	"cmp"
	"context"
	"slices"
	"strconv"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pos/smaregi"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Settings lists the link table rows of the viewer's account, by
// provider, contract and 端末ID; provider nil means every connection.
// Rows show connection settings (masked secrets included), so they need
// links:write like the changes made from them.
func (s *Service) Settings(ctx context.Context, provider *posconnection.Provider) ([]*LinkSetting, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, err
	}
	q := s.Client.PosConnection.Query().Where(posconnection.AccountID(v.AccountID))
	if provider != nil {
		q.Where(posconnection.ProviderEQ(*provider))
	}
	conns, err := q.All(ctx)
	if err != nil {
		return nil, err
	}
	if len(conns) == 0 {
		return []*LinkSetting{}, nil
	}
	ids := make([]pulid.ID, len(conns))
	for i, c := range conns {
		ids[i] = c.ID
	}
	terms, err := s.Client.Terminal.Query().
		Where(terminal.AccountID(v.AccountID), terminal.ConnectionIDIn(ids...)).All(ctx)
	if err != nil {
		return nil, err
	}
	return s.rows(ctx, v, conns, terms)
}

// settingOf is the row of one terminal of the viewer's account.
func (s *Service) settingOf(ctx context.Context, v viewer.Viewer, terminalID pulid.ID) (*LinkSetting, error) {
	t, err := s.Client.Terminal.Query().
		Where(terminal.ID(terminalID), terminal.AccountID(v.AccountID)).WithConnection().Only(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.rows(ctx, v, []*ent.PosConnection{t.Edges.Connection}, []*ent.Terminal{t})
	if err != nil {
		return nil, err
	}
	return rows[0], nil
}

func (s *Service) rows(ctx context.Context, v viewer.Viewer, conns []*ent.PosConnection, terms []*ent.Terminal) ([]*LinkSetting, error) {
	termIDs := make([]pulid.ID, 0, len(terms))
	byConn := map[pulid.ID][]*ent.Terminal{}
	for _, t := range terms {
		if !v.SeesShop(t.ShopID) {
			continue
		}
		termIDs = append(termIDs, t.ID)
		byConn[t.ConnectionID] = append(byConn[t.ConnectionID], t)
	}
	links, err := s.Client.Link.Query().
		Where(link.AccountID(v.AccountID), link.TerminalIDIn(termIDs...), link.EndedAtIsNil()).
		WithCamera().All(ctx)
	if err != nil {
		return nil, err
	}
	active := make(map[pulid.ID]*ent.Link, len(links))
	for _, l := range links {
		active[l.TerminalID] = l
	}
	slices.SortFunc(conns, func(a, b *ent.PosConnection) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), naturalCompare(a.ContractID, b.ContractID), cmp.Compare(a.ID, b.ID))
	})
	out := []*LinkSetting{}
	for _, c := range conns {
		base := LinkSetting{ID: c.ID, Connection: c, Provider: c.Provider, ContractID: c.ContractID,
			SecretHint: c.SecretHint, Status: c.Status, LastSyncAt: c.LastSyncAt, LastError: c.LastError}
		if c.Provider == posconnection.ProviderSMAREGI {
			if err := smaregi.CheckCredentialKind(c.CredentialKind); err != nil {
				// A credential of the retired API cannot work: say so before
				// the poller has tried it.
				base.Status = posconnection.StatusNEEDS_REAUTH
				if base.LastError == "" {
					base.LastError = err.Error()
				}
			}
		}
		ts := byConn[c.ID]
		if len(ts) == 0 {
			if !v.Restricted { // STAFF see registers of their shops only
				row := base
				out = append(out, &row)
			}
			continue
		}
		slices.SortFunc(ts, func(a, b *ent.Terminal) int {
			return cmp.Or(naturalCompare(a.ExternalID, b.ExternalID), cmp.Compare(a.ID, b.ID))
		})
		for _, t := range ts {
			row := base
			row.ID, row.Terminal, row.TerminalExternalID, row.TerminalName = t.ID, t, t.ExternalID, t.Name
			if l := active[t.ID]; l != nil {
				row.Link, row.Camera, row.CameraLabel = l, l.Edges.Camera, Label(l.Edges.Camera)
			}
			out = append(out, &row)
		}
	}
	return out, nil
}

// naturalCompare orders register ids as the owner counts them: 2 before
// 10; non-numeric ids after numeric ones, as text.
func naturalCompare(a, b string) int {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	switch {
	case errA == nil && errB == nil:
		return cmp.Compare(x, y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(a, b)
}
