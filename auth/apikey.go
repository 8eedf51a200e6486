package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/viewer"
)

const keyPrefix = "rk_"

// KeyScopes are the scopes an API key may carry; admin stays with users.
var KeyScopes = []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeJournalWrite, viewer.ScopeLinksWrite}

// CreateAPIKey makes a key for the viewer's account and returns it with
// its clear text, which is shown once and never stored.
func (s *Service) CreateAPIKey(ctx context.Context, name string, scopes []viewer.Scope, expiresAt *time.Time) (*ent.ApiKey, string, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return nil, "", unauthenticated("ログインしてください (not signed in)")
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, "", apperr.Invalid("name", "名前を入力してください (name is required, at most 200 characters)")
	}
	if len(scopes) == 0 {
		return nil, "", apperr.Invalid("scopes", "権限を1つ以上選んでください (at least one scope)")
	}
	var list []string
	for i, sc := range scopes {
		if !slices.Contains(KeyScopes, sc) {
			return nil, "", apperr.Invalid(fmt.Sprintf("scopes[%d]", i), "unknown scope %q (journal:read, journal:write, links:write)", sc)
		}
		if !slices.Contains(list, string(sc)) {
			list = append(list, string(sc))
		}
	}
	if expiresAt != nil && !expiresAt.After(s.now()) {
		return nil, "", apperr.Invalid("expiresAt", "有効期限は未来の日時にしてください (must be in the future)")
	}
	prefix := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(randomToken(9)))[:8]
	secret := randomToken(32)
	create := s.client.ApiKey.Create().SetAccountID(v.AccountID).SetName(name).SetPrefix(prefix).
		SetHash(hashToken(secret)).SetScopes(list)
	if expiresAt != nil {
		create.SetExpiresAt(expiresAt.UTC())
	}
	k, err := create.Save(ctx)
	if err != nil {
		return nil, "", err
	}
	s.record(ctx, "apikey.created", k.ID, fmt.Sprintf("name=%q prefix=%s scopes=%s", name, prefix, strings.Join(list, ",")))
	return k, keyPrefix + prefix + "_" + secret, nil
}

// RevokeAPIKey ends a key now; open connections using it close within the
// watcher's interval.
func (s *Service) RevokeAPIKey(ctx context.Context, id pulid.ID) (*ent.ApiKey, error) {
	k, err := s.client.ApiKey.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if k.RevokedAt == nil {
		if k, err = k.Update().SetRevokedAt(s.now()).Save(ctx); err != nil {
			return nil, err
		}
		s.record(ctx, "apikey.revoked", k.ID, "prefix="+k.Prefix)
		s.revoked()
	}
	return k, nil
}

func splitKey(key string) (prefix, secret string, ok bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", "", false
	}
	prefix, secret, ok = strings.Cut(rest, "_")
	return prefix, secret, ok && prefix != "" && len(secret) >= 20
}
