package thumbs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FS stores each blob as a file under dir/<shard>/<key>.
type FS struct {
	dir string
}

// NewFS creates dir if needed. The server passes <data-dir>/thumbs.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("thumbs: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("thumbs: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("thumbs: create store directory: %w", err)
	}
	return &FS{dir: abs}, nil
}

// Dir is the store's root, for logs and ops.
func (s *FS) Dir() string { return s.dir }

// path shards by a hash of the key rather than its literal first characters:
// keys start with the account id, and a pulid's leading characters are a
// type prefix plus a millisecond timestamp, so literal prefixes would put a
// whole account into one directory. 256 shards keep directories small for
// tens of millions of thumbnails.
func (s *FS) path(key string) (dir, file string) {
	h := sha256.Sum256([]byte(key))
	dir = filepath.Join(s.dir, hex.EncodeToString(h[:1]))
	return dir, filepath.Join(dir, key)
}

// Put writes to a temp file and links it into place, so a reader never sees
// a partial blob and a crash leaves at most a stray ".tmp-" file (a name no
// valid key can have).
func (s *FS) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, final := s.path(key)
	if _, err := os.Lstat(final); err == nil {
		return nil // written once; see Store
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("thumbs: put %s: %w", key, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+key+"-*")
	if err != nil {
		return fmt.Errorf("thumbs: put %s: %w", key, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once linked or renamed away

	_, err = f.Write(data)
	if err == nil {
		// Without it a power loss can leave a zero-length file behind a
		// name that clients cache as immutable.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("thumbs: put %s: %w", key, err)
	}

	// Link fails if the name exists, making "first writer wins" atomic
	// between concurrent writers, where Rename would let the last one win.
	err = os.Link(tmp, final)
	switch {
	case err == nil, errors.Is(err, fs.ErrExist):
		return nil
	default:
		// Some filesystems (certain FUSE/SMB mounts) have no hard links;
		// rename is still atomic for readers.
		if rerr := os.Rename(tmp, final); rerr != nil {
			return fmt.Errorf("thumbs: put %s: %w", key, rerr)
		}
		return nil
	}
}

func (s *FS) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	_, p := s.path(key)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("thumbs: get %s: %w", key, err)
	}
	return b, nil
}

// Delete validates every key before removing any, so a bad key in a
// retention batch fails the batch instead of half-applying it.
func (s *FS) Delete(ctx context.Context, keys ...string) error {
	if err := checkKeys(keys); err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		_, p := s.path(k)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("thumbs: delete %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}
