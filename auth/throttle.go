package auth

import (
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// throttle slows password guessing without letting anyone lock anyone
// else out (OWASP Authentication Cheat Sheet, "Login Throttling"):
//
//   - per (email, source address): the first `free` failures cost
//     nothing; after that each further attempt must wait 1 s, 2 s, 4 s …
//     up to maxWait after the previous failure. The owner signing in from
//     their own address never feels an attacker's failures from another.
//   - per source address: a token bucket of failures (burst ipBurst,
//     refilled at ipRate per second) caps guessing across many emails.
//     Once it is spent, an email that has no failure from that source
//     may still be tried there, once: a wrong password then refuses its
//     next attempts from there early, the right one signs in. So an
//     attacker behind a shared (NAT) address who spends its budget does
//     not lock out the people who sign in from it; what is left to them
//     is one guess per email and source per forget period.
//
// Unknown emails are throttled exactly like known ones, so the throttle
// reveals nothing about which emails exist. State is in memory, per
// process, in two LRUs of bounded size: an attacker can evict entries only
// by spending failures from many addresses.
type throttle struct {
	free    int
	maxWait time.Duration
	forget  time.Duration // a pair with no failure for this long starts over
	ipBurst float64
	ipRate  float64

	mu    sync.Mutex
	pairs *simplelru.LRU[pairKey, *pairState]
	ips   *simplelru.LRU[string, *ipState]
}

// pairKey holds a digest of the email, so a megabyte-long email costs a
// tracked pair no more memory than a short one.
type pairKey struct {
	email  [sha256.Size]byte
	source string
}

func keyOf(email, ip string) pairKey { return pairKey{sha256.Sum256([]byte(email)), source(ip)} }

type pairState struct {
	failures int
	last     time.Time // the latest counted attempt
	until    time.Time // attempts before this are refused
	spent    bool      // the latest attempt spent a token of the source
}

type ipState struct {
	tokens float64
	at     time.Time
}

// throttleEntries bounds each LRU: about 150 bytes an entry, so a few MB.
const throttleEntries = 20_000

func newThrottle(free int, maxWait time.Duration, ipBurst int, ipWindow time.Duration) *throttle {
	pairs, _ := simplelru.NewLRU[pairKey, *pairState](throttleEntries, nil)
	ips, _ := simplelru.NewLRU[string, *ipState](throttleEntries, nil)
	return &throttle{
		free: free, maxWait: maxWait, forget: max(4*maxWait, time.Hour),
		ipBurst: float64(ipBurst), ipRate: float64(ipBurst) / ipWindow.Seconds(),
		pairs: pairs, ips: ips,
	}
}

// source is the throttle's key for an address: IPv6 clients usually hold a
// whole /64, so it counts as one source.
func source(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// begin counts an attempt of email from ip as a failure before its
// password is checked (so parallel attempts cannot slip past the limit),
// or refuses it: the pair is in backoff, or the source's budget is spent
// and the pair has failed from it before. n is the pair's failures including this attempt; success
// takes the count back.
func (t *throttle) begin(email, ip string, now time.Time) (n int, ok bool) {
	key := keyOf(email, ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	p, found := t.pairs.Get(key)
	if !found || now.Sub(p.last) > t.forget {
		p = &pairState{}
	}
	if now.Before(p.until) {
		return p.failures, false
	}
	b, found := t.ips.Get(key.source)
	if !found {
		b = &ipState{tokens: t.ipBurst, at: now}
	}
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = min(t.ipBurst, b.tokens+el*t.ipRate)
		b.at = now
	}
	spent := b.tokens >= 1
	if spent {
		b.tokens--
	}
	t.ips.Add(key.source, b)
	if !spent && p.failures > 0 {
		// The source's budget is spent and this email has failed from
		// it: refused without hashing. An email without failures here
		// is checked (a wrong password makes it this case).
		return p.failures, false
	}
	p.spent = spent
	p.failures++
	p.last = now
	if over := p.failures - t.free; over >= 0 {
		wait := t.maxWait
		if over < 30 && time.Second<<over < wait {
			wait = time.Second << over
		}
		p.until = now.Add(wait)
	}
	t.pairs.Add(key, p)
	return p.failures, true
}

// success forgets the pair's failures and gives the source the token
// the attempt spent back: an office of many users behind one address is
// not slowed by sign-ins that work.
func (t *throttle) success(email, ip string) {
	key := keyOf(email, ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	p, found := t.pairs.Peek(key)
	t.pairs.Remove(key)
	if b, ok := t.ips.Peek(key.source); ok && (!found || p.spent) {
		b.tokens = min(t.ipBurst, b.tokens+1)
	}
}

// clear forgets every failure counted against email (unlockUser).
func (t *throttle) clear(email string) {
	sum := sha256.Sum256([]byte(email))
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range t.pairs.Keys() {
		if k.email == sum {
			t.pairs.Remove(k)
		}
	}
}
