package portal

import (
	"context"
	"fmt"
	"strings"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"

	smaregiconn "github.com/regicam/regicam/pos/smaregi/storedconn"
)

// AddSmaregiLink is the スマレジ連携を追加 form in one step: the credentials
// are checked with Smaregi first (a refusal saves nothing), then one
// transaction stores them on the contract's connection (new or reused),
// finds or creates the register (端末ID) and links it to the camera. A
// register another camera watches is CONFLICT naming it, and nothing of
// the form is saved. Errors name fields of input (input.clientSecret).
func (s *Service) AddSmaregiLink(ctx context.Context, in AddSmaregiLinkInput) (*LinkSetting, error) {
	row, err := s.addSmaregiLink(ctx, in)
	if e, ok := apperr.As(err); ok && e.Field != "" {
		return nil, apperr.WithFieldPrefix(err, "input")
	}
	return row, err
}

func (s *Service) addSmaregiLink(ctx context.Context, in AddSmaregiLinkInput) (*LinkSetting, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, err
	}
	if s.Smaregi == nil {
		return nil, apperr.Invalid("", "スマレジ連携は無効です (Smaregi is disabled)").Because(apperr.FEATURE_DISABLED)
	}
	in.TerminalID = strings.TrimSpace(in.TerminalID)
	if in.TerminalID == "" {
		return nil, apperr.Invalid("terminalID", "端末IDを入力してください (terminalID is required)").Because(apperr.REQUIRED)
	}
	if len(in.TerminalID) > 100 {
		return nil, apperr.Invalid("terminalID", "端末IDが長すぎます (terminalID is too long)").Because(apperr.VALUE_TOO_LONG)
	}
	// Smaregi numbers its registers (terminalId); anything else would be a
	// register that never receives a sale. Full-width digits are what an
	// IME types.
	in.TerminalID = halfWidthDigits(in.TerminalID)
	if strings.Trim(in.TerminalID, "0123456789") != "" {
		return nil, apperr.Invalid("terminalID", "端末IDは数字で入力してください (the Smaregi terminal id is a number)").Because(apperr.TERMINAL_ID_NOT_NUMERIC)
	}
	// Local mistakes first: the provider is asked only about a form that
	// could otherwise be saved.
	if _, err := loadCamera(ctx, s.Client, v, in.CameraID, "cameraID"); err != nil {
		return nil, err
	}
	creds, err := s.Smaregi.Check(ctx, smaregiconn.Credentials{
		ContractID: in.ContractID, ClientID: in.ClientID, ClientSecret: in.ClientSecret})
	if err != nil {
		return nil, err
	}
	var termID pulid.ID
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		conn, changed, err := s.Smaregi.Store(ctx, tx, v.AccountID, creds)
		if err != nil {
			return err
		}
		if changed {
			if err := audit.Record(ctx, c, credentialsChanged(conn)); err != nil {
				return err
			}
		}
		t, err := c.Terminal.Query().Where(terminal.ConnectionID(conn.ID), terminal.ExternalID(in.TerminalID)).Only(ctx)
		if ent.IsNotFound(err) {
			t, err = createTerminal(ctx, c, conn, in.TerminalID)
		}
		if err != nil {
			return err
		}
		if !v.SeesShop(t.ShopID) {
			return apperr.Missing("terminalID", "端末が見つかりません (terminal not found)").Because(apperr.NOT_FOUND)
		}
		cam, err := loadCamera(ctx, c, v, in.CameraID, "cameraID")
		if err != nil {
			return err
		}
		termID = t.ID
		_, err = s.bind(ctx, c, v, t, cam, false, s.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	s.credentialsSaved(ctx)
	return s.settingOf(ctx, v, termID)
}

// halfWidthDigits turns ０-９ into 0-9.
func halfWidthDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return r - '０' + '0'
		}
		return r
	}, s)
}

// ConnectSmaregi stores new credentials for a contract (the update of a
// NEEDS_REAUTH row included): checked with Smaregi first, audited when
// they change.
func (s *Service) ConnectSmaregi(ctx context.Context, in smaregiconn.Credentials) (*ent.PosConnection, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, err
	}
	if s.Smaregi == nil {
		return nil, apperr.Invalid("input", "スマレジ連携は無効です (Smaregi is disabled)").Because(apperr.FEATURE_DISABLED)
	}
	creds, err := s.Smaregi.Check(ctx, in)
	if err != nil {
		return nil, apperr.WithFieldPrefix(err, "input")
	}
	var conn *ent.PosConnection
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		var changed bool
		conn, changed, err = s.Smaregi.Store(ctx, tx, v.AccountID, creds)
		if err != nil || !changed {
			return err
		}
		return audit.Record(ctx, tx.Client(), credentialsChanged(conn))
	})
	if err != nil {
		return nil, err
	}
	s.credentialsSaved(ctx)
	return conn, nil
}

// credentialsChanged names the connection and the masked secret only.
func credentialsChanged(conn *ent.PosConnection) audit.Entry {
	return audit.Entry{Action: "connection.credentials_changed", TargetID: string(conn.ID),
		Detail: fmt.Sprintf("%s 契約ID %s: クライアントシークレット %s", conn.Provider, conn.ContractID, conn.SecretHint)}
}

func (s *Service) credentialsSaved(ctx context.Context) {
	if s.Connectors == nil {
		return
	}
	// Start polling the new credentials now.
	if err := s.Connectors.Rescan(ctx); err != nil {
		// The next periodic rescan picks the connection up.
		s.log().WarnContext(ctx, "portal: start polling new credentials", "err", err)
	}
}

// createTerminal adds a register typed into the portal before Smaregi has
// reported a sale from it. It goes to the account's first shop (or a new
// 未設定の店舗), as the poller does for registers without a store.
func createTerminal(ctx context.Context, c *ent.Client, conn *ent.PosConnection, externalID string) (*ent.Terminal, error) {
	sh, err := c.Shop.Query().Where(shop.AccountID(conn.AccountID)).Order(ent.Asc(shop.FieldCreatedAt), ent.Asc(shop.FieldID)).First(ctx)
	if ent.IsNotFound(err) {
		sh, err = c.Shop.Create().SetAccountID(conn.AccountID).SetName("未設定の店舗").Save(ctx)
	}
	if err != nil {
		return nil, err
	}
	t, err := c.Terminal.Create().SetAccountID(conn.AccountID).SetConnectionID(conn.ID).SetShopID(sh.ID).
		SetExternalID(externalID).SetName("端末 " + externalID).Save(ctx)
	if ent.IsConstraintError(err) { // the poller met the register at this moment
		return nil, apperr.Conflictf("terminalID",
			"端末 %s が同時に登録されました。もう一度お試しください (registered concurrently)", externalID).Because(apperr.CHANGED_CONCURRENTLY)
	}
	if err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, c, audit.Entry{Action: "terminal.created", TargetID: string(t.ID),
		Detail: fmt.Sprintf("%s 契約ID %s の端末ID %s", conn.Provider, conn.ContractID, externalID)}); err != nil {
		return nil, err
	}
	return t, nil
}
