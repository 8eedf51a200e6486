// Package secrets seals credentials (POS client secrets, camera passwords)
// before they are stored: AES-256-GCM, with the key id inside every sealed
// value so keys can rotate while old values stay readable.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

const version = 1

// ErrUnknownKey means a value was sealed with a key this process lacks.
var ErrUnknownKey = errors.New("secrets: sealed with an unknown key id")

// Box seals and opens values. The first key is the one new values use.
type Box struct {
	current string
	aeads   map[string]cipher.AEAD
}

// Key is one named 32-byte key.
type Key struct {
	ID  string
	Raw []byte
}

// New returns a Box sealing with keys[0] and opening with any of keys.
func New(keys ...Key) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("secrets: no key")
	}
	b := &Box{current: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, k := range keys {
		if k.ID == "" || len(k.ID) > 32 || strings.ContainsAny(k.ID, ":,") {
			return nil, fmt.Errorf("secrets: key id %q must be 1-32 characters without ':' or ','", k.ID)
		}
		if len(k.Raw) != 32 {
			return nil, fmt.Errorf("secrets: key %q must be 32 bytes (AES-256), got %d", k.ID, len(k.Raw))
		}
		block, err := aes.NewCipher(k.Raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		b.aeads[k.ID] = aead
	}
	return b, nil
}

// ParseKeys reads "id:base64key[,id:base64key…]" (REGICAM_SECRET_KEY); the
// first key seals, all of them open.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, enc, ok := strings.Cut(part, ":")
		if !ok {
			return nil, errors.New("secrets: key must be written id:base64 (e.g. k2:…)")
		}
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return nil, fmt.Errorf("secrets: key %q is not base64: %w", id, err)
		}
		keys = append(keys, Key{ID: id, Raw: raw})
	}
	if len(keys) == 0 {
		return nil, errors.New("secrets: empty key list")
	}
	return keys, nil
}

// FromEnvOrFile builds a Box from spec when set, else from a key file in
// dir, creating the file with a random key on first use so the embedded
// setup needs no configuration.
func FromEnvOrFile(spec, dir string) (*Box, error) {
	if spec != "" {
		keys, err := ParseKeys(spec)
		if err != nil {
			return nil, err
		}
		return New(keys...)
	}
	path := filepath.Join(dir, "secret.key")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		data = []byte("k1:" + base64.StdEncoding.EncodeToString(raw) + "\n")
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, os.ErrExist) { // another process won the race
				return FromEnvOrFile("", dir)
			}
			return nil, fmt.Errorf("secrets: create key file: %w", err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("secrets: read key file: %w", err)
	}
	keys, err := ParseKeys(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("secrets: %s: %w", path, err)
	}
	return New(keys...)
}

// Seal encrypts plain. aad binds the value to where it is stored (e.g.
// "pos_connection:PC…:secrets") so a sealed value copied to another row
// does not open there.
func (b *Box) Seal(plain, aad []byte) ([]byte, error) {
	aead := b.aeads[b.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2+len(b.current)+len(nonce)+len(plain)+aead.Overhead())
	out = append(out, version, byte(len(b.current)))
	out = append(out, b.current...)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, aad), nil
}

// Open decrypts a value made by Seal with the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	id, body, err := split(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := b.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	if len(body) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("secrets: sealed value is truncated")
	}
	plain, err := aead.Open(nil, body[:aead.NonceSize()], body[aead.NonceSize():], aad)
	if err != nil {
		return nil, errors.New("secrets: sealed value does not open (wrong key, wrong row or tampered)")
	}
	return plain, nil
}

// Stale reports whether sealed uses a key other than the current one, i.e.
// whether a rotation should re-seal it.
func (b *Box) Stale(sealed []byte) bool {
	id, _, err := split(sealed)
	return err == nil && id != b.current
}

// Reseal opens sealed and seals it again with the current key.
func (b *Box) Reseal(sealed, aad []byte) ([]byte, error) {
	plain, err := b.Open(sealed, aad)
	if err != nil {
		return nil, err
	}
	return b.Seal(plain, aad)
}

func split(sealed []byte) (string, []byte, error) {
	if len(sealed) < 2 || sealed[0] != version {
		return "", nil, errors.New("secrets: not a sealed value")
	}
	n := int(sealed[1])
	if len(sealed) < 2+n {
		return "", nil, errors.New("secrets: sealed value is truncated")
	}
	return string(sealed[2 : 2+n]), sealed[2+n:], nil
}

// Mask shows only the last 4 characters: "••••1234". Short secrets show
// nothing, since 4 characters would give most of them away.
func Mask(s string) string {
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return ""
	}
	if n < 8 {
		return "••••"
	}
	r := []rune(s)
	return "••••" + string(r[n-4:])
}
