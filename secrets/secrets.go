// Package secrets seals credentials (POS client secrets, camera passwords)
// before they are stored: AES-256-GCM, with the key id inside every sealed
// value so keys can rotate while old values stay readable. Which row and
// column each sealed value is bound to is declared once, in bindings.go.
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

const version = 1

// ErrUnknownKey means a value was sealed with a key this process lacks.
var ErrUnknownKey = errors.New("secrets: sealed with an unknown key id")

// Box seals and opens values. The first key is the one new values use.
//
// A Box read from a key file follows the file: when a value names a key id
// the Box lacks, or at most every KeyFileCheck when sealing, it re-reads the
// file. So a running server opens values that `regicam secrets rotate`
// re-sealed with a new key, and seals with that key soon after, without a
// restart.
type Box struct {
	ring atomic.Pointer[ring]

	file      string // key file followed, empty for a fixed key list
	mu        sync.Mutex
	modTime   time.Time
	size      int64
	lastCheck time.Time
}

type ring struct {
	current string
	ids     []string
	aeads   map[string]cipher.AEAD
}

// KeyFileCheck is how often a Box that follows a key file looks at it
// when sealing.
const KeyFileCheck = 30 * time.Second

// Key is one named 32-byte key.
type Key struct {
	ID  string
	Raw []byte
}

// New returns a Box sealing with keys[0] and opening with any of keys.
func New(keys ...Key) (*Box, error) {
	r, err := newRing(keys)
	if err != nil {
		return nil, err
	}
	b := &Box{}
	b.ring.Store(r)
	return b, nil
}

func newRing(keys []Key) (*ring, error) {
	if len(keys) == 0 {
		return nil, errors.New("secrets: no key")
	}
	r := &ring{current: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, k := range keys {
		if k.ID == "" || len(k.ID) > 32 || strings.ContainsAny(k.ID, ":, \t\r\n") {
			return nil, fmt.Errorf("secrets: key id %q must be 1-32 characters without ':', ',' or spaces", k.ID)
		}
		if len(k.Raw) != 32 {
			return nil, fmt.Errorf("secrets: key %q must be 32 bytes (AES-256), got %d", k.ID, len(k.Raw))
		}
		if _, dup := r.aeads[k.ID]; dup {
			return nil, fmt.Errorf("secrets: key id %q appears twice", k.ID)
		}
		block, err := aes.NewCipher(k.Raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		r.aeads[k.ID] = aead
		r.ids = append(r.ids, k.ID)
	}
	return r, nil
}

// Current is the id of the key new values are sealed with.
func (b *Box) Current() string { return b.ring.Load().current }

// KeyIDs lists the ids of every key the Box opens with, the current first.
func (b *Box) KeyIDs() []string { return slices.Clone(b.ring.Load().ids) }

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

// FormatKeys writes keys the way ParseKeys reads them.
func FormatKeys(keys []Key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.ID + ":" + base64.StdEncoding.EncodeToString(k.Raw)
	}
	return strings.Join(parts, ",")
}

// NewKey returns a fresh random key named id.
func NewKey(id string) Key {
	raw := make([]byte, 32)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(raw)
	return Key{ID: id, Raw: raw}
}

// NextKeyID names the key that follows keys: k<n+1> after the highest
// k<n>, so ids stay readable in the key file and in `secrets status`.
func NextKeyID(keys []Key) string {
	n := 0
	for _, k := range keys {
		if v, err := strconv.Atoi(strings.TrimPrefix(k.ID, "k")); err == nil && strings.HasPrefix(k.ID, "k") && v > n {
			n = v
		}
	}
	for {
		n++
		id := "k" + strconv.Itoa(n)
		if !slices.ContainsFunc(keys, func(k Key) bool { return k.ID == id }) {
			return id
		}
	}
}

// KeyFile is where the generated key lives when REGICAM_SECRET_KEY is not
// set: beside the embedded database.
func KeyFile(dir string) string { return filepath.Join(dir, "secret.key") }

// ReadKeyFile reads the keys of a key file.
func ReadKeyFile(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeys(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("secrets: %s: %w", path, err)
	}
	return keys, nil
}

// WriteKeyFile replaces the key file atomically (a reader sees the old
// list or the new one, never half of it), readable by the owner only.
func WriteKeyFile(path string, keys []Key) error {
	if _, err := newRing(keys); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".secret.key-*")
	if err != nil {
		return fmt.Errorf("secrets: write key file: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(FormatKeys(keys) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("secrets: replace key file: %w", err)
	}
	return nil
}

// FromEnvOrFile builds a Box from spec when set, else from a key file in
// dir, creating the file with a random key on first use so the embedded
// setup needs no configuration. A Box from the file follows it (rotation).
func FromEnvOrFile(spec, dir string) (*Box, error) {
	if spec != "" {
		keys, err := ParseKeys(spec)
		if err != nil {
			return nil, err
		}
		return New(keys...)
	}
	path := KeyFile(dir)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		data := []byte(FormatKeys([]Key{NewKey("k1")}) + "\n")
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
	b := &Box{file: path}
	if err := b.reload(); err != nil {
		return nil, err
	}
	return b, nil
}

// reload reads the key file again if it changed. The caller holds no lock.
func (b *Box) reload() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastCheck = time.Now()
	st, err := os.Stat(b.file)
	if err != nil {
		return fmt.Errorf("secrets: read key file: %w", err)
	}
	if b.ring.Load() != nil && st.ModTime().Equal(b.modTime) && st.Size() == b.size {
		return nil
	}
	keys, err := ReadKeyFile(b.file)
	if err != nil {
		return err
	}
	r, err := newRing(keys)
	if err != nil {
		return fmt.Errorf("secrets: %s: %w", b.file, err)
	}
	b.ring.Store(r)
	b.modTime, b.size = st.ModTime(), st.Size()
	return nil
}

// follow re-reads the key file, if it changed, when the last look is older
// than every.
// A key file that went bad keeps the keys already loaded: values stay
// readable, and the error shows at the next start.
func (b *Box) follow(every time.Duration) {
	if b.file == "" {
		return
	}
	b.mu.Lock()
	due := time.Since(b.lastCheck) >= every
	b.mu.Unlock()
	if due {
		_ = b.reload()
	}
}

// Seal encrypts plain. aad binds the value to where it is stored (e.g.
// "pos_connection:PC…:secrets") so a sealed value copied to another row
// does not open there.
func (b *Box) Seal(plain, aad []byte) ([]byte, error) {
	b.follow(KeyFileCheck)
	r := b.ring.Load()
	aead := r.aeads[r.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2+len(r.current)+len(nonce)+len(plain)+aead.Overhead())
	out = append(out, version, byte(len(r.current)))
	out = append(out, r.current...)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, aad), nil
}

// Open decrypts a value made by Seal with the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	id, body, err := split(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := b.ring.Load().aeads[id]
	if !ok {
		b.follow(0) // perhaps a rotation added it meanwhile: a stat tells
		if aead, ok = b.ring.Load().aeads[id]; !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
		}
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
	return err == nil && id != b.Current()
}

// KeyID returns the id of the key sealed was made with.
func KeyID(sealed []byte) (string, error) {
	id, _, err := split(sealed)
	return id, err
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
