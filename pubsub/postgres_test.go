package pubsub

import (
	"database/sql"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/pgtest"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func newPostgres(t *testing.T, dsn string, db *sql.DB) *Postgres {
	t.Helper()
	p, err := NewPostgres(dsn, db, testLogger(t))
	if err != nil {
		t.Fatalf("NewPostgres: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// waitFor drains signals until one satisfies ok, because coalescing and
// reconnect Resyncs make the exact sequence nondeterministic.
func waitFor(t *testing.T, ch <-chan Signal, what string, ok func(Signal) bool) Signal {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case s, open := <-ch:
			if !open {
				t.Fatalf("signals closed while waiting for %s", what)
			}
			if ok(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func isResync(s Signal) bool { return s.Resync }

func reaches(id int64) func(Signal) bool {
	return func(s Signal) bool { return s.EventID >= id }
}

// killListeners terminates this database's listener backends, the way a
// failover or an idle-connection reaper would.
func killListeners(t *testing.T, db *sql.DB) {
	t.Helper()
	var killed int
	err := db.QueryRowContext(t.Context(), `
		SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`,
		listenerAppName).Scan(&killed)
	if err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("no listener backend found to terminate")
	}
}

func TestPostgresFanOut(t *testing.T) {
	dsn := pgtest.New(t)
	db := openDB(t, dsn)
	a := newPostgres(t, dsn, db)
	b := newPostgres(t, dsn, db)

	for _, bus := range []*Postgres{a, b} {
		waitFor(t, bus.Signals(), "startup Resync", isResync)
	}

	if err := a.Publish(t.Context(), 11); err != nil {
		t.Fatal(err)
	}
	for _, bus := range []*Postgres{a, b} {
		if s := waitFor(t, bus.Signals(), "id 11", reaches(11)); s.EventID != 11 {
			t.Fatalf("got %+v, want id 11", s)
		}
	}

	if err := b.Publish(t.Context(), 12); err != nil {
		t.Fatal(err)
	}
	for _, bus := range []*Postgres{a, b} {
		if s := waitFor(t, bus.Signals(), "id 12", reaches(12)); s.EventID != 12 {
			t.Fatalf("got %+v, want id 12", s)
		}
	}
}

func TestPostgresResyncAfterListenerKilled(t *testing.T) {
	dsn := pgtest.New(t)
	db := openDB(t, dsn)
	p := newPostgres(t, dsn, db)
	waitFor(t, p.Signals(), "startup Resync", isResync)

	killListeners(t, db)
	waitFor(t, p.Signals(), "Resync after reconnect", isResync)

	// The reconnected listener must be LISTENing again, not just connected.
	if err := p.Publish(t.Context(), 42); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p.Signals(), "id 42 after reconnect", reaches(42))
}

func TestPostgresMalformedPayloadResyncs(t *testing.T) {
	dsn := pgtest.New(t)
	db := openDB(t, dsn)
	p := newPostgres(t, dsn, db)
	waitFor(t, p.Signals(), "startup Resync", isResync)

	if _, err := db.ExecContext(t.Context(), "SELECT pg_notify($1, 'not-a-number')", channel); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p.Signals(), "Resync for malformed payload", isResync)
}

func TestPostgresCloseStopsGoroutines(t *testing.T) {
	dsn := pgtest.New(t)
	db := openDB(t, dsn)
	baseline := runtime.NumGoroutine()

	a, err := NewPostgres(dsn, db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewPostgres(dsn, db, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, a.Signals(), "startup Resync", isResync)
	waitFor(t, b.Signals(), "startup Resync", isResync)
	if err := a.Publish(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b.Signals(), "id 1", reaches(1))
	// Exercise the reconnect path too, since it is where goroutines could
	// be left behind.
	killListeners(t, db)
	waitFor(t, a.Signals(), "Resync after reconnect", isResync)

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := a.Publish(t.Context(), 2); err != ErrClosed {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
	for _, bus := range []*Postgres{a, b} {
		for range bus.Signals() {
		}
	}
	waitGoroutines(t, baseline)
}

func TestNewPostgresUnreachable(t *testing.T) {
	db, err := sql.Open("postgres", "postgres://postgres@127.0.0.1:1/x?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	baseline := runtime.NumGoroutine()

	start := time.Now()
	p, err := NewPostgres("postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", db, testLogger(t))
	if err == nil {
		p.Close()
		t.Fatal("NewPostgres succeeded against a closed port")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("NewPostgres took %v to give up", d)
	}
	waitGoroutines(t, baseline)
}

func TestNewPostgresBadDSN(t *testing.T) {
	db, err := sql.Open("postgres", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := NewPostgres("host=x sslmode=bogus", db, nil); err == nil {
		t.Fatal("NewPostgres accepted an invalid DSN")
	}
}

func TestWithApplicationName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?application_name=regicam-listener&sslmode=disable"},
		{"postgres://u@h/db?application_name=mine", "postgres://u@h/db?application_name=regicam-listener"},
		{"host=h dbname=db", "host=h dbname=db application_name='regicam-listener'"},
	} {
		got, err := withApplicationName(tc.in, listenerAppName)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got != tc.want {
			t.Errorf("withApplicationName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// waitGoroutines polls because goroutines that have been told to stop may
// still be unwinding for a moment.
func waitGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), baseline, strings.TrimSpace(string(buf)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
