package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/server/livews"
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
// form still works. Refusals are writeError's answer on every route,
// /graphql included: status by code (RATE_LIMITED is 429), GraphQL-shaped
// body.
func (s *Server) authenticate(next http.Handler) http.Handler {
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
		ip := s.d.Auth.ClientIP(r) // X-Forwarded-For only from --trusted-proxies
		ctx = auth.WithClientIP(ctx, ip)
		if h := r.Header.Get("Authorization"); h != "" {
			v, err := s.keyViewer(ctx, h, ip)
			if err != nil {
				s.writeError(w, r, err, "api key lookup")
				return
			}
			if wait, err := s.d.Auth.Allow(v.APIKeyID); err != nil {
				// 429 on every route, /graphql too: when the key's bucket
				// refills, not the default second.
				w.Header().Set("Retry-After", strconv.Itoa(auth.RetryAfter(wait)))
				s.writeError(w, r, err, "api key rate")
				return
			}
			ctx = viewer.NewContext(ctx, v)
		} else if c, err := r.Cookie(auth.CookieName); err == nil && c.Value != "" {
			v, err := s.d.Auth.SessionViewer(ctx, c.Value, ip)
			if err == nil {
				ctx = viewer.NewContext(ctx, v)
			} else if _, ok := apperr.As(err); !ok {
				s.writeError(w, r, err, "session lookup")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) keyViewer(ctx context.Context, header, ip string) (viewer.Viewer, error) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || !auth.IsAPIKey(token) {
		return viewer.Viewer{}, apperr.Unauthenticatedf("Authorization は Bearer rk_… の形式で指定してください (expected a Bearer API key)").Because(apperr.API_KEY_INVALID)
	}
	return s.d.Auth.KeyViewer(ctx, token, ip)
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
func (s *Server) websocketInit(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	v, ok := viewer.FromContext(ctx)
	if h := p.Authorization(); h != "" {
		ip, _ := auth.ClientInfo(ctx)
		kv, err := s.keyViewer(ctx, h, ip)
		if err != nil {
			return wsRefused(ctx, closeUnauthorized, "Unauthorized"), nil, err
		}
		// A new connection costs the key one request.
		if _, err := s.d.Auth.Allow(kv.APIKeyID); err != nil {
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
			_, err := s.d.Auth.Allow(id)
			return err
		})
	}
	return s.d.Auth.Watch(ctx, v), nil, nil
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
