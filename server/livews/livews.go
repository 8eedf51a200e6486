// Package livews is regicam's GraphQL websocket transport (graphql-transport-ws
// and the legacy graphql-ws) for live views held open all day by many
// clients. Unlike gqlgen's transport, which executes and encodes every
// subscription on its own, it groups live subscriptions that would produce
// the same bytes — same document, operation, variables and viewer access —
// executes each group once per event and writes the one encoded payload to
// every member's connection (only the message id differs). Every
// connection has a send queue drained by its own writer, bounded in
// messages and in bytes, and the connections of one credential (a session
// or an API key) share a byte budget and a connection count: a client too
// slow to keep up is closed with 1008, never allowed to stall the group or
// to hold the server's memory.
package livews

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/metrics"
)

const (
	protoTransportWS = "graphql-transport-ws"
	protoGraphQLWS   = "graphql-ws"

	// CloseSlowConsumer closes a connection whose send queue is full.
	CloseSlowConsumer = 1008
	// CloseTooManyConnections refuses connection_init beyond
	// ConnsPerCredential: graphql-transport-ws's "too many" code, which
	// the graphql-ws client treats as final rather than reconnecting in a
	// loop against the cap.
	CloseTooManyConnections = 4429
	// DefaultSendQueue is how many messages may wait for one connection:
	// room for a few partner batches (500 entries committed at once) to a
	// client that is reading, far from what an idle live view needs.
	DefaultSendQueue = 2048
	// DefaultQueueBytes is how many bytes may wait for one connection:
	// about a hundred journal events with their thumbnails, many seconds
	// of a busy account for a client that is reading.
	DefaultQueueBytes = 4 << 20
	// DefaultCredentialQueueBytes is how many bytes may wait across all
	// connections of one session or API key.
	DefaultCredentialQueueBytes = 16 << 20
	// DefaultConnsPerCredential is how many websocket connections one
	// session or API key may hold open: a dashboard uses one or two per
	// browser tab.
	DefaultConnsPerCredential = 20
	// DefaultOperationsPerConn is how many operations one connection may
	// have active at once: a live view holds a handful.
	DefaultOperationsPerConn = 100
)

// Transport is a graphql.Transport for websocket upgrades. Create it with
// New; its groups are shared by every connection of one server.
type Transport struct {
	// Implementation accepts the upgrade (origin allowlist, read limit,
	// deadlines, protocol pings): wsgorilla.Implementation.
	Implementation transport.WebsocketImplementation
	// InitFunc checks connection_init and returns the connection's context;
	// when that context ends (a revoked session or key) the connection is
	// closed. An error closes with the code set by
	// transport.WithWebsocketCloseCode, else 4401 for UNAUTHENTICATED and
	// 4403 otherwise.
	InitFunc    transport.WebsocketInitFunc
	InitTimeout time.Duration
	// KeepAlivePingInterval is the graphql-ws "ka" interval.
	KeepAlivePingInterval time.Duration
	// PayloadReadLimit caps inbound messages (default 1 MiB).
	PayloadReadLimit int64
	// SendQueue bounds each connection's outgoing messages.
	SendQueue int
	// QueueBytes bounds the bytes waiting for one connection (default
	// DefaultQueueBytes, negative: no bound). A payload shared by a group
	// counts in full for every connection that holds it: what a stalled
	// connection pins is what it references. One message is always
	// accepted into an empty queue, however large.
	QueueBytes int64
	// CredentialQueueBytes bounds the bytes waiting across the
	// connections of one credential (default DefaultCredentialQueueBytes,
	// negative: no bound); past it the connection holding the most is
	// closed first.
	CredentialQueueBytes int64
	// ConnsPerCredential caps the connections one credential holds open
	// (default DefaultConnsPerCredential, negative: no cap); a
	// connection_init beyond it is closed with 4429.
	ConnsPerCredential int
	// OperationsPerConn caps the operations active at once on one
	// connection (default DefaultOperationsPerConn, negative: no cap). A
	// subscribe beyond it is answered with an "error" message for its id
	// (code RATE_LIMITED) and the connection stays open: graphql-ws
	// clients hand the error to that operation's sink only, where a close
	// would end and reconnect every other operation of the connection.
	OperationsPerConn int
	// Credential names the credential of an initialised connection's
	// context, "" for none (not counted). Default: the viewer's API key,
	// else its session.
	Credential func(ctx context.Context) string
	// Shared turns grouping off when false (for comparisons).
	Shared bool
	Log    *slog.Logger

	groups *groups
	reg    *registry
	creds  *credentials
	queued *atomic.Int64 // bytes waiting across all connections
	slow   *atomic.Int64 // connections closed for not reading
}

// New returns a Transport with its shared state.
func New(t Transport) *Transport {
	if t.SendQueue <= 0 {
		t.SendQueue = DefaultSendQueue
	}
	t.QueueBytes = limit(t.QueueBytes, DefaultQueueBytes)
	t.CredentialQueueBytes = limit(t.CredentialQueueBytes, DefaultCredentialQueueBytes)
	t.ConnsPerCredential = int(limit(int64(t.ConnsPerCredential), DefaultConnsPerCredential))
	t.OperationsPerConn = int(min(limit(int64(t.OperationsPerConn), DefaultOperationsPerConn), math.MaxInt32))
	if t.Credential == nil {
		t.Credential = viewerCredential
	}
	if t.PayloadReadLimit == 0 {
		t.PayloadReadLimit = 1 << 20
	}
	if t.InitTimeout == 0 {
		t.InitTimeout = 30 * time.Second
	}
	if t.Log == nil {
		t.Log = slog.Default()
	}
	t.groups = &groups{m: map[string]*group{}}
	t.reg = &registry{conns: map[*conn]struct{}{}}
	t.creds = &credentials{m: map[string]*credential{}}
	t.queued = new(atomic.Int64)
	t.slow = new(atomic.Int64)
	return &t
}

// limit is v, def for zero, and no limit for a negative v.
func limit(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return math.MaxInt64
	}
	return v
}

var _ graphql.Transport = (*Transport)(nil)

// Supports implements graphql.Transport.
func (t *Transport) Supports(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

// textWriter is what wsgorilla's connection offers beyond WebsocketConn.
type textWriter interface {
	WriteText(parts ...[]byte) error
}

// Groups reports how many shared groups and members are live (tests,
// metrics).
func (t *Transport) Groups() (groups, members int) { return t.groups.stats() }

// QueuedBytes reports the bytes waiting in the send queues of every
// connection, counted as the queues are bounded (tests, metrics).
func (t *Transport) QueuedBytes() int64 { return t.queued.Load() }

// SlowClosed reports how many connections were closed for not reading
// (tests; the process-wide count is regicam_live_slow_closes_total).
func (t *Transport) SlowClosed() int64 { return t.slow.Load() }

// Do implements graphql.Transport. It returns as soon as the connection is
// upgraded and runs it on goroutines of its own: an idle live view left on
// the handler goroutine would keep net/http's per-connection state (its
// buffers, the response) alive for the whole day.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !t.reg.enter() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	c := t.accept(w, r, exec)
	if c == nil {
		t.reg.exit(nil)
		return
	}
	go c.run()
}

func (t *Transport) accept(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) *conn {
	ws, err := t.Implementation.Accept(w, r, transport.WebsocketAcceptOptions{
		ResponseHeader: http.Header{},
		Subprotocols:   []string{protoTransportWS, protoGraphQLWS},
	})
	if err != nil {
		return nil // Accept has answered (403 for a foreign origin)
	}
	tw, ok := ws.(textWriter)
	if !ok {
		_ = ws.WriteClose(1011, "websocket adapter cannot write raw frames")
		_ = ws.Close()
		return nil
	}
	proto := ws.Subprotocol()
	switch proto {
	case protoTransportWS:
	case protoGraphQLWS, "":
		proto = protoGraphQLWS
	default:
		_ = ws.WriteClose(1002, "unsupported subprotocol "+proto)
		_ = ws.Close()
		return nil
	}
	if l, ok := ws.(transport.WebsocketReadLimiter); ok && t.PayloadReadLimit > 0 {
		l.SetReadLimit(t.PayloadReadLimit)
	}
	// net/http cancels the request's context when the handler returns,
	// which is right away: the connection keeps the request's values
	// (viewer, request id) and ends with its own cancel.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c := &conn{t: t, ws: ws, tw: tw, proto: proto, exec: exec, ctx: ctx, cancel: cancel, headers: r.Header,
		wake: make(chan struct{}, 1), done: make(chan struct{}), subs: map[string]*sub{}}
	t.reg.track(c)
	return c
}

// run is the connection's life after the upgrade.
func (c *conn) run() {
	defer c.t.reg.exit(c)
	defer func() {
		if p := recover(); p != nil {
			c.t.Log.Error("websocket connection panic", "panic", p)
			c.close(1011, "")
		}
	}()
	if !c.init() {
		return
	}
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		c.writer()
	}()
	c.read()
	<-wrote
}

// Close closes every websocket connection (1001, going away) and waits
// until they are torn down; later upgrades are refused. http.Server's
// Shutdown does neither for hijacked connections.
func (t *Transport) Close() {
	for _, c := range t.reg.shut() {
		c.close(1001, "server shutting down")
	}
	t.reg.wg.Wait()
}

// Conns reports how many websocket connections are open.
func (t *Transport) Conns() int {
	t.reg.mu.Lock()
	defer t.reg.mu.Unlock()
	return len(t.reg.conns)
}

// registry is every live connection, for Close.
type registry struct {
	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func (g *registry) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *registry) track(c *conn) {
	g.mu.Lock()
	closed := g.closed
	if !closed {
		g.conns[c] = struct{}{}
	}
	g.mu.Unlock()
	if closed {
		c.close(1001, "server shutting down")
	}
}

func (g *registry) exit(c *conn) {
	if c != nil {
		g.mu.Lock()
		delete(g.conns, c)
		g.mu.Unlock()
	}
	g.wg.Done()
}

func (g *registry) shut() []*conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	out := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		out = append(out, c)
	}
	return out
}

// outMsg is one queued message: head + body + tail, so a shared body is
// written as is.
type outMsg struct{ head, body, tail []byte }

func (m outMsg) size() int64 { return int64(len(m.head) + len(m.body) + len(m.tail)) }

type conn struct {
	t       *Transport
	ws      transport.WebsocketConn
	tw      textWriter
	proto   string
	exec    graphql.GraphExecutor
	ctx     context.Context // the InitFunc's once initialised
	cancel  context.CancelFunc
	headers http.Header
	done    chan struct{}

	// The send queue grows only while messages wait, so an idle
	// connection holds none of it. queued counts its bytes and the one
	// message being written; qclosed refuses more once the connection is
	// being closed.
	qmu     sync.Mutex
	q       []outMsg
	queued  atomic.Int64
	qclosed bool
	wake    chan struct{}
	cred    *credential // set by init, before anything is queued

	mu     sync.Mutex
	subs   map[string]*sub
	closed bool
}

// sub is one active operation of a connection: a group membership or an
// operation of its own.
type sub struct {
	cancel context.CancelFunc // own operation
	m      *member            // group membership
}

type inMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (c *conn) nextMessage() (inMsg, error) {
	_, r, err := c.ws.NextReader()
	if err != nil {
		return inMsg{}, err
	}
	var m inMsg
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return inMsg{}, errInvalid
	}
	return m, nil
}

var errInvalid = errors.New("invalid message")

// init runs the connection_init handshake before anything is queued.
func (c *conn) init() bool {
	type res struct {
		m   inMsg
		err error
	}
	got := make(chan res, 1)
	go func() { m, err := c.nextMessage(); got <- res{m, err} }()
	var r res
	select {
	case r = <-got:
	case <-time.After(c.t.InitTimeout):
		c.closeNow(4408, "Connection initialisation timeout")
		return false
	}
	if r.err != nil {
		c.closeNow(1002, "decoding error")
		return false
	}
	if r.m.Type != "connection_init" {
		if r.m.Type == "connection_terminate" {
			c.closeNow(1000, "terminated")
			return false
		}
		c.closeNow(4400, "unexpected message "+r.m.Type)
		return false
	}
	var payload transport.InitPayload
	if len(r.m.Payload) > 0 && !bytes.Equal(r.m.Payload, []byte("null")) {
		if err := json.Unmarshal(r.m.Payload, &payload); err != nil {
			c.closeNow(4400, "invalid connection_init payload")
			return false
		}
	}
	var ack *transport.InitPayload
	if c.t.InitFunc != nil {
		ctx, ackPayload, err := c.t.InitFunc(c.ctx, payload)
		if err != nil {
			code := initCloseCode(ctx, err)
			if c.proto == protoGraphQLWS {
				b, _ := json.Marshal(&gqlerror.Error{Message: err.Error()})
				_ = c.tw.WriteText(frame("connection_error", "", b))
			}
			reason := closeReason(ctx)
			if reason == "" {
				reason = map[int]string{4401: "Unauthorized", 4403: "Forbidden"}[code]
			}
			c.closeNow(code, reason)
			return false
		}
		if ctx != nil {
			c.ctx = ctx
		}
		ack = ackPayload
	}
	if !c.holdCredential() {
		return false
	}
	var b []byte
	if ack != nil {
		b, _ = json.Marshal(*ack)
	}
	if err := c.tw.WriteText(frame("connection_ack", "", b)); err != nil {
		c.closeNow(1011, "")
		return false
	}
	if c.proto == protoGraphQLWS {
		_ = c.tw.WriteText(frame("ka", "", nil))
	}
	return true
}

// initCloseCode is the close code for a refused connection_init: the one
// the InitFunc put in its context, else from the error's code.
func initCloseCode(ctx context.Context, err error) int {
	if v, ok := ctxValue(ctx, "contextKeyWebsocketCloseCode"); ok && v.CanInt() {
		return int(v.Int())
	}
	if e, ok := apperr.As(err); ok && e.Code == apperr.Unauthenticated {
		return 4401
	}
	return 4403
}

func closeReason(ctx context.Context) string {
	if v, ok := ctxValue(ctx, "wsCloseReasonContextKey"); ok && v.Kind() == reflect.String {
		return v.String()
	}
	return ""
}

// ctxValue finds a value gqlgen's transport keeps under an unexported key
// (close code and reason set with transport.WithWebsocketCloseCode and
// transport.AppendCloseReason), by the key's type name.
func ctxValue(ctx context.Context, keyType string) (reflect.Value, bool) {
	for depth := 0; ctx != nil && depth < 64; depth++ {
		v := reflect.ValueOf(ctx)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		s := v.Elem()
		if k := s.FieldByName("key"); k.IsValid() {
			kk := k
			if kk.Kind() == reflect.Interface {
				kk = kk.Elem()
			}
			if kk.Kind() == reflect.Pointer {
				kk = kk.Elem()
			}
			if kk.IsValid() && kk.Type().Name() == keyType {
				val := s.FieldByName("val")
				if val.Kind() == reflect.Interface {
					val = val.Elem()
				}
				return val, val.IsValid()
			}
		}
		parent := s.FieldByName("Context")
		if !parent.IsValid() || parent.Kind() != reflect.Interface || parent.IsNil() {
			return reflect.Value{}, false
		}
		next, ok := parent.Interface().(context.Context)
		if !ok {
			return reflect.Value{}, false
		}
		ctx = next
	}
	return reflect.Value{}, false
}

// frame renders {"id":…,"type":…,"payload":…}.
func frame(typ, id string, payload []byte) []byte {
	head, tail := frameParts(typ, id, payload != nil)
	return append(append(head, payload...), tail...)
}

// frameParts is the message around a payload.
func frameParts(typ, id string, withPayload bool) (head, tail []byte) {
	b := make([]byte, 0, 48+len(id))
	b = append(b, '{')
	if id != "" {
		q, _ := json.Marshal(id)
		b = append(b, `"id":`...)
		b = append(b, q...)
		b = append(b, ',')
	}
	b = append(b, `"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if withPayload {
		b = append(b, `,"payload":`...)
		return b, []byte{'}'}
	}
	return append(b, '}'), nil
}

func (c *conn) nextType() string {
	if c.proto == protoGraphQLWS {
		return "data"
	}
	return "next"
}

// enqueue queues a message without ever blocking: a full queue means the
// client is not reading, and it is closed rather than allowed to hold up
// whoever is sending or to pin the server's memory.
func (c *conn) enqueue(m outMsg) bool {
	size := m.size()
	c.qmu.Lock()
	if c.qclosed {
		c.qmu.Unlock()
		return false
	}
	held := c.queued.Load()
	var full string
	switch {
	case len(c.q) >= c.t.SendQueue:
		full = "send queue full: client too slow"
	case held > 0 && held+size > c.t.QueueBytes:
		full = fmt.Sprintf("send queue over %s: client too slow", mib(c.t.QueueBytes))
	}
	if full != "" {
		c.qmu.Unlock()
		c.abort(full)
		return false
	}
	c.q = append(c.q, m)
	c.account(size)
	cr := c.cred
	over := cr != nil && cr.queued.Load() > c.t.CredentialQueueBytes
	c.qmu.Unlock()
	if over {
		c.t.creds.shed(cr, c.t.CredentialQueueBytes,
			fmt.Sprintf("send queues of this credential over %s: client too slow", mib(c.t.CredentialQueueBytes)))
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// account adds n (negative: releases) to the bytes c holds, its
// credential's and the transport's.
func (c *conn) account(n int64) {
	c.queued.Add(n)
	if c.cred != nil {
		c.cred.queued.Add(n)
	}
	c.t.queued.Add(n)
}

// pop takes the next message to write; its bytes stay counted until
// written.
func (c *conn) pop() (outMsg, bool) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.qclosed || len(c.q) == 0 {
		return outMsg{}, false
	}
	m := c.q[0]
	c.q[0] = outMsg{} // the array outlives the pop: drop the reference
	c.q = c.q[1:]
	if len(c.q) == 0 {
		c.q = nil
	}
	return m, true
}

// dropQueue discards what waits and refuses more; it reports whether this
// call did so (false once already dropped).
func (c *conn) dropQueue() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.qclosed {
		return false
	}
	c.qclosed = true
	var n int64
	for _, m := range c.q {
		n += m.size()
	}
	c.q = nil
	c.account(-n)
	return true
}

// abort closes a connection for being too slow. Its queue is freed at
// once; the close handshake, which can wait WriteTimeout on a stalled
// socket, runs on a goroutine of its own so the sender never waits. When
// the socket stays stalled that long the close frame never goes out and
// the client sees the connection drop instead of 1008.
func (c *conn) abort(reason string) {
	if c.dropQueue() {
		c.t.slow.Add(1)
		metrics.LiveSlowClosed()
		go c.close(CloseSlowConsumer, reason)
	}
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func (c *conn) send(typ, id string, payload []byte) {
	c.enqueue(outMsg{head: frame(typ, id, payload)})
}

// writer drains the queue, sends graphql-ws keep-alives and closes the
// connection when its context (the InitFunc's) ends.
func (c *conn) writer() {
	var ka <-chan time.Time
	if c.proto == protoGraphQLWS && c.t.KeepAlivePingInterval > 0 {
		tk := time.NewTicker(c.t.KeepAlivePingInterval)
		defer tk.Stop()
		ka = tk.C
	}
	var ping <-chan time.Time
	pinger, _ := c.ws.(interface {
		PingInterval() time.Duration
		Ping() error
	})
	if pinger != nil && pinger.PingInterval() > 0 {
		tk := time.NewTicker(pinger.PingInterval())
		defer tk.Stop()
		ping = tk.C
	}
	kaFrame := frame("ka", "", nil)
	for {
		select {
		case <-ping:
			if err := pinger.Ping(); err != nil {
				c.close(0, "")
				return
			}
		case <-c.done:
			return
		case <-c.ctx.Done():
			c.close(1000, "terminated")
			return
		case <-ka:
			if err := c.tw.WriteText(kaFrame); err != nil {
				c.close(1011, "")
				return
			}
		case <-c.wake:
			// One message at a time, so that a close frees what still
			// waits while a write is stuck on a stalled socket.
			for {
				m, ok := c.pop()
				if !ok {
					break
				}
				err := c.tw.WriteText(m.head, m.body, m.tail)
				c.qmu.Lock()
				c.account(-m.size())
				c.qmu.Unlock()
				if err != nil {
					c.close(1011, "")
					return
				}
			}
		}
	}
}

// read handles client messages until the connection ends.
func (c *conn) read() {
	defer c.close(1000, "")
	for {
		m, err := c.nextMessage()
		if err != nil {
			if err == errInvalid {
				c.close(4400, "invalid message")
			}
			return
		}
		switch m.Type {
		case "subscribe", "start":
			if m.ID == "" {
				c.close(4400, "subscribe without id")
				return
			}
			c.subscribe(m.ID, m.Payload)
		case "complete", "stop":
			c.stop(m.ID)
		case "ping":
			c.enqueue(outMsg{head: frame("pong", "", m.Payload)})
		case "pong":
		case "connection_terminate":
			return
		case "connection_init":
			c.close(4429, "Too many initialisation requests")
			return
		default:
			c.close(4400, "unexpected message "+m.Type)
			return
		}
	}
}

// OperationGate is called for every subscribe message of a connection
// whose context carries it (WithOperationGate) before the operation
// starts; an error refuses that operation only.
type OperationGate func(ctx context.Context) error

type gateKey struct{}

// WithOperationGate returns ctx, from an InitFunc, with a gate every
// operation of the connection must pass: an API key's rate limit is
// charged per operation, not once per connection.
func WithOperationGate(ctx context.Context, g OperationGate) context.Context {
	return context.WithValue(ctx, gateKey{}, g)
}

func operationGate(ctx context.Context) OperationGate {
	g, _ := ctx.Value(gateKey{}).(OperationGate)
	return g
}

// refuseOperation answers a subscribe that does not start with an
// "error" message carrying err's code; the connection stays.
func (c *conn) refuseOperation(id string, err error) {
	e := &gqlerror.Error{Message: err.Error()}
	if ae, ok := apperr.As(err); ok {
		e = &gqlerror.Error{Message: ae.Message, Extensions: map[string]any{"code": ae.Code, "reason": apperr.ReasonOf(ae)}}
	}
	c.sendErrors(id, e)
}

func (c *conn) subscribe(id string, payload json.RawMessage) {
	c.mu.Lock()
	if _, dup := c.subs[id]; dup || c.closed {
		c.mu.Unlock()
		if c.proto == protoTransportWS {
			c.close(4409, "Subscriber for "+id+" already exists")
		}
		return
	}
	if len(c.subs) >= c.t.OperationsPerConn {
		c.mu.Unlock()
		c.refuseOperation(id, apperr.RateLimitedf(
			"この接続の同時実行オペレーションが多すぎます (more than %d active operations on this connection)", c.t.OperationsPerConn).Because(apperr.RATE_LIMITED))
		return
	}
	c.subs[id] = &sub{} // reserved while starting
	c.mu.Unlock()
	if g := operationGate(c.ctx); g != nil {
		if err := g(c.ctx); err != nil {
			c.refuseOperation(id, err)
			c.finish(id, false)
			return
		}
	}

	start := graphql.Now()
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		c.sendErrors(id, &gqlerror.Error{Message: "invalid json"})
		c.finish(id, true)
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	params.Headers = c.headers
	ctx := graphql.StartOperationTrace(c.ctx)
	rc, err := c.exec.CreateOperationContext(ctx, params)
	if err != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), err)
		if errcode.GetErrorKind(err) == errcode.KindProtocol {
			c.sendErrors(id, resp.Errors...)
		} else {
			c.sendResponse(id, &graphql.Response{Errors: err})
		}
		c.finish(id, true)
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	if key, ok := c.t.groupKey(c.ctx, rc, params); ok {
		m := &member{c: c, id: id}
		m.head, m.tail = frameParts(c.nextType(), id, true)
		c.mu.Lock()
		if s := c.subs[id]; s != nil && !c.closed {
			s.m = m
			c.mu.Unlock()
			c.t.groups.join(key, m, ctx, rc, c.exec, c.t.Log)
			return
		}
		c.mu.Unlock()
		return
	}
	// On its own: a resuming subscriber (its replay is its own), a query or
	// mutation sent over the socket.
	ctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	if s := c.subs[id]; s != nil && !c.closed {
		s.cancel = cancel
	} else {
		c.mu.Unlock()
		cancel()
		return
	}
	c.mu.Unlock()
	go func() {
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				err := rc.Recover(ctx, r)
				var gqlerr *gqlerror.Error
				if !errors.As(err, &gqlerr) {
					gqlerr = &gqlerror.Error{Message: fmt.Sprint(err)}
				}
				c.sendErrors(id, gqlerr)
			}
			c.finish(id, c.ctx.Err() == nil)
		}()
		responses, ctx := c.exec.DispatchOperation(ctx, rc)
		for {
			resp := responses(ctx)
			if resp == nil {
				return
			}
			c.sendResponse(id, resp)
		}
	}()
}

func (c *conn) sendResponse(id string, resp *graphql.Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		c.t.Log.Error("encode response", "err", err)
		return
	}
	head, tail := frameParts(c.nextType(), id, true)
	c.enqueue(outMsg{head: head, body: b, tail: tail})
}

func (c *conn) sendErrors(id string, errs ...*gqlerror.Error) {
	list := make([]error, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	b, _ := json.Marshal(list)
	c.send("error", id, b)
}

// finish ends operation id; complete says whether to tell the client.
func (c *conn) finish(id string, complete bool) {
	c.mu.Lock()
	_, ok := c.subs[id]
	delete(c.subs, id)
	c.mu.Unlock()
	if ok && complete {
		c.send("complete", id, nil)
	}
}

// stop is the client's complete/stop for id.
func (c *conn) stop(id string) {
	c.mu.Lock()
	s := c.subs[id]
	delete(c.subs, id)
	c.mu.Unlock()
	if s == nil {
		return
	}
	if s.m != nil {
		c.t.groups.leave(s.m)
	}
	if s.cancel != nil {
		s.cancel()
	}
}

// close sends a close frame (best effort) and tears everything down.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	subs := c.subs
	c.subs = map[string]*sub{}
	close(c.done)
	cred := c.cred
	c.mu.Unlock()
	c.dropQueue()
	if cred != nil {
		c.t.creds.release(cred, c)
	}
	for _, s := range subs {
		if s.m != nil {
			c.t.groups.leave(s.m)
		}
		if s.cancel != nil {
			s.cancel()
		}
	}
	if code != 0 {
		_ = c.ws.WriteClose(code, reason)
	}
	_ = c.ws.Close()
	// Ends the InitFunc's context too (its credential watch).
	c.cancel()
}

// closeNow closes before the writer runs (handshake failures).
func (c *conn) closeNow(code int, reason string) { c.close(code, reason) }

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, transport.ErrWebsocketClosed)
}

var _ = isClosedErr
