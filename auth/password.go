package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"unicode"

	"golang.org/x/crypto/argon2"

	"github.com/regicam/regicam/apperr"
)

// argon2id parameters (OWASP's minimum; README, Signing in). They are written
// into every hash, so raising them later still verifies old hashes.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
	// historyDepth is how many previous passwords a new one may not repeat.
	historyDepth = 4
)

// argonSlots bounds the argon2id hashes computed at once across the
// process (19 MiB and tens of milliseconds each): a burst of logins or of
// password checks queues for a slot instead of holding hundreds of MiB.
var argonSlots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))

// acquireArgon waits for a hashing slot, or until ctx ends.
func acquireArgon(ctx context.Context) error {
	select {
	case argonSlots <- struct{}{}:
		return nil
	default:
	}
	select {
	case argonSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func releaseArgon() { <-argonSlots }

// HashPassword returns pw as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(pw string) (string, error) { return hashPassword(context.Background(), pw) }

// hashPassword is HashPassword within a hashing slot, waiting for one
// no longer than ctx.
func hashPassword(ctx context.Context, pw string) (string, error) {
	if err := acquireArgon(ctx); err != nil {
		return "", err
	}
	defer releaseArgon()
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the PHC string encoded.
func VerifyPassword(encoded, pw string) bool {
	ok, _ := verifyPassword(context.Background(), encoded, pw)
	return ok
}

// verifyPassword is VerifyPassword within a hashing slot; err is ctx's
// when it ends before a slot is free.
func verifyPassword(ctx context.Context, encoded, pw string) (bool, error) {
	if err := acquireArgon(ctx); err != nil {
		return false, err
	}
	defer releaseArgon()
	return verifyPHC(encoded, pw), nil
}

func verifyPHC(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is verified against when the email is unknown, so a miss takes
// as long as a wrong password and does not reveal which emails exist.
var dummyHash, _ = HashPassword("regicam-dummy-Password-1")

// CheckPasswordRules returns BAD_USER_INPUT on field naming the first rule
// pw breaks.
func CheckPasswordRules(field, pw string) error {
	if len([]rune(pw)) < 8 {
		return apperr.Invalid(field, "パスワードは8文字以上にしてください (at least 8 characters)").Because(apperr.PASSWORD_TOO_SHORT)
	}
	if len(pw) > 256 {
		return apperr.Invalid(field, "パスワードは256文字以内にしてください (at most 256 characters)").Because(apperr.PASSWORD_TOO_LONG)
	}
	var digit, upper, lower bool
	for _, r := range pw {
		switch {
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		}
	}
	switch {
	case !digit:
		return apperr.Invalid(field, "パスワードに数字を含めてください (needs a digit)").Because(apperr.PASSWORD_NEEDS_DIGIT)
	case !upper:
		return apperr.Invalid(field, "パスワードに英大文字を含めてください (needs an upper-case letter)").Because(apperr.PASSWORD_NEEDS_UPPER)
	case !lower:
		return apperr.Invalid(field, "パスワードに英小文字を含めてください (needs a lower-case letter)").Because(apperr.PASSWORD_NEEDS_LOWER)
	}
	return nil
}

// RandomPassword returns a fresh password that satisfies the rules.
func RandomPassword() string {
	for {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		pw := base64.RawURLEncoding.EncodeToString(b)
		if CheckPasswordRules("password", pw) == nil && !strings.ContainsAny(pw, "-_") {
			return pw
		}
	}
}
