// Package thumbs cuts camera thumbnails and keeps their bytes. Rows in the
// thumbnails table point at blobs by key, so the blob store only needs
// put/get/delete; which rows exist, and when they expire, is the table's
// business (retention deletes the rows and passes their keys to Delete).
package thumbs

import (
	"context"
	"errors"
	"fmt"
)

// Store keeps thumbnail bytes; rows in the thumbnails table point at them by key.
//
// A key is written once: Put of an existing key keeps the stored bytes (the
// first writer wins on every backend), so retries and racing replicas are
// harmless and a cached ETag never goes stale.
type Store interface {
	Put(ctx context.Context, key string, data []byte) error // idempotent for the same key+data
	Get(ctx context.Context, key string) ([]byte, error)    // ErrNotFound when absent
	Delete(ctx context.Context, keys ...string) error       // missing keys are not an error
}

var (
	ErrNotFound   = errors.New("thumbs: not found")
	ErrInvalidKey = errors.New("thumbs: invalid key")
)

// MaxKeyLen keeps a key (plus the temp-file prefix) under the 255-byte file
// name limit of common filesystems.
const MaxKeyLen = 200

var (
	_ Store = (*FS)(nil)
	_ Store = (*Postgres)(nil)
)

// Key names the thumbnail of one journal entry. The account is part of the
// key so that a blob can never be served under another tenant's entry even if
// entry ids were ever reused.
func Key(accountID, entryID string) string {
	return accountID + "_" + entryID
}

// PictureKey names the full-resolution frame kept beside the thumbnail of
// the same entry; frameSHA256 is the frame's hex digest, whose first 16
// characters make the key differ whenever the bytes do, since a key is
// written once (Store) and rows record the digest they were given. "-"
// cannot end a pulid and "-picture" ends no Key, so it never collides with one.
func PictureKey(accountID, entryID, frameSHA256 string) string {
	return Key(accountID, entryID) + "-" + frameSHA256[:min(16, len(frameSHA256))] + "-picture"
}

// checkKey enforces one key alphabet on every backend, so data can move
// between them; on the filesystem it is also what rules out "../" and
// absolute paths.
func checkKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: length %d not in 1..%d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has %q at %d (allowed: A-Z a-z 0-9 _ -)", ErrInvalidKey, key, c, i)
		}
	}
	return nil
}

func checkKeys(keys []string) error {
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
	}
	return nil
}
