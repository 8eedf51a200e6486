package auth

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/apikey"
	"github.com/regicam/regicam/ent/session"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/shopgroup"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// SessionViewer returns the viewer of a session cookie's token.
func (s *Service) SessionViewer(ctx context.Context, token, ip string) (viewer.Viewer, error) {
	hash := hashToken(token)
	if v, ok := s.cache.get("s"+hash+ip, s.now()); ok {
		return v, nil
	}
	v, err := s.sessionViewer(ctx, hash, ip)
	if err == nil {
		s.cache.put("s"+hash+ip, v, s.now())
	}
	return v, err
}

func (s *Service) sessionViewer(ctx context.Context, hash, ip string) (viewer.Viewer, error) {
	sys := viewer.System(ctx)
	se, err := s.client.Session.Query().Where(session.TokenHash(hash)).WithUser().Only(sys)
	if ent.IsNotFound(err) {
		return viewer.Viewer{}, apperr.Unauthenticatedf("セッションが無効です。ログインし直してください (session not valid)").Because(apperr.SESSION_INVALID)
	}
	if err != nil {
		return viewer.Viewer{}, err
	}
	now := s.now()
	u := se.Edges.User
	switch {
	case se.RevokedAt != nil || !now.Before(se.ExpiresAt) || u == nil:
		return viewer.Viewer{}, apperr.Unauthenticatedf("セッションが終了しました。ログインし直してください (session ended)").Because(apperr.SESSION_ENDED)
	case !ipAllowed(u.IPAllowlist, ip):
		return viewer.Viewer{}, apperr.Forbiddenf("このIPアドレスからは利用できません (IP address not allowed)").Because(apperr.IP_NOT_ALLOWED)
	}
	v := viewer.Viewer{AccountID: u.AccountID, UserID: u.ID, SessionID: se.ID,
		Role: viewer.Role(u.Role), Scopes: ScopesOf(viewer.Role(u.Role)), IP: ip}
	if v.Role == viewer.RoleStaff {
		v.Restricted = true
		if v.ShopIDs, err = s.shopsOf(sys, u); err != nil {
			return viewer.Viewer{}, err
		}
	}
	if se.LastSeenAt == nil || now.Sub(*se.LastSeenAt) > time.Minute {
		_ = s.client.Session.UpdateOneID(se.ID).SetLastSeenAt(now).Exec(sys)
	}
	return v, nil
}

// shopsOf lists the shops a STAFF user is assigned to, directly or through
// a ShopGroup.
func (s *Service) shopsOf(ctx context.Context, u *ent.User) ([]pulid.ID, error) {
	return s.client.Shop.Query().Where(shop.AccountID(u.AccountID), shop.Or(
		shop.HasStaffWith(user.ID(u.ID)),
		shop.HasGroupsWith(shopgroup.HasUsersWith(user.ID(u.ID))),
	)).IDs(ctx)
}

// KeyViewer returns the viewer of an API key ("rk_<prefix>_<secret>").
func (s *Service) KeyViewer(ctx context.Context, key, ip string) (viewer.Viewer, error) {
	ck := "k" + hashToken(key) + ip
	if v, ok := s.cache.get(ck, s.now()); ok {
		return v, nil
	}
	v, err := s.keyViewer(ctx, key, ip)
	if err == nil {
		s.cache.put(ck, v, s.now())
	}
	return v, err
}

func (s *Service) keyViewer(ctx context.Context, key, ip string) (viewer.Viewer, error) {
	prefix, secret, ok := splitKey(key)
	if !ok {
		return viewer.Viewer{}, apperr.Unauthenticatedf("APIキーが正しくありません (invalid API key)").Because(apperr.API_KEY_INVALID)
	}
	sys := viewer.System(ctx)
	k, err := s.client.ApiKey.Query().Where(apikey.Prefix(prefix)).Only(sys)
	if ent.IsNotFound(err) {
		return viewer.Viewer{}, apperr.Unauthenticatedf("APIキーが正しくありません (invalid API key)").Because(apperr.API_KEY_INVALID)
	}
	if err != nil {
		return viewer.Viewer{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(secret)), []byte(k.Hash)) != 1 {
		return viewer.Viewer{}, apperr.Unauthenticatedf("APIキーが正しくありません (invalid API key)").Because(apperr.API_KEY_INVALID)
	}
	now := s.now()
	if k.RevokedAt != nil {
		return viewer.Viewer{}, apperr.Unauthenticatedf("APIキーは失効しています (API key revoked)").Because(apperr.API_KEY_REVOKED)
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return viewer.Viewer{}, apperr.Unauthenticatedf("APIキーの有効期限が切れています (API key expired)").Because(apperr.API_KEY_EXPIRED)
	}
	v := viewer.Viewer{AccountID: k.AccountID, APIKeyID: k.ID, IP: ip}
	for _, sc := range k.Scopes {
		if sc := viewer.Scope(sc); sc != viewer.ScopeAdmin {
			v.Scopes = append(v.Scopes, sc)
		}
	}
	// One write a minute is enough to tell when a key was last used.
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
		_ = s.client.ApiKey.UpdateOneID(k.ID).SetLastUsedAt(now).Exec(sys)
	}
	return v, nil
}

// Allow takes one token from the key's bucket; when empty it returns a
// RATE_LIMITED error and how long to wait.
func (s *Service) Allow(keyID pulid.ID) (time.Duration, error) {
	if wait, ok := s.limiter.take(string(keyID)); !ok {
		secs := RetryAfter(wait)
		return wait, apperr.RateLimitedf(
			"リクエストが多すぎます。%d 秒後に再試行してください (rate limited; retry after %ds)", secs, secs).Because(apperr.RATE_LIMITED)
	}
	return 0, nil
}

// IsAPIKey reports whether a bearer token looks like one of our keys.
func IsAPIKey(token string) bool { return strings.HasPrefix(token, keyPrefix) }

// RetryAfter is wait in whole seconds, rounded up, at least 1.
func RetryAfter(wait time.Duration) int {
	return max(1, int((wait+time.Second-1)/time.Second))
}
