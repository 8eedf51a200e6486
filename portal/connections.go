package portal

import (
	"context"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/pos/webhook"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// ownConnection loads a POS connection of the viewer's account; any other
// id is NOT_FOUND on "id".
func (s *Service) ownConnection(ctx context.Context, id pulid.ID) (*ent.PosConnection, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, err
	}
	c, err := s.Client.PosConnection.Query().Where(posconnection.ID(id), posconnection.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Missing("id", "POS 連携が見つかりません (connection not found)").Because(apperr.NOT_FOUND)
	}
	return c, err
}

func (s *Service) connectorsOn() error {
	if s.Connectors == nil {
		return apperr.Invalid("id", "POS 連携は無効です (connectors are disabled)").Because(apperr.FEATURE_DISABLED)
	}
	return nil
}

// SyncConnection polls a connection now; the poll's own failure is
// recorded on the connection (status, lastError, nextRetryAt), which is
// what the caller reads back.
func (s *Service) SyncConnection(ctx context.Context, id pulid.ID) (*ent.PosConnection, error) {
	c, err := s.ownConnection(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.connectorsOn(); err != nil {
		return nil, err
	}
	if err := s.Connectors.SyncNow(ctx, c.ID); err != nil {
		if _, ok := apperr.As(err); ok {
			return nil, err
		}
	}
	return s.Client.PosConnection.Get(ctx, c.ID)
}

// BackfillConnection starts reading [from, to) from the provider.
func (s *Service) BackfillConnection(ctx context.Context, id pulid.ID, from, to time.Time) (*ent.PosConnection, error) {
	c, err := s.ownConnection(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.connectorsOn(); err != nil {
		return nil, err
	}
	if err := s.Connectors.StartBackfill(ctx, c.ID, from, to); err != nil {
		return nil, err
	}
	return c, nil
}

// CreateWebhookSecret replaces a connection's webhook secret and returns
// it in clear, once.
func (s *Service) CreateWebhookSecret(ctx context.Context, id pulid.ID) (path, secret string, err error) {
	c, err := s.ownConnection(ctx, id)
	if err != nil {
		return "", "", err
	}
	if s.Box == nil {
		return "", "", apperr.Invalid("id", "Webhook は無効です (webhooks are disabled)").Because(apperr.FEATURE_DISABLED)
	}
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		path, secret, err = webhook.NewSecret(ctx, tx.Client(), s.Box, c)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx.Client(), audit.Entry{Action: "connection.webhook_secret_changed", TargetID: string(c.ID),
			Detail: string(c.Provider) + " 契約ID " + c.ContractID + " の Webhook シークレットを再発行"})
	})
	if err != nil {
		return "", "", err
	}
	return path, secret, nil
}
