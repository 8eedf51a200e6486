// Package pgtest gives each test its own throwaway PostgreSQL database, so
// tests can run in parallel (and across packages) without sharing state.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
)

const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// New creates a uniquely named database and returns a DSN for it with
// sslmode=disable. The database is dropped WITH (FORCE) when the test ends,
// so connections the test leaked do not keep it alive.
//
// The server is reached through $REGICAM_TEST_PG_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), which must be
// allowed to CREATE DATABASE. If it is unreachable the test is skipped, except
// under CI=true, where a silently skipped suite would hide the gap.
func New(t testing.TB) string {
	t.Helper()

	admin := os.Getenv("REGICAM_TEST_PG_URL")
	if admin == "" {
		admin = defaultAdminURL
	}

	db, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatalf("pgtest: open admin connection: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("pgtest: PostgreSQL unreachable at %s: %v", redact(admin), err)
		}
		t.Skipf("pgtest: PostgreSQL unreachable at %s (set CI=true to fail instead): %v", redact(admin), err)
	}

	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "regicam_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// The test's context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: build dsn: %v", err)
	}
	return dsn
}

// withDatabase points admin at dbname, in whichever DSN syntax admin uses.
func withDatabase(admin, dbname string) (string, error) {
	if strings.HasPrefix(admin, "postgres://") || strings.HasPrefix(admin, "postgresql://") {
		u, err := url.Parse(admin)
		if err != nil {
			return "", err
		}
		u.Path = "/" + dbname
		u.RawPath = ""
		q := u.Query()
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// In key=value form the last occurrence of a key wins.
	return admin + " dbname='" + dbname + "' sslmode=disable", nil
}

// redact keeps passwords out of test logs.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "$REGICAM_TEST_PG_URL (key=value form)"
}
