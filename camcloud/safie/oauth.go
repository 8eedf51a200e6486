package safie

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultAuthorizeURL is where the owner approves the app.
const DefaultAuthorizeURL = "https://app.safie.link/auth/authorize"

// DefaultScope is the one scope the API documents.
const DefaultScope = "safie-api"

// OAuthConfig is a Safie OAuth2 client (authorization code grant). The
// URLs default to the public ones; tests point them at the fake.
type OAuthConfig struct {
	ClientID, ClientSecret string
	RedirectURL            string
	AuthorizeURL           string // default https://app.safie.link/auth/authorize
	TokenURL               string // default DefaultBaseURL + "/v1/auth/token"
	Scope                  string // default "safie-api"
}

// Token is what the token endpoint grants.
type Token struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time
}

func (o OAuthConfig) oauth2() *oauth2.Config {
	authURL, tokenURL, scope := o.AuthorizeURL, o.TokenURL, o.Scope
	if authURL == "" {
		authURL = DefaultAuthorizeURL
	}
	if tokenURL == "" {
		tokenURL = DefaultBaseURL + "/v1/auth/token"
	}
	if scope == "" {
		scope = DefaultScope
	}
	return &oauth2.Config{
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		RedirectURL:  o.RedirectURL,
		Scopes:       strings.Fields(scope),
		// The vendor's client sends the client credentials in the form;
		// saying so spares the library's probe (one refused request) of
		// which style the server takes.
		Endpoint: oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

// AuthCodeURL is where to send the owner's browser.
func (o OAuthConfig) AuthCodeURL(state string) string {
	return o.oauth2().AuthCodeURL(state)
}

// Exchange trades an authorization code for a token (ErrAuth when refused).
func (o OAuthConfig) Exchange(ctx context.Context, hc *http.Client, code string) (Token, error) {
	t, err := o.oauth2().Exchange(withHTTP(ctx, hc), code)
	if err != nil {
		return Token{}, o.tokenError(ctx, "exchanging the authorization code", err, code)
	}
	return fromOAuth2(t)
}

// Refresh renews an access token (ErrAuth when the refresh token is refused).
func (o OAuthConfig) Refresh(ctx context.Context, hc *http.Client, refreshToken string) (Token, error) {
	// An expired token with only the refresh token makes the source ask
	// the token endpoint at once.
	ts := o.oauth2().TokenSource(withHTTP(ctx, hc), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	t, err := ts.Token()
	if err != nil {
		return Token{}, o.tokenError(ctx, "refreshing the token", err, refreshToken)
	}
	return fromOAuth2(t)
}

func withHTTP(ctx context.Context, hc *http.Client) context.Context {
	// The token endpoint gets the client secret and the grant in the
	// body; a redirect is not followed (see noRedirects) and the 3xx is
	// refused as not the documented answer.
	return context.WithValue(ctx, oauth2.HTTPClient, noRedirects(hc))
}

func fromOAuth2(t *oauth2.Token) (Token, error) {
	if t == nil || t.AccessToken == "" {
		return Token{}, fmt.Errorf("%w: token answer without access_token", ErrBadResponse)
	}
	return Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expiry: t.Expiry}, nil
}

// tokenError maps the token endpoint's refusal (400 invalid_grant, 401
// invalid_client) to ErrAuth, quoting only its error code and description:
// RetrieveError's own text carries the raw body.
func (o OAuthConfig) tokenError(ctx context.Context, doing string, err error, grant string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		st := 0
		if re.Response != nil {
			st = re.Response.StatusCode
		}
		msg := re.ErrorCode
		if re.ErrorDescription != "" {
			msg += ": " + re.ErrorDescription
		}
		if msg == "" && re.Response != nil {
			msg = re.Response.Status
		}
		msg = scrubSecrets(msg, grant, o.ClientSecret)
		switch {
		case st == http.StatusBadRequest || st == http.StatusUnauthorized || st == http.StatusForbidden:
			return fmt.Errorf("%w: %s (HTTP %d): %s", ErrAuth, doing, st, msg)
		case st == http.StatusTooManyRequests:
			return fmt.Errorf("%w: %s (HTTP %d): %s", ErrRateLimited, doing, st, msg)
		case st >= 500:
			return fmt.Errorf("%w: %s (HTTP %d): %s", ErrUnavailable, doing, st, msg)
		default:
			return fmt.Errorf("%w: %s (HTTP %d): %s", ErrBadResponse, doing, st, msg)
		}
	}
	if msg := err.Error(); strings.Contains(msg, "cannot parse") || strings.Contains(msg, "missing access_token") {
		return fmt.Errorf("%w: %s: the token answer is not the documented JSON", ErrBadResponse, doing)
	}
	// Transport errors.
	return fmt.Errorf("%w: %s: %s", ErrUnavailable, doing, scrubSecrets(transportReason(err), grant, o.ClientSecret))
}
