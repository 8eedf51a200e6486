package secrets

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func key(t *testing.T, id string) Key {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return Key{ID: id, Raw: raw}
}

func TestSealOpenRoundTripAndBinding(t *testing.T) {
	b, err := New(key(t, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("pos_connection:PC1:secrets")
	sealed, err := b.Seal([]byte("client-secret-1234"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("client-secret")) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := b.Open(sealed, aad)
	if err != nil || string(got) != "client-secret-1234" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(sealed, []byte("pos_connection:PC2:secrets")); err == nil {
		t.Fatal("value opened under another row's binding")
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := b.Open(tampered, aad); err == nil {
		t.Fatal("tampered value opened")
	}
	if _, err := b.Open(sealed[:10], aad); err == nil {
		t.Fatal("truncated value opened")
	}
}

func TestRotation(t *testing.T) {
	old, next := key(t, "k1"), key(t, "k2")
	b1, _ := New(old)
	aad := []byte("camera:CA1:credentials")
	sealed, _ := b1.Seal([]byte("pw"), aad)

	b2, err := New(next, old) // k2 seals, k1 still opens
	if err != nil {
		t.Fatal(err)
	}
	if !b2.Stale(sealed) {
		t.Fatal("value sealed with k1 not reported stale after rotation to k2")
	}
	resealed, err := b2.Reseal(sealed, aad)
	if err != nil {
		t.Fatal(err)
	}
	if b2.Stale(resealed) {
		t.Fatal("resealed value still stale")
	}
	onlyNew, _ := New(next)
	if got, err := onlyNew.Open(resealed, aad); err != nil || string(got) != "pw" {
		t.Fatalf("resealed value does not open with k2 alone: %q %v", got, err)
	}
	if _, err := onlyNew.Open(sealed, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old value with retired key: err = %v, want ErrUnknownKey", err)
	}
}

func TestKeyFileCreatedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	b1, err := FromEnvOrFile("", dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	sealed, _ := b1.Seal([]byte("x"), nil)
	b2, err := FromEnvOrFile("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b2.Open(sealed, nil); err != nil || string(got) != "x" {
		t.Fatalf("second start cannot open the first start's values: %v", err)
	}
}

func TestParseKeysErrors(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, spec := range []string{"", "nocolon", "k1:!!notbase64", "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		keys, err := ParseKeys(spec)
		if err == nil {
			_, err = New(keys...)
		}
		if err == nil {
			t.Errorf("spec %q accepted", spec)
		}
	}
	if _, err := FromEnvOrFile("k9:"+good+",k1:"+good, t.TempDir()); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": "••••", "abcdefgh1234": "••••1234", "シークレット値ですよ": "••••値ですよ"} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
