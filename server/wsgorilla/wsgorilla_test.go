package wsgorilla

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

const (
	transportWS = "graphql-transport-ws"
	legacyWS    = "graphql-ws"
)

type op struct {
	Payload json.RawMessage `json:"payload,omitempty"`
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
}

func newServer(t *testing.T, impl Implementation, ws transport.Websocket) (*testserver.TestServer, *httptest.Server) {
	t.Helper()
	ws.Implementation = impl
	h := testserver.New()
	h.AddTransport(ws)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

func dial(t *testing.T, srv *httptest.Server, header http.Header, subprotocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: subprotocols, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(wsURL(srv), header)
	if c != nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, resp, err
}

func mustDial(t *testing.T, srv *httptest.Server, subprotocols ...string) *websocket.Conn {
	t.Helper()
	c, _, err := dial(t, srv, nil, subprotocols...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

func send(t *testing.T, c *websocket.Conn, m op) {
	t.Helper()
	if err := c.WriteJSON(m); err != nil {
		t.Fatalf("write %s: %v", m.Type, err)
	}
}

func read(t *testing.T, c *websocket.Conn) op {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m op
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

func expect(t *testing.T, c *websocket.Conn, typ string) op {
	t.Helper()
	m := read(t, c)
	if m.Type != typ {
		t.Fatalf("got %q (%s), want %q", m.Type, m.Payload, typ)
	}
	return m
}

// readErr reads until the connection fails, so control frames get processed.
func readErr(t *testing.T, c *websocket.Conn, within time.Duration) error {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %v", within)
			}
			return err
		}
	}
}

var subscription = json.RawMessage(`{"query":"subscription { name }"}`)

func TestGraphQLTransportWS(t *testing.T) {
	h, srv := newServer(t, Implementation{}, transport.Websocket{})
	c := mustDial(t, srv, transportWS)
	if got := c.Subprotocol(); got != transportWS {
		t.Fatalf("negotiated %q", got)
	}

	send(t, c, op{Type: "connection_init"})
	expect(t, c, "connection_ack")

	send(t, c, op{Type: "ping", Payload: json.RawMessage(`{"n":1}`)})
	if m := expect(t, c, "pong"); string(m.Payload) != `{"n":1}` {
		t.Fatalf("pong payload %s", m.Payload)
	}

	send(t, c, op{Type: "subscribe", ID: "1", Payload: subscription})
	for range 2 {
		h.SendNextSubscriptionMessage()
		m := expect(t, c, "next")
		if m.ID != "1" || string(m.Payload) != `{"data":{"name":"test"}}` {
			t.Fatalf("next: id=%q payload=%s", m.ID, m.Payload)
		}
	}
	send(t, c, op{Type: "complete", ID: "1"})
	expect(t, c, "complete")
}

func TestLegacyGraphQLWS(t *testing.T) {
	h, srv := newServer(t, Implementation{}, transport.Websocket{})

	for _, tc := range []struct {
		name   string
		offer  []string
		expect string
	}{
		{"graphql-ws", []string{legacyWS}, legacyWS},
		// gqlgen lists graphql-ws first and, as with its coder adapter,
		// server order wins.
		{"both offered", []string{transportWS, legacyWS}, legacyWS},
		// No agreement means no protocol header; gqlgen then speaks graphql-ws.
		{"none offered", nil, ""},
		{"unknown offered", []string{"mqtt"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDial(t, srv, tc.offer...)
			if got := c.Subprotocol(); got != tc.expect {
				t.Fatalf("negotiated %q, want %q", got, tc.expect)
			}
			send(t, c, op{Type: "connection_init"})
			expect(t, c, "connection_ack")
			expect(t, c, "ka")

			send(t, c, op{Type: "start", ID: "a", Payload: subscription})
			h.SendNextSubscriptionMessage()
			if m := expect(t, c, "data"); m.ID != "a" {
				t.Fatalf("data for %q", m.ID)
			}
			send(t, c, op{Type: "stop", ID: "a"})
			expect(t, c, "complete")

			send(t, c, op{Type: "connection_terminate"})
			var ce *websocket.CloseError
			if err := readErr(t, c, 5*time.Second); !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
				t.Fatalf("want normal close, got %v", err)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	impl := Implementation{AllowedOrigins: []string{"https://app.example.com", "HTTP://LOCALHOST:5173/"}}
	_, srv := newServer(t, impl, transport.Websocket{})
	_, wildSrv := newServer(t, Implementation{AllowedOrigins: []string{"*"}}, transport.Websocket{})
	self := srv.URL // same scheme+host+port as the request's Host

	for _, tc := range []struct {
		name   string
		srv    *httptest.Server
		origin string
		ok     bool
	}{
		{"no origin (CLI, partners)", srv, "", true},
		{"same origin", srv, self, true},
		{"allowlisted", srv, "https://app.example.com", true},
		{"allowlisted, explicit default port", srv, "https://app.example.com:443", true},
		{"allowlist entry normalised", srv, "http://localhost:5173", true},
		{"wrong scheme", srv, "http://app.example.com", false},
		{"wrong port", srv, "https://app.example.com:8443", false},
		{"subdomain", srv, "https://evil.app.example.com", false},
		{"suffix trick", srv, "https://app.example.com.evil.test", false},
		{"foreign", srv, "https://evil.test", false},
		{"opaque null origin", srv, "null", false},
		{"wildcard only when configured", wildSrv, "https://evil.test", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr http.Header
			if tc.origin != "" {
				hdr = http.Header{"Origin": {tc.origin}}
			}
			c, resp, err := dial(t, tc.srv, hdr, transportWS)
			if tc.ok {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				send(t, c, op{Type: "connection_init"})
				expect(t, c, "connection_ack")
				return
			}
			if err == nil {
				t.Fatal("upgraded a disallowed origin")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("want 403, got resp=%v err=%v", resp, err)
			}
		})
	}
}

func TestReadLimit(t *testing.T) {
	pingWith := func(size int) op {
		return op{Type: "ping", Payload: json.RawMessage(`{"pad":"` + strings.Repeat("x", size) + `"}`)}
	}
	assertTooBig := func(t *testing.T, c *websocket.Conn) {
		t.Helper()
		err := readErr(t, c, 5*time.Second)
		// The unread tail of the oversized message can turn the close into a
		// TCP reset, so only a delivered close frame has its code checked.
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("close code %d, want %d", ce.Code, websocket.CloseMessageTooBig)
		}
	}

	t.Run("default ceiling beats gqlgen's 1 MiB", func(t *testing.T) {
		_, srv := newServer(t, Implementation{}, transport.Websocket{})
		c := mustDial(t, srv, transportWS)
		send(t, c, op{Type: "connection_init"})
		expect(t, c, "connection_ack")

		send(t, c, pingWith(DefaultReadLimit/2))
		expect(t, c, "pong")

		send(t, c, pingWith(DefaultReadLimit+1))
		assertTooBig(t, c)
	})

	t.Run("configured", func(t *testing.T) {
		_, srv := newServer(t, Implementation{ReadLimit: 1024}, transport.Websocket{})
		c := mustDial(t, srv, transportWS)
		send(t, c, op{Type: "connection_init"})
		expect(t, c, "connection_ack")
		send(t, c, pingWith(2048))
		assertTooBig(t, c)
	})

	t.Run("gqlgen's smaller limit still applies", func(t *testing.T) {
		limit := int64(512)
		_, srv := newServer(t, Implementation{}, transport.Websocket{PayloadReadLimit: &limit})
		c := mustDial(t, srv, transportWS)
		send(t, c, op{Type: "connection_init"})
		expect(t, c, "connection_ack")
		send(t, c, pingWith(1024))
		assertTooBig(t, c)
	})
}

func TestCloseCodes(t *testing.T) {
	closed := make(chan int, 1)
	errs := make(chan error, 10)
	_, srv := newServer(t, Implementation{}, transport.Websocket{
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			if p.Authorization() == "" {
				ctx = transport.WithWebsocketCloseCode(ctx, 4401)
				return transport.AppendCloseReason(ctx, "unauthorized"), nil, errors.New("missing token")
			}
			return ctx, nil, nil
		},
		CloseFunc: func(_ context.Context, code int) { closed <- code },
		ErrorFunc: func(_ context.Context, err error) { errs <- err },
	})

	t.Run("init rejection carries gqlgen's code and reason", func(t *testing.T) {
		c := mustDial(t, srv, transportWS)
		send(t, c, op{Type: "connection_init"})
		var ce *websocket.CloseError
		if err := readErr(t, c, 5*time.Second); !errors.As(err, &ce) || ce.Code != 4401 || ce.Text != "unauthorized" {
			t.Fatalf("want 4401 unauthorized, got %v", err)
		}
		if code := <-closed; code != 4401 {
			t.Fatalf("CloseFunc got %d", code)
		}
	})

	t.Run("client normal close is not an error", func(t *testing.T) {
		c := mustDial(t, srv, transportWS)
		send(t, c, op{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"x"}`)})
		expect(t, c, "connection_ack")
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
		if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-closed:
			if code != websocket.CloseNormalClosure {
				t.Fatalf("CloseFunc got %d", code)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("CloseFunc not called")
		}
		select {
		case err := <-errs:
			t.Fatalf("ErrorFunc called for a normal close: %v", err)
		default:
		}
	})

	t.Run("payload mapping", func(t *testing.T) {
		long := strings.Repeat("é", 100) // 200 bytes, two per rune
		for _, tc := range []struct {
			code     int
			reason   string
			wantCode int
		}{
			{4409, "Subscriber for 1 already exists", 4409},
			{4429, long, 4429},
			{websocket.CloseAbnormalClosure, "x", websocket.CloseInternalServerErr},
			{999, "x", websocket.CloseInternalServerErr},
			{5000, "x", websocket.CloseInternalServerErr},
		} {
			p := closePayload(tc.code, tc.reason)
			if got := int(p[0])<<8 | int(p[1]); got != tc.wantCode {
				t.Errorf("code %d sent as %d", tc.code, got)
			}
			if len(p) > 125 || !utf8.Valid(p[2:]) {
				t.Errorf("code %d: invalid reason %q", tc.code, p[2:])
			}
		}
		if p := closePayload(websocket.CloseNoStatusReceived, "x"); len(p) != 0 {
			t.Errorf("1005 must be sent as an empty close frame, got %v", p)
		}
	})
}

func TestPongExtendsDeadline(t *testing.T) {
	impl := Implementation{PingInterval: 20 * time.Millisecond, PongWait: 100 * time.Millisecond}
	_, srv := newServer(t, impl, transport.Websocket{})

	t.Run("answering pings keeps the connection", func(t *testing.T) {
		c := mustDial(t, srv, transportWS)
		pings := make(chan struct{}, 100)
		c.SetPingHandler(func(data string) error {
			pings <- struct{}{}
			return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		send(t, c, op{Type: "connection_init"})
		expect(t, c, "connection_ack")
		for end := time.Now().Add(4 * impl.PongWait); time.Now().Before(end); {
			send(t, c, op{Type: "ping"})
			expect(t, c, "pong")
			time.Sleep(10 * time.Millisecond)
		}
		if len(pings) < 3 {
			t.Fatalf("only %d pings", len(pings))
		}
	})

	t.Run("silent peer is dropped", func(t *testing.T) {
		c := mustDial(t, srv, transportWS)
		c.SetPingHandler(func(string) error { return nil })
		send(t, c, op{Type: "connection_init"})
		expect(t, c, "connection_ack")
		start := time.Now()
		readErr(t, c, 5*time.Second)
		if d := time.Since(start); d < impl.PongWait/2 {
			t.Fatalf("dropped after %v, before the pong deadline", d)
		}
	})

	t.Run("rejects PongWait not above PingInterval", func(t *testing.T) {
		_, bad := newServer(t, Implementation{PingInterval: time.Minute}, transport.Websocket{})
		if _, _, err := dial(t, bad, nil, transportWS); err == nil {
			t.Fatal("upgraded with PongWait <= PingInterval")
		}
	})
}

// TestNoGoroutineLeak churns connections through every teardown path and
// expects the process to settle back where it started.
func TestNoGoroutineLeak(t *testing.T) {
	for _, tc := range []struct {
		name string
		impl Implementation
	}{
		// Pings far apart: only conn close can stop the ping goroutine.
		{"idle pinger", Implementation{PingInterval: time.Hour, PongWait: 2 * time.Hour}},
		// Pings racing the teardown.
		{"busy pinger", Implementation{PingInterval: 5 * time.Millisecond, PongWait: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, srv := newServer(t, tc.impl, transport.Websocket{KeepAlivePingInterval: 5 * time.Millisecond})
			churnConnections(t, h, srv, 60)
		})
	}
}

func churnConnections(t *testing.T, h *testserver.TestServer, srv *httptest.Server, n int) {
	// Let the server's lazily started goroutines exist before the baseline.
	c := mustDial(t, srv, transportWS)
	send(t, c, op{Type: "connection_init"})
	expect(t, c, "connection_ack")
	_ = c.Close()
	baseline := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == baseline {
			break
		}
		baseline = n
	}

	for i := range n {
		proto := transportWS
		if i%2 == 1 {
			proto = legacyWS
		}
		c, _, err := dial(t, srv, nil, proto)
		if err != nil {
			t.Fatal(err)
		}
		send(t, c, op{Type: "connection_init"})
		expect(t, c, "connection_ack")
		if proto == transportWS {
			send(t, c, op{Type: "subscribe", ID: "s", Payload: subscription})
		} else {
			send(t, c, op{Type: "start", ID: "s", Payload: subscription})
		}
		if i%10 == 0 {
			h.SendNextSubscriptionMessage()
		}
		switch i % 3 {
		case 0: // clean close handshake
			_ = c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		case 1: // peer vanishes without a close frame
			_ = c.UnderlyingConn().Close()
		case 2: // server-initiated close after a protocol error
			send(t, c, op{Type: "bogus"})
		}
		_ = c.Close()
	}

	got := runtime.NumGoroutine()
	for end := time.Now().Add(5 * time.Second); got > baseline && time.Now().Before(end); got = runtime.NumGoroutine() {
		time.Sleep(20 * time.Millisecond)
	}
	if got > baseline {
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		t.Fatalf("goroutines: %d after closing %d connections, baseline %d", got, n, baseline)
	}
}

// TestSlowReaderDoesNotBlock stalls one client's TCP window and checks that
// the write deadline, not the client, decides how long the server waits.
func TestSlowReaderDoesNotBlock(t *testing.T) {
	impl := Implementation{WriteTimeout: 200 * time.Millisecond}
	conns := make(chan transport.WebsocketConn, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{Subprotocols: []string{transportWS}})
		if err != nil {
			t.Error(err)
			return
		}
		conns <- c
	}))
	t.Cleanup(srv.Close)

	mustDial(t, srv, transportWS) // never reads
	slow := <-conns
	t.Cleanup(func() { _ = slow.Close() })
	fastClient := mustDial(t, srv, transportWS)
	fast := <-conns
	t.Cleanup(func() { _ = fast.Close() })

	blob := strings.Repeat("x", 256<<10)
	writeErr := make(chan error, 1)
	go func() {
		for {
			if err := slow.WriteJSON(blob); err != nil {
				writeErr <- err
				return
			}
		}
	}()

	// Another connection carries on while the slow one is wedged.
	time.Sleep(50 * time.Millisecond)
	if err := fast.WriteJSON("hi"); err != nil {
		t.Fatal(err)
	}
	_ = fastClient.SetReadDeadline(time.Now().Add(time.Second))
	if _, msg, err := fastClient.ReadMessage(); err != nil || string(msg) != `"hi"` {
		t.Fatalf("fast client: %q %v", msg, err)
	}

	select {
	case err := <-writeErr:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("want a write timeout, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write to a non-reading client never timed out")
	}

	// The failed write tears the connection down, so gqlgen's read loop ends
	// and its subscriptions are cancelled.
	done := make(chan error, 1)
	go func() { _, _, err := slow.NextReader(); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read succeeded on a torn-down connection")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("reader not woken after write timeout")
	}

	start := time.Now()
	_ = slow.WriteClose(websocket.CloseGoingAway, "")
	_ = slow.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("close took %v", d)
	}
}

func TestCheckOriginUnit(t *testing.T) {
	impl := Implementation{AllowedOrigins: []string{"https://app.example.com", "not a url", "app.example.org"}}
	for origin, want := range map[string]bool{
		"https://app.example.com":      true,
		"https://api.example.com":      true, // same host as the request
		"https://api.example.com:443":  true,
		"http://api.example.com":       true, // gorilla/coder compare host only for same-origin
		"https://app.example.org":      false,
		"https://app.example.com/path": false,
		"not a url":                    false,
	} {
		r := httptest.NewRequest(http.MethodGet, "https://api.example.com/query", nil)
		r.Header.Set("Origin", origin)
		if got := impl.CheckOrigin(r); got != want {
			t.Errorf("%q: got %v want %v", origin, got, want)
		}
	}
}

// gqlgen answers an unsupported subprotocol with WriteClose alone, relying on
// the adapter to finish the close as coder's does.
func TestWriteCloseAloneEventuallyCloses(t *testing.T) {
	impl := Implementation{WriteTimeout: 100 * time.Millisecond}
	conns := make(chan *conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		_ = c.WriteClose(websocket.CloseProtocolError, "unsupported negotiated subprotocol")
		conns <- c.(*conn)
	}))
	t.Cleanup(srv.Close)

	client := mustDial(t, srv)
	var ce *websocket.CloseError
	if err := readErr(t, client, 5*time.Second); !errors.As(err, &ce) || ce.Code != websocket.CloseProtocolError {
		t.Fatalf("want 1002, got %v", err)
	}
	select {
	case <-(<-conns).done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection left open after WriteClose")
	}
}
