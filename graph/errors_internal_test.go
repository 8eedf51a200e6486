package graph

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/lib/pq"
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
