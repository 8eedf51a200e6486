package auth

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// CookieName is the session cookie.
const CookieName = "regicam_session"

type httpKey struct{}

type httpExchange struct {
	w http.ResponseWriter
	r *http.Request
}

// WithHTTP lets resolvers reach the response (to set the session cookie)
// and the request (client address, TLS).
func WithHTTP(ctx context.Context, w http.ResponseWriter, r *http.Request) context.Context {
	return context.WithValue(ctx, httpKey{}, httpExchange{w, r})
}

func exchange(ctx context.Context) (httpExchange, bool) {
	x, ok := ctx.Value(httpKey{}).(httpExchange)
	return x, ok && x.w != nil
}

// ClientInfo returns the address and user agent of the request in ctx.
func ClientInfo(ctx context.Context) (ip, userAgent string) {
	// A websocket's context carries the request without the response.
	if x, ok := ctx.Value(httpKey{}).(httpExchange); ok && x.r != nil {
		ip, userAgent = ClientIP(x.r), x.r.UserAgent()
	}
	if resolved, ok := ctx.Value(clientIPKey{}).(string); ok {
		ip = resolved
	}
	return ip, userAgent
}

type clientIPKey struct{}

// WithClientIP records the caller's address as Service.ClientIP resolved
// it, for ClientInfo.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP is the caller's address: the connection's peer, or, when that
// peer is one of Options.TrustedProxies, the nearest address in
// X-Forwarded-For that is not a trusted proxy. A client could otherwise
// claim any address to pass an IP allowlist or dodge the login throttle.
func (s *Service) ClientIP(r *http.Request) string {
	peer := ClientIP(r)
	if !s.trusted(peer) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer // a hop we cannot read: stop at the proxy
			}
			if !s.trusted(a.String()) {
				return a.Unmap().String()
			}
		}
	}
	return peer
}

func (s *Service) trusted(ip string) bool {
	if len(s.opt.TrustedProxies) == 0 {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the caller's address. X-Forwarded-For is not trusted: a
// client could claim any address to pass an IP allowlist.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// secure reports whether the browser reached us over TLS, directly or
// through a proxy that terminated it.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// SetSessionCookie sends the session cookie on the response in ctx.
func SetSessionCookie(ctx context.Context, token string, expires time.Time) bool {
	x, ok := exchange(ctx)
	if !ok {
		return false
	}
	http.SetCookie(x.w, &http.Cookie{
		Name: CookieName, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure(x.r),
	})
	return true
}

// ClearSessionCookie removes the session cookie.
func ClearSessionCookie(ctx context.Context) {
	if x, ok := exchange(ctx); ok {
		http.SetCookie(x.w, &http.Cookie{
			Name: CookieName, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure(x.r),
		})
	}
}
