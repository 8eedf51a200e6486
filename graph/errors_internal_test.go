package graph

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/internal/pgtest"
)

// TestPresenterLogsNoDatabaseMessage: PostgreSQL's messages can quote the
// value a statement was given; the INTERNAL line logs the error's code and
// names instead, and an outage is UNAVAILABLE at WARN, not INTERNAL.
func TestPresenterLogsNoDatabaseMessage(t *testing.T) {
	const secret = "Hunter2-Secret-Value"
	for _, c := range []struct {
		err   error
		code  string
		level string
	}{
		{fmt.Errorf("ent: query: %w", &pq.Error{Code: "22P02", Message: `invalid input syntax for type uuid: "` + secret + `"`}), "INTERNAL", "ERROR"},
		{fmt.Errorf("ingest: %w", &pq.Error{Code: "57P01", Message: "terminating connection due to administrator command " + secret}), "UNAVAILABLE", "WARN"},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		gerr := ErrorPresenter(log)(WithRequestID(context.Background(), "r1"), c.err)
		if got := gerr.Extensions["code"]; got != c.code {
			t.Errorf("%v: code %v, want %s", c.err, got, c.code)
		}
		line := buf.String()
		if !strings.Contains(line, "level="+c.level) || !strings.Contains(line, string(c.err.(interface{ Unwrap() error }).Unwrap().(*pq.Error).Code)) {
			t.Errorf("%v: logged %q, want one %s line with the error code", c.err, line, c.level)
		}
		if strings.Contains(line, secret) || strings.Contains(gerr.Message, secret) {
			t.Errorf("the database's message (with the value it quoted) reached the log or the answer: %q / %q", line, gerr.Message)
		}
	}
}

// TestPresenterConstraintIsConflict: a unique index the database enforced
// (a concurrent request won the race between a service's check and its
// write) is CONFLICT, on both databases, without the driver's text (table,
// constraint, the duplicated value) in the answer or the value in the log;
// a service's own CONFLICT with a field still wins.
func TestPresenterConstraintIsConflict(t *testing.T) {
	const secret = "hunter2-secret@example.com"
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			url := ""
			if dialect == "postgres" {
				url = pgtest.New(t)
			}
			ctx := context.Background()
			d, err := db.Open(ctx, url, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = d.Close() })
			acct, err := d.Client.Account.Create().SetName("a").Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			create := func() error {
				_, err := d.Client.User.Create().SetAccountID(acct.ID).SetEmail(secret).SetPasswordHash("x").Save(ctx)
				return err
			}
			if err := create(); err != nil {
				t.Fatal(err)
			}
			err = create()
			if !ent.IsConstraintError(err) {
				t.Fatalf("second user with the same email: %v, want an *ent.ConstraintError", err)
			}
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			present := ErrorPresenter(log)
			gerr := present(WithRequestID(ctx, "r1"), fmt.Errorf("create user: %w", err))
			if gerr.Extensions["code"] != apperr.Conflict || gerr.Message != conflictMessage {
				t.Errorf("presented as %v %q, want CONFLICT with the generic message", gerr.Extensions["code"], gerr.Message)
			}
			if _, ok := gerr.Extensions["field"]; ok {
				t.Errorf("a field is named from the driver's error: %v", gerr.Extensions)
			}
			for _, leak := range []string{secret, "user", "email", "UNIQUE", "duplicate", "constraint failed"} {
				if strings.Contains(gerr.Message, leak) {
					t.Errorf("the answer %q carries the driver's text %q", gerr.Message, leak)
				}
			}
			if strings.Contains(buf.String(), secret) {
				t.Errorf("the duplicated value reached the log: %s", buf.String())
			}
			if !strings.Contains(buf.String(), "request conflicted") || !strings.Contains(buf.String(), "request_id=r1") {
				t.Errorf("the conflict is not logged with its request id: %s", buf.String())
			}

			own := apperr.Conflictf("email", "このメールアドレスは既に登録されています (email already registered)")
			gerr = present(ctx, fmt.Errorf("%w (after %w)", own, err))
			if gerr.Extensions["code"] != apperr.Conflict || gerr.Extensions["field"] != "email" || gerr.Message != own.Message {
				t.Errorf("a service's own CONFLICT became %v %v %q", gerr.Extensions["code"], gerr.Extensions["field"], gerr.Message)
			}
		})
	}
}
