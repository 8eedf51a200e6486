// Package wsgorilla plugs github.com/gorilla/websocket into gqlgen's websocket
// transport in place of the default coder/websocket adapter.
package wsgorilla

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

const (
	DefaultReadLimit    = 64 << 10
	DefaultWriteTimeout = 10 * time.Second
	DefaultPingInterval = 25 * time.Second
	DefaultPongWait     = 60 * time.Second
)

// Implementation is a transport.WebsocketImplementation backed by gorilla.
// The zero value is usable; zero fields take the Default* values.
type Implementation struct {
	// AllowedOrigins lists browser origins ("https://app.example.com",
	// "http://localhost:5173") that may connect besides the server's own host.
	// Requests without an Origin header are always allowed because only
	// browsers send one, and only browsers can be tricked into cross-site
	// requests. "*" allows every origin and must be opted into explicitly.
	AllowedOrigins []string
	// ReadLimit caps inbound message size. It is a ceiling over gqlgen's
	// PayloadReadLimit (default 1 MiB), so the smaller of the two wins.
	// Negative leaves the limit entirely to gqlgen.
	ReadLimit int64
	// WriteTimeout bounds every write (messages, pings, close), so a stalled client costs at
	// most this long before its connection is torn down.
	WriteTimeout time.Duration
	// PingInterval is how often protocol-level pings are sent. Negative
	// disables pings and the pong deadline.
	PingInterval time.Duration
	// PongWait is how long the connection survives without a pong; it must
	// exceed PingInterval.
	PongWait time.Duration
	// CallerPings leaves sending the pings to the caller (through the
	// connection's Ping and PingInterval), so a transport with a writer
	// goroutine per connection needs no second one for keep-alive.
	CallerPings bool
}

var _ transport.WebsocketImplementation = Implementation{}

var writeBuffers = &sync.Pool{}

func (i Implementation) Accept(
	w http.ResponseWriter,
	r *http.Request,
	options transport.WebsocketAcceptOptions,
) (transport.WebsocketConn, error) {
	readLimit := orDefault(i.ReadLimit, DefaultReadLimit)
	writeTimeout := orDefault(i.WriteTimeout, DefaultWriteTimeout)
	pingInterval := orDefault(i.PingInterval, DefaultPingInterval)
	pongWait := orDefault(i.PongWait, DefaultPongWait)
	if pingInterval > 0 && pongWait <= pingInterval {
		// Fail every upgrade loudly rather than let each connection die
		// between pings.
		return nil, fmt.Errorf("wsgorilla: PongWait %v must exceed PingInterval %v", pongWait, pingInterval)
	}

	upgrader := websocket.Upgrader{
		// gorilla picks the first server-listed protocol the client offers,
		// the same precedence coder/websocket uses, so clients offering both
		// end up where gqlgen's default adapter would put them. With no match
		// no protocol is sent and gqlgen falls back to graphql-ws.
		Subprotocols: options.Subprotocols,
		CheckOrigin:  i.CheckOrigin,
		// An idle live view holds no write buffer: thousands of open
		// subscriptions would otherwise pin 4 KiB each between events.
		WriteBufferPool: writeBuffers,
		ReadBufferSize:  1024,
	}
	ws, err := upgrader.Upgrade(w, r, upgradeHeader(w.Header(), options.ResponseHeader))
	if err != nil {
		// Upgrade has already answered (403 for a bad origin).
		return nil, err
	}

	c := &conn{ws: ws, readLimit: readLimit, writeTimeout: writeTimeout, done: make(chan struct{})}
	c.SetReadLimit(readLimit)
	if pingInterval > 0 {
		c.mu.Lock()
		c.pongDeadline = time.Now().Add(pongWait)
		_ = c.applyReadDeadlineLocked()
		c.mu.Unlock()
		ws.SetPongHandler(func(string) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.pongDeadline = time.Now().Add(pongWait)
			return c.applyReadDeadlineLocked()
		})
		c.pingEvery = pingInterval
		if !i.CallerPings {
			go c.keepalive(pingInterval)
		}
	}
	return c, nil
}

// CheckOrigin reports whether r may be upgraded. It is exported so a router
// can reject cross-site upgrades before gqlgen sees them: when Accept refuses,
// gqlgen also tries to write its own 400, which net/http logs as a
// superfluous WriteHeader.
func (i Implementation) CheckOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" &&
		strings.EqualFold(trimDefaultPort(u.Scheme, u.Host), trimDefaultPort(u.Scheme, r.Host)) {
		return true
	}
	want := canonicalOrigin(origin)
	for _, allowed := range i.AllowedOrigins {
		if allowed == "*" || (want != "" && canonicalOrigin(allowed) == want) {
			return true
		}
	}
	return false
}

// canonicalOrigin puts browser-serialised origins and hand-written config
// entries in the same form; anything that is not a bare origin yields "" so
// it can never match (this includes the opaque "null" origin).
func canonicalOrigin(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme + "://" + strings.ToLower(trimDefaultPort(scheme, u.Host))
}

// Browsers omit default ports from Origin, but Host headers and config
// entries sometimes carry them.
func trimDefaultPort(scheme, host string) string {
	switch strings.ToLower(scheme) {
	case "http", "ws":
		return strings.TrimSuffix(host, ":80")
	case "https", "wss":
		return strings.TrimSuffix(host, ":443")
	}
	return host
}

// upgradeHeader carries headers set by middleware (cookies, CORS) into the
// 101 response as coder/websocket does: gorilla writes the handshake on the
// hijacked conn and would otherwise drop w.Header(). Handshake headers are
// gorilla's to write; duplicates would corrupt the response.
func upgradeHeader(sets ...http.Header) http.Header {
	out := http.Header{}
	for _, set := range sets {
		for k, vs := range set {
			switch http.CanonicalHeaderKey(k) {
			case "Connection", "Upgrade", "Content-Length", "Content-Type", "Transfer-Encoding",
				"Sec-Websocket-Accept", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol":
				continue
			}
			for _, v := range vs {
				out.Add(k, v)
			}
		}
	}
	return out
}

type conn struct {
	ws           *websocket.Conn
	readLimit    int64
	writeTimeout time.Duration
	pingEvery    time.Duration

	// gorilla allows one writer at a time; control frames are exempt.
	writeMu sync.Mutex

	mu           sync.Mutex
	closed       bool
	done         chan struct{}
	closeTimer   *time.Timer
	pongDeadline time.Time
	appDeadline  time.Time
}

var (
	_ transport.WebsocketConn          = (*conn)(nil)
	_ transport.WebsocketReadLimiter   = (*conn)(nil)
	_ transport.WebsocketReadDeadliner = (*conn)(nil)
)

func (c *conn) keepalive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.writeTimeout)); err != nil {
				// A peer we cannot ping is gone; closing wakes the reader so
				// gqlgen tears the connection down now rather than at PongWait.
				_ = c.Close()
				return
			}
		}
	}
}

// PingInterval is how often the caller should call Ping (0: never); see
// Implementation.CallerPings.
func (c *conn) PingInterval() time.Duration { return c.pingEvery }

// Ping sends a protocol ping; an error means the peer is gone and the
// connection has been closed.
func (c *conn) Ping() error {
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.writeTimeout)); err != nil {
		_ = c.Close()
		return err
	}
	return nil
}

func (c *conn) NextReader() (int, io.Reader, error) {
	messageType, r, err := c.ws.NextReader()
	if err == nil {
		return messageType, r, nil
	}
	// Same mapping as gqlgen's coder adapter: only these count as a clean
	// shutdown that gqlgen should not report through ErrorFunc.
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived) {
		return messageType, nil, transport.ErrWebsocketClosed
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		// A missed pong means the peer is gone; like coder's deadline
		// handling, drop it rather than attempt a close handshake.
		_ = c.Close()
	}
	return messageType, nil, err
}

func (c *conn) WriteJSON(v any) error {
	// Marshal outside the lock, and without the trailing newline
	// json.Encoder (and gorilla's WriteJSON) would add.
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		// gorilla poisons the conn after a failed write, and gqlgen only
		// reports write errors; closing makes the read loop end so the
		// subscriptions are cancelled instead of writing into the void.
		_ = c.Close()
		return err
	}
	return nil
}

// WriteText writes one text message made of parts, so a payload shared by
// many connections is written to each without being copied into a new
// message per connection.
func (c *conn) WriteText(parts ...[]byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	w, err := c.ws.NextWriter(websocket.TextMessage)
	if err == nil {
		for _, p := range parts {
			if _, err = w.Write(p); err != nil {
				break
			}
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		_ = c.Close()
	}
	return err
}

func (c *conn) WriteClose(closeCode int, message string) error {
	err := c.ws.WriteControl(websocket.CloseMessage, closePayload(closeCode, message),
		time.Now().Add(c.writeTimeout))
	// gqlgen follows up with Close on most paths but not all (an unsupported
	// subprotocol only gets WriteClose); coder finishes the close on its own,
	// so make sure ours does too.
	c.mu.Lock()
	if !c.closed && c.closeTimer == nil {
		c.closeTimer = time.AfterFunc(c.writeTimeout, func() { _ = c.Close() })
	}
	c.mu.Unlock()
	return err
}

// closePayload follows coder/websocket: 1005 goes out as an empty close frame
// and codes that may not appear on the wire become 1011. Unlike coder, an
// over-long reason is truncated rather than also turned into 1011, so clients
// still see gqlgen's 44xx codes.
func closePayload(code int, reason string) []byte {
	if code == websocket.CloseNoStatusReceived {
		return websocket.FormatCloseMessage(code, "")
	}
	if !validWireCloseCode(code) {
		code, reason = websocket.CloseInternalServerErr, ""
	}
	const maxReason = 123 // 125-byte control payload minus the code
	if len(reason) > maxReason {
		n := maxReason
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	return websocket.FormatCloseMessage(code, reason)
}

func validWireCloseCode(code int) bool {
	switch {
	case code >= 3000 && code <= 4999:
		return true
	case code < 1000 || code > 1014:
		return false
	}
	return code != 1004 && code != 1005 && code != 1006
}

func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	if c.closeTimer != nil {
		c.closeTimer.Stop()
	}
	c.mu.Unlock()
	return c.ws.Close()
}

func (c *conn) Subprotocol() string {
	return c.ws.Subprotocol()
}

func (c *conn) SetReadLimit(limit int64) {
	if c.readLimit > 0 && (limit <= 0 || limit > c.readLimit) {
		limit = c.readLimit
	}
	c.ws.SetReadLimit(limit)
}

// SetReadDeadline is gqlgen's application-level ping/pong deadline. It must
// not clobber the protocol-level pong deadline (gqlgen clears its own with a
// zero time), so the earlier of the two is what the socket gets.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.appDeadline = t
	return c.applyReadDeadlineLocked()
}

func (c *conn) applyReadDeadlineLocked() error {
	d := c.pongDeadline
	if d.IsZero() || (!c.appDeadline.IsZero() && c.appDeadline.Before(d)) {
		d = c.appDeadline
	}
	return c.ws.SetReadDeadline(d)
}

func orDefault[T int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
