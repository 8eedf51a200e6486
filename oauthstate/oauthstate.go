// Package oauthstate is the OAuth2 `state` parameter of regicam's consent
// flows (Ubiregi, Safie): sealed (AES-GCM, secrets.Box) for the viewer who
// started the flow, so no server-side store is needed and any replica can
// take the callback, while a state lifted from another session does not
// open for this one. It expires, and Used makes it good for one callback
// per process. LocalPath is the one check of where a callback may send the
// browser back to.
package oauthstate

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// envelope is what is sealed: whose flow, until when, a nonce, and the
// flow's own data.
type envelope struct {
	Account pulid.ID        `json:"a"`
	User    pulid.ID        `json:"u,omitempty"`
	Session pulid.ID        `json:"s,omitempty"`
	Key     pulid.ID        `json:"k,omitempty"`
	Expires int64           `json:"e"`
	Nonce   string          `json:"r"`
	Data    json.RawMessage `json:"d,omitempty"`
}

// Seal returns the state for v's flow, good until now+ttl (to the second),
// carrying data (any JSON value); aad binds it to its flow
// ("oauth_state:<provider>"), so one flow's state never opens in another.
func Seal(box *secrets.Box, aad []byte, v viewer.Viewer, now time.Time, ttl time.Duration, data any) (string, time.Time, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(ttl).Truncate(time.Second)
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	env, err := json.Marshal(envelope{Account: v.AccountID, User: v.UserID, Session: v.SessionID, Key: v.APIKeyID,
		Expires: exp.Unix(), Nonce: hex.EncodeToString(b), Data: raw})
	if err != nil {
		return "", time.Time{}, err
	}
	sealed, err := box.Seal(env, aad)
	if err != nil {
		return "", time.Time{}, err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), exp, nil
}

// Opened is a state that opened for its viewer.
type Opened struct {
	Nonce   string
	Expires time.Time
}

// Open opens state for v into data: false when it is not a state of this
// flow, is another viewer's (account, user, session or API key), has
// expired, or its data does not decode.
func Open(box *secrets.Box, aad []byte, state string, v viewer.Viewer, now time.Time, data any) (Opened, bool) {
	if state == "" || box == nil {
		return Opened{}, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil {
		return Opened{}, false
	}
	raw, err := box.Open(sealed, aad)
	if err != nil {
		return Opened{}, false
	}
	var env envelope
	if json.Unmarshal(raw, &env) != nil || env.Nonce == "" {
		return Opened{}, false
	}
	if env.Account != v.AccountID || env.User != v.UserID || env.Session != v.SessionID || env.Key != v.APIKeyID ||
		now.Unix() > env.Expires {
		return Opened{}, false
	}
	if data != nil && len(env.Data) > 0 && json.Unmarshal(env.Data, data) != nil {
		return Opened{}, false
	}
	return Opened{Nonce: env.Nonce, Expires: time.Unix(env.Expires, 0)}, true
}

// Used remembers the states already taken by a callback of this process
// until they expire, so one cannot be replayed (a second callback with
// the same state, say from the browser's history). Bounded: past Max
// remembered states a new one is refused (a flood of valid states cannot
// make it forget). Safe for concurrent use; the zero value is ready.
type Used struct {
	// Max is how many unexpired states it remembers (default 10,000).
	Max int

	mu   sync.Mutex
	seen map[string]time.Time
}

// Spend marks o used; false when it already was, or the set is full.
func (u *Used) Spend(o Opened, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil {
		u.seen = map[string]time.Time{}
	}
	if _, ok := u.seen[o.Nonce]; ok {
		return false
	}
	max := u.Max
	if max <= 0 {
		max = 10000
	}
	if len(u.seen) >= max {
		for n, exp := range u.seen {
			if now.After(exp) {
				delete(u.seen, n)
			}
		}
		if len(u.seen) >= max {
			return false
		}
	}
	u.seen[o.Nonce] = o.Expires
	return true
}

// LocalPath reports whether p is a path on this site ("/portal?tab=2"),
// not a URL of another one ("//evil.example", "https://…", "/\\evil"):
// a callback must never become an open redirect.
func LocalPath(p string) bool {
	if p == "" || p[0] != '/' || len(p) > 1 && p[1] == '/' || strings.ContainsRune(p, '\\') {
		return false
	}
	// Browsers drop tabs and newlines from URLs, so "/\t/evil.example"
	// would become "//evil.example": no control characters at all.
	if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == ""
}
