// Package dbtest runs a test on each database regicam supports: SQLite in
// the test's temporary directory and a fresh PostgreSQL database from
// internal/pgtest, opened and migrated by db.Open and closed when the test
// ends. Service tests in many packages check their rules on both databases;
// writing that loop once keeps the subtest names ("sqlite", "postgres") and
// the skip-or-fail behaviour when PostgreSQL is unreachable (see
// internal/pgtest) the same everywhere.
package dbtest

import (
	"context"
	"testing"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/internal/pgtest"
)

// Each runs fn in a subtest "sqlite" and a subtest "postgres", each on its
// own freshly migrated database.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, Open(t, "")) })
	t.Run("postgres", func(t *testing.T) { fn(t, Open(t, pgtest.New(t))) })
}

// EachB is Each for benchmarks. The database is set up before fn runs, so
// fn decides where the timer starts.
func EachB(b *testing.B, fn func(b *testing.B, d *db.DB)) {
	b.Helper()
	b.Run("sqlite", func(b *testing.B) { fn(b, Open(b, "")) })
	b.Run("postgres", func(b *testing.B) { fn(b, Open(b, pgtest.New(b))) })
}

// Open opens and migrates the database at url — SQLite in t.TempDir() when
// url is empty — fails t if that fails, and closes it when t ends.
func Open(t testing.TB, url string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), url, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
