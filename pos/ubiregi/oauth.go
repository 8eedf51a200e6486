package ubiregi

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/regicam/regicam/pos"
)

// Token is what the OAuth token endpoint grants. Expiry is zero when the
// provider did not say.
type Token struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time
}

// refreshMargin refreshes a little early so that a token does not expire
// between the check and the request.
const refreshMargin = time.Minute

// NeedsRefresh reports whether t is expired or about to be at now.
func (t Token) NeedsRefresh(now time.Time) bool {
	return t.AccessToken == "" || !t.Expiry.IsZero() && !now.Add(refreshMargin).Before(t.Expiry)
}

// AuthorizeURL is where the owner's browser goes to grant us access; state
// must be a fresh NewState value remembered in the owner's session.
func (c *Client) AuthorizeURL(state string) string {
	u := *c.authBase
	u.Path = strings.TrimRight(u.Path, "/") + "/oauth2/authorize"
	u.RawQuery = url.Values{
		"response_type": {"code"},
		"client_id":     {c.cfg.ClientID},
		"redirect_uri":  {c.cfg.RedirectURL},
		"state":         {state},
	}.Encode()
	return u.String()
}

// NewState returns 256 random bits, URL-safe, for the OAuth state that ties
// a callback to the browser session that started it.
func NewState() string {
	b := make([]byte, 32)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ErrStateMismatch means an OAuth callback did not carry the state this
// session sent: possibly a forged callback (login CSRF). Do not exchange
// its code.
var ErrStateMismatch = errors.New("ubiregi: OAuth state mismatch")

// CheckState compares the state the session stored with the one the
// callback brought, in constant time so that a forger learns nothing from
// timing. An empty expected state never matches.
func CheckState(expected, got string) error {
	if expected == "" || subtle.ConstantTimeCompare([]byte(expected), []byte(got)) != 1 {
		return ErrStateMismatch
	}
	return nil
}

// AuthError is the token endpoint refusing a grant or our client
// credentials. It wraps pos.ErrAuth: the connection needs the owner.
type AuthError struct {
	Code        string // OAuth error code, e.g. invalid_grant
	Description string // the provider's message
}

func (e *AuthError) Error() string {
	msg := "ubiregi: " + e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

func (e *AuthError) Unwrap() error { return pos.ErrAuth }

// Exchange trades the code from the authorize callback for tokens.
func (c *Client) Exchange(ctx context.Context, code string) (Token, error) {
	if code == "" {
		return Token{}, &AuthError{Code: "invalid_request", Description: "no authorization code in the callback"}
	}
	return c.token(ctx, url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {code},
		"redirect_uri": {c.cfg.RedirectURL},
	}, "")
}

// Refresh gets a new access token. The result may carry a new refresh
// token: store it before using the access token, the old one may be dead.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (Token, error) {
	if refreshToken == "" {
		return Token{}, &AuthError{Code: "invalid_grant", Description: "no refresh token stored; reconnect Ubiregi"}
	}
	return c.token(ctx, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	}, refreshToken)
}

// token posts one grant. It is not retried here: a code is single-use and a
// refresh token may rotate, so a blind retry could burn the grant; the
// caller's next sync tries again.
func (c *Client) token(ctx context.Context, form url.Values, oldRefresh string) (Token, error) {
	u := *c.authBase
	u.Path = strings.TrimRight(u.Path, "/") + "/oauth2/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.cfg.ClientID, c.cfg.ClientSecret)
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return Token{}, fmt.Errorf("ubiregi: token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Token{}, fmt.Errorf("ubiregi: token: read body: %w", err)
	}
	var w struct {
		AccessToken  string          `json:"access_token"`
		RefreshToken string          `json:"refresh_token"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
		Error        string          `json:"error"`
		Description  string          `json:"error_description"`
	}
	jsonErr := json.Unmarshal(body, &w)
	if resp.StatusCode != http.StatusOK {
		switch {
		case w.Error == "invalid_grant" || w.Error == "invalid_client" ||
			w.Error == "unauthorized_client" || w.Error == "access_denied":
			return Token{}, &AuthError{Code: w.Error, Description: clip(w.Description)}
		case resp.StatusCode == http.StatusUnauthorized:
			code := w.Error
			if code == "" {
				code = "unauthorized"
			}
			return Token{}, &AuthError{Code: code, Description: reason(body)}
		}
		ra := pos.RetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
		return Token{}, &APIError{Status: resp.StatusCode, Message: reason(body), RetryAfter: ra}
	}
	if jsonErr != nil || w.AccessToken == "" {
		return Token{}, fmt.Errorf("%w: token response without access_token", ErrMalformed)
	}
	t := Token{AccessToken: w.AccessToken, RefreshToken: w.RefreshToken}
	if t.RefreshToken == "" {
		t.RefreshToken = oldRefresh
	}
	if s, err := scalar(w.ExpiresIn); err == nil && s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < 10*365*24*3600 {
			t.Expiry = c.cfg.Now().Add(time.Duration(n) * time.Second)
		}
	}
	return t, nil
}
