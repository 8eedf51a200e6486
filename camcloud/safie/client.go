// Package safie is a client of the Safie API v2 (the camera cloud): the
// device list, the picture of any recorded second, the latest thumbnail,
// recorded spans and standard events (connect, disconnect, motion, sound,
// person). Requests are paced and retried (429, 5xx) like the POS clients.
//
// Every answer is bounded (JSON 4 MB, images Config.MaxImageBytes, 10,000
// devices or events) and checked before it is believed: garbage JSON or a
// picture that is not a JPEG is ErrBadResponse, never retried as if valid.
// No error says the key or the token: the cloud's own message is clipped
// and scrubbed of both before it is wrapped.
package safie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/retry"
)

// DefaultBaseURL is the public API.
const DefaultBaseURL = "https://openapi.safie.link"

// Errors the callers branch on; each is wrapped with the cloud's reason.
var (
	// ErrAuth: 401/403 — the key or token is invalid, revoked, or lacks
	// the scope. The connection needs the owner (NEEDS_REAUTH).
	ErrAuth = errors.New("safie: authentication refused")
	// ErrForbidden: a 403, which is ErrAuth as well. On a device's path
	// it may be that device's alone (a device the key may not see, an
	// option it lacks): callers that ask per device may treat it so.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: 404 on a device path — the device is gone, or (image
	// with a timestamp) there is no picture of that moment.
	ErrNotFound = errors.New("safie: not found")
	// ErrRateLimited: still 429 after the retries allowed.
	ErrRateLimited = errors.New("safie: rate limited")
	// ErrBadResponse: an answer that is not what the API documents
	// (garbage JSON, not a JPEG, too large); never retried as if valid.
	ErrBadResponse = errors.New("safie: unexpected response")
	// ErrRange: a media / events range the API would refuse (shorter than
	// 1 minute, longer than 1 day, end less than 1 minute ago), refused
	// before asking.
	ErrRange = errors.New("safie: range not allowed")
	// ErrUnavailable: 5xx or a transport error (timeout, refused
	// connection) still after the retries allowed: try again later.
	ErrUnavailable = errors.New("safie: service unavailable")
	// ErrRefused: another 4xx (400 for a timestamp in the future, 405, …):
	// the cloud refused this request as asked; repeating it will not help.
	ErrRefused = errors.New("safie: request refused")
)

// Limits of the API and of what this client believes.
const (
	// MinRange and MaxRange bound a media / events range; RangeEndAge is
	// how long ago its end must be at least.
	MinRange    = time.Minute
	MaxRange    = 24 * time.Hour
	RangeEndAge = time.Minute
	// MaxItems caps the devices or events one call collects over its pages.
	MaxItems = 10000
	// pageLimit is the largest page the API serves; maxPages the most
	// pages one call follows (MaxItems of them, and one to see the end):
	// a cloud that says has_next for ever is not followed for ever.
	pageLimit    = 100
	maxPages     = MaxItems/pageLimit + 1
	maxJSONBytes = 4 << 20
	// maxMessage clips the cloud's reason in an error.
	maxMessage = 200
)

// Credentials authenticate requests: AccessToken (OAuth2, sent as Bearer)
// wins over APIKey (sent as Safie-API-Key).
type Credentials struct {
	APIKey      string
	AccessToken string
}

// Config tunes a Client; zero values take the defaults.
type Config struct {
	BaseURL string       // default DefaultBaseURL
	HTTP    *http.Client // default: a client with a 15 s timeout
	// Rate is the sustained requests per second (default 5) and Burst the
	// bucket (default 5); shared by every call of this Client.
	Rate  float64
	Burst int
	// MaxRetries of a 429 / 5xx / transport error (default 4), backing off
	// from MinBackoff (default 500 ms, honouring Retry-After) to MaxBackoff
	// (default 30 s).
	MaxRetries             int
	MinBackoff, MaxBackoff time.Duration
	// MaxImageBytes caps a JPEG answer (default 10 MB).
	MaxImageBytes int64
	// Now is the clock for range checks (tests); default time.Now.
	Now func() time.Time
}

// Client talks to one cloud account with one credential. Safe for
// concurrent use.
type Client struct {
	cfg   Config
	creds Credentials
	lim   *rate.Limiter
	// sleep waits between attempts (tests record the waits instead).
	sleep func(ctx context.Context, d time.Duration) error

	mu sync.Mutex
	// notBefore holds every request of this client after a 429 until the
	// cloud's Retry-After has passed: a storm is paced, not fed.
	notBefore time.Time
}

// New returns a client.
func New(cfg Config, creds Credentials) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	cfg.HTTP = noRedirects(cfg.HTTP)
	if cfg.Rate <= 0 {
		cfg.Rate = 5
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 5
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 4
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.MaxImageBytes <= 0 {
		cfg.MaxImageBytes = 10 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{
		cfg: cfg, creds: creds,
		lim:   rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		sleep: retry.Sleep,
	}
}

// noRedirects is a copy of hc (default: a 15 s timeout) that does not
// follow redirects. Go drops Authorization on a redirect to another host
// but keeps custom headers such as Safie-API-Key: following one would
// hand the key to whoever the cloud (or a proxy in front of it) points
// at. The API documents no redirect, so a 3xx is ErrBadResponse.
func noRedirects(hc *http.Client) *http.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	} else {
		c.Timeout = 15 * time.Second
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// Device is one camera of the account.
type Device struct {
	ID        string // device_id
	Serial    string
	Name      string // setting.name (may be empty)
	Model     string // model.description
	Streaming bool   // status.video_streaming
}

// Label is how the reference portal names a device: 「自宅カメラ (CC-2L_SF : 201000192)」.
func (d Device) Label() string {
	return d.Name + " (" + d.Model + " : " + d.Serial + ")"
}

type wireDevice struct {
	DeviceID string `json:"device_id"`
	Serial   string `json:"serial"`
	Setting  struct {
		Name string `json:"name"`
	} `json:"setting"`
	Status struct {
		VideoStreaming bool `json:"video_streaming"`
	} `json:"status"`
	Model struct {
		Description string `json:"description"`
	} `json:"model"`
}

type wireDevices struct {
	List    []wireDevice `json:"list"`
	Count   *int         `json:"count"`
	HasNext bool         `json:"has_next"`
}

// Devices lists every device (all pages); itemID, when not nil, keeps the
// devices that carry that option. At most 10,000 devices.
func (c *Client) Devices(ctx context.Context, itemID *int) ([]Device, error) {
	var out []Device
	seen := map[string]bool{}
	offset := 0
	for pages := 1; ; pages++ {
		q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(pageLimit)}}
		if itemID != nil {
			q.Set("item_id", strconv.Itoa(*itemID))
		}
		var page wireDevices
		if err := c.getJSON(ctx, "/v2/devices", q, &page); err != nil {
			return nil, err
		}
		if page.List == nil {
			return nil, fmt.Errorf("%w: device list without \"list\"", ErrBadResponse)
		}
		for _, d := range page.List {
			if d.DeviceID == "" {
				return nil, fmt.Errorf("%w: a device without device_id", ErrBadResponse)
			}
			if seen[d.DeviceID] {
				// Pages shifted under us (a device added meanwhile): keep
				// the first sighting rather than a duplicate camera.
				continue
			}
			seen[d.DeviceID] = true
			out = append(out, Device{
				ID: d.DeviceID, Serial: d.Serial, Name: d.Setting.Name,
				Model: d.Model.Description, Streaming: d.Status.VideoStreaming,
			})
		}
		if len(out) > MaxItems {
			return nil, fmt.Errorf("%w: more than %d devices", ErrBadResponse, MaxItems)
		}
		if !page.HasNext {
			return out, nil
		}
		if len(page.List) == 0 {
			// has_next on an empty page (whatever its count says) would
			// loop for ever; a short list is not believed either.
			return nil, fmt.Errorf("%w: has_next on an empty page", ErrBadResponse)
		}
		if pages >= maxPages {
			return nil, fmt.Errorf("%w: too many pages (more than %d)", ErrBadResponse, maxPages)
		}
		n := len(page.List)
		if page.Count != nil && *page.Count > 0 {
			n = *page.Count
		}
		offset += n
	}
}

// Image is the JPEG of the device at `at` from the cloud's recording; a
// zero `at` asks for the latest. ErrNotFound: no picture of that moment.
func (c *Client) Image(ctx context.Context, deviceID string, at time.Time) ([]byte, error) {
	q := url.Values{}
	if !at.IsZero() {
		q.Set("timestamp", FormatTime(at))
	}
	return c.getJPEG(ctx, devicePath(deviceID, "image"), q)
}

// Thumbnail is the device's latest thumbnail JPEG.
func (c *Client) Thumbnail(ctx context.Context, deviceID string) ([]byte, error) {
	return c.getJPEG(ctx, devicePath(deviceID, "thumbnail"), nil)
}

// Span is one recorded stretch.
type Span struct {
	Start    time.Time
	Duration time.Duration
}

// End is when the span stops.
func (s Span) End() time.Time { return s.Start.Add(s.Duration) }

type wireMedia struct {
	List []struct {
		Timestamp string       `json:"timestamp"`
		Duration  *json.Number `json:"duration"`
	} `json:"list"`
}

// Media lists the recorded spans between start and end (1 minute to 1 day,
// end at least 1 minute ago: ErrRange otherwise).
func (c *Client) Media(ctx context.Context, deviceID string, start, end time.Time) ([]Span, error) {
	if err := c.CheckRange(start, end); err != nil {
		return nil, err
	}
	q := url.Values{"start": {FormatTime(start)}, "end": {FormatTime(end)}}
	var m wireMedia
	if err := c.getJSON(ctx, devicePath(deviceID, "media"), q, &m); err != nil {
		return nil, err
	}
	if m.List == nil {
		return nil, fmt.Errorf("%w: media without \"list\"", ErrBadResponse)
	}
	if len(m.List) > MaxItems {
		return nil, fmt.Errorf("%w: more than %d spans", ErrBadResponse, MaxItems)
	}
	out := make([]Span, 0, len(m.List))
	for _, s := range m.List {
		t, err := ParseTime(s.Timestamp)
		if err != nil {
			return nil, fmt.Errorf("%w: span timestamp: %v", ErrBadResponse, err)
		}
		if s.Duration == nil {
			return nil, fmt.Errorf("%w: span without duration", ErrBadResponse)
		}
		ms, err := s.Duration.Float64()
		if err != nil || ms < 0 || ms > float64(366*24*time.Hour/time.Millisecond) {
			return nil, fmt.Errorf("%w: span duration %q", ErrBadResponse, clip(s.Duration.String(), 40))
		}
		out = append(out, Span{Start: t, Duration: time.Duration(ms * float64(time.Millisecond))})
	}
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// Event types of StandardEvents.
const (
	EventConnect    = "connect"
	EventDisconnect = "disconnect"
	EventMotion     = "motion"
	EventSound      = "sound"
	EventPerson     = "person"
)

// Event is one standard event.
type Event struct {
	Type string
	At   time.Time
}

type wireEvents struct {
	List []struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
	} `json:"list"`
}

// StandardEvents lists the events between start and end (same range rules
// as Media), all pages, oldest first; types filters (none: all). At most
// 10,000 events.
func (c *Client) StandardEvents(ctx context.Context, deviceID string, start, end time.Time, types ...string) ([]Event, error) {
	if err := c.CheckRange(start, end); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, t := range types {
		want[t] = true
	}
	var out []Event
	seen := 0 // every event the pages held, asked-for type or not
	for offset, pages := 0, 1; ; offset, pages = offset+pageLimit, pages+1 {
		q := url.Values{
			"start": {FormatTime(start)}, "end": {FormatTime(end)},
			"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(pageLimit)},
		}
		for _, t := range types {
			q.Add("event_types", t)
		}
		var page wireEvents
		if err := c.getJSON(ctx, devicePath(deviceID, "standard_events"), q, &page); err != nil {
			return nil, err
		}
		if page.List == nil {
			return nil, fmt.Errorf("%w: events without \"list\"", ErrBadResponse)
		}
		if len(page.List) > pageLimit {
			return nil, fmt.Errorf("%w: %d events on a page of %d", ErrBadResponse, len(page.List), pageLimit)
		}
		seen += len(page.List)
		if seen > MaxItems {
			return nil, fmt.Errorf("%w: more than %d events", ErrBadResponse, MaxItems)
		}
		for _, e := range page.List {
			t, err := ParseTime(e.Timestamp)
			if err != nil {
				return nil, fmt.Errorf("%w: event timestamp: %v", ErrBadResponse, err)
			}
			// The cloud filters too; filtering again keeps a cloud that
			// ignores event_types from counting motion as people.
			if len(want) > 0 && !want[e.Type] {
				continue
			}
			out = append(out, Event{Type: e.Type, At: t})
		}
		if len(page.List) < pageLimit {
			break
		}
		if pages >= maxPages {
			return nil, fmt.Errorf("%w: too many pages (more than %d)", ErrBadResponse, maxPages)
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.At.Compare(b.At) })
	return out, nil
}

// CheckRange is the media / events range rule (ErrRange when the cloud
// would refuse it), measured on Config.Now.
func (c *Client) CheckRange(start, end time.Time) error {
	d := end.Sub(start)
	switch {
	case d < MinRange:
		return fmt.Errorf("%w: %s to %s is shorter than %s", ErrRange, FormatTime(start), FormatTime(end), MinRange)
	case d > MaxRange:
		return fmt.Errorf("%w: %s to %s is longer than %s", ErrRange, FormatTime(start), FormatTime(end), MaxRange)
	case end.After(c.cfg.Now().Add(-RangeEndAge)):
		return fmt.Errorf("%w: end %s is less than %s ago", ErrRange, FormatTime(end), RangeEndAge)
	}
	return nil
}

// FormatTime is the API's timestamp: ISO 8601 to the second with the
// zone's offset (2026-12-02T15:04:05+09:00). Sub-seconds are dropped: the
// cloud answers per second.
func FormatTime(t time.Time) string { return t.Format("2006-01-02T15:04:05-07:00") }

// ParseTime reads an API timestamp (RFC 3339, with or without fraction).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("not an ISO 8601 time: %q", clip(s, 40))
	}
	return t, nil
}

func devicePath(deviceID, what string) string {
	return "/v2/devices/" + url.PathEscape(deviceID) + "/" + what
}

// --- transport ---

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	body, err := c.get(ctx, path, q, "application/json", maxJSONBytes)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %s is not the documented JSON (%d bytes)", ErrBadResponse, path, len(body))
	}
	return nil
}

func (c *Client) getJPEG(ctx context.Context, path string, q url.Values) ([]byte, error) {
	body, err := c.get(ctx, path, q, "image/jpeg", c.cfg.MaxImageBytes)
	if err != nil {
		return nil, err
	}
	// The bytes are never quoted: they are whatever the cloud (or a proxy
	// in front of it) sent.
	if len(body) < 4 || body[0] != 0xFF || body[1] != 0xD8 {
		return nil, fmt.Errorf("%w: %s is not a JPEG (%d bytes)", ErrBadResponse, path, len(body))
	}
	return body, nil
}

// get sends one GET with retries: 429 (after Retry-After), 5xx and
// transport errors are tried again with exponential backoff and jitter;
// anything else is an answer.
func (c *Client) get(ctx context.Context, path string, q url.Values, accept string, maxBytes int64) ([]byte, error) {
	u := c.cfg.BaseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var last error
	for attempt := 0; ; attempt++ {
		if err := c.pace(ctx); err != nil {
			return nil, err
		}
		body, retryAfter, err := c.once(ctx, u, path, accept, maxBytes)
		if err == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var re *retryable
		if !errors.As(err, &re) {
			return nil, err
		}
		last = re.err
		wait := c.backoff(attempt)
		if retryAfter > 0 {
			// The cloud said when; asking sooner only earns another 429,
			// for every call of this client. Longer than MaxBackoff is not
			// waited out inside one call: the caller hears when to come
			// back (RetryAfterOf).
			c.holdUntil(time.Now().Add(retryAfter))
			if attempt >= c.cfg.MaxRetries || retryAfter > c.cfg.MaxBackoff {
				return nil, &rateLimited{err: last, after: retryAfter}
			}
			wait = max(wait, retryAfter)
		}
		if attempt >= c.cfg.MaxRetries {
			return nil, last
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// retryable marks an attempt that may be repeated; err is what the caller
// gets when the retries run out.
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }

func (c *Client) once(ctx context.Context, u, path, accept string, maxBytes int64) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %v", ErrRefused, path, err)
	}
	req.Header.Set("Accept", accept)
	switch {
	case c.creds.AccessToken != "":
		req.Header.Set("Authorization", "Bearer "+c.creds.AccessToken)
	case c.creds.APIKey != "":
		req.Header.Set("Safie-API-Key", c.creds.APIKey)
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		metrics.ProviderRequest(metricsProvider, metrics.OutcomeError)
		return nil, 0, &retryable{fmt.Errorf("%w: %s: %s", ErrUnavailable, path, c.scrub(transportReason(err)))}
	}
	defer resp.Body.Close()
	metrics.ProviderRequest(metricsProvider, outcomeOf(resp.StatusCode))
	if resp.StatusCode == http.StatusOK {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
		if err != nil {
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			return nil, 0, &retryable{fmt.Errorf("%w: %s: reading the answer: %s", ErrUnavailable, path, c.scrub(transportReason(err)))}
		}
		if int64(len(body)) > maxBytes {
			return nil, 0, fmt.Errorf("%w: %s answered more than %d bytes", ErrBadResponse, path, maxBytes)
		}
		return body, 0, nil
	}
	// An error body is only read for its reason.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	msg := c.reason(raw, resp.Status)
	st := resp.StatusCode
	switch {
	case st == http.StatusForbidden:
		return nil, 0, fmt.Errorf("%w (HTTP %d, %w): %s", ErrAuth, st, ErrForbidden, msg)
	case st == http.StatusUnauthorized:
		return nil, 0, fmt.Errorf("%w (HTTP %d): %s", ErrAuth, st, msg)
	case st == http.StatusNotFound:
		return nil, 0, fmt.Errorf("%w (HTTP %d): %s", ErrNotFound, st, msg)
	case st == http.StatusTooManyRequests:
		return nil, retry.After(resp.Header.Get("Retry-After"), time.Now()),
			&retryable{fmt.Errorf("%w (HTTP %d): %s", ErrRateLimited, st, msg)}
	case st >= 500:
		return nil, 0, &retryable{fmt.Errorf("%w (HTTP %d): %s", ErrUnavailable, st, msg)}
	case st >= 400:
		return nil, 0, fmt.Errorf("%w (HTTP %d): %s", ErrRefused, st, msg)
	default:
		// 1xx/2xx/3xx other than 200: not what the API documents.
		return nil, 0, fmt.Errorf("%w: %s answered HTTP %d", ErrBadResponse, path, st)
	}
}

// metricsProvider is the camera cloud's provider label on /metrics.
const metricsProvider = "safie"

// outcomeOf is the /metrics outcome of an answer with status st.
func outcomeOf(st int) string {
	switch {
	case st == http.StatusOK:
		return metrics.OutcomeOK
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		return metrics.OutcomeAuth
	case st == http.StatusTooManyRequests:
		return metrics.OutcomeRateLimited
	}
	return metrics.OutcomeError
}

// pace waits for the client's limiter and for any pause a 429 imposed;
// a pause longer than MaxBackoff is ErrRateLimited at once.
func (c *Client) pace(ctx context.Context) error {
	c.mu.Lock()
	hold := time.Until(c.notBefore)
	c.mu.Unlock()
	if hold > c.cfg.MaxBackoff {
		return &rateLimited{err: fmt.Errorf("%w: the cloud asked to wait %s", ErrRateLimited, hold.Round(time.Second)), after: hold}
	}
	if hold > 0 {
		if err := c.sleep(ctx, hold); err != nil {
			return err
		}
	}
	if err := c.lim.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The wait would outlast the context's deadline.
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return nil
}

// rateLimited is ErrRateLimited with the cloud's Retry-After.
type rateLimited struct {
	err   error
	after time.Duration
}

func (r *rateLimited) Error() string { return r.err.Error() }
func (r *rateLimited) Unwrap() error { return r.err }

// RetryAfterOf is how long the cloud asked to wait when err is
// ErrRateLimited with a Retry-After; 0 otherwise.
func RetryAfterOf(err error) time.Duration {
	var r *rateLimited
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}

func (c *Client) holdUntil(t time.Time) {
	c.mu.Lock()
	if t.After(c.notBefore) {
		c.notBefore = t
	}
	c.mu.Unlock()
}

// backoff is attempt's wait: MinBackoff doubled per attempt up to
// MaxBackoff, of which a random half (so clients that failed together do
// not come back together).
func (c *Client) backoff(attempt int) time.Duration {
	return retry.Jitter(retry.Exp(c.cfg.MinBackoff, c.cfg.MaxBackoff, attempt))
}

// reason is the cloud's explanation from an error body: its JSON message
// (message, error_description, error) or else the HTTP status, clipped and
// scrubbed of the credentials.
func (c *Client) reason(raw []byte, status string) string {
	var m struct {
		Message          string `json:"message"`
		ErrorDescription string `json:"error_description"`
		Error            any    `json:"error"`
	}
	msg := ""
	if json.Unmarshal(raw, &m) == nil {
		switch {
		case m.Message != "":
			msg = m.Message
		case m.ErrorDescription != "":
			msg = m.ErrorDescription
		default:
			if s, ok := m.Error.(string); ok {
				msg = s
			}
		}
	}
	if msg == "" {
		// A body that is not the documented JSON (an HTML page of a proxy)
		// is not quoted.
		msg = status
	}
	return c.scrub(msg)
}

// scrub removes the credentials from text that came from outside (a
// server echoing the header back), drops control characters and clips.
func (c *Client) scrub(s string) string {
	return scrubSecrets(s, c.creds.APIKey, c.creds.AccessToken)
}

func scrubSecrets(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return clip(strings.TrimSpace(s), maxMessage)
}

// clip cuts s to n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// transportReason is a transport error without the request's URL (which
// is the cloud's address and the caller's query: noise in a status line).
func transportReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
