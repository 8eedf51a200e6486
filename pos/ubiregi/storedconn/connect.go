// Package storedconn joins Ubiregi to regicam: the OAuth endpoints that create
// a connection (one Ubiregi account = one terminal) and the pos.Factory that
// builds a stored connection's source for the poll runtime (pos/polling).
package storedconn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/oauthstate"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/ubiregi"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/textcheck"
	"github.com/regicam/regicam/viewer"
)

// Connector wires one Ubiregi OAuth application.
type Connector struct {
	Client *ent.Client
	Box    *secrets.Box
	API    *ubiregi.Client
	Log    *slog.Logger
	// Done is where the browser goes after the callback (the portal) when
	// the flow did not name a page to return to.
	Done string
	// Saved, if set, is told about every connection the callback stores
	// (the audit log; starting its poller at once).
	Saved func(ctx context.Context, conn *ent.PosConnection)

	// usedStates makes a sealed state good for one callback of this
	// process (a replay from the browser's history is refused), as the
	// camera cloud's flow does.
	usedStates oauthstate.Used
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
	// Two ways to prove the callback belongs to this browser: the state
	// cookie of /oauth/ubiregi/start, or a state sealed for this viewer by
	// AuthorizeURLFor (the dashboard's GraphQL button).
	returnTo := c.Done
	cookie, err := r.Cookie(stateCookie)
	if err != nil || ubiregi.CheckState(cookie.Value, q.Get("state")) != nil {
		st, ok := c.openState(q.Get("state"), v)
		if !ok {
			c.finish(w, r, returnTo, "", "連携を確認できませんでした。もう一度やり直してください (state mismatch)", apperr.UBIREGI_STATE_MISMATCH)
			return
		}
		returnTo = st.ReturnTo
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/oauth/ubiregi", MaxAge: -1, HttpOnly: true})
	if e := q.Get("error"); e != "" {
		// Ubiregi's OAuth error code (access_denied…) is for the log.
		c.Log.Info("ubiregi consent refused", "error", oauthCode(e))
		c.finish(w, r, returnTo, "", "ユビレジで連携が許可されませんでした (Ubiregi did not grant access)", apperr.UBIREGI_DENIED)
		return
	}
	tok, err := c.API.Exchange(r.Context(), q.Get("code"))
	if err != nil {
		c.Log.Warn("ubiregi token exchange", "err", err)
		c.finish(w, r, returnTo, "", "ユビレジのトークンを取得できませんでした (could not get a Ubiregi token)", apperr.UBIREGI_TOKEN_FAILED)
		return
	}
	acct, err := c.API.Account(r.Context(), tok)
	if err != nil {
		c.Log.Warn("ubiregi account", "err", err)
		c.finish(w, r, returnTo, "", "ユビレジのアカウントを読めませんでした (could not read the Ubiregi account)", apperr.UBIREGI_ACCOUNT_FAILED)
		return
	}
	conn, err := c.Save(r.Context(), v.AccountID, acct, tok)
	if err != nil {
		c.Log.Error("save ubiregi connection", "err", err)
		c.finish(w, r, returnTo, "", "連携を保存できませんでした (could not save the connection)", apperr.INTERNAL)
		return
	}
	if c.Saved != nil {
		c.Saved(r.Context(), conn)
	}
	c.finish(w, r, returnTo, string(conn.ID), "", "")
}

// finish sends the browser back to the dashboard page it came from, with
// ?connected=<connection id> or ?error=<message>&reason=<reason>
// (apperr/reasons.go, which the dashboard words).
func (c *Connector) finish(w http.ResponseWriter, r *http.Request, returnTo, connID, problem, reason string) {
	u, err := url.Parse(returnTo)
	if err != nil || !LocalPath(returnTo) {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	if connID != "" {
		q.Set("connected", connID)
	}
	if problem != "" {
		q.Set("error", problem)
		q.Set("reason", reason)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// LocalPath reports whether p is a path on this site ("/portal?tab=2"),
// not a URL of another one: the callback must never become an open
// redirect. It is oauthstate.LocalPath, the one check every consent flow
// uses.
func LocalPath(p string) bool { return oauthstate.LocalPath(p) }

// stateTTL is how long a consent page may stay open.
const stateTTL = 15 * time.Minute

// stateAAD binds sealed OAuth states to their use.
var stateAAD = []byte("oauth_state:ubiregi")

// sealedState is the flow's own part of the state (oauthstate seals it
// with whose flow it is and until when).
type sealedState struct {
	ReturnTo string `json:"r"`
}

// AuthorizeURLFor returns Ubiregi's consent URL for v, with a state sealed
// for v's account, user and session (or API key) by oauthstate: no cookie
// or server-side store is needed, so any replica can take the callback,
// and a state lifted from another session does not open for this one.
// returnTo (a path on this site, default Done) is where the callback sends
// the browser.
func (c *Connector) AuthorizeURLFor(v viewer.Viewer, returnTo string) (string, time.Time, error) {
	if returnTo == "" {
		returnTo = c.Done
	}
	if !LocalPath(returnTo) {
		return "", time.Time{}, apperr.Invalid("returnTo", "戻り先はこのサイト内のパスを指定してください (returnTo must be a path such as /links)").Because(apperr.INVALID_FORMAT)
	}
	state, exp, err := oauthstate.Seal(c.Box, stateAAD, v, time.Now(), stateTTL, sealedState{ReturnTo: returnTo})
	if err != nil {
		return "", time.Time{}, err
	}
	return c.API.AuthorizeURL(state), exp, nil
}

func (c *Connector) openState(state string, v viewer.Viewer) (sealedState, bool) {
	var st sealedState
	now := time.Now()
	o, ok := oauthstate.Open(c.Box, stateAAD, state, v, now, &st)
	if !ok || !LocalPath(st.ReturnTo) || !c.usedStates.Spend(o, now) {
		return st, false
	}
	return st, true
}

// Save creates or updates the connection of an Ubiregi account (tokens
// sealed) and its one terminal, keeping terminals, links and history when
// the owner connects again.
func (c *Connector) Save(ctx context.Context, accountID pulid.ID, acct ubiregi.Account, tok ubiregi.Token) (*ent.PosConnection, error) {
	// Ubiregi's own text is cleaned, not refused (textcheck): a stray NUL
	// must not make the owner's connection impossible to save.
	acct.ID, acct.Name = textcheck.Clean(acct.ID), textcheck.Clean(acct.Name)
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
	return box.Seal(raw, secrets.POSConnectionSecretsAAD(id))
}

// Factory returns the poll runtime's factory for Ubiregi connections.
func (c *Connector) Factory() pos.Factory {
	return func(ctx context.Context, conn *ent.PosConnection) (pos.Source, error) {
		if len(conn.Secrets) == 0 {
			return nil, fmt.Errorf("%w: ユビレジと連携し直してください (no tokens stored)", pos.ErrAuth)
		}
		raw, err := c.Box.Open(conn.Secrets, secrets.POSConnectionSecretsAAD(conn.ID))
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

// oauthCode is the ?error= value as far as it is an OAuth error code
// (RFC 6749 §4.1.2.1: %x20-21 / %x23-5B / %x5D-7E; the codes themselves are
// short snake_case words), clipped: the value comes from an address anyone
// can write, so the log keeps no more of it than a real code needs.
func oauthCode(e string) string {
	const max = 64
	b := make([]byte, 0, min(len(e), max))
	for i := 0; i < len(e) && len(b) < max; i++ {
		if c := e[i]; c == '_' || c == '-' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}
