package livews_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
)

const live = `subscription L($w: JournalWhere, $after: String) {
  journal(where: $w, after: $after) { cursor type entry { id externalID cameraID } }
}`

// socket is a raw graphql-transport-ws client that can hold several
// subscriptions, or stop reading.
type socket struct {
	c *websocket.Conn
}

func dial(t testing.TB, srv *testenv.Server) *socket { return dialWith(t, srv, nil) }

// tinyBuffer makes a socket's receive buffer small, so a client that stops
// reading fills the server's queue soon rather than after megabytes of
// kernel buffers.
func tinyBuffer(network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		_ = rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	return d.Dial(network, addr)
}

func dialWith(t testing.TB, srv *testenv.Server, netDial func(string, string) (net.Conn, error)) *socket {
	t.Helper()
	h := http.Header{}
	if ck := srv.Credential().Cookie; ck != "" {
		h.Set("Cookie", (&http.Cookie{Name: auth.CookieName, Value: ck}).String())
	}
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second, NetDial: netDial}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", h)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s := &socket{c: c}
	s.write(t, map[string]any{"type": "connection_init", "payload": map[string]any{}})
	if m := s.read(t); m.Type != "connection_ack" {
		t.Fatalf("handshake: %+v", m)
	}
	return s
}

type msg struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func (s *socket) write(t testing.TB, v any) {
	t.Helper()
	if err := s.c.WriteJSON(v); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (s *socket) read(t testing.TB) msg {
	t.Helper()
	_ = s.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var m msg
	if err := s.c.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

func (s *socket) subscribe(t *testing.T, id string, vars map[string]any) {
	s.write(t, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": live, "variables": vars}})
}

type evData struct {
	Journal struct {
		Cursor string
		Type   string
		Entry  struct {
			ID, ExternalID string
			CameraID       string
		}
	}
}

// nextExt reads until a "next" and returns its id and entry externalID.
func (s *socket) nextExt(t *testing.T) (string, string) {
	t.Helper()
	for {
		m := s.read(t)
		switch m.Type {
		case "next":
			var p struct {
				Data   evData
				Errors []any
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
				t.Fatalf("next %s: %v %v", m.Payload, err, p.Errors)
			}
			return m.ID, p.Data.Journal.Entry.ExternalID
		case "ping":
			s.write(t, map[string]any{"type": "pong"})
		default:
			t.Fatalf("unexpected %s %s", m.Type, m.Payload)
		}
	}
}

func sale(term pulid.ID, ext string) ingest.Receipt {
	return ingest.Receipt{TerminalID: term, ExternalID: ext, Kind: journalentry.KindPAYMENT,
		OccurredAt: time.Now().Add(-time.Minute), ReceiptNo: "000001", StaffName: "山田 太郎", Total: 500, Deposit: 500}
}

// waitMembers waits until the server holds n live subscriptions in groups.
func waitMembers(t testing.TB, srv *testenv.Server, groups, members int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
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

// TestSharedExecution: subscriptions with the same query and variables of
// the same viewer share one execution; each still gets every event under
// its own id, other filters and other tenants get their own, and a resuming
// subscriber runs on its own and gets the same events.
func TestSharedExecution(t *testing.T) {
	srv := testenv.Start(t, testenv.Postgres(t), "")
	fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
	ctx := context.Background()
	cam0 := map[string]any{"w": map[string]any{"cameraIDs": []pulid.ID{fx.CameraIDs[0]}}}
	cam1 := map[string]any{"w": map[string]any{"cameraIDs": []pulid.ID{fx.CameraIDs[1]}}}

	a, b := dial(t, srv), dial(t, srv)
	a.subscribe(t, "1", cam0)
	a.subscribe(t, "2", cam0) // same socket, same query: same group
	b.subscribe(t, "x", cam0)
	b.subscribe(t, "y", cam1)
	_, other := srv.NewAccount(t, "他社")
	c := dial(t, other)
	c.subscribe(t, "1", cam0) // another tenant: never shares, and may not see the camera
	waitMembers(t, srv, 2, 4)
	if m := c.read(t); m.Type != "next" && m.Type != "error" {
		t.Fatalf("foreign camera: %s %s", m.Type, m.Payload)
	}

	r := srv.Ingester.Ingest(ctx, srv.AccountID, sale(fx.TerminalIDs[0], "shared-1")) // camera 0
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	got := map[string]bool{}
	for range 2 {
		id, ext := a.nextExt(t)
		if ext != "shared-1" {
			t.Fatalf("a got %s", ext)
		}
		got[id] = true
	}
	if !got["1"] || !got["2"] {
		t.Fatalf("socket a got ids %v, want 1 and 2", got)
	}
	if id, ext := b.nextExt(t); id != "x" || ext != "shared-1" {
		t.Fatalf("b got %s %s, want x shared-1", id, ext)
	}
	r2 := srv.Ingester.Ingest(ctx, srv.AccountID, sale(fx.TerminalIDs[2], "shared-2")) // camera 1
	if r2.Err != nil {
		t.Fatal(r2.Err)
	}
	if id, ext := b.nextExt(t); id != "y" || ext != "shared-2" {
		t.Fatalf("b got %s %s, want y shared-2", id, ext)
	}

	// Resuming from before shared-1 replays both events for camera 0 and 1
	// on its own (not grouped).
	d := dial(t, srv)
	d.subscribe(t, "r", map[string]any{"w": nil, "after": nil})
	waitMembers(t, srv, 3, 5)
	a.write(t, map[string]any{"id": "2", "type": "complete"})
	waitMembers(t, srv, 3, 4)
	r3 := srv.Ingester.Ingest(ctx, srv.AccountID, sale(fx.TerminalIDs[0], "shared-3"))
	if r3.Err != nil {
		t.Fatal(r3.Err)
	}
	if id, ext := a.nextExt(t); id != "1" || ext != "shared-3" {
		t.Fatalf("a after complete of 2 got %s %s", id, ext)
	}
	if _, ext := d.nextExt(t); ext != "shared-3" {
		t.Fatalf("d got %s", ext)
	}
}

// TestSlowConsumer: a client that stops reading is closed once its queue
// is full, while a reading client of the same group gets every event.
func TestSlowConsumer(t *testing.T) {
	srv := testenv.Start(t, testenv.Postgres(t), "")
	fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
	ctx := context.Background()
	slow, fast := dialWith(t, srv, tinyBuffer), dial(t, srv)
	slow.subscribe(t, "1", nil)
	fast.subscribe(t, "1", nil)
	waitMembers(t, srv, 1, 2)
	const n = 20000 // beyond the slow socket's buffers plus the queue
	done := make(chan error, 1)
	go func() {
		for from := 0; from < n; from += 500 {
			var rs []ingest.Receipt
			for i := from; i < from+500; i++ {
				rs = append(rs, sale(fx.TerminalIDs[i%3], fmt.Sprintf("flood-%05d", i)))
			}
			res, err := srv.Ingester.IngestBatch(ctx, srv.AccountID, rs, nil)
			if err == nil {
				for _, r := range res {
					if r.Err != nil {
						err = r.Err
						break
					}
				}
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		if _, ext := fast.nextExt(t); ext != fmt.Sprintf("flood-%05d", i) {
			t.Fatalf("fast client: event %d is %s", i, ext)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The slow one reads what reached its socket, then the close: 1008
	// when the close frame found room before the server's write timeout,
	// otherwise the connection simply ends. Either way the server counts
	// it as closed for being slow and it got less than everything.
	_ = slow.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := 0
	for {
		var m msg
		err := slow.c.ReadJSON(&m)
		if err == nil {
			got++
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("slow client still open after %d events: %v", got, err)
		}
		if !websocket.IsCloseError(err, 1008) && !websocket.IsUnexpectedCloseError(err) && !isDropped(err) {
			t.Fatalf("slow client ended with %v, want close 1008 or a dropped connection", err)
		}
		break
	}
	if got >= n {
		t.Fatalf("slow client got all %d events before its close", got)
	}
	if srv.Live.SlowClosed() != 1 {
		t.Fatalf("%d connections closed as slow, want 1", srv.Live.SlowClosed())
	}
	waitMembers(t, srv, 1, 1)
}

// TestLegacyProtocol: the older graphql-ws subprotocol (start/data/stop,
// "ka" keep-alives) gets the same shared stream.
func TestLegacyProtocol(t *testing.T) {
	srv := testenv.Start(t, testenv.Postgres(t), "")
	fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
	h := http.Header{}
	h.Set("Cookie", (&http.Cookie{Name: auth.CookieName, Value: srv.Credential().Cookie}).String())
	d := websocket.Dialer{Subprotocols: []string{"graphql-ws"}, HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := &socket{c: c}
	s.write(t, map[string]any{"type": "connection_init", "payload": map[string]any{}})
	if m := s.read(t); m.Type != "connection_ack" {
		t.Fatalf("handshake: %+v", m)
	}
	if m := s.read(t); m.Type != "ka" {
		t.Fatalf("want a keep-alive after the ack, got %+v", m)
	}
	modern := dial(t, srv)
	modern.subscribe(t, "1", nil)
	s.write(t, map[string]any{"id": "a", "type": "start", "payload": map[string]any{"query": live}})
	waitMembers(t, srv, 1, 2) // one execution; each member frames it for its protocol
	if r := srv.Ingester.Ingest(context.Background(), srv.AccountID, sale(fx.TerminalIDs[1], "legacy-1")); r.Err != nil {
		t.Fatal(r.Err)
	}
	for {
		m := s.read(t)
		if m.Type == "ka" {
			continue
		}
		var p struct{ Data evData }
		if m.Type != "data" || m.ID != "a" || json.Unmarshal(m.Payload, &p) != nil || p.Data.Journal.Entry.ExternalID != "legacy-1" {
			t.Fatalf("got %s %s %s", m.Type, m.ID, m.Payload)
		}
		break
	}
	if _, ext := modern.nextExt(t); ext != "legacy-1" {
		t.Fatalf("modern client got %s", ext)
	}
	s.write(t, map[string]any{"id": "a", "type": "stop"})
	waitMembers(t, srv, 1, 1)
}

// TestRefusedInit: a connection without credentials is closed with 4401.
func TestRefusedInit(t *testing.T) {
	srv := testenv.Start(t, testenv.Postgres(t), "")
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, 4401) {
		t.Fatalf("anonymous connection_init ended with %v, want close 4401", err)
	}
}

// TestClose: shutting the server down closes live sockets with 1001
// (hijacked connections are invisible to http.Server.Shutdown), waits for
// them and refuses new upgrades; a connection keeps working after the
// handler that upgraded it has returned.
func TestClose(t *testing.T) {
	srv := testenv.Start(t, testenv.Postgres(t), "")
	fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
	s := dial(t, srv)
	s.subscribe(t, "1", nil)
	waitMembers(t, srv, 1, 1)
	if r := srv.Ingester.Ingest(context.Background(), srv.AccountID, sale(fx.TerminalIDs[0], "close-1")); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, ext := s.nextExt(t); ext != "close-1" {
		t.Fatalf("got %s, want close-1", ext)
	}

	srv.Live.Close()
	if n := srv.Live.Conns(); n != 0 {
		t.Fatalf("%d connections left after Close", n)
	}
	if g, m := srv.Live.Groups(); g != 0 || m != 0 {
		t.Fatalf("%d groups with %d members left after Close", g, m)
	}
	_ = s.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, _, err := s.c.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("socket ended with %v, want close 1001", err)
		}
		break
	}
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", nil)
	if err == nil {
		_ = c.Close()
		t.Fatal("upgrade accepted after Close")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade after Close: %v %v, want 503", resp, err)
	}
}

// isDropped: the connection ended without a close frame (reset or EOF).
func isDropped(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
