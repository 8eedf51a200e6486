package smaregi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/regicam/regicam/pos"
)

// AuthError is Smaregi refusing the connection's credentials or scopes. It
// wraps pos.ErrAuth (status NEEDS_REAUTH); Error() leads with Smaregi's own
// description because the owner reads it in the portal.
type AuthError struct {
	Status      int
	Code        string // OAuth error code (invalid_client, invalid_scope…) or the problem title
	Description string // Smaregi's error_description / detail, as sent
}

func (e *AuthError) Error() string {
	msg := "スマレジが認証を拒否しました (Smaregi rejected the credentials)"
	switch {
	case e.Description != "" && e.Code != "":
		msg += ": " + e.Description + " (" + e.Code + ")"
	case e.Description != "":
		msg += ": " + e.Description
	case e.Code != "":
		msg += ": " + e.Code
	default:
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	return msg
}

func (e *AuthError) Unwrap() error { return pos.ErrAuth }

// ContractNotFound: the token endpoint does not know the contract id (the
// path segment), so the id, not the app's credentials, needs checking.
func (e *AuthError) ContractNotFound() bool { return e.Status == http.StatusNotFound }

// ScopeMissing: the app's credentials are right but it may not read what
// regicam asks for; the owner turns the scopes on for the app.
func (e *AuthError) ScopeMissing() bool { return e.Code == "invalid_scope" }

func newAuthError(status int, body []byte) *AuthError {
	e := &AuthError{Status: status}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) == nil {
		e.Code = firstNonEmpty(rawString(m["error"]), rawString(m["title"]))
		e.Description = firstNonEmpty(rawString(m["error_description"]), rawString(m["detail"]), rawString(m["message"]))
	}
	e.Code = clip(e.Code, 100)
	e.Description = clip(e.Description, 300)
	return e
}

// APIError is a response Smaregi will not change by retrying (a 4xx other
// than 401/403/404/408/429): usually a request the client got wrong.
type APIError struct {
	Status int
	Detail string
}

func (e *APIError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("smaregi: HTTP %d", e.Status)
	}
	return fmt.Sprintf("smaregi: HTTP %d: %s", e.Status, e.Detail)
}

// problemDetail pulls a human message out of an error body, whichever of
// Smaregi's shapes it has (OAuth error or problem+json).
func problemDetail(body []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	return clip(firstNonEmpty(rawString(m["error_description"]), rawString(m["detail"]),
		rawString(m["message"]), rawString(m["title"]), rawString(m["error"])), 300)
}

// Credential kinds stored on a PosConnection (credential_kind).
const (
	// CredentialClientCredentials is the Platform API: 契約ID + クライアントID
	// + クライアントシークレット.
	CredentialClientCredentials = "client_credentials"
	// CredentialLegacyAccessToken is the API retired on 2026-01-24
	// (contract id + access token at webapi.smaregi.jp/access/).
	CredentialLegacyAccessToken = "access_token"
)

// ErrLegacyAccessToken is what a connection still holding an access token
// of the retired API reports; it wraps pos.ErrLegacyCredentials so the
// runtime shows NEEDS_REAUTH with this text.
var ErrLegacyAccessToken = fmt.Errorf("%w: スマレジの旧APIは2026年1月24日に終了しました。スマレジ・デベロッパーズのアプリの契約ID・クライアントID・クライアントシークレットを入力してください (the access-token API was retired; enter contract id, client id and client secret)", pos.ErrLegacyCredentials)

// IsLegacyCredential reports whether a stored credential kind belongs to the
// retired access-token API. Spellings seen in older rows are accepted.
func IsLegacyCredential(kind string) bool {
	switch strings.ToLower(strings.TrimSpace(kind)) {
	case CredentialLegacyAccessToken, "accesstoken", "access-token", "legacy", "legacy_access_token", "webapi", "smaregi_access_token":
		return true
	}
	return false
}

// CheckCredentialKind returns ErrLegacyAccessToken for a legacy kind, nil
// otherwise; a connection factory calls it before New.
func CheckCredentialKind(kind string) error {
	if IsLegacyCredential(kind) {
		return ErrLegacyAccessToken
	}
	return nil
}

// rawString reads a JSON scalar as text: strings unquoted, numbers and
// booleans verbatim, null/objects/arrays/garbage as "". Smaregi sends
// every field as a string or null, but a parser that trusts that would
// fail a whole page over one odd value.
func rawString(r json.RawMessage) string {
	if len(r) == 0 {
		return ""
	}
	switch r[0] {
	case '"':
		var s string
		if json.Unmarshal(r, &s) != nil {
			return ""
		}
		return s
	case 't', 'f':
		return string(r)
	case 'n', '{', '[':
		return ""
	default:
		var n json.Number
		if json.Unmarshal(r, &n) != nil {
			return ""
		}
		return n.String()
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// clip bounds provider text we store or show, on a rune boundary.
func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
