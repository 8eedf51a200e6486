// Package connect joins Ubiregi to regicam: the OAuth endpoints that create
// a connection (one Ubiregi account = one terminal) and the poller source
// the connector runtime runs for it.
package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/regicam/regicam/connector"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/ubiregi"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// SecretsAAD binds sealed Ubiregi tokens to their connection row.
func SecretsAAD(id pulid.ID) []byte { return []byte("pos_connection:" + string(id) + ":secrets") }

// Connector wires one Ubiregi OAuth application.
type Connector struct {
	Client *ent.Client
	Box    *secrets.Box
	API    *ubiregi.Client
	Log    *slog.Logger
	// Done is where the browser goes after the callback (the portal).
	Done string
}

const stateCookie = "regicam_ubiregi_state"

// Register adds GET /oauth/ubiregi/start and /oauth/ubiregi/callback.
func (c *Connector) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /oauth/ubiregi/start", c.start)
	mux.HandleFunc("GET /oauth/ubiregi/callback", c.callback)
}

func (c *Connector) start(w http.ResponseWriter, r *http.Request) {
	if _, ok := viewer.FromContext(r.Context()); !ok {
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	state := ubiregi.NewState()
	// The state lives in an HttpOnly cookie bound to this browser, so a
	// callback forged from another session fails the comparison.
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: "/oauth/ubiregi", MaxAge: 600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	http.Redirect(w, r, c.API.AuthorizeURL(state), http.StatusFound)
}

func (c *Connector) callback(w http.ResponseWriter, r *http.Request) {
	v, ok := viewer.FromContext(r.Context())
	if !ok {
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	cookie, err := r.Cookie(stateCookie)
	if err != nil || ubiregi.CheckState(cookie.Value, q.Get("state")) != nil {
		c.finish(w, r, "", "連携を確認できませんでした。もう一度やり直してください (state mismatch)")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/oauth/ubiregi", MaxAge: -1, HttpOnly: true})
	if e := q.Get("error"); e != "" {
		c.finish(w, r, "", "ユビレジで連携が許可されませんでした ("+e+")")
		return
	}
	tok, err := c.API.Exchange(r.Context(), q.Get("code"))
	if err != nil {
		c.Log.Warn("ubiregi token exchange", "err", err)
		c.finish(w, r, "", "ユビレジのトークンを取得できませんでした: "+err.Error())
		return
	}
	acct, err := c.API.Account(r.Context(), tok)
	if err != nil {
		c.finish(w, r, "", "ユビレジのアカウントを読めませんでした: "+err.Error())
		return
	}
	conn, err := c.Save(r.Context(), v.AccountID, acct, tok)
	if err != nil {
		c.Log.Error("save ubiregi connection", "err", err)
		c.finish(w, r, "", "連携を保存できませんでした")
		return
	}
	c.finish(w, r, string(conn.ID), "")
}

func (c *Connector) finish(w http.ResponseWriter, r *http.Request, connID, problem string) {
	q := url.Values{}
	if connID != "" {
		q.Set("connected", connID)
	}
	if problem != "" {
		q.Set("error", problem)
	}
	http.Redirect(w, r, c.Done+"?"+q.Encode(), http.StatusFound)
}

// Save creates or updates the connection of an Ubiregi account (tokens
// sealed) and its one terminal, keeping terminals, links and history when
// the owner connects again.
func (c *Connector) Save(ctx context.Context, accountID pulid.ID, acct ubiregi.Account, tok ubiregi.Token) (*ent.PosConnection, error) {
	tx, err := c.Client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	conn, err := tx.PosConnection.Query().Where(posconnection.AccountID(accountID),
		posconnection.ProviderEQ(posconnection.ProviderUBIREGI), posconnection.ContractID(acct.ID)).Only(ctx)
	if ent.IsNotFound(err) {
		conn, err = tx.PosConnection.Create().SetAccountID(accountID).SetProvider(posconnection.ProviderUBIREGI).
			SetContractID(acct.ID).SetCredentialKind("oauth").SetMemo(acct.Name).Save(ctx)
	}
	if err != nil {
		return nil, err
	}
	sealed, err := sealToken(c.Box, conn.ID, tok)
	if err != nil {
		return nil, err
	}
	conn, err = tx.PosConnection.UpdateOne(conn).SetSecrets(sealed).SetStatus(posconnection.StatusOK).
		SetLastError("").ClearNextRetryAt().Save(ctx)
	if err != nil {
		return nil, err
	}
	exists, err := tx.Terminal.Query().Where(terminal.ConnectionID(conn.ID)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if !exists {
		s, err := tx.Shop.Query().Where(shop.AccountID(accountID)).First(ctx)
		if ent.IsNotFound(err) {
			s, err = tx.Shop.Create().SetAccountID(accountID).SetName(acct.Name).Save(ctx)
		}
		if err != nil {
			return nil, err
		}
		if err := tx.Terminal.Create().SetAccountID(accountID).SetConnectionID(conn.ID).SetShopID(s.ID).
			SetExternalID(acct.ID).SetName("ユビレジ " + acct.Name).Exec(ctx); err != nil {
			return nil, err
		}
	}
	return conn, tx.Commit()
}

type storedToken struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	Expiry       time.Time `json:"expiry"`
}

func sealToken(box *secrets.Box, id pulid.ID, tok ubiregi.Token) ([]byte, error) {
	raw, _ := json.Marshal(storedToken{tok.AccessToken, tok.RefreshToken, tok.Expiry})
	return box.Seal(raw, SecretsAAD(id))
}

// Factory returns the connector runtime's factory for Ubiregi connections.
func (c *Connector) Factory() connector.Factory {
	return func(ctx context.Context, conn *ent.PosConnection) (connector.Source, error) {
		if len(conn.Secrets) == 0 {
			return nil, fmt.Errorf("%w: ユビレジと連携し直してください (no tokens stored)", pos.ErrAuth)
		}
		raw, err := c.Box.Open(conn.Secrets, SecretsAAD(conn.ID))
		if err != nil {
			return nil, fmt.Errorf("open tokens: %w", err)
		}
		var st storedToken
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, fmt.Errorf("decode tokens: %w", err)
		}
		return &source{c: c, conn: conn, tok: ubiregi.Token{AccessToken: st.AccessToken, RefreshToken: st.RefreshToken, Expiry: st.Expiry}}, nil
	}
}

type source struct {
	c    *Connector
	conn *ent.PosConnection
	tok  ubiregi.Token
}

// Poll reads checkouts changed since the cursor (Ubiregi's own timestamp).
func (s *source) Poll(ctx context.Context, cursor string) ([]pos.Record, string, error) {
	save := func(t ubiregi.Token) error {
		// A rotated refresh token exists nowhere else: store it before use.
		sealed, err := sealToken(s.c.Box, s.conn.ID, t)
		if err != nil {
			return err
		}
		s.tok = t
		return s.c.Client.PosConnection.UpdateOneID(s.conn.ID).SetSecrets(sealed).Exec(ctx)
	}
	b, err := s.c.API.Sync(ctx, s.tok, cursor, save)
	if err != nil {
		return nil, "", err // the next poll reads the same range again
	}
	// Names feed the content fingerprint: without them re-read sales would
	// look edited, so no account, no sync.
	acct, aerr := s.c.API.Account(ctx, b.Token)
	if aerr != nil {
		return nil, "", aerr
	}
	names := acct.Names()
	var recs []pos.Record
	for _, co := range b.Checkouts {
		recs = append(recs, names.Records(acct.ID, co)...)
	}
	for _, inv := range b.Invalid {
		s.c.Log.Warn("ubiregi checkout unreadable", "connection", s.conn.ID, "id", inv.ID, "err", inv.Err)
	}
	return recs, b.Since, nil
}
