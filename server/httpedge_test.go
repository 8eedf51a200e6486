package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/server"
)

// rawRequest writes head (request line and headers, CRLF-ended, without
// the blank line) and then body to addr, and reads one response. The
// deadline only keeps a broken server from hanging the test.
func rawRequest(t *testing.T, addr, head string, body io.Reader) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if body != nil {
		_, _ = io.Copy(conn, body) // the server may stop reading and close
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func hostOf(url string) string { return strings.TrimPrefix(url, "http://") }

// TestBodyLimits: a body over the limit is answered 413 with a GraphQL
// error naming the limit, without the server reading it — a declared
// 200 MB body is refused although none of it is ever sent — on /graphql
// (the --max-body-bytes limit), on webhooks and on the CSV export; a
// chunked body is cut at the limit; a body under it still works.
func TestBodyLimits(t *testing.T) {
	const limit = 64 << 10
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) { cfg.MaxBodyBytes = limit })
		addr := hostOf(srv.URL)

		for _, path := range []string{"/graphql", "/webhooks/signed/xx", "/export/journal.csv"} {
			head := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000000\r\n"
			resp, body := rawRequest(t, addr, head, nil)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"BAD_REQUEST"`) ||
				!strings.Contains(body, "request body over") {
				t.Errorf("%s with Content-Length 200 MB: %d %s, want 413 BAD_REQUEST", path, resp.StatusCode, body)
			}
		}

		// Chunked: no length up front, so the reader stops at the limit.
		pad := strings.Repeat("x", limit)
		chunk := fmt.Sprintf(`{"query": "{ __typename }", "variables": {"pad": %q}}`, pad)
		head := "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
		resp, body := rawRequest(t, addr, head, strings.NewReader(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(chunk), chunk)))
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"BAD_REQUEST"`) {
			t.Errorf("chunked body over the limit: %d %s, want 413 BAD_REQUEST", resp.StatusCode, body)
		}

		// Just under the limit is an ordinary request.
		under := fmt.Sprintf(`{"query": "{ __typename }", "variables": {"pad": %q}}`, strings.Repeat("x", limit-100))
		a := send(t, srv, http.MethodPost, jsonCT, jsonCT, under)
		if a.status != http.StatusOK || len(a.errors) != 0 {
			t.Errorf("body under the limit: %d %+v, want 200 without errors", a.status, a.errors)
		}
	})
}

// TestDefaultBodyLimit: without configuration /graphql takes 1 MiB.
func TestDefaultBodyLimit(t *testing.T) {
	srv := testenv.Start(t, testenv.Backend{Name: "sqlite"}, "")
	over := fmt.Sprintf(`{"query": "{ __typename }", "variables": {"pad": %q}}`, strings.Repeat("x", server.DefaultMaxBodyBytes))
	if a := send(t, srv, http.MethodPost, jsonCT, jsonCT, over); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over 1 MiB: %d %+v, want 413", a.status, a.errors)
	}
	under := fmt.Sprintf(`{"query": "{ __typename }", "variables": {"pad": %q}}`, strings.Repeat("x", 900<<10))
	if a := send(t, srv, http.MethodPost, jsonCT, jsonCT, under); a.status != http.StatusOK {
		t.Errorf("a 900 KiB body: %d %+v, want 200", a.status, a.errors)
	}
}

// slowServer starts a server with short timeouts for the slowloris tests.
func slowServer(t *testing.T, b testenv.Backend) *testenv.Server {
	return testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
		cfg.ReadTimeout = 1 * time.Second
		cfg.WriteTimeout = 2 * time.Second
		cfg.IdleTimeout = 1 * time.Second
	})
}

// closedWithin reports whether the server closes conn (EOF or reset) before
// guard passes; guard is only there so that a failure ends the test.
func closedWithin(conn net.Conn, guard time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(guard))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestSlowloris: an idle keep-alive connection and a request body trickled
// a byte at a time are both closed by the server (idle and read timeouts),
// where before they stayed open for minutes; a websocket outlives both.
func TestSlowloris(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := slowServer(t, b)
		addr := hostOf(srv.URL)

		t.Run("idle keep-alive", func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			// Now idle: the server must hang up on its own.
			if !closedWithin(conn, 30*time.Second) {
				t.Error("an idle keep-alive connection was still open after 30s (idle timeout 1s)")
			}
		})

		t.Run("trickled body", func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			body := `{"query": "{ __typename }"}`
			_, _ = fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
			done := make(chan struct{})
			go func() {
				defer close(done)
				// One byte every 300 ms: the whole body would take ~8s.
				for i := 0; i < len(body); i++ {
					if _, err := conn.Write([]byte{body[i]}); err != nil {
						return
					}
					time.Sleep(300 * time.Millisecond)
				}
			}()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				// The body reader failed at the deadline: not a 200.
				if resp.StatusCode == http.StatusOK {
					t.Errorf("a trickled body was read to the end and answered 200: %s", b)
				}
			}
			if !closedWithin(conn, 30*time.Second) {
				t.Error("a trickled request's connection was still open after 30s (read timeout 1s)")
			}
			<-done
		})

		t.Run("websocket outlives the timeouts", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sub, err := srv.Subscribe(ctx, `subscription { journal { type } }`, nil)
			if err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			defer sub.Close()
			f := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
			// Past read, write and idle timeouts (1s, 2s, 1s) before the
			// first event is sent.
			time.Sleep(3 * time.Second)
			var out json.RawMessage
			srv.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status } }`,
				map[string]any{"in": []map[string]any{ingestItem(f, "slow-1")}}, &out)
			if _, errs, err := sub.Next(20 * time.Second); err != nil || len(errs) > 0 {
				t.Fatalf("websocket after 3s: %v %+v", err, errs)
			}
		})
	})
}

// ingestItem is one PAYMENT on the fixture's first terminal.
func ingestItem(f testenv.Fixture, externalID string) map[string]any {
	return map[string]any{"terminalID": string(f.TerminalIDs[0]), "externalID": externalID, "kind": "PAYMENT",
		"occurredAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano), "total": 1080}
}
