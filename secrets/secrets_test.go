package secrets

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/regicam/regicam/pulid"
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

// TestBoxFollowsKeyFile: a running server opens values a rotation sealed
// with a key it added to the key file, and soon seals with that key too.
func TestBoxFollowsKeyFile(t *testing.T) {
	dir := t.TempDir()
	running, err := FromEnvOrFile("", dir)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := running.Seal([]byte("before"), nil)
	keys, err := ReadKeyFile(KeyFile(dir))
	if err != nil || len(keys) != 1 || keys[0].ID != "k1" {
		t.Fatalf("key file: %v %v", keys, err)
	}
	next := append([]Key{NewKey(NextKeyID(keys))}, keys...)
	if next[0].ID != "k2" {
		t.Fatalf("next key id %s", next[0].ID)
	}
	if err := WriteKeyFile(KeyFile(dir), next); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(KeyFile(dir)); st.Mode().Perm() != 0o600 {
		t.Fatalf("rewritten key file mode %v", st.Mode().Perm())
	}
	rotator, _ := New(next...)
	resealed, _ := rotator.Reseal(old, nil)
	if got, err := running.Open(resealed, nil); err != nil || string(got) != "before" {
		t.Fatalf("running box cannot open a value under the new key: %q %v", got, err)
	}
	running.mu.Lock()
	running.lastCheck = time.Time{} // as if KeyFileCheck had passed
	running.mu.Unlock()
	fresh, _ := running.Seal([]byte("after"), nil)
	if id, _ := KeyID(fresh); id != "k2" || running.Current() != "k2" {
		t.Fatalf("running box seals with %s after the rotation", id)
	}
	// Dropping k1 from the file: values under k2 still open.
	if err := WriteKeyFile(KeyFile(dir), next[:1]); err != nil {
		t.Fatal(err)
	}
	restarted, err := FromEnvOrFile("", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]byte{resealed, fresh} {
		if _, err := restarted.Open(v, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := restarted.Open(old, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("value under the dropped key: %v", err)
	}
	if got := restarted.KeyIDs(); len(got) != 1 || got[0] != "k2" {
		t.Fatalf("keys after drop: %v", got)
	}
}

// TestBindingsNeverCoincide: a value sealed for one column of one row must
// not open in any other column or row, so no two bindings may be equal.
func TestBindingsNeverCoincide(t *testing.T) {
	bindings := map[string]func(pulid.ID) []byte{
		"pos_connections.secrets":        POSConnectionSecretsAAD,
		"pos_connections.webhook_secret": POSWebhookSecretAAD,
		"cameras.source_credentials":     CameraCredentialsAAD,
		"cameras.snapshot_credentials":   CameraSnapshotCredentialsAAD,
		"alert_rules.webhook_secret":     AlertWebhookSecretAAD,
	}
	seen := map[string]string{}
	for column, aad := range bindings {
		for _, id := range []pulid.ID{"PC1", "PC2", "CA1", "AR1"} {
			b := string(aad(id))
			if other, ok := seen[b]; ok {
				t.Fatalf("%s of %s is bound like %s: %q", column, id, other, b)
			}
			seen[b] = column + " " + string(id)
		}
	}
}

// TestBindingsStayByteForByte: values already sealed in databases open only
// with the bytes they were sealed with, so a binding may never change.
func TestBindingsStayByteForByte(t *testing.T) {
	for got, want := range map[string]string{
		string(POSConnectionSecretsAAD("PC1")):      "pos_connection:PC1:secrets",
		string(POSWebhookSecretAAD("PC1")):          "pos_connection:PC1:webhook_secret",
		string(CameraCredentialsAAD("CA1")):         "camera:CA1:source_credentials",
		string(CameraSnapshotCredentialsAAD("CA1")): "camera:CA1:snapshot_credentials",
		string(AlertWebhookSecretAAD("AR1")):        "alert-webhook:AR1",
	} {
		if got != want {
			t.Errorf("binding %q, sealed values expect %q", got, want)
		}
	}
}
