// Package ubiregi is the client for the Ubiregi API: OAuth2 authorization
// code flow, the account (one Ubiregi account is one register), and
// checkouts polling with since + next-url. Records maps a checkout onto
// journal records.
//
// Base URLs are configuration so that tests and the demo talk to
// pos/ubiregi/fake over real HTTP with this very client.
package ubiregi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/retry"
)

// Production endpoints.
const (
	DefaultAuthBaseURL = "https://ubiregi.com"
	DefaultAPIBaseURL  = "https://ubiregi.com/api/3"
)

// Config configures a Client. Zero durations and counts take the defaults
// given per field.
type Config struct {
	AuthBaseURL  string // default DefaultAuthBaseURL
	APIBaseURL   string // default DefaultAPIBaseURL
	ClientID     string
	ClientSecret string
	RedirectURL  string
	HTTP         *http.Client // default: 30 s timeout
	// Now is the clock for token expiry; default time.Now.
	Now func() time.Time
	// MaxRetries bounds retries of a GET on 429, 5xx and network errors
	// (default 4; negative: none).
	MaxRetries int
	// BaseBackoff and MaxBackoff shape the jittered exponential backoff
	// (defaults 500 ms and 30 s). A Retry-After header wins, up to MaxBackoff.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Overlap is subtracted from since on every poll (default 1 min;
	// negative: none). A checkout committed on Ubiregi's side slightly
	// after the timestamp it was stamped with would otherwise fall between
	// two polls; re-reading a minute costs only duplicates, which ingest
	// drops.
	Overlap time.Duration
	// MaxPages stops All following next-url forever (default 10000).
	MaxPages int
}

// Client talks to one Ubiregi deployment on behalf of many accounts; the
// token is passed per call. It is safe for concurrent use.
type Client struct {
	cfg      Config
	authBase *url.URL
	apiBase  *url.URL
}

// New checks cfg and fills in defaults.
func New(cfg Config) (*Client, error) {
	if cfg.AuthBaseURL == "" {
		cfg.AuthBaseURL = DefaultAuthBaseURL
	}
	if cfg.APIBaseURL == "" {
		cfg.APIBaseURL = DefaultAPIBaseURL
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 4
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Overlap == 0 {
		cfg.Overlap = time.Minute
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = 10000
	}
	c := &Client{cfg: cfg}
	var err error
	if c.authBase, err = parseBase(cfg.AuthBaseURL); err != nil {
		return nil, fmt.Errorf("ubiregi: AuthBaseURL: %w", err)
	}
	if c.apiBase, err = parseBase(cfg.APIBaseURL); err != nil {
		return nil, fmt.Errorf("ubiregi: APIBaseURL: %w", err)
	}
	return c, nil
}

func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return u, nil
}

// ErrTokenExpired means the API answered 401: refresh the token (Refresh)
// and try again; if the refresh is refused too, the owner must reconnect.
var ErrTokenExpired = errors.New("ubiregi: access token rejected (401); refresh needed")

// APIError is an HTTP failure that is neither a credentials problem nor a
// malformed body.
type APIError struct {
	Status     int
	Message    string        // the provider's reason, when it gave one
	RetryAfter time.Duration // from a Retry-After header
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("ubiregi: HTTP %d", e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Temporary reports whether trying again later may succeed (429 and 5xx).
// 402 (the shop's subscription ran out) is not: the owner must renew.
func (e *APIError) Temporary() bool { return e.Status == http.StatusTooManyRequests || e.Status >= 500 }

// Bodies beyond this are not checkouts pages; refuse them rather than run
// out of memory.
const maxBody = 32 << 20

// get fetches u with the access token, retrying what may pass by itself.
func (c *Client) get(ctx context.Context, tok Token, u string) ([]byte, error) {
	var lastErr error
	for attempt := 0; ; attempt++ {
		body, retryAfter, err := c.getOnce(ctx, tok, u)
		if err == nil {
			return body, nil
		}
		lastErr = err
		if !retryable(ctx, err) || attempt >= c.cfg.MaxRetries || c.cfg.MaxRetries < 0 {
			return nil, lastErr
		}
		if err := pos.Sleep(ctx, c.backoff(attempt, retryAfter)); err != nil {
			return nil, fmt.Errorf("%w (last error: %v)", err, lastErr)
		}
	}
}

func (c *Client) getOnce(ctx context.Context, tok Token, u string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	// X-Ubiregi-Auth-Token is the documented header; OAuth clients of the
	// real service (omniauth-ubiregi) send a Bearer token, so send both.
	req.Header.Set("X-Ubiregi-Auth-Token", tok.AccessToken)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		metrics.ProviderRequest("ubiregi", metrics.OutcomeError)
		return nil, 0, err
	}
	metrics.ProviderRequest("ubiregi", outcome(resp.StatusCode))
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("ubiregi: read body: %w", err)
	}
	if len(body) > maxBody {
		return nil, 0, fmt.Errorf("%w: body over %d bytes", ErrMalformed, maxBody)
	}
	ra := pos.RetryAfter(resp.Header.Get("Retry-After"), c.cfg.Now())
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, 0, nil
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, 0, fmt.Errorf("%w: %s", ErrTokenExpired, reason(body))
	default:
		return nil, ra, &APIError{Status: resp.StatusCode, Message: reason(body), RetryAfter: ra}
	}
}

func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	// Answers we understood (401, malformed JSON) do not improve by asking
	// again at once; transport failures (reset, timeout, cut body) may.
	return !errors.Is(err, ErrTokenExpired) && !errors.Is(err, ErrMalformed)
}

func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, c.cfg.MaxBackoff)
	}
	// Jitter: many connections hitting one 429 must not come back in
	// lockstep.
	return retry.Jitter(retry.Exp(c.cfg.BaseBackoff, c.cfg.MaxBackoff, attempt))
}

// reason extracts the provider's message from an error body: Ubiregi
// sends [{"reason": …}], OAuth endpoints {"error", "error_description"}.
func reason(body []byte) string {
	var list []struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(body, &list) == nil && len(list) > 0 && list[0].Reason != "" {
		return clip(list[0].Reason)
	}
	var obj struct {
		Reason      string `json:"reason"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Message     string `json:"message"`
	}
	if json.Unmarshal(body, &obj) == nil {
		for _, s := range []string{obj.Description, obj.Reason, obj.Message, obj.Error} {
			if s != "" {
				return clip(s)
			}
		}
	}
	return ""
}

// clip keeps provider text short enough for a status line and a log.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 300 {
		return string(r[:300]) + "…"
	}
	return s
}
