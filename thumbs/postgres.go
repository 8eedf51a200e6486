package thumbs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lib/pq"
)

// Postgres keeps blobs in the thumbnail_blobs table, so every server replica
// sharing the database serves every thumbnail. bytea rather than large
// objects: thumbnails are ~10–30 KB, bytea rows are deleted with plain
// DELETE (large objects would need lo_unlink), and pg_dump includes them.
type Postgres struct {
	db *sql.DB
}

// schemaLockID serialises table creation between replicas starting at the
// same moment: concurrent CREATE TABLE IF NOT EXISTS can still fail with a
// unique violation on pg_type.
const schemaLockID = 0x7468756d62730001 // "thumbs" + 1

// NewPostgres creates thumbnail_blobs if it does not exist.
func NewPostgres(ctx context.Context, db *sql.DB) (*Postgres, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("thumbs: create table: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLockID)); err != nil {
		return nil, fmt.Errorf("thumbs: create table: lock: %w", err)
	}
	// created_at lets an operator find blobs orphaned by a crash between
	// deleting rows and deleting blobs.
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS thumbnail_blobs (
		key        text PRIMARY KEY,
		data       bytea NOT NULL,
		created_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return nil, fmt.Errorf("thumbs: create table: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("thumbs: create table: %w", err)
	}
	return &Postgres{db: db}, nil
}

func (s *Postgres) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if data == nil {
		data = []byte{} // NOT NULL: an empty blob is still a blob
	}
	// DO NOTHING: first writer wins, the same as FS; see Store.
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO thumbnail_blobs (key, data) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`,
		key, data); err != nil {
		return fmt.Errorf("thumbs: put %s: %w", key, err)
	}
	return nil
}

func (s *Postgres) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM thumbnail_blobs WHERE key = $1`, key).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("thumbs: get %s: %w", key, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// Delete removes all keys in one statement, so a retention batch is atomic.
func (s *Postgres) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := checkKeys(keys); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx,
		`DELETE FROM thumbnail_blobs WHERE key = ANY($1::text[])`, pq.Array(keys)); err != nil {
		return fmt.Errorf("thumbs: delete %d keys: %w", len(keys), err)
	}
	return nil
}
