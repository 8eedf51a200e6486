// Package db opens the database: embedded SQLite under the data
// directory by default, PostgreSQL when a URL is given, and migrates it.
package db

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"  // PostgreSQL driver
	_ "modernc.org/sqlite" // pure-Go SQLite driver: no C compiler needed

	"github.com/regicam/regicam/ent"
	_ "github.com/regicam/regicam/ent/runtime"
)

// DB is an opened, migrated database.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string
	// DSN is the PostgreSQL URL (for LISTEN), empty on SQLite.
	DSN string
}

// Close closes the database.
func (d *DB) Close() error { return d.Client.Close() }

// Open connects to databaseURL, or to SQLite in dataDir when it is empty,
// and applies the schema.
func Open(ctx context.Context, databaseURL, dataDir string) (*DB, error) {
	var d *DB
	var err error
	if databaseURL == "" {
		d, err = openSQLite(filepath.Join(dataDir, "regicam.db"), dataDir)
	} else {
		d, err = openPostgres(databaseURL)
	}
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, d); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// migrateMu serialises migrations in one process: ent's migrator shares
// package-level table descriptions (two servers in one test process).
var migrateMu sync.Mutex

// Migrate creates or upgrades the schema to what this binary expects.
func Migrate(ctx context.Context, d *DB) error {
	migrateMu.Lock()
	defer migrateMu.Unlock()
	if err := d.Client.Schema.Create(ctx); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	if d.Dialect == dialect.Postgres {
		searchIndex(ctx, d)
	}
	return nil
}

// searchIndex gives the search box (ILIKE '%term%' on receipt no, register
// no and staff name) a trigram index on PostgreSQL, so a search across a
// whole chain is not a table scan. It needs the pg_trgm extension; where
// the database user may not create it, search still works, only slower.
// fastupdate is off: GIN's pending list otherwise makes every few-hundredth
// insert pay for merging it, and a live receipt that waits on that merge
// reaches its subscribers hundreds of milliseconds late (bench S1: ingest
// p99 667 → 153 ms on 10M entries with it off).
func searchIndex(ctx context.Context, d *DB) {
	for _, stmt := range []string{
		`CREATE EXTENSION IF NOT EXISTS pg_trgm`,
		`CREATE INDEX IF NOT EXISTS journal_entries_search_trgm ON journal_entries
		   USING gin (receipt_no gin_trgm_ops, register_no gin_trgm_ops, staff_name gin_trgm_ops)
		   WITH (fastupdate = off)`,
		`ALTER INDEX journal_entries_search_trgm SET (fastupdate = off)`,
	} {
		if _, err := d.SQL.ExecContext(ctx, stmt); err != nil {
			slog.Warn("search index unavailable; search will scan", "err", err)
			return
		}
	}
}

func openPostgres(url string) (*DB, error) {
	if !strings.Contains(url, "sslmode=") {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		url += sep + "sslmode=disable"
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := ping(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	drv := entsql.OpenDB(dialect.Postgres, db)
	return &DB{Client: ent.NewClient(ent.Driver(drv)), SQL: db, Dialect: dialect.Postgres, DSN: url}, nil
}

// openSQLite opens (creating) the SQLite database at path.
func openSQLite(path, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	// WAL lets readers run beside the writer; immediate transactions take
	// the write lock up front so two writers queue instead of deadlocking
	// on a lock upgrade; times are written in one sortable UTC text form.
	dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)" +
		"&_pragma=busy_timeout(20000)&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	db.SetMaxOpenConns(8)
	if err := ping(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	drv := entsql.OpenDB(dialect.SQLite, db)
	return &DB{Client: ent.NewClient(ent.Driver(drv)), SQL: db, Dialect: dialect.SQLite}, nil
}

func ping(db *sql.DB) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}
