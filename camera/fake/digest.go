// Package fake provides camera HTTP servers for tests: Basic and Digest
// authentication wrappers and an MJPEG stream. It deliberately does not
// import package camera, so the digest server is an independent
// implementation of RFC 7616 against which the client is checked.
package fake

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// BasicAuth guards a handler with HTTP Basic authentication.
type BasicAuth struct {
	Realm, Username, Password string
	Rejected                  atomic.Int64
}

// Wrap returns next behind the password check.
func (b *BasicAuth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != b.Username || p != b.Password {
			if ok {
				b.Rejected.Add(1)
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", b.Realm))
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// DigestAuth guards a handler with RFC 7616 Digest authentication the way
// IP cameras do: server nonces with replay protection (nc must grow),
// opaque echo, uri check, optional nonce expiry via stale=true.
type DigestAuth struct {
	Realm, Username, Password string
	// Algorithm: "MD5" (default), "MD5-sess", "SHA-256", "SHA-256-sess".
	Algorithm string
	// QOP is "auth" (default) or "none" for RFC 2069 style challenges
	// without qop, which some old cameras still send.
	QOP string
	// NonceUses expires a nonce after that many accepted requests
	// (0: never), answering the next one with stale=true.
	NonceUses int
	// Userhash asks clients to send H(username:realm) instead of the name.
	Userhash bool
	// AlsoBasic adds a Basic challenge after the Digest one, to check that
	// clients prefer Digest.
	AlsoBasic bool

	// Counters for assertions.
	Challenges, Accepted, Rejected, Stale atomic.Int64

	mu     sync.Mutex
	opaque string
	nonces map[string]*nonceState
}

type nonceState struct {
	lastNC uint32
	uses   int
}

// Wrap returns next behind the digest check.
func (d *DigestAuth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, stale := d.check(r)
		switch status {
		case http.StatusOK:
			d.Accepted.Add(1)
			next.ServeHTTP(w, r)
		case http.StatusBadRequest:
			d.Rejected.Add(1)
			http.Error(w, "bad digest request", http.StatusBadRequest)
		default:
			d.challenge(w, stale)
		}
	})
}

func (d *DigestAuth) init() {
	if d.nonces == nil {
		d.nonces = map[string]*nonceState{}
		d.opaque = random()
	}
}

func (d *DigestAuth) challenge(w http.ResponseWriter, stale bool) {
	d.mu.Lock()
	d.init()
	nonce := random()
	d.nonces[nonce] = &nonceState{}
	opaque := d.opaque
	d.mu.Unlock()
	d.Challenges.Add(1)
	if stale {
		d.Stale.Add(1)
	}
	c := fmt.Sprintf(`Digest realm=%q, nonce=%q, opaque=%q`, d.Realm, nonce, opaque)
	if d.Algorithm != "" {
		c += ", algorithm=" + d.Algorithm
	}
	if d.qop() != "" {
		c += `, qop="auth"`
	}
	if stale {
		c += ", stale=true"
	}
	if d.Userhash {
		c += ", userhash=true"
	}
	w.Header().Add("WWW-Authenticate", c)
	if d.AlsoBasic {
		w.Header().Add("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", d.Realm))
	}
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

func (d *DigestAuth) qop() string {
	if d.QOP == "none" {
		return ""
	}
	return "auth"
}

func (d *DigestAuth) newHash() func() hash.Hash {
	if strings.HasPrefix(strings.ToUpper(d.Algorithm), "SHA-256") {
		return sha256.New
	}
	return md5.New
}

func (d *DigestAuth) h(parts ...string) string {
	h := d.newHash()()
	h.Write([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(h.Sum(nil))
}

// check returns 200 (pass), 400 (malformed) or 401 (challenge) and whether
// the 401 is only for an expired nonce.
func (d *DigestAuth) check(r *http.Request) (int, bool) {
	auth := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Digest") {
		return http.StatusUnauthorized, false
	}
	p := parseParams(rest)
	if p["uri"] != r.URL.RequestURI() {
		return http.StatusBadRequest, false
	}
	if !strings.EqualFold(p["algorithm"], d.Algorithm) && !(d.Algorithm == "" && strings.EqualFold(p["algorithm"], "MD5")) {
		d.Rejected.Add(1)
		return http.StatusUnauthorized, false
	}
	d.mu.Lock()
	d.init()
	opaque := d.opaque
	d.mu.Unlock()
	if p["realm"] != d.Realm || p["opaque"] != opaque {
		d.Rejected.Add(1)
		return http.StatusUnauthorized, false
	}
	user := d.Username
	if d.Userhash {
		user = d.h(d.Username, d.Realm)
	}
	if p["username"] != user {
		d.Rejected.Add(1)
		return http.StatusUnauthorized, false
	}
	nonce, cnonce, ncs := p["nonce"], p["cnonce"], p["nc"]
	ha1 := d.h(d.Username, d.Realm, d.Password)
	if strings.HasSuffix(strings.ToUpper(d.Algorithm), "-SESS") {
		ha1 = d.h(ha1, nonce, cnonce)
	}
	ha2 := d.h(r.Method, p["uri"])
	var want string
	if d.qop() == "" {
		want = d.h(ha1, nonce, ha2)
	} else {
		if p["qop"] != "auth" || cnonce == "" {
			return http.StatusBadRequest, false
		}
		want = d.h(ha1, nonce, ncs, cnonce, "auth", ha2)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(p["response"])) != 1 {
		d.Rejected.Add(1)
		return http.StatusUnauthorized, false
	}
	// The password was right; what remains is nonce bookkeeping.
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.nonces[nonce]
	if !ok {
		d.Rejected.Add(1)
		return http.StatusUnauthorized, true
	}
	if d.qop() != "" {
		nc, err := strconv.ParseUint(ncs, 16, 32)
		if err != nil || len(ncs) != 8 {
			return http.StatusBadRequest, false
		}
		if uint32(nc) <= st.lastNC {
			d.Rejected.Add(1) // replayed request
			return http.StatusUnauthorized, false
		}
		st.lastNC = uint32(nc)
	}
	if d.NonceUses > 0 && st.uses >= d.NonceUses {
		delete(d.nonces, nonce)
		return http.StatusUnauthorized, true
	}
	st.uses++
	return http.StatusOK, false
}

// ExpireNonces forgets every issued nonce, like a camera that rebooted.
func (d *DigestAuth) ExpireNonces() {
	d.mu.Lock()
	d.nonces = map[string]*nonceState{}
	if d.opaque == "" {
		d.opaque = random()
	}
	d.mu.Unlock()
}

// parseParams reads k=v and k="quoted \" value" pairs separated by commas.
func parseParams(s string) map[string]string {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return out
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return out
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			out[key] = b.String()
			s = s[min(i+1, len(s)):]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			out[key] = strings.TrimSpace(s[:end])
			s = s[end:]
		}
	}
}

func random() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
