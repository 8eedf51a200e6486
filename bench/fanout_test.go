package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// tracker measures fan-out: for event i of the current round it knows when
// sending began, and clients report each receipt with deliver.
type tracker struct {
	epoch    time.Time
	nClients int
	cur      atomic.Pointer[round]
}

func newTracker(nClients int) *tracker {
	return &tracker{epoch: time.Now(), nClients: nClients}
}

// round is one batch of n events numbered base..base+n-1, each expected by
// every client.
type round struct {
	base   int64
	want   int32
	starts []atomic.Int64 // monotonic ns since epoch, +1 so zero means unset
	got    []atomic.Int32
	done   chan int // index of each event every client has received
	lat    []clientLat
	dups   atomic.Int64
	first  atomic.Int64 // earliest start
	last   atomic.Int64 // latest receipt
}

type clientLat struct {
	mu sync.Mutex
	d  []time.Duration
}

func (t *tracker) now() int64 { return int64(time.Since(t.epoch)) }

// begin makes a round of n events starting at seq base the current one.
func (t *tracker) begin(base int64, n int) *round {
	r := &round{base: base, want: int32(t.nClients), starts: make([]atomic.Int64, n),
		got: make([]atomic.Int32, n), done: make(chan int, n), lat: make([]clientLat, t.nClients)}
	t.cur.Store(r)
	return r
}

func (t *tracker) end() { t.cur.Store(nil) }

// start stamps event i just before it is sent.
func (t *tracker) start(r *round, i int) {
	now := t.now()
	r.starts[i].Store(now + 1)
	r.first.CompareAndSwap(0, now+1)
}

// deliver records that client received event seq.
func (t *tracker) deliver(client int, seq int64) {
	now := t.now()
	r := t.cur.Load()
	if r == nil {
		return
	}
	i := seq - r.base
	if i < 0 || i >= int64(len(r.starts)) {
		return
	}
	st := r.starts[i].Load()
	if st == 0 {
		return
	}
	l := &r.lat[client]
	l.mu.Lock()
	l.d = append(l.d, time.Duration(now-(st-1)))
	l.mu.Unlock()
	for {
		old := r.last.Load()
		if now <= old || r.last.CompareAndSwap(old, now) {
			break
		}
	}
	switch c := r.got[i].Add(1); {
	case c == r.want:
		r.done <- int(i)
	case c > r.want:
		r.dups.Add(1)
	}
}

// waitOne waits until every client has one more event of r.
func (r *round) waitOne(timeout time.Duration) error {
	select {
	case <-r.done:
		return nil
	case <-time.After(timeout):
		return r.missing(timeout)
	}
}

// waitAll waits until every client has every event of r.
func (r *round) waitAll(timeout time.Duration) error { return r.waitN(len(r.starts), timeout) }

// waitN waits until every client has n more events of r.
func (r *round) waitN(n int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for range n {
		select {
		case <-r.done:
		case <-deadline:
			return r.missing(timeout)
		}
	}
	return nil
}

func (r *round) missing(timeout time.Duration) error {
	var short []string
	for i := range r.got {
		if g := r.got[i].Load(); g < r.want && len(short) < 5 {
			short = append(short, fmt.Sprintf("event %d: %d/%d clients", r.base+int64(i), g, r.want))
		}
	}
	return fmt.Errorf("not delivered within %v: %s", timeout, strings.Join(short, "; "))
}

// samples returns every latency of the round.
func (r *round) samples() *samples {
	s := newSamples(len(r.starts) * int(r.want))
	for i := range r.lat {
		l := &r.lat[i]
		l.mu.Lock()
		s.addAll(l.d)
		l.mu.Unlock()
	}
	return s
}

// span is from the first send to the last receipt.
func (r *round) span() time.Duration {
	return time.Duration(r.last.Load() - (r.first.Load() - 1))
}

// wsMessage is a graphql-transport-ws frame.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type nextPayload struct {
	Data   json.RawMessage   `json:"data"`
	Errors []json.RawMessage `json:"errors"`
}

// eventData is the part of Subscription.journal's data the clients read.
type eventData struct {
	Journal struct {
		Entry struct {
			ExternalID string `json:"externalID"`
		} `json:"entry"`
	} `json:"journal"`
}

const extPrefix = "ws-"

// extID is the external id of benchmark event seq; fixed width, so every
// message has the same size.
func extID(seq int64) string { return fmt.Sprintf("%s%09d", extPrefix, seq) }

// seqOf reads the event number back out of a subscription's data.
func seqOf(data json.RawMessage) (int64, bool) {
	var d eventData
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(d.Journal.Entry.ExternalID, extPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// pushServer is the baseline: a plain gorilla websocket server that writes
// one prepared message to every connection, each from its own goroutine
// (as gqlgen does per subscription), with nothing in between.
type pushServer struct {
	hs      *httptest.Server
	mu      sync.Mutex
	outs    []chan []byte
	writers sync.WaitGroup
}

func newPushServer() *pushServer {
	p := &pushServer{}
	up := websocket.Upgrader{}
	p.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		out := make(chan []byte, 64)
		p.mu.Lock()
		p.outs = append(p.outs, out)
		p.mu.Unlock()
		p.writers.Add(1)
		go func() { // control frames and close
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		go func() {
			defer p.writers.Done()
			defer ws.Close()
			for msg := range out {
				_ = ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
					return
				}
			}
		}()
	}))
	return p
}

func (p *pushServer) conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.outs)
}

// push hands msg to every connection's writer.
func (p *pushServer) push(msg []byte) {
	p.mu.Lock()
	outs := p.outs
	p.mu.Unlock()
	for _, out := range outs {
		out <- msg
	}
}

func (p *pushServer) close() {
	p.mu.Lock()
	for _, out := range p.outs {
		close(out)
	}
	p.outs = nil
	p.mu.Unlock()
	p.hs.CloseClientConnections()
	p.hs.Close()
	p.writers.Wait()
}

// pushClients are the baseline's receivers: they decode each frame the way
// testenv.Subscription.Next does and report it to the tracker.
type pushClients struct {
	conns []*websocket.Conn
	wg    sync.WaitGroup
}

func dialPushClients(tb testing.TB, url string, n int, tr *tracker) *pushClients {
	tb.Helper()
	pc := &pushClients{}
	wsURL := "ws" + strings.TrimPrefix(url, "http")
	for i := range n {
		c, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
		if err != nil {
			pc.close()
			tb.Fatalf("dial baseline connection %d: %v", i, err)
		}
		pc.conns = append(pc.conns, c)
		pc.wg.Add(1)
		go func() {
			defer pc.wg.Done()
			for {
				var msg wsMessage
				if err := c.ReadJSON(&msg); err != nil {
					return
				}
				var p nextPayload
				if err := json.Unmarshal(msg.Payload, &p); err != nil {
					continue
				}
				if seq, ok := seqOf(p.Data); ok {
					tr.deliver(i, seq)
				}
			}
		}()
	}
	return pc
}

func (pc *pushClients) close() {
	for _, c := range pc.conns {
		_ = c.Close()
	}
	pc.wg.Wait()
}

func TestTrackerAndPushBaseline(t *testing.T) {
	const clients, events = 5, 20
	tr := newTracker(clients)
	ps := newPushServer()
	defer ps.close()
	pc := dialPushClients(t, ps.hs.URL, clients, tr)
	defer pc.close()
	for ps.conns() < clients {
		time.Sleep(time.Millisecond)
	}
	frame := func(seq int64) []byte {
		data, _ := json.Marshal(map[string]any{"journal": map[string]any{"entry": map[string]any{"externalID": extID(seq)}}})
		b, _ := json.Marshal(wsMessage{ID: "1", Type: "next", Payload: json.RawMessage(`{"data":` + string(data) + `}`)})
		return b
	}
	r := tr.begin(100, events)
	for i := range events {
		tr.start(r, i)
		ps.push(frame(100 + int64(i)))
	}
	ps.push(frame(99)) // outside the round: ignored
	if err := r.waitAll(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	tr.end()
	if s := r.samples(); s.len() != clients*events || r.dups.Load() != 0 || r.span() <= 0 {
		t.Fatalf("%d samples, %d duplicates, span %v", s.len(), r.dups.Load(), r.span())
	}
	if seq, ok := seqOf(json.RawMessage(`{"journal":{"entry":{"externalID":"ws-000000042"}}}`)); !ok || seq != 42 {
		t.Fatalf("seqOf = %d, %v", seq, ok)
	}
}
