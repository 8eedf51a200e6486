package portal

import (
	"context"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/viewer"
)

// UbiregiAvailable reports whether this server has an Ubiregi OAuth client.
func (s *Service) UbiregiAvailable(ctx context.Context) (bool, error) {
	if _, err := viewer.Require(ctx, viewer.ScopeJournalRead); err != nil {
		return false, err
	}
	return s.Ubiregi != nil, nil
}

// StartUbiregi returns the consent URL the dashboard's ユビレジ OAuth2 連携
// button opens; the callback comes back to returnTo (a path on this site).
func (s *Service) StartUbiregi(ctx context.Context, returnTo *string) (*UbiregiAuthorization, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, err
	}
	if s.Ubiregi == nil {
		return nil, apperr.Invalid("", "このサーバーではユビレジ連携が設定されていません (no Ubiregi OAuth client is configured)").Because(apperr.FEATURE_DISABLED)
	}
	back := ""
	if returnTo != nil {
		back = *returnTo
	}
	u, exp, err := s.Ubiregi.AuthorizeURLFor(v, back)
	if err != nil {
		return nil, err
	}
	return &UbiregiAuthorization{AuthorizeURL: u, ExpiresAt: exp}, nil
}

// UbiregiSaved records a connection the OAuth callback stored and starts
// polling it.
func (s *Service) UbiregiSaved(ctx context.Context, conn *ent.PosConnection) {
	if err := audit.Record(ctx, s.Client, audit.Entry{Action: "connection.credentials_changed", TargetID: string(conn.ID),
		Detail: "UBIREGI アカウント " + conn.ContractID + " を OAuth で連携"}); err != nil {
		s.log().ErrorContext(ctx, "portal: audit ubiregi connection", "connection", conn.ID, "err", err)
	}
	s.credentialsSaved(ctx)
}
