package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/apikey"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

const keyPrefix = "rk_"

// KeyScopes are the scopes an API key may carry; admin stays with users.
var KeyScopes = []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeJournalWrite, viewer.ScopeLinksWrite}

// Scopes reads scope names as given; CreateAPIKey says which it refuses.
func Scopes(names []string) []viewer.Scope {
	out := make([]viewer.Scope, len(names))
	for i, s := range names {
		out[i] = viewer.Scope(s)
	}
	return out
}

// CreateAPIKey makes a key for the viewer's account (an OWNER or ADMIN)
// and returns it with its clear text, which is shown once and never
// stored. A key carries at least one of KeyScopes and, if it expires,
// expires in the future.
func (s *Service) CreateAPIKey(ctx context.Context, name string, scopes []viewer.Scope, expiresAt *time.Time) (*ent.ApiKey, string, error) {
	v, err := viewer.Require(ctx, viewer.ScopeAdmin)
	if err != nil {
		return nil, "", err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, "", apperr.Invalid("name", "名前を入力してください (name is required, at most 200 characters)").Because(apperr.LENGTH_OUT_OF_RANGE)
	}
	if len(scopes) == 0 {
		return nil, "", apperr.Invalid("scopes", "権限を1つ以上選んでください (at least one scope)").Because(apperr.REQUIRED)
	}
	var list []string
	for i, sc := range scopes {
		if !slices.Contains(KeyScopes, sc) {
			return nil, "", apperr.Invalid(fmt.Sprintf("scopes[%d]", i), "unknown scope %q (journal:read, journal:write, links:write)", sc).Because(apperr.INVALID_CHOICE)
		}
		if !slices.Contains(list, string(sc)) {
			list = append(list, string(sc))
		}
	}
	if expiresAt != nil && !expiresAt.After(s.now()) {
		return nil, "", apperr.Invalid("expiresAt", "有効期限は未来の日時にしてください (must be in the future)").Because(apperr.EXPIRY_IN_PAST)
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

// RevokeAPIKey ends a key of the viewer's account (an OWNER or ADMIN)
// now; open connections using it close within the watcher's interval.
// Revoking a revoked key changes nothing.
func (s *Service) RevokeAPIKey(ctx context.Context, id pulid.ID) (*ent.ApiKey, error) {
	if _, err := viewer.Require(ctx, viewer.ScopeAdmin); err != nil {
		return nil, err
	}
	k, err := s.client.ApiKey.Get(ctx, id)
	if err != nil {
		return nil, notFound("id", err)
	}
	if k.RevokedAt == nil {
		if k, err = k.Update().SetRevokedAt(s.now()).Save(ctx); err != nil {
			return nil, notFound("id", err)
		}
		s.record(ctx, "apikey.revoked", k.ID, "prefix="+k.Prefix)
		s.revoked()
	}
	return k, nil
}

// APIKeys lists the account's keys, newest first.
func (s *Service) APIKeys(ctx context.Context) ([]*ent.ApiKey, error) {
	if _, err := viewer.Require(ctx, viewer.ScopeAdmin); err != nil {
		return nil, err
	}
	return s.client.ApiKey.Query().Order(ent.Desc(apikey.FieldCreatedAt), ent.Desc(apikey.FieldID)).All(ctx)
}

func splitKey(key string) (prefix, secret string, ok bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", "", false
	}
	prefix, secret, ok = strings.Cut(rest, "_")
	// Only the alphabet keys are made of (the prefix lower-case base32-ish,
	// the secret base64url) goes on to the database: anything else cannot
	// be a key, and bytes PostgreSQL refuses (invalid UTF-8) would turn an
	// anonymous header into a logged driver error.
	return prefix, secret, ok && prefix != "" && len(secret) >= 20 &&
		strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyz0123456789") == "" &&
		strings.Trim(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}
