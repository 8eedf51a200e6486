package livews

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeWS is a websocket connection whose peer either reads everything
// (written counts the messages) or never reads: WriteText then blocks
// until the connection is closed, like a write to a client whose TCP
// window stays shut.
type pipeWS struct {
	stalled bool

	mu          sync.Mutex
	written     int
	code        int
	reason      string
	closed      chan struct{}
	closeOnce   sync.Once
	closedFrame chan struct{}
}

func newPipeWS(stalled bool) *pipeWS {
	return &pipeWS{stalled: stalled, closed: make(chan struct{}), closedFrame: make(chan struct{})}
}

func (p *pipeWS) WriteText(parts ...[]byte) error {
	if p.stalled {
		<-p.closed
		return io.ErrClosedPipe
	}
	p.mu.Lock()
	p.written++
	p.mu.Unlock()
	return nil
}

func (p *pipeWS) NextReader() (int, io.Reader, error) {
	<-p.closed
	return 0, nil, io.EOF
}

func (p *pipeWS) WriteJSON(any) error { return nil }

func (p *pipeWS) WriteClose(code int, reason string) error {
	p.mu.Lock()
	if p.code == 0 {
		p.code, p.reason = code, reason
		close(p.closedFrame)
	}
	p.mu.Unlock()
	return nil
}

func (p *pipeWS) Close() error {
	p.closeOnce.Do(func() { close(p.closed) })
	return nil
}

func (p *pipeWS) Subprotocol() string { return protoTransportWS }

func (p *pipeWS) closeFrame(t *testing.T) (int, string) {
	t.Helper()
	select {
	case <-p.closedFrame:
	case <-time.After(10 * time.Second):
		t.Fatal("connection was not closed")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code, p.reason
}

func (p *pipeWS) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.written
}

// open is an initialised connection of credential key with its writer
// running, as run leaves it after the handshake.
func open(t testing.TB, tr *Transport, ws *pipeWS, key string) *conn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{t: tr, ws: ws, tw: ws, proto: protoTransportWS, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), done: make(chan struct{}), subs: map[string]*sub{}}
	tr.Credential = func(context.Context) string { return key }
	if !c.holdCredential() {
		t.Fatalf("connection of %s refused", key)
	}
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		c.writer()
	}()
	t.Cleanup(func() {
		c.close(1001, "")
		<-wrote
	})
	return c
}

// event is a journal event with its thumbnail, as a group shares it: one
// encoded body referenced by every member's queue.
func event() []byte {
	return eventOf(30 << 10)
}

func eventOf(n int) []byte {
	return append([]byte(`{"data":{"journal":{"entry":{"thumbnail":{"dataURL":"data:image/jpeg;base64,`),
		append(bytes.Repeat([]byte("A"), n), `"}}}}}`...)...)
}

// keepUp waits for c's writer to drain its queue, as a client that
// reads as fast as events come does.
func keepUp(t *testing.T, c *conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.queued.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("writer of a reading connection does not drain its queue")
		}
		time.Sleep(time.Millisecond)
	}
}

func message(body []byte) outMsg {
	head, tail := frameParts("next", "1", true)
	return outMsg{head: head, body: body, tail: tail}
}

// TestQueueBoundedInBytes: a connection that stops reading is closed with
// 1008 once the bytes waiting for it pass QueueBytes — long before the
// message count bound, which thumbnail-sized events would only reach at
// 60 MB — its queue is freed at once, and a reading connection fed the
// same events gets every one.
func TestQueueBoundedInBytes(t *testing.T) {
	const capBytes = 1 << 20
	tr := New(Transport{QueueBytes: capBytes, CredentialQueueBytes: -1})
	stalledWS, healthyWS := newPipeWS(true), newPipeWS(false)
	stalled := open(t, tr, stalledWS, "session:a")
	healthy := open(t, tr, healthyWS, "session:b")

	const n = 200 // 6 MB offered, far under the 2048 messages of SendQueue
	var peak int64
	for range n {
		body := event()
		stalled.enqueue(message(body))
		healthy.enqueue(message(body))
		peak = max(peak, stalled.queued.Load())
		keepUp(t, healthy)
	}
	one := message(event()).size()
	if peak > capBytes+one {
		t.Errorf("a stalled connection held %d bytes, bound is %d plus one message", peak, capBytes)
	}
	code, reason := stalledWS.closeFrame(t)
	if code != CloseSlowConsumer || !strings.Contains(reason, "1 MiB") {
		t.Fatalf("stalled connection closed with %d %q, want 1008 naming the 1 MiB bound", code, reason)
	}
	if q := stalled.queued.Load(); q > one {
		t.Errorf("closed connection still holds %d bytes", q)
	}
	if got := healthyWS.count(); got != n {
		t.Fatalf("reading connection got %d of %d events", got, n)
	}
	select {
	case <-healthy.done:
		t.Fatal("reading connection was closed")
	default:
	}
}

// TestCredentialQueueBudget: several stalled connections of one session,
// each under its own bound, together pass the session's budget: the
// connections holding the most are closed until the session is back
// under it, and a reading connection of the same session stays open.
func TestCredentialQueueBudget(t *testing.T) {
	const budget = 2 << 20
	tr := New(Transport{QueueBytes: 4 << 20, CredentialQueueBytes: budget})
	var stalled []*conn
	var stalledWS []*pipeWS
	for range 5 {
		ws := newPipeWS(true)
		stalledWS = append(stalledWS, ws)
		stalled = append(stalled, open(t, tr, ws, "session:shared"))
	}
	readerWS := newPipeWS(false)
	reader := open(t, tr, readerWS, "session:shared")
	cred := reader.cred

	const n = 100 // 3 MB to each: under 4 MiB per connection, 15 MB together
	one := message(event()).size()
	var peak int64
	for range n {
		body := event()
		for _, c := range stalled {
			c.enqueue(message(body))
		}
		reader.enqueue(message(body))
		peak = max(peak, cred.queued.Load())
		keepUp(t, reader)
	}
	// Each connection may have one more message in flight.
	if bound := int64(budget) + int64(len(stalled)+1)*one; peak > bound {
		t.Errorf("the session held %d bytes, bound is %d", peak, bound)
	}
	closed := 0
	for _, ws := range stalledWS {
		select {
		case <-ws.closedFrame:
			code, reason := ws.closeFrame(t)
			if code != CloseSlowConsumer || !strings.Contains(reason, "credential") {
				t.Errorf("closed with %d %q, want 1008 naming the credential's bound", code, reason)
			}
			closed++
		case <-time.After(2 * time.Second):
		}
	}
	if closed == 0 {
		t.Fatal("no stalled connection was closed although the session's queues passed its budget")
	}
	select {
	case <-reader.done:
		t.Fatal("the reading connection of the session was closed")
	default:
	}
}

// TestConnsPerCredential: a credential's connections are counted while
// open and the slot is given back on close.
func TestConnsPerCredential(t *testing.T) {
	tr := New(Transport{ConnsPerCredential: 2})
	a := open(t, tr, newPipeWS(false), "key:k")
	open(t, tr, newPipeWS(false), "key:k")
	ws := newPipeWS(false)
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{t: tr, ws: ws, tw: ws, proto: protoTransportWS, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), done: make(chan struct{}), subs: map[string]*sub{}}
	if c.holdCredential() {
		t.Fatal("third connection of a key allowed with a cap of 2")
	}
	if code, _ := ws.closeFrame(t); code != CloseTooManyConnections {
		t.Fatalf("closed with %d, want %d", code, CloseTooManyConnections)
	}
	a.close(1000, "")
	open(t, tr, newPipeWS(false), "key:k")
	open(t, tr, newPipeWS(false), "key:other")
}

// BenchmarkStalledQueues measures the heap held by 100 live views whose
// clients stopped reading (writes block, as on a shut TCP window) while
// 300 thumbnail-sized events (30 KB) arrive for each, every view with its
// own encoding of each event (groups of one: nothing shared, the worst
// case). The baseline is the same 100 views idle, in the same run.
// "count_only" is the bound before byte limits (2048 messages per
// connection); "per_connection" has the default 4 MiB per connection and
// a credential per view; "per_credential" puts 20 views on each of 5
// credentials (the default connection cap) with the default 16 MiB per
// credential. The peak is sampled after forced collections while the
// events arrive; the wire's own write timeout (10 s) is left out, so the
// figures are what the queues alone allow.
//
//	go test -run '^$' -bench StalledQueues -benchtime 1x ./server/livews/
func BenchmarkStalledQueues(b *testing.B) {
	const views, events = 100, 300
	for _, tc := range []struct {
		name string
		tr   Transport
		per  int
	}{
		{"count_only", Transport{QueueBytes: -1, CredentialQueueBytes: -1, ConnsPerCredential: -1}, 1},
		{"per_connection", Transport{}, 1},
		{"per_credential", Transport{}, 20},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				base := liveHeap()
				tr := New(tc.tr)
				conns := make([]*conn, views)
				for i := range conns {
					conns[i] = open(b, tr, newPipeWS(true), fmt.Sprintf("session:%d", i/tc.per))
				}
				idle := liveHeap()
				peak, peakQueued := idle, int64(0)
				for e := range events {
					for _, c := range conns {
						c.enqueue(message(event()))
					}
					peakQueued = max(peakQueued, tr.QueuedBytes())
					if e%20 == 19 {
						peak = max(peak, liveHeap())
					}
				}
				left := 0
				for _, c := range conns {
					select {
					case <-c.done:
					default:
						left++
					}
				}
				b.ReportMetric(float64(idle-base)/views, "idle-B/view")
				b.ReportMetric(float64(peak-idle)/views/(1<<20), "peak-MiB/stalled-view")
				b.ReportMetric(float64(peak-idle)/(1<<20), "peak-MiB-total")
				b.ReportMetric(float64(peakQueued)/(1<<20), "peak-queued-MiB")
				b.ReportMetric(float64(left), "views-left-open")
				for _, c := range conns {
					c.close(1001, "")
				}
			}
		})
	}
}

// liveHeap is the heap in use after a collection: what is retained.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
