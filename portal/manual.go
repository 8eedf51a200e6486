package portal

import (
	"context"
	"fmt"
	"strings"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pos/webhook"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/shop"
	"github.com/regicam/regicam/viewer"
)

// Manual reports whether registers of a connection are made by its owner
// (createTerminal) or by the first signed webhook that names them, rather
// than read from a provider's API (Smaregi, Ubiregi).
func Manual(p posconnection.Provider) bool {
	return p == posconnection.ProviderWEBHOOK || p == posconnection.ProviderPARTNER
}

// NewConnection is a card-terminal (WEBHOOK) or partner connection to add.
type NewConnection struct {
	Provider posconnection.Provider
	Name     string
	ShopID   pulid.ID // where registers a webhook names first go
}

// Endpoint is where the sender posts signed webhooks, and the signing key,
// which is in clear only here.
type Endpoint struct {
	Path   string
	Secret string
}

// CreateConnection adds a WEBHOOK or PARTNER connection and its signed
// webhook endpoint. The signing key is sealed at rest and returned only
// now; createWebhookSecret replaces it.
func (s *Service) CreateConnection(ctx context.Context, in NewConnection) (*ent.PosConnection, *Endpoint, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, nil, err
	}
	if !Manual(in.Provider) {
		return nil, nil, apperr.Invalid("input.provider", "作成できるのはカード端末 (WEBHOOK) かパートナー (PARTNER) の連携です (provider must be WEBHOOK or PARTNER)").Because(apperr.INVALID_CHOICE)
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 200 {
		return nil, nil, apperr.Invalid("input.name", "連携名を 200 バイト (全角で約 66 文字) 以内で入力してください (name is required, at most 200 bytes)").Because(apperr.LENGTH_OUT_OF_RANGE)
	}
	if s.Box == nil {
		return nil, nil, apperr.Invalid("input.provider", "Webhook は無効です (webhooks are disabled)").Because(apperr.FEATURE_DISABLED)
	}
	var (
		conn *ent.PosConnection
		ep   Endpoint
	)
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		sh, err := shop.Load(ctx, c, in.ShopID, "input.shopID")
		if err != nil {
			return err
		}
		dup, err := c.PosConnection.Query().Where(posconnection.AccountID(v.AccountID),
			posconnection.ProviderIn(posconnection.ProviderWEBHOOK, posconnection.ProviderPARTNER),
			posconnection.Name(name)).Exist(ctx)
		if err != nil {
			return err
		}
		if dup {
			return apperr.Conflictf("input.name",
				"連携「%s」は既にあります (a connection of that name exists)", name).Because(apperr.NAME_TAKEN)
		}
		// The id doubles as the contract id: these senders have no contract
		// of their own, and (account, provider, contract id) is unique.
		id := pulid.MustNew("PC")
		conn, err = c.PosConnection.Create().SetID(id).SetAccountID(v.AccountID).SetProvider(in.Provider).
			SetContractID(string(id)).SetCredentialKind("signed_webhook").SetName(name).
			SetDefaultShopID(sh.ID).Save(ctx)
		if err != nil {
			return err
		}
		if ep.Path, ep.Secret, err = webhook.NewSecret(ctx, c, s.Box, conn); err != nil {
			return err
		}
		return audit.Record(ctx, c, audit.Entry{Action: "connection.created", TargetID: string(conn.ID),
			Detail: fmt.Sprintf("%s 連携「%s」(新しい端末は %s)", in.Provider, name, sh.Name)})
	})
	if err != nil {
		return nil, nil, err
	}
	// Re-read outside the transaction: the row now holds the sealed key.
	if conn, err = s.Client.PosConnection.Get(ctx, conn.ID); err != nil {
		return nil, nil, err
	}
	return conn, &ep, nil
}

// NewTerminal is a register of a WEBHOOK / PARTNER connection to add.
type NewTerminal struct {
	ConnectionID pulid.ID
	ExternalID   string // the id the sender names it by (terminalId)
	Name         string // empty: 端末 <external id>
	ShopID       pulid.ID
}

// CreateTerminal adds a register to a WEBHOOK or PARTNER connection. An
// external id the connection already has is CONFLICT naming that register;
// Smaregi and Ubiregi registers come from the provider and are refused.
func (s *Service) CreateTerminal(ctx context.Context, in NewTerminal) (*ent.Terminal, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, err
	}
	ext := strings.TrimSpace(in.ExternalID)
	if ext == "" || len(ext) > 100 {
		return nil, apperr.Invalid("input.externalID", "端末IDを 100 文字以内で入力してください (externalID is required, at most 100 bytes)").Because(apperr.LENGTH_OUT_OF_RANGE)
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = "端末 " + ext
	}
	if len(name) > 200 {
		return nil, apperr.Invalid("input.name", "端末名は 200 バイト (全角で約 66 文字) 以内で入力してください (at most 200 bytes)").Because(apperr.VALUE_TOO_LONG)
	}
	var out *ent.Terminal
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		conn, err := c.PosConnection.Query().Where(posconnection.ID(in.ConnectionID), posconnection.AccountID(v.AccountID)).Only(ctx)
		if ent.IsNotFound(err) {
			return apperr.Missing("input.connectionID", "POS 連携が見つかりません (connection not found)").Because(apperr.NOT_FOUND)
		}
		if err != nil {
			return err
		}
		if !Manual(conn.Provider) {
			return apperr.Invalid("input.connectionID", "%s の端末は連携先から自動で取り込まれます。端末を追加できるのはカード端末・パートナー連携だけです (terminals of %s come from the provider)", conn.Provider, conn.Provider).Because(apperr.TERMINALS_FROM_PROVIDER)
		}
		sh, err := shop.Load(ctx, c, in.ShopID, "input.shopID")
		if err != nil {
			return err
		}
		if err := terminalFree(ctx, c, conn.ID, ext); err != nil {
			return err
		}
		out, err = c.Terminal.Create().SetAccountID(v.AccountID).SetConnectionID(conn.ID).SetShopID(sh.ID).
			SetExternalID(ext).SetName(name).Save(ctx)
		if ent.IsConstraintError(err) {
			// Added meanwhile, by a webhook or another request. (PostgreSQL
			// has aborted the transaction: no query can name the winner.)
			return apperr.Conflictf("input.externalID",
				"端末ID %s はこの連携に既にあります (externalID exists on the connection)", ext).Because(apperr.TERMINAL_ID_TAKEN)
		}
		if err != nil {
			return err
		}
		return audit.Record(ctx, c, audit.Entry{Action: "terminal.created", TargetID: string(out.ID),
			Detail: fmt.Sprintf("端末 %s (%s) を %s に追加", ext, name, sh.Name)})
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil // its edges are read after the transaction
}

// terminalFree is CONFLICT when the connection already has a register with
// that external id.
func terminalFree(ctx context.Context, c *ent.Client, conn pulid.ID, ext string) error {
	t, err := c.Terminal.Query().Where(terminal.ConnectionID(conn), terminal.ExternalID(ext)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return apperr.Conflictf("input.externalID",
		"端末ID %s はこの連携に既にあります (%s, %s) (externalID exists on the connection)", ext, t.Name, t.ID).Because(apperr.TERMINAL_ID_TAKEN)
}
