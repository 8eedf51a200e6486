// Package storedconn joins Smaregi to regicam: storing a contract's
// credentials (checked with Smaregi first, sealed at rest), the pos.Factory
// that builds a stored connection's source for the poll runtime
// (pos/polling), and the webhook fetcher.
package storedconn

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/smaregi"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
)

type stored struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// Connector builds Smaregi clients for connections.
type Connector struct {
	Client     *ent.Client
	Box        *secrets.Box
	IDBaseURL  string
	APIBaseURL string
	HTTP       *http.Client
	Log        *slog.Logger
	Poller     smaregi.PollerOptions

	mu      sync.Mutex
	pollers map[pulid.ID]cachedPoller
}

// cachedPoller keeps one client per connection so its token is reused
// across polls; new credentials (another sealed value) build a new one.
type cachedPoller struct {
	sealed string
	p      *smaregi.Poller
}

func (c *Connector) api(contractID, clientID, clientSecret string) (*smaregi.Client, error) {
	return smaregi.New(smaregi.Config{IDBaseURL: c.IDBaseURL, APIBaseURL: c.APIBaseURL,
		ContractID: contractID, ClientID: clientID, ClientSecret: clientSecret, HTTP: c.HTTP, Log: c.Log})
}

func (c *Connector) log() *slog.Logger {
	if c.Log == nil {
		return slog.Default()
	}
	return c.Log
}

// Credentials are what the owner types into the portal.
type Credentials struct {
	ContractID, ClientID, ClientSecret string
}

// Save checks the credentials with Smaregi and stores them: a new
// connection, or the same contract's existing one (whose terminals, links
// and history stay). A credential Smaregi refuses is a field error and
// nothing is saved.
func (c *Connector) Save(ctx context.Context, accountID pulid.ID, in Credentials) (*ent.PosConnection, error) {
	in, err := c.Check(ctx, in)
	if err != nil {
		return nil, err
	}
	tx, err := c.Client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	conn, _, err := c.Store(ctx, tx, accountID, in)
	if err != nil {
		return nil, err
	}
	return conn, tx.Commit()
}

// Check validates the typed credentials and asks Smaregi for a token with
// them. It returns them trimmed; a refusal is BAD_USER_INPUT on the field at
// fault, with a reason per cause: clientSecret SMAREGI_CLIENT_REJECTED,
// clientID SMAREGI_SCOPE_MISSING, contractID SMAREGI_CONTRACT_NOT_FOUND,
// SMAREGI_CONTRACT_ID_INVALID or SMAREGI_UNREACHABLE. Neither the secret
// nor Smaregi's own text appears in an error; the latter is logged.
func (c *Connector) Check(ctx context.Context, in Credentials) (Credentials, error) {
	in.ContractID, in.ClientID, in.ClientSecret = strings.TrimSpace(in.ContractID), strings.TrimSpace(in.ClientID), strings.TrimSpace(in.ClientSecret)
	for _, f := range []struct{ name, v, label string }{
		{"contractID", in.ContractID, "契約ID"}, {"clientID", in.ClientID, "クライアントID"}, {"clientSecret", in.ClientSecret, "クライアントシークレット"},
	} {
		if f.v == "" {
			return in, apperr.Invalid(f.name, "%sを入力してください (%s is required)", f.label, f.name).Because(apperr.REQUIRED)
		}
		if len(f.v) > 200 {
			return in, apperr.Invalid(f.name, "%sが長すぎます (%s is too long)", f.label, f.name).Because(apperr.VALUE_TOO_LONG)
		}
	}
	api, err := c.api(in.ContractID, in.ClientID, in.ClientSecret)
	if err != nil {
		// The contract id is a path segment: it must not hold / ? # % \ or
		// spaces.
		c.log().WarnContext(ctx, "smaregi: contract id refused", "err", err)
		return in, apperr.Invalid("contractID", "契約IDに使えない文字が含まれています (the contract id has characters Smaregi ids do not have)").
			Because(apperr.SMAREGI_CONTRACT_ID_INVALID)
	}
	if err := api.CheckCredentials(ctx); err != nil {
		// Smaregi's own words (an OAuth error in English) go to the log;
		// the owner reads one sentence per cause.
		c.log().InfoContext(ctx, "smaregi: credentials refused", "contract_id", in.ContractID, "err", err)
		var ae *smaregi.AuthError
		switch {
		case errors.As(err, &ae) && ae.ScopeMissing():
			return in, apperr.Invalid("clientID", "このアプリにはスマレジの取引・店舗を読む権限がありません。アプリのスコープ pos.transactions:read と pos.stores:read を有効にしてください (the app lacks the scopes pos.transactions:read and pos.stores:read)").
				Because(apperr.SMAREGI_SCOPE_MISSING)
		case errors.As(err, &ae) && ae.ContractNotFound():
			return in, apperr.Invalid("contractID", "スマレジにこの契約IDがありません。契約IDを確認してください (Smaregi does not know this contract id)").
				Because(apperr.SMAREGI_CONTRACT_NOT_FOUND)
		case errors.Is(err, pos.ErrAuth):
			return in, apperr.Invalid("clientSecret", "スマレジがクライアントIDまたはクライアントシークレットを受け付けませんでした (Smaregi rejected the client id or secret)").
				Because(apperr.SMAREGI_CLIENT_REJECTED)
		}
		return in, apperr.Invalid("contractID", "スマレジに接続できませんでした。時間をおいて再度お試しください (Smaregi could not be reached)").
			Because(apperr.SMAREGI_UNREACHABLE)
	}
	return in, nil
}

// Store saves credentials already checked by Check inside tx: the
// contract's existing connection (its terminals, links and history stay)
// or a new one. changed reports whether what is stored now differs from
// before (a new connection, other credentials, or a legacy token
// replaced), which is what the audit log records.
func (c *Connector) Store(ctx context.Context, tx *ent.Tx, accountID pulid.ID, in Credentials) (conn *ent.PosConnection, changed bool, err error) {
	raw, _ := json.Marshal(stored{in.ClientID, in.ClientSecret})
	conn, err = tx.PosConnection.Query().Where(posconnection.AccountID(accountID),
		posconnection.ProviderEQ(posconnection.ProviderSMAREGI), posconnection.ContractID(in.ContractID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		conn, err = tx.PosConnection.Create().SetAccountID(accountID).SetProvider(posconnection.ProviderSMAREGI).
			SetContractID(in.ContractID).Save(ctx)
		changed = true
	case err == nil:
		changed = !c.sameStored(conn, in)
	}
	if err != nil {
		return nil, false, err
	}
	sealed, err := c.Box.Seal(raw, secrets.POSConnectionSecretsAAD(conn.ID))
	if err != nil {
		return nil, false, err
	}
	conn, err = tx.PosConnection.UpdateOne(conn).SetSecrets(sealed).SetCredentialKind(smaregi.CredentialClientCredentials).
		SetSecretHint(secrets.Mask(in.ClientSecret)).SetStatus(posconnection.StatusOK).SetLastError("").ClearNextRetryAt().Save(ctx)
	if err != nil {
		return nil, false, err
	}
	return conn, changed, nil
}

// sameStored reports whether conn already holds exactly these client
// credentials.
func (c *Connector) sameStored(conn *ent.PosConnection, in Credentials) bool {
	if conn.CredentialKind != smaregi.CredentialClientCredentials || len(conn.Secrets) == 0 {
		return false
	}
	raw, err := c.Box.Open(conn.Secrets, secrets.POSConnectionSecretsAAD(conn.ID))
	if err != nil {
		return false
	}
	var st stored
	if json.Unmarshal(raw, &st) != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(st.ClientID+"\x00"+st.ClientSecret), []byte(in.ClientID+"\x00"+in.ClientSecret)) == 1
}

func (c *Connector) poller(conn *ent.PosConnection) (*smaregi.Poller, error) {
	if err := smaregi.CheckCredentialKind(conn.CredentialKind); err != nil {
		return nil, err
	}
	c.mu.Lock()
	cached, ok := c.pollers[conn.ID]
	c.mu.Unlock()
	if ok && cached.sealed == string(conn.Secrets) {
		return cached.p, nil
	}
	if len(conn.Secrets) == 0 {
		return nil, fmt.Errorf("%w: 契約ID・クライアントID・クライアントシークレットを入力してください", pos.ErrAuth)
	}
	raw, err := c.Box.Open(conn.Secrets, secrets.POSConnectionSecretsAAD(conn.ID))
	if err != nil {
		return nil, fmt.Errorf("open credentials: %w", err)
	}
	var st stored
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("decode credentials: %w", err)
	}
	api, err := c.api(conn.ContractID, st.ClientID, st.ClientSecret)
	if err != nil {
		return nil, err
	}
	p := smaregi.NewPoller(api, c.Poller)
	c.mu.Lock()
	if c.pollers == nil {
		c.pollers = map[pulid.ID]cachedPoller{}
	}
	c.pollers[conn.ID] = cachedPoller{sealed: string(conn.Secrets), p: p}
	c.mu.Unlock()
	return p, nil
}

// Factory is the poll runtime's factory for Smaregi connections.
func (c *Connector) Factory() pos.Factory {
	return func(_ context.Context, conn *ent.PosConnection) (pos.Source, error) {
		return c.poller(conn)
	}
}

// FetchPushed implements webhook.PushFetcher: parse the notification, then
// read the named transactions with the connection's own token.
func (c *Connector) FetchPushed(ctx context.Context, conn *ent.PosConnection, header http.Header, body []byte) ([]pos.Record, error) {
	wh, err := smaregi.ParseWebhook(header, body)
	if err != nil {
		return nil, err
	}
	if wh.ContractID != "" && wh.ContractID != conn.ContractID {
		return nil, fmt.Errorf("webhook for contract %q sent to the URL of %q", wh.ContractID, conn.ContractID)
	}
	p, err := c.poller(conn)
	if err != nil {
		return nil, err
	}
	return p.Webhook(ctx, wh)
}
