package camera

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// authClient performs GETs against one camera URL, answering Basic and
// Digest challenges and remembering what worked so later requests are sent
// with credentials straight away.
type authClient struct {
	client *http.Client
	url    *url.URL
	creds  *Credentials

	mu     sync.Mutex
	basic  bool         // the camera asked for Basic: send it preemptively
	digest *digestState // cached challenge; nil until the first 401

	// send admits one credentialed exchange at a time: the request, a
	// challenge and the answer to it, up to the final answer's headers. A
	// camera rejects an nc lower than one it has seen as a replay, and may
	// spend a nonce in a use or two; requests racing between counting and
	// sending arrive out of order, or spend the nonce another one just
	// learned, and a rejected fresh answer reads as a wrong password. A
	// recorder grabs one frame at a time anyway, so only the rare
	// concurrent grab (a source test beside the recorder) waits.
	send chan struct{}
}

func newAuthClient(client *http.Client, u *url.URL, creds *Credentials) *authClient {
	if client == nil {
		client = http.DefaultClient
	}
	if creds != nil && creds.Username == "" && creds.Password == "" {
		creds = nil // a blank stored credential means "none", not user ""
	}
	a := &authClient{client: client, url: u, creds: creds, send: make(chan struct{}, 1)}
	if creds != nil && creds.Scheme == AuthBasic {
		a.basic = true
	}
	return a
}

// get returns a response that is not a 401, and the time its request left.
// The caller closes the body.
func (a *authClient) get(ctx context.Context) (*http.Response, time.Time, error) {
	// Three attempts cover: cached nonce rejected → fresh challenge → a
	// second stale=true from a server that rotates nonces aggressively.
	fresh := false // the credentials sent were built from a challenge of this call
	if a.creds != nil {
		select {
		case a.send <- struct{}{}:
			defer func() { <-a.send }()
		case <-ctx.Done():
			return nil, time.Time{}, fmt.Errorf("camera: GET %s: %w", a.url.Redacted(), ctx.Err())
		}
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url.String(), nil)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("%w: %v", ErrBadURL, err)
		}
		req.Header.Set("Accept", "image/jpeg, multipart/x-mixed-replace, */*;q=0.1")
		sentAuth := a.authorize(req)
		sent := time.Now()
		resp, err := a.client.Do(req)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("camera: GET %s: %w", a.url.Redacted(), unwrapURLError(err))
		}
		if resp.StatusCode != http.StatusUnauthorized {
			return resp, sent, nil
		}
		chs := parseChallenges(resp.Header.Values("WWW-Authenticate"))
		drain(resp)
		if a.creds == nil {
			return nil, time.Time{}, fmt.Errorf("%w: camera asks for credentials (%s) but none are configured", ErrUnauthorized, describe(chs))
		}
		stale, err := a.learn(chs)
		if err != nil {
			return nil, time.Time{}, err
		}
		// A rejected cached nonce (camera rebooted, nonce rotated) is not a
		// wrong password; only a rejection of a fresh answer is.
		if attempt >= 2 || (sentAuth && fresh && !stale) {
			return nil, time.Time{}, fmt.Errorf("%w: camera rejected user %q (%s): wrong username or password", ErrUnauthorized, a.creds.Username, describe(chs))
		}
		fresh = true
	}
}

// authorize adds whatever credentials the cached state allows and reports
// whether it did.
func (a *authClient) authorize(req *http.Request) bool {
	if a.creds == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.digest != nil:
		req.Header.Set("Authorization", a.digest.authorize(a.creds.Username, a.creds.Password, req.Method, req.URL.RequestURI()))
	case a.basic:
		req.SetBasicAuth(a.creds.Username, a.creds.Password)
	default:
		return false
	}
	return true
}

// learn picks the scheme to answer with. It reports stale when the server
// only rejected an expired nonce, which is not a wrong password.
func (a *authClient) learn(chs []challenge) (stale bool, err error) {
	var dig, basic *challenge
	for i := range chs {
		switch chs[i].scheme {
		case "digest":
			if dig == nil {
				dig = &chs[i]
			}
		case "basic":
			basic = &chs[i]
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case dig != nil && a.creds.Scheme != AuthBasic:
		d, err := newDigestState(*dig)
		if err != nil {
			// Digest in a form we cannot answer; Basic is still fine unless
			// the operator pinned Digest.
			if basic == nil || a.creds.Scheme == AuthDigest {
				return false, fmt.Errorf("%w: %v", ErrUnauthorized, err)
			}
			a.digest, a.basic = nil, true
			return false, nil
		}
		a.digest, a.basic = d, false
		return strings.EqualFold(dig.params["stale"], "true"), nil
	case basic != nil && a.creds.Scheme != AuthDigest:
		a.digest, a.basic = nil, true
		return false, nil
	case len(chs) == 0:
		return false, fmt.Errorf("%w: camera answered 401 without a WWW-Authenticate challenge", ErrUnauthorized)
	default:
		return false, fmt.Errorf("%w: camera offers %s, configured scheme %q cannot answer it", ErrUnauthorized, describe(chs), a.creds.Scheme)
	}
}

func describe(chs []challenge) string {
	if len(chs) == 0 {
		return "no challenge"
	}
	var parts []string
	for _, c := range chs {
		s := c.scheme
		if r, ok := c.params["realm"]; ok {
			s += fmt.Sprintf(" realm=%q", r)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// drain lets the connection be reused for the authenticated retry without
// reading an unbounded error page.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// unwrapURLError drops *url.Error's "Get \"url\":" prefix because our own
// message already names the (redacted) URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
