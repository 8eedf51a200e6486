package camera

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// challenge is one scheme offered in a WWW-Authenticate header.
type challenge struct {
	scheme string            // lower case
	params map[string]string // keys lower case, values unquoted
}

// parseChallenges reads every challenge from WWW-Authenticate header values.
// One header may hold several ("Digest realm=..., Basic realm=...") and
// parameter values may be quoted strings containing commas, so a plain split
// on "," is not enough (RFC 9110 §11.6.1).
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		s := v
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			tok, rest := readToken(s)
			if tok == "" {
				// Not a token: skip one byte so junk cannot loop forever.
				s = s[1:]
				continue
			}
			r := strings.TrimLeft(rest, " \t")
			if strings.HasPrefix(r, "=") && len(out) > 0 {
				var val string
				val, s = readValue(strings.TrimLeft(r[1:], " \t"))
				out[len(out)-1].params[strings.ToLower(tok)] = val
				continue
			}
			out = append(out, challenge{scheme: strings.ToLower(tok), params: map[string]string{}})
			s = rest
		}
	}
	return out
}

func readToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(c))
}

func readValue(s string) (val, rest string) {
	if !strings.HasPrefix(s, `"`) {
		i := strings.IndexAny(s, ", \t")
		if i < 0 {
			return s, ""
		}
		return s[:i], s[i:]
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), "" // unterminated: take what is there
}

// digestState is what a Digest client must remember between requests: the
// server's challenge and how often its nonce has been used. Reusing the
// nonce saves the 401 round trip on every poll, which on a 1 fps recorder
// halves the request count.
type digestState struct {
	realm, nonce, opaque string
	algorithm            string // as the server spelled it, echoed back
	newHash              func() hash.Hash
	sess                 bool
	qop                  string // "auth" or "" (RFC 2069 compatibility)
	userhash             bool
	nc                   uint32
}

// newDigestState accepts MD5 and SHA-256 (plain and -sess) with qop=auth or
// no qop; auth-int would need the entity body and cameras do not ask for it.
func newDigestState(c challenge) (*digestState, error) {
	d := &digestState{
		realm:     c.params["realm"],
		nonce:     c.params["nonce"],
		opaque:    c.params["opaque"],
		algorithm: c.params["algorithm"],
		userhash:  strings.EqualFold(c.params["userhash"], "true"),
	}
	if d.nonce == "" {
		return nil, fmt.Errorf("camera: digest challenge without nonce")
	}
	alg := strings.ToUpper(d.algorithm)
	if strings.HasSuffix(alg, "-SESS") {
		d.sess = true
		alg = strings.TrimSuffix(alg, "-SESS")
	}
	switch alg {
	case "", "MD5":
		d.newHash = md5.New
	case "SHA-256":
		d.newHash = sha256.New
	default:
		return nil, fmt.Errorf("camera: unsupported digest algorithm %q", d.algorithm)
	}
	if q, ok := c.params["qop"]; ok {
		for _, o := range strings.Split(q, ",") {
			if strings.EqualFold(strings.TrimSpace(o), "auth") {
				d.qop = "auth"
			}
		}
		if d.qop == "" {
			return nil, fmt.Errorf("camera: unsupported digest qop %q (only auth)", q)
		}
	}
	return d, nil
}

func (d *digestState) h(parts ...string) string {
	h := d.newHash()
	h.Write([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(h.Sum(nil))
}

// authorize returns the Authorization header for one request and advances
// the nonce count; the caller holds the lock that serialises nc.
func (d *digestState) authorize(user, pass, method, uri string) string {
	d.nc++
	return d.authorizeWith(user, pass, method, uri, newCnonce(), d.nc)
}

func (d *digestState) authorizeWith(user, pass, method, uri, cnonce string, nc uint32) string {
	ha1 := d.h(user, d.realm, pass)
	if d.sess {
		ha1 = d.h(ha1, d.nonce, cnonce)
	}
	ha2 := d.h(method, uri)
	ncs := fmt.Sprintf("%08x", nc)
	var resp string
	if d.qop != "" {
		resp = d.h(ha1, d.nonce, ncs, cnonce, d.qop, ha2)
	} else {
		resp = d.h(ha1, d.nonce, ha2)
	}
	name := user
	if d.userhash {
		name = d.h(user, d.realm)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username=%s, realm=%s, nonce=%s, uri=%s, response=%s`,
		quote(name), quote(d.realm), quote(d.nonce), quote(uri), quote(resp))
	if d.algorithm != "" {
		fmt.Fprintf(&b, ", algorithm=%s", d.algorithm)
	}
	if d.opaque != "" {
		fmt.Fprintf(&b, ", opaque=%s", quote(d.opaque))
	}
	if d.qop != "" {
		fmt.Fprintf(&b, `, qop=%s, nc=%s, cnonce=%s`, d.qop, ncs, quote(cnonce))
	}
	if d.userhash {
		b.WriteString(", userhash=true")
	}
	return b.String()
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func newCnonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
