package pgtest

import (
	"database/sql"
	"os"
	"testing"
)

func TestNewCreatesAndDrops(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		db, err := sql.Open("postgres", New(t))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRowContext(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		// Left open on purpose: the drop must not depend on the test
		// closing its connections.
		if _, err := db.ExecContext(t.Context(), "CREATE TABLE t (id int)"); err != nil {
			t.Fatal(err)
		}
	})
	if t.Skipped() || name == "" {
		t.Skip("inner test did not run")
	}

	admin := os.Getenv("REGICAM_TEST_PG_URL")
	if admin == "" {
		admin = defaultAdminURL
	}
	db, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after cleanup", name)
	}
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"},
		{"postgresql://u:p@h/postgres?sslmode=require&connect_timeout=5", "postgresql://u:p@h/x?connect_timeout=5&sslmode=disable"},
		{"host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname='x' sslmode=disable"},
	} {
		got, err := withDatabase(tc.in, "x")
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got != tc.want {
			t.Errorf("withDatabase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
