package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/server/livews"
	"github.com/regicam/regicam/store"
	"github.com/regicam/regicam/viewer"
)

// Websocket close codes of graphql-transport-ws for a refused
// connection_init.
const (
	closeUnauthorized = 4401
	closeForbidden    = 4403
	closeTooMany      = 4429
)

// authenticate puts the caller's viewer into the request: an API key
// ("Authorization: Bearer rk_…") or the session cookie. Without either the
// request goes on anonymous, marked as a request so that ent privacy lets
// it read nothing; resolvers and routes answer UNAUTHENTICATED. A bad or
// revoked key is refused here; a stale cookie is dropped so that the login
// form still works.
func (a *App) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := viewer.WithRequest(r.Context())
		if websocketUpgrade(r) {
			// The connection outlives this handler (server/livews) and its
			// context must not pin the response and net/http's buffers:
			// resolvers over a socket get the caller's address, no cookies.
			ctx = auth.WithHTTP(ctx, nil, &http.Request{RemoteAddr: r.RemoteAddr, Host: r.Host, Header: r.Header, TLS: r.TLS})
		} else {
			ctx = auth.WithHTTP(ctx, w, r)
		}
		ip := a.Auth.ClientIP(r) // X-Forwarded-For only from --trusted-proxies
		ctx = auth.WithClientIP(ctx, ip)
		if h := r.Header.Get("Authorization"); h != "" {
			v, err := a.keyViewer(ctx, h, ip)
			if err != nil {
				refuse(w, r, err, http.StatusUnauthorized)
				return
			}
			if wait, err := a.Auth.Allow(v.APIKeyID); err != nil {
				w.Header().Set("Retry-After", strconv.Itoa(auth.RetryAfter(wait)))
				refuse(w, r, err, http.StatusTooManyRequests)
				return
			}
			ctx = viewer.NewContext(ctx, v)
		} else if c, err := r.Cookie(auth.CookieName); err == nil && c.Value != "" {
			v, err := a.Auth.SessionViewer(ctx, c.Value, ip)
			if err == nil {
				ctx = viewer.NewContext(ctx, v)
			} else if _, ok := apperr.As(err); !ok {
				if !store.Unavailable(err) {
					a.log.ErrorContext(ctx, "session lookup", "err", err)
				}
				refuse(w, r, err, http.StatusInternalServerError)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (a *App) keyViewer(ctx context.Context, header, ip string) (viewer.Viewer, error) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || !auth.IsAPIKey(token) {
		return viewer.Viewer{}, &apperr.Error{Code: apperr.Unauthenticated,
			Message: "Authorization は Bearer rk_… の形式で指定してください (expected a Bearer API key)"}
	}
	return a.Auth.KeyViewer(ctx, token, ip)
}

// refuse answers a request the middleware stops: a GraphQL error body on
// /graphql (status 200 for RATE_LIMITED, so GraphQL clients read the code),
// plain text elsewhere.
func refuse(w http.ResponseWriter, r *http.Request, err error, status int) {
	e, ok := apperr.As(err)
	switch {
	case ok:
	case store.Unavailable(err):
		// The database is away (restart, failover): try again shortly.
		e = &apperr.Error{Code: apperr.Unavailable,
			Message: "データベースに一時的に接続できません。しばらくしてから再試行してください (database unavailable; retry later)"}
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", retryAfterSeconds)
	default:
		e = &apperr.Error{Code: apperr.Internal, Message: "内部エラーが発生しました (internal error)"}
		status = http.StatusInternalServerError
	}
	if r.URL.Path == "/graphql" && !websocketUpgrade(r) {
		w.Header().Set("Content-Type", "application/json")
		if e.Code == apperr.RateLimited {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
			"message": e.Message, "extensions": map[string]any{"code": e.Code},
		}}})
		return
	}
	http.Error(w, e.Code+": "+e.Message, status)
}

func websocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// websocketInit authenticates a graphql-transport-ws connection: an API key
// in the connection_init payload ({"Authorization": "Bearer rk_…"}) or the
// session cookie sent with the handshake. No or bad credentials close the
// socket with 4401, a credential without journal:read with 4403, a key over
// its rate limit with 4429 (livews then refuses, also with 4429, a
// session or key that already holds --ws-conns-per-credential sockets).
// Each subscribe of a key costs one more request: over the limit that
// operation alone gets an error with RATE_LIMITED.
//
// Contract (kept by any websocket transport that replaces gqlgen's): the
// connection lives as long as the returned context; auth.Service.Watch
// cancels it within WatchEvery when the session or key is revoked, expires
// or its user is deleted (failed logins never end a session).
func (a *App) websocketInit(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	v, ok := viewer.FromContext(ctx)
	if h := p.Authorization(); h != "" {
		ip, _ := auth.ClientInfo(ctx)
		kv, err := a.keyViewer(ctx, h, ip)
		if err != nil {
			return wsRefused(ctx, closeUnauthorized, "Unauthorized"), nil, err
		}
		// A new connection costs the key one request.
		if _, err := a.Auth.Allow(kv.APIKeyID); err != nil {
			return wsRefused(ctx, closeTooMany, "Too many requests"), nil, err
		}
		v, ok = kv, true
	}
	if !ok {
		return wsRefused(ctx, closeUnauthorized, "Unauthorized"), nil, errors.New("Unauthorized")
	}
	if !v.Allows(viewer.ScopeJournalRead) {
		return wsRefused(ctx, closeForbidden, "Forbidden"), nil, errors.New("Forbidden")
	}
	ctx = viewer.NewContext(ctx, v)
	if v.APIKeyID != "" {
		// Every operation over the socket costs the key one request, as
		// over HTTP: a refused one gets an error carrying RATE_LIMITED and
		// the connection stays (livews also caps the operations active on
		// one connection).
		id := v.APIKeyID
		ctx = livews.WithOperationGate(ctx, func(context.Context) error {
			_, err := a.Auth.Allow(id)
			return err
		})
	}
	return a.Auth.Watch(ctx, v), nil, nil
}

func wsRefused(ctx context.Context, code int, reason string) context.Context {
	return transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, reason), code)
}

// system runs a route as the server itself: provider webhooks, which prove
// who they are with a per-connection secret instead of a viewer.
func system(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(viewer.System(r.Context())))
	})
}

// DemoEmail is the demo tenant's OWNER.
const DemoEmail = "demo@regicam.local"

// demoOwner gives the demo tenant an OWNER with a fresh password on every
// start, so the printed line always works, and prints it.
func (a *App) demoOwner(ctx context.Context, cfg Config) error {
	pw := auth.RandomPassword()
	u, err := a.DB.Client.User.Query().Where(user.Email(DemoEmail)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		_, err = a.Auth.CreateUser(ctx, auth.NewUser{AccountID: a.AccountID, Email: DemoEmail,
			Password: pw, Name: "デモ オーナー", Role: viewer.RoleOwner})
	case err == nil:
		// Not SetPassword: the history rule is for people, and a reset
		// must not fail on it.
		var h string
		if h, err = auth.HashPassword(pw); err == nil {
			err = u.Update().SetPasswordHash(h).SetFailedLogins(0).ClearLockedUntil().Exec(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("demo owner: %w", err)
	}
	line := "demo login: " + DemoEmail + " " + pw
	if cfg.DemoLogin != nil {
		cfg.DemoLogin(line)
	} else {
		fmt.Fprintln(os.Stdout, line)
	}
	return nil
}

// hintFirstOwner tells the operator of a database without users how to
// create the first one: nothing can sign in until then.
func (a *App) hintFirstOwner(ctx context.Context) {
	if n, err := a.DB.Client.User.Query().Count(ctx); err == nil && n == 0 {
		a.log.Warn("no users yet; create the first OWNER with: regicam user create --email EMAIL --password - --account NAME")
	}
}
