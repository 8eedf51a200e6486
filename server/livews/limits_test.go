package livews_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// heavy selects the items of each entry: an event of a heavySale with 150
// lines is about 33 KB, the size of one with its thumbnail's dataURL.
const heavy = `subscription H($w: JournalWhere) {
  journal(where: $w) { cursor entry { externalID items { name quantity amount } } }
}`

func heavySale(term pulid.ID, ext string, lines int) ingest.Receipt {
	r := sale(term, ext)
	for i := range lines {
		r.Items = append(r.Items, schematype.Item{Name: fmt.Sprintf("%03d %s", i, strings.Repeat("サンドイッチ", 10)), Quantity: 1, Amount: 3})
	}
	return r
}

// ingestHeavy ingests n heavy sales of lines items, batch to a commit,
// named prefix-00000….
func ingestHeavy(ctx context.Context, srv *testenv.Server, fx testenv.Fixture, prefix string, n, lines, batch int) error {
	for from := 0; from < n; from += batch {
		var rs []ingest.Receipt
		for i := from; i < min(n, from+batch); i++ {
			rs = append(rs, heavySale(fx.TerminalIDs[i%3], fmt.Sprintf("%s-%05d", prefix, i), lines))
		}
		res, err := srv.Ingester.IngestBatch(ctx, srv.AccountID, rs, nil)
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				return r.Err
			}
		}
	}
	return nil
}

// TestSlowConsumerBytes: a live view whose client stopped reading is
// closed with 1008 once the bytes waiting for it pass the per-connection
// bound (--ws-queue-bytes, 1 MiB here) — not after 2048 messages, nor
// only when a write has been stuck for the 10 s write timeout, by which
// time a busy account's events have piled up — while a reading client of
// the same stream gets every event. The events are big (1000 lines, about
// 220 KB) so that the flood outruns the write timeout even under the race
// detector on a busy machine.
func TestSlowConsumerBytes(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) { cfg.WSQueueBytes = 1 << 20 })
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		ctx := context.Background()
		slow, fast := dialWith(t, srv, tinyBuffer), dial(t, srv)
		for _, s := range []*socket{slow, fast} {
			s.write(t, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": heavy}})
		}
		waitMembers(t, srv, 1, 2)
		// 6.6 MB: past the bound plus what the kernel buffers of a
		// loopback socket absorb (about 2 MB), far under 2048 messages.
		const n, lines = 30, 1000
		ingested := make(chan error, 1)
		go func() { ingested <- ingestHeavy(ctx, srv, fx, "heavy", n, lines, 7) }()
		read := make(chan error, 1)
		go func() {
			for i := range n {
				ext, err := fast.nextHeavy()
				if err == nil && ext != fmt.Sprintf("heavy-%05d", i) {
					err = fmt.Errorf("event %d is %s", i, ext)
				}
				if err != nil {
					read <- err
					return
				}
			}
			read <- nil
		}()
		// The server drops the slow client's subscription when it closes
		// it; then the client reads what reached its socket, and the
		// close: not all n events.
		waitMembersFor(t, srv, 1, 1, time.Minute)
		got := 0
		_ = slow.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			var m msg
			err := slow.c.ReadJSON(&m)
			if err == nil {
				if m.Type == "next" {
					got++
				}
				continue
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 1008 || !strings.Contains(ce.Text, "1 MiB") {
				t.Fatalf("slow client ended with %v after %d of %d events, want close 1008 naming the byte bound", err, got, n)
			}
			break
		}
		if got >= n {
			t.Fatalf("slow client got all %d events before its close", n)
		}
		if err := <-ingested; err != nil {
			t.Fatal(err)
		}
		if err := <-read; err != nil {
			t.Fatalf("reading client: %v", err)
		}
		waitMembers(t, srv, 1, 1)
	})
}

// nextHeavy reads until a "next" of the heavy subscription and returns
// its entry's externalID.
func (s *socket) nextHeavy() (string, error) {
	_ = s.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var m msg
	if err := s.c.ReadJSON(&m); err != nil {
		return "", err
	}
	if m.Type != "next" {
		return "", fmt.Errorf("unexpected %s %.200s", m.Type, m.Payload)
	}
	var p struct {
		Data struct {
			Journal struct{ Entry struct{ ExternalID string } }
		}
		Errors []any
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
		return "", fmt.Errorf("next %.200s: %v %v", m.Payload, err, p.Errors)
	}
	return p.Data.Journal.Entry.ExternalID, nil
}

// waitMembersFor is waitMembers with a longer wait, for a flood.
func waitMembersFor(t testing.TB, srv *testenv.Server, groups, members int, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		g, m := srv.Live.Groups()
		if g == groups && m == members {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d groups with %d members, want %d with %d", g, m, groups, members)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnectionsPerCredential: one session or API key holds at most 20
// websocket connections; the 21st connection_init is refused with 4429
// and a reason that says why, other credentials are not affected, and a
// closed connection gives its slot back.
func TestConnectionsPerCredential(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		key, _ := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
		for _, tc := range []struct {
			name string
			dial func() (*websocket.Conn, error)
		}{
			{"session", func() (*websocket.Conn, error) { return rawDial(srv, srv.Credential().Cookie, "") }},
			{"api key", func() (*websocket.Conn, error) { return rawDial(srv, "", key) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var open []*websocket.Conn
				for i := range 20 {
					c, err := tc.dial()
					if err != nil {
						t.Fatalf("connection %d: %v", i+1, err)
					}
					t.Cleanup(func() { _ = c.Close() })
					open = append(open, c)
				}
				c, err := tc.dial()
				if err == nil {
					_ = c.Close()
					t.Fatal("a 21st connection of one credential was accepted")
				}
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != 4429 || !strings.Contains(ce.Text, "Too many connections") {
					t.Fatalf("21st connection: %v, want close 4429 Too many connections", err)
				}
				// Another user is not counted against this one.
				_, other := srv.NewUser(t, srv.AccountID, viewer.RoleStaff)
				oc, err := rawDial(srv, other.Credential().Cookie, "")
				if err != nil {
					t.Fatalf("another user's connection: %v", err)
				}
				_ = oc.Close()
				// Closing one frees its slot (once the server has seen it).
				_ = open[0].Close()
				deadline := time.Now().Add(15 * time.Second)
				for {
					c, err := tc.dial()
					if err == nil {
						_ = c.Close()
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("no slot after closing a connection: %v", err)
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		}
	})
}

// rawDial opens a graphql-transport-ws connection with a session cookie
// or an API key in connection_init and returns it once acknowledged; a
// refusal comes back as the close error.
func rawDial(srv *testenv.Server, cookie, key string) (*websocket.Conn, error) {
	h := http.Header{}
	testenv.Credential{Cookie: cookie}.Apply(h)
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", h)
	if err != nil {
		return nil, err
	}
	payload := map[string]any{}
	if key != "" {
		payload["Authorization"] = "Bearer " + key
	}
	if err := c.WriteJSON(map[string]any{"type": "connection_init", "payload": payload}); err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m msg
	if err := c.ReadJSON(&m); err != nil {
		_ = c.Close()
		return nil, err
	}
	if m.Type != "connection_ack" {
		_ = c.Close()
		return nil, fmt.Errorf("handshake: %s", m.Type)
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}
