package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/viewer"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("Kasse2026go")
	if err != nil {
		t.Fatal(err)
	}
	// PHC string with the parameters of password.go (README, Signing in).
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Count(h, "$") != 5 {
		t.Fatalf("hash %q", h)
	}
	if !VerifyPassword(h, "Kasse2026go") || VerifyPassword(h, "kasse2026go") || VerifyPassword(h, "") {
		t.Fatal("verify")
	}
	h2, _ := HashPassword("Kasse2026go")
	if h2 == h {
		t.Fatal("same salt twice")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=19456,t=2,p=1$AA$AA", "$argon2id$v=19$m=0,t=2,p=1$AA$AA", "plain"} {
		if VerifyPassword(bad, "x") {
			t.Errorf("verified against %q", bad)
		}
	}
}

func TestPasswordRules(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		want string // part of the message, "" for valid
	}{
		{"Abcdef1", "8文字以上"},
		{"abcdefgh", "数字"},
		{"abcdefg1", "英大文字"},
		{"ABCDEFG1", "英小文字"},
		{"Abcdefg1", ""},
		{"パスワードAb1x", ""},
	} {
		err := CheckPasswordRules("newPassword", tc.pw)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.pw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "newPassword: ")):
			t.Errorf("%q: %v, want %s", tc.pw, err, tc.want)
		}
	}
	for range 50 {
		if pw := RandomPassword(); CheckPasswordRules("p", pw) != nil {
			t.Fatalf("random password %q breaks the rules", pw)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(2, 3, func() time.Time { return now })
	for i := range 3 {
		if _, ok := l.take("k"); !ok {
			t.Fatalf("burst take %d refused", i)
		}
	}
	wait, ok := l.take("k")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("empty bucket: ok %v wait %v", ok, wait)
	}
	if _, ok := l.take("other"); !ok {
		t.Fatal("buckets are per key")
	}
	now = now.Add(500 * time.Millisecond)
	if _, ok := l.take("k"); !ok {
		t.Fatal("a token is back after 1/rate")
	}
	if RetryAfter(500*time.Millisecond) != 1 || RetryAfter(time.Second) != 1 || RetryAfter(1001*time.Millisecond) != 2 {
		t.Fatal("RetryAfter rounds up to whole seconds")
	}
}

func TestIPAllowlist(t *testing.T) {
	list := []string{"192.168.10.0/24", "2001:db8::/32", "203.0.113.7"}
	for ip, want := range map[string]bool{
		"192.168.10.20": true, "192.168.11.1": false, "2001:db8::1": true, "203.0.113.7": true,
		"203.0.113.8": false, "::ffff:192.168.10.5": true, "garbage": false,
	} {
		if got := ipAllowed(list, ip); got != want {
			t.Errorf("%s: %v", ip, got)
		}
	}
	if !ipAllowed(nil, "1.2.3.4") {
		t.Error("an empty list allows all")
	}
	if CheckAllowlist("ipAllowlist", []string{"10.0.0.0/8", "nope"}) == nil {
		t.Error("bad CIDR accepted")
	}
}

func TestAPIKeyFormat(t *testing.T) {
	for key, ok := range map[string]bool{
		"rk_abcd1234_" + strings.Repeat("A", 43):    true,
		"rk_abcd1234":                               false,
		"rk__" + strings.Repeat("A", 43):            false,
		"rk_abcd1234_short":                         false,
		"sk_abcd1234_" + strings.Repeat("A", 43):    false,
		"rk_abcd1234_" + strings.Repeat("A-_z9", 9): true,
		// Bytes no key holds never reach the database (PostgreSQL refuses
		// invalid UTF-8 with an error that would be logged).
		"rk_\xffbcd1234_" + strings.Repeat("A", 43):       false,
		"rk_abcd1234_" + strings.Repeat("A", 42) + "\xff": false,
		"rk_ABCD1234_" + strings.Repeat("A", 43):          false,
		"rk_abcd1234_" + strings.Repeat("A", 42) + " ":    false,
	} {
		if _, _, got := splitKey(key); got != ok {
			t.Errorf("%q: %v", key, got)
		}
	}
}

func TestViewerCache(t *testing.T) {
	now := time.Unix(1000, 0)
	var c viewerCache
	c.put("k", viewer.Viewer{AccountID: "AC1"}, now)
	if v, ok := c.get("k", now.Add(cacheFor/2)); !ok || v.AccountID != "AC1" {
		t.Fatal("fresh entry missed")
	}
	if _, ok := c.get("k", now.Add(cacheFor)); ok {
		t.Fatal("entry outlived cacheFor")
	}
	c.put("k", viewer.Viewer{AccountID: "AC1"}, now)
	c.clear()
	if _, ok := c.get("k", now); ok {
		t.Fatal("clear kept an entry")
	}
}

// BenchmarkVerifyPassword is the cost of one login attempt.
func BenchmarkVerifyPassword(b *testing.B) {
	h, _ := HashPassword("Kasse2026go")
	for b.Loop() {
		VerifyPassword(h, "Kasse2026go")
	}
}

// TestArgonSlots: at most cap(argonSlots) hashes run at once; a caller
// waiting for a slot gives up when its context ends.
func TestArgonSlots(t *testing.T) {
	if cap(argonSlots) < 2 {
		t.Fatalf("argon slots: %d", cap(argonSlots))
	}
	for range cap(argonSlots) {
		argonSlots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := verifyPassword(ctx, dummyHash, "x")
	for range cap(argonSlots) {
		<-argonSlots
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a slot past the context: %v", err)
	}
	if ok, err := verifyPassword(context.Background(), dummyHash, "regicam-dummy-Password-1"); !ok || err != nil {
		t.Fatalf("with a free slot: %v %v", ok, err)
	}
}
