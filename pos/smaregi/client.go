// Package smaregi is the client of the Smaregi Platform API (the only
// Smaregi API since 2026-01-24): app access tokens by client credentials,
// the POS transactions and stores endpoints, the pos:transactions webhook,
// and the mapping of a transaction head onto journal records (kinds:
// docs/ARCHITECTURE.md §3).
//
// Base URLs are configuration so the same client talks to the fake in
// pos/smaregi/fake during tests and demos and to id.smaregi.jp /
// api.smaregi.jp in production.
package smaregi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/retry"
)

// Production and sandbox hosts.
const (
	ProductionIDBaseURL  = "https://id.smaregi.jp"
	ProductionAPIBaseURL = "https://api.smaregi.jp"
	SandboxIDBaseURL     = "https://id.smaregi.dev"
	SandboxAPIBaseURL    = "https://api.smaregi.dev"
)

// DefaultScopes are what the connector reads: transactions, and stores to
// name the shop a register stands in.
var DefaultScopes = []string{"pos.transactions:read", "pos.stores:read"}

// Config configures a Client. Zero values take the defaults.
type Config struct {
	IDBaseURL  string // default ProductionIDBaseURL
	APIBaseURL string // default ProductionAPIBaseURL

	ContractID   string
	ClientID     string
	ClientSecret string
	Scopes       []string // default DefaultScopes

	HTTP *http.Client // default: a client without overall timeout (RequestTimeout bounds each attempt)

	// RatePerSecond is this contract's request budget. Smaregi limits per
	// contract, so every Client of the same contract and API host shares
	// one bucket. Default 10.
	RatePerSecond float64

	// Items asks for line items (with_details=all). It caps pages at 100
	// transactions, so the same window costs ten times the requests. Keep it
	// fixed for a connection: the journal compares content, and a sale read
	// once with and once without items would look edited.
	Items bool

	RequestTimeout time.Duration // per attempt, default 30s
	MaxRetries     int           // per request after the first attempt, default 8
	MinBackoff     time.Duration // default 500ms
	MaxBackoff     time.Duration // default 30s
	// MaxWait caps any single wait, including a provider's Retry-After.
	// Default 60s.
	MaxWait time.Duration

	Log *slog.Logger
}

// Client talks to one Smaregi contract. It is safe for concurrent use; keep
// one per connection so the access token is reused.
type Client struct {
	cfg    Config
	idBase *url.URL
	api    *url.URL
	http   *http.Client
	log    *slog.Logger
	bucket *bucket

	fetchMu sync.Mutex // one token fetch at a time: no stampede on expiry
	mu      sync.Mutex
	token   string
	expires time.Time
	now     func() time.Time
}

// New checks cfg and returns a Client. It does not contact Smaregi; use
// CheckCredentials for that.
func New(cfg Config) (*Client, error) {
	if cfg.IDBaseURL == "" {
		cfg.IDBaseURL = ProductionIDBaseURL
	}
	if cfg.APIBaseURL == "" {
		cfg.APIBaseURL = ProductionAPIBaseURL
	}
	idBase, err := parseBase(cfg.IDBaseURL)
	if err != nil {
		return nil, fmt.Errorf("smaregi: id base URL: %w", err)
	}
	api, err := parseBase(cfg.APIBaseURL)
	if err != nil {
		return nil, fmt.Errorf("smaregi: api base URL: %w", err)
	}
	cfg.ContractID = strings.TrimSpace(cfg.ContractID)
	cfg.ClientID = strings.TrimSpace(cfg.ClientID)
	if cfg.ContractID == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, fmt.Errorf("smaregi: 契約ID・クライアントID・クライアントシークレットを入力してください (contract id, client id and client secret are required)")
	}
	// The contract id becomes a path segment of every URL.
	if strings.ContainsAny(cfg.ContractID, "/?#%\\ ") || len(cfg.ContractID) > 100 {
		return nil, fmt.Errorf("smaregi: 契約IDが不正です (invalid contract id %q)", cfg.ContractID)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	if cfg.RatePerSecond <= 0 {
		cfg.RatePerSecond = 10
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 8
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Client{
		cfg:    cfg,
		idBase: idBase,
		api:    api,
		http:   cfg.HTTP,
		log:    cfg.Log.With("provider", "smaregi", "contract_id", cfg.ContractID),
		bucket: sharedBucket(api.Scheme+"://"+api.Host+"|"+cfg.ContractID, cfg.RatePerSecond),
		now:    time.Now,
	}, nil
}

func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", s)
	}
	return u, nil
}

// ContractID is the contract this client reads.
func (c *Client) ContractID() string { return c.cfg.ContractID }

// CheckCredentials fetches a fresh access token: nil means Smaregi accepts
// the contract id, client id and secret. A refusal wraps pos.ErrAuth and
// carries Smaregi's own description (an *AuthError).
func (c *Client) CheckCredentials(ctx context.Context) error {
	c.invalidate("")
	_, err := c.accessToken(ctx)
	return err
}

// invalidate forgets the cached token if it is still stale (or always, for
// ""), so concurrent callers that all saw the same 401 refresh only once.
func (c *Client) invalidate(stale string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if stale == "" || c.token == stale {
		c.token = ""
	}
}

func (c *Client) cachedToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires) {
		return c.token
	}
	return ""
}

func (c *Client) accessToken(ctx context.Context) (string, error) {
	if t := c.cachedToken(); t != "" {
		return t, nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	if t := c.cachedToken(); t != "" { // someone else fetched while we waited
		return t, nil
	}
	tok, ttl, err := c.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	// Renew a minute early so a token never expires on its way to Smaregi;
	// for very short lifetimes keep half of it.
	margin := time.Minute
	if ttl <= 2*margin {
		margin = ttl / 2
	}
	c.mu.Lock()
	c.token, c.expires = tok, c.now().Add(ttl-margin)
	c.mu.Unlock()
	return tok, nil
}

func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	endpoint := c.idBase.JoinPath("app", c.cfg.ContractID, "token").String()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Join(c.cfg.Scopes, " ")}}.Encode()
	basic := base64.StdEncoding.EncodeToString([]byte(c.cfg.ClientID + ":" + c.cfg.ClientSecret))

	var lastErr error
	var retryAfter time.Duration
	for attempt := 0; attempt <= c.cfg.MaxRetries; attempt++ {
		if attempt > 0 {
			if err := pos.Sleep(ctx, c.backoff(attempt, retryAfter)); err != nil {
				return "", 0, errors.Join(err, lastErr)
			}
		}
		retryAfter = 0
		status, header, body, err := c.roundTrip(ctx, http.MethodPost, endpoint, form, func(r *http.Request) {
			r.Header.Set("Authorization", "Basic "+basic)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		})
		metrics.ProviderRequest("smaregi", outcome(status, err))
		if err != nil {
			if ctx.Err() != nil {
				return "", 0, ctx.Err()
			}
			lastErr = fmt.Errorf("smaregi: token: %w", err)
			continue
		}
		switch {
		case status == http.StatusOK:
			tok, ttl, err := parseToken(body)
			if err != nil {
				lastErr = fmt.Errorf("smaregi: token: %w", err)
				continue
			}
			return tok, ttl, nil
		case status == http.StatusTooManyRequests || status >= 500 || status == http.StatusRequestTimeout:
			retryAfter = pos.RetryAfter(header.Get("Retry-After"), c.now())
			lastErr = fmt.Errorf("smaregi: token: %s", describeStatus(status, body))
			continue
		case status >= 400 && status < 500:
			// A wrong contract id, client id or secret, or an app without
			// the scopes: only the owner can fix it, so no retry.
			return "", 0, newAuthError(status, body)
		default:
			return "", 0, fmt.Errorf("smaregi: token: unexpected %s", describeStatus(status, body))
		}
	}
	return "", 0, lastErr
}

func parseToken(body []byte) (string, time.Duration, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return "", 0, fmt.Errorf("malformed token response: %w", err)
	}
	tok := rawString(m["access_token"])
	if tok == "" {
		return "", 0, errors.New("token response without access_token")
	}
	if tt := rawString(m["token_type"]); tt != "" && !strings.EqualFold(tt, "bearer") {
		return "", 0, fmt.Errorf("unexpected token_type %q", tt)
	}
	ttl := 3600 * time.Second // Smaregi's documented lifetime, if it does not say
	if s := rawString(m["expires_in"]); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n <= 0 || n > 366*24*3600 {
			return "", 0, fmt.Errorf("bad expires_in %q", s)
		}
		ttl = time.Duration(n * float64(time.Second))
	}
	return tok, ttl, nil
}

// maxBody bounds a response: 1000 transactions with payments are a few MB.
const maxBody = 64 << 20

// roundTrip performs one attempt under RequestTimeout and reads the whole
// body, so a connection cut mid-body is an error here, not a parse error
// later.
func (c *Client) roundTrip(ctx context.Context, method, target, form string, prepare func(*http.Request)) (int, http.Header, []byte, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequestWithContext(actx, method, target, body)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "regicam-smaregi/1")
	prepare(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read %s: %w", method, err)
	}
	if len(data) > maxBody {
		return 0, nil, nil, fmt.Errorf("response over %d bytes", maxBody)
	}
	return resp.StatusCode, resp.Header, data, nil
}

// get is one logical API GET: token, rate limit, retries with backoff on
// 429 / 5xx / timeouts / unreadable or undecodable bodies, and one token
// refresh on 401. decode runs on 2xx bodies; a decode error is retried
// because a truncated body is the usual cause. With allow404, a 404 returns
// (404, nil) for the caller to interpret.
func (c *Client) get(ctx context.Context, target string, allow404 bool, decode func(http.Header, []byte) error) (int, error) {
	if err := c.sameOrigin(target); err != nil {
		return 0, err
	}
	refreshed := false
	var lastErr error
	var retryAfter time.Duration
	for attempt := 0; attempt <= c.cfg.MaxRetries; attempt++ {
		if attempt > 0 {
			if err := pos.Sleep(ctx, c.backoff(attempt, retryAfter)); err != nil {
				return 0, errors.Join(err, lastErr)
			}
		}
		retryAfter = 0
		tok, err := c.accessToken(ctx)
		if err != nil {
			return 0, err
		}
		if err := c.bucket.wait(ctx, c.cfg.MaxWait); err != nil {
			return 0, errors.Join(err, lastErr)
		}
		status, header, body, err := c.roundTrip(ctx, http.MethodGet, target, "", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+tok)
		})
		metrics.ProviderRequest("smaregi", outcome(status, err))
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			lastErr = fmt.Errorf("smaregi: GET %s: %w", redact(target), err)
			c.log.Debug("smaregi request failed", "attempt", attempt, "err", err)
			continue
		}
		switch {
		case status >= 200 && status < 300:
			if err := decode(header, body); err != nil {
				lastErr = fmt.Errorf("smaregi: GET %s: %w", redact(target), err)
				c.log.Warn("smaregi response undecodable", "attempt", attempt, "err", err)
				continue
			}
			return status, nil
		case status == http.StatusUnauthorized:
			if refreshed {
				return 0, newAuthError(status, body)
			}
			// The token may have been revoked or expired early: refresh
			// once, immediately, without spending a retry.
			refreshed = true
			c.invalidate(tok)
			attempt--
			continue
		case status == http.StatusForbidden:
			return 0, newAuthError(status, body)
		case status == http.StatusNotFound && allow404:
			return status, nil
		case status == http.StatusTooManyRequests:
			retryAfter = pos.RetryAfter(header.Get("Retry-After"), c.now())
			if retryAfter <= 0 {
				retryAfter = time.Second // Smaregi's limits are per second
			}
			// Every client of this contract holds back, not just this one.
			c.bucket.pause(min(retryAfter, c.cfg.MaxWait))
			lastErr = fmt.Errorf("smaregi: GET %s: rate limited", redact(target))
			continue
		case status >= 500 || status == http.StatusRequestTimeout:
			retryAfter = pos.RetryAfter(header.Get("Retry-After"), c.now())
			lastErr = fmt.Errorf("smaregi: GET %s: %s", redact(target), describeStatus(status, body))
			continue
		default:
			return 0, &APIError{Status: status, Detail: problemDetail(body)}
		}
	}
	return 0, fmt.Errorf("smaregi: giving up after %d attempts: %w", c.cfg.MaxRetries+1, lastErr)
}

// sameOrigin refuses to send the bearer token anywhere but the API host:
// a Link header is provider input.
func (c *Client) sameOrigin(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("smaregi: bad URL: %w", err)
	}
	if u.Scheme != c.api.Scheme || u.Host != c.api.Host {
		return fmt.Errorf("smaregi: refusing to follow %s://%s outside the API host", u.Scheme, u.Host)
	}
	return nil
}

// backoff is exponential with jitter, at least Retry-After, capped by
// MaxWait; jitter keeps the connections of one server from retrying in step.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := retry.Jitter(retry.Exp(c.cfg.MinBackoff, c.cfg.MaxBackoff, attempt-1))
	if retryAfter > d {
		d = retryAfter + rand.N(c.cfg.MinBackoff/2+1)
	}
	return min(d, c.cfg.MaxWait)
}

// redact drops the query: it is long and adds nothing to an error message.
func redact(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		return target[:i]
	}
	return target
}

func describeStatus(status int, body []byte) string {
	s := fmt.Sprintf("HTTP %d", status)
	if d := problemDetail(body); d != "" {
		s += ": " + d
	}
	return s
}
