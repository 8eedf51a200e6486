package sharelink

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
)

func TestTTL(t *testing.T) {
	for _, tc := range []struct {
		hours *int
		want  time.Duration
		ok    bool
	}{
		{nil, 72 * time.Hour, true},
		{ptr(1), time.Hour, true},
		{ptr(720), 720 * time.Hour, true},
		{ptr(0), 0, false},
		{ptr(-5), 0, false},
		{ptr(721), 0, false},
	} {
		got, err := TTL(tc.hours)
		if tc.ok {
			if err != nil || got != tc.want {
				t.Errorf("TTL(%v) = %s, %v; want %s", tc.hours, got, err, tc.want)
			}
			continue
		}
		e, ok := apperr.As(err)
		if !ok || e.Field != "expiresInHours" || e.Code != apperr.BadUserInput {
			t.Errorf("TTL(%v): %v, want BAD_USER_INPUT on expiresInHours", *tc.hours, err)
		}
	}
}

// A token is 32 random bytes in base64url; only its SHA-256 is kept, and
// a string that cannot be a token costs no lookup.
func TestToken(t *testing.T) {
	tok, hash, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := newToken()
	if len(tok) != 43 || tok == other {
		t.Fatalf("tokens %q %q", tok, other)
	}
	sum := sha256.Sum256([]byte(tok))
	if !bytes.Equal(hash, sum[:]) || !bytes.Equal(HashOf(tok), hash) {
		t.Error("stored hash is not the token's SHA-256")
	}
	if h, ok := tokenHash(tok); !ok || !bytes.Equal(h, hash) {
		t.Error("a made token does not look up")
	}
	for _, bad := range []string{"", "short", tok + "A", tok[:42] + "!", tok[:42] + "="} {
		if _, ok := tokenHash(bad); ok {
			t.Errorf("%q accepted as a token", bad)
		}
	}
}

func TestActiveAndMark(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	revoked := now.Add(-time.Minute)
	for _, tc := range []struct {
		l    ent.ShareLink
		want bool
	}{
		{ent.ShareLink{ExpiresAt: now.Add(time.Second)}, true},
		{ent.ShareLink{ExpiresAt: now}, false},
		{ent.ShareLink{ExpiresAt: now.Add(time.Hour), RevokedAt: &revoked}, false},
	} {
		if got := Active(&tc.l, now); got != tc.want {
			t.Errorf("Active(expires %s, revoked %v) = %v", tc.l.ExpiresAt, tc.l.RevokedAt != nil, got)
		}
	}
	corrected := now.Add(3 * time.Second)
	if Mark(&ent.JournalEntry{OccurredAt: now}) != now || Mark(&ent.JournalEntry{OccurredAt: now, CorrectedAt: &corrected}) != corrected {
		t.Error("the mark is corrected_at when known, else occurred_at")
	}
}

func ptr(n int) *int { return &n }
