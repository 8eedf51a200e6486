package testenv

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// Every log line of every server and component a test binary starts
// through this package (Logger, Start) is captured, at every level, into
// one bounded in-memory sink, and checked against the secrets the tests
// use (passwords, session cookies, API keys, webhook and client secrets,
// registered with Secret). A server's cleanup fails its test when any line
// written so far holds one: no request body, variable value or header
// value may reach a log line (issue 12).

// sinkMaxBytes bounds the lines kept for Scan. Leak checks do not depend on
// it: each line is checked against the registered secrets as it is written.
const sinkMaxBytes = 32 << 20

// minSecretLen keeps short strings (an "ok", a name) from being taken for
// secrets and matching everywhere.
const minSecretLen = 8

type logSink struct {
	mu       sync.Mutex
	secrets  map[string]struct{}
	lines    [][]byte // oldest first; trimmed to sinkMaxBytes
	size     int
	written  int64
	leaks    []string // lines that held a secret, the secret masked
	reported int      // leaks already failed a test
}

var sink = &logSink{secrets: map[string]struct{}{}}

func (s *logSink) Write(p []byte) (int, error) {
	line := bytes.Clone(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written++
	for sec := range s.secrets {
		if bytes.Contains(line, []byte(sec)) {
			s.leak(sec, line)
		}
	}
	s.lines = append(s.lines, line)
	s.size += len(line)
	for s.size > sinkMaxBytes && len(s.lines) > 1 {
		s.size -= len(s.lines[0])
		s.lines[0] = nil
		s.lines = s.lines[1:]
	}
	return len(p), nil
}

// leak records line (s.mu held) with the secret masked, so the test output
// names the place without repeating the value.
func (s *logSink) leak(secret string, line []byte) {
	if len(s.leaks) >= 100 {
		return
	}
	masked := strings.ReplaceAll(string(line), secret, "<secret>")
	if len(masked) > 2000 {
		masked = masked[:2000] + "…"
	}
	s.leaks = append(s.leaks, strings.TrimSpace(masked))
}

// sinkHandler formats records as text lines into the sink, debug included.
func sinkHandler() slog.Handler {
	var w io.Writer = sink
	if os.Getenv("REGICAM_TEST_LOG") != "" {
		w = io.MultiWriter(sink, os.Stderr)
	}
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
}

// Logger captures everything into the process's log sink; it prints on
// stderr only when REGICAM_TEST_LOG is set.
func Logger() *slog.Logger {
	return slog.New(sinkHandler())
}

// withCapture makes a test's own logger (Backend.Log) also feed the sink.
func withCapture(l *slog.Logger) *slog.Logger {
	return slog.New(slog.NewMultiHandler(l.Handler(), sinkHandler()))
}

// Secret registers s as a value no log line may contain and returns it.
// Lines captured before the call are checked too.
func Secret(s string) string {
	if len(s) < minSecretLen {
		return s
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if _, ok := sink.secrets[s]; ok {
		return s
	}
	sink.secrets[s] = struct{}{}
	for _, line := range sink.lines {
		if bytes.Contains(line, []byte(s)) {
			sink.leak(s, line)
		}
	}
	return s
}

// Scan returns the captured lines (of the last sinkMaxBytes) holding s.
func Scan(s string) []string {
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var out []string
	for _, line := range sink.lines {
		if bytes.Contains(line, []byte(s)) {
			out = append(out, string(line))
		}
	}
	return out
}

// LogLines is how many lines the sink has captured in this process.
func LogLines() int64 {
	sink.mu.Lock()
	defer sink.mu.Unlock()
	return sink.written
}

// CheckLogs fails t for every captured line holding a registered secret
// that no earlier check reported. Start runs it when a server stops.
func CheckLogs(t testing.TB) {
	t.Helper()
	sink.mu.Lock()
	fresh := append([]string(nil), sink.leaks[sink.reported:]...)
	sink.reported = len(sink.leaks)
	sink.mu.Unlock()
	for _, l := range fresh {
		t.Errorf("a secret reached a log line (masked here): %s", l)
	}
	if len(fresh) > 0 {
		t.Errorf("%s", fmt.Sprintf("%d log line(s) held a password, cookie, key or secret the tests use", len(fresh)))
	}
}
