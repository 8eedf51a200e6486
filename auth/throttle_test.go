package auth

import (
	"strconv"
	"testing"
	"time"
)

// TestThrottleBackoff: five free failures per (email, source), then each
// attempt waits 1 s, 2 s, 4 s … capped; another source is not affected;
// a success forgets the pair.
func TestThrottleBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	th := newThrottle(5, 10*time.Second, 100, 10*time.Minute)
	for i := range 5 {
		if _, ok := th.begin("a@x.jp", "203.0.113.9", now); !ok {
			t.Fatalf("free attempt %d refused", i+1)
		}
	}
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		if _, ok := th.begin("a@x.jp", "203.0.113.9", now.Add(wait-time.Millisecond)); ok {
			t.Fatalf("attempt before %v passed", wait)
		}
		now = now.Add(wait)
		if _, ok := th.begin("a@x.jp", "203.0.113.9", now); !ok {
			t.Fatalf("attempt after %v refused", wait)
		}
	}
	if _, ok := th.begin("a@x.jp", "198.51.100.4", now); !ok {
		t.Fatal("another source is throttled by this one's failures")
	}
	if _, ok := th.begin("b@x.jp", "203.0.113.9", now); !ok {
		t.Fatal("another email from the same source is throttled by the pair")
	}
	th.success("a@x.jp", "203.0.113.9")
	if n, ok := th.begin("a@x.jp", "203.0.113.9", now); !ok || n != 1 {
		t.Fatalf("after a success: ok %v, %d failures", ok, n)
	}
}

// TestThrottleSourceBudget: one source spends at most its budget of
// failures across emails, refilled over the window; past it an email that
// failed from there is refused early, one that did not is checked once;
// an IPv6 /64 is one source.
func TestThrottleSourceBudget(t *testing.T) {
	now := time.Unix(1000, 0)
	th := newThrottle(5, time.Minute, 20, 10*time.Minute)
	// 4 failures for each of 5 emails spend the budget without backoff.
	for i := range 20 {
		if _, ok := th.begin(string(rune('a'+i%5))+"@x.jp", "2001:db8:1:2::"+string(rune('a'+i%6)), now); !ok {
			t.Fatalf("attempt %d within the budget refused", i+1)
		}
	}
	if _, ok := th.begin("a@x.jp", "2001:db8:1:2::1", now); ok {
		t.Fatal("past the budget, an email that failed from the source is still checked")
	}
	if n, ok := th.begin("fresh@x.jp", "2001:db8:1:2::1", now); !ok || n != 1 {
		t.Fatalf("past the budget, a new email: ok %v, %d failures; want one check", ok, n)
	}
	if _, ok := th.begin("fresh@x.jp", "2001:db8:1:2::1", now); ok {
		t.Fatal("past the budget, a new email is checked twice")
	}
	if _, ok := th.begin("z@x.jp", "2001:db8:1:3::1", now); !ok {
		t.Fatal("the next /64 is another source")
	}
	now = now.Add(30 * time.Second) // 10 min / 20 failures: one back
	if _, ok := th.begin("a@x.jp", "2001:db8:1:2::1", now); !ok {
		t.Fatal("budget not refilled")
	}
	if _, ok := th.begin("b@x.jp", "2001:db8:1:2::1", now); ok {
		t.Fatal("refilled more than one")
	}
}

// TestThrottleSharedAddress: 25 wrong passwords from one address at
// random emails do not lock out the owner of another email there: the
// owner's attempt is checked and its success does not hand the
// attacker a token it never spent.
func TestThrottleSharedAddress(t *testing.T) {
	now := time.Unix(1000, 0)
	th := newThrottle(5, time.Minute, 20, 10*time.Minute)
	for i := range 25 {
		th.begin("spray"+strconv.Itoa(i)+"@x.jp", "203.0.113.7", now)
	}
	if _, ok := th.begin("owner@x.jp", "203.0.113.7", now); !ok {
		t.Fatal("the owner's first attempt from an exhausted shared address is refused")
	}
	th.success("owner@x.jp", "203.0.113.7")
	if b, _ := th.ips.Peek("203.0.113.7"); b.tokens >= 1 {
		t.Fatalf("a success that spent no token gave one back: %v", b.tokens)
	}
	if _, ok := th.begin("owner@x.jp", "203.0.113.7", now); !ok {
		t.Fatal("the owner's next attempt after a success is refused")
	}
}

// TestThrottleClearAndBound: clear forgets an email on every source, and
// the number of tracked pairs stays bounded however many are tried.
func TestThrottleClearAndBound(t *testing.T) {
	now := time.Unix(1000, 0)
	th := newThrottle(1, time.Hour, 1<<30, time.Second)
	th.begin("a@x.jp", "203.0.113.1", now)
	th.begin("a@x.jp", "203.0.113.2", now)
	th.clear("a@x.jp")
	for _, ip := range []string{"203.0.113.1", "203.0.113.2"} {
		if _, ok := th.begin("a@x.jp", ip, now); !ok {
			t.Fatalf("%s still throttled after clear", ip)
		}
	}
	for i := range throttleEntries + 500 {
		th.begin("spray@x.jp", "10.0."+strconv.Itoa(i/256%256)+"."+strconv.Itoa(i%256), now)
	}
	if th.pairs.Len() > throttleEntries || th.ips.Len() > throttleEntries {
		t.Fatalf("tracked %d pairs, %d sources; bound %d", th.pairs.Len(), th.ips.Len(), throttleEntries)
	}
}
