package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ingest"
)

// liveQuery is a live view's subscription: the timeline row of each event.
const liveQuery = `subscription Live($w: JournalWhere) {
  journal(where: $w) {
    cursor type
    entry { id externalID kind occurredAt receiptNo registerNo staffName total deposit change paymentMethod cameraID }
  }
}`

// S1Result is the fan-out to N subscriptions of one process.
type S1Result struct {
	Subs           int     `json:"subscriptions"`
	Rate           int     `json:"entries_per_sec"`
	Events         int     `json:"events"`
	Delivered      int64   `json:"delivered"`
	Missing        int64   `json:"missing"`
	Dups           int64   `json:"duplicates"`
	DeliveredPS    float64 `json:"delivered_per_sec"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	RawDeliveredPS float64 `json:"raw_delivered_per_sec"`
	RawP50ms       float64 `json:"raw_p50_ms"`
	RawP99ms       float64 `json:"raw_p99_ms"`
	HeapPerSubKiB  float64 `json:"heap_per_sub_kib"`
	RSSPerSubKiB   float64 `json:"rss_per_sub_kib"`
	Goroutines     int     `json:"server_goroutines_per_sub_x100"`
	FrameBytes     int     `json:"frame_bytes"`
	Note           string  `json:"note,omitempty"`
}

// S2Result is exactly-once delivery across two server processes.
type S2Result struct {
	Servers   int    `json:"servers"`
	Subs      int    `json:"subscriptions"`
	Events    int    `json:"events"`
	Expected  int64  `json:"expected"`
	Delivered int64  `json:"delivered"`
	Missing   int64  `json:"missing"`
	Dups      int64  `json:"duplicates"`
	OK        bool   `json:"exactly_once"`
	Note      string `json:"note,omitempty"`
}

// live drives events into a server and watches clients receive them.
type live struct {
	env  *runEnv
	seq  int
	term Terminal
}

// subscriptionVars are filters a dashboard would use that all match the
// receipts the harness rings up on register 0 (camera 000, shop 00).
func (l *live) subscriptionVars() []json.RawMessage {
	t0, t1 := l.env.ds.Terminals[0], l.env.ds.Terminals[len(l.env.ds.Terminals)-1]
	wheres := []map[string]any{
		nil,
		{"cameraIDs": []pulid.ID{t0.CameraID}},
		{"cameraIDs": []pulid.ID{t0.CameraID}, "kinds": []string{"PAYMENT"}},
		{"shopIDs": []pulid.ID{t0.ShopID}},
		{"terminalIDs": []pulid.ID{t0.ID}},
		{"cameraIDs": []pulid.ID{t0.CameraID, t1.CameraID}},
		{"kinds": []string{"PAYMENT"}, "search": "山田"},
	}
	out := make([]json.RawMessage, len(wheres))
	for i, w := range wheres {
		out[i], _ = json.Marshal(map[string]any{"w": w})
	}
	return out
}

// ingestOne rings up event seq on register 0 through the in-process
// Ingester (what a connector or ingestJournal calls).
func (l *live) ingestOne(ctx context.Context) (int, error) {
	seq := l.seq
	l.seq++
	now := time.Now()
	r := ingest.Receipt{
		TerminalID: l.term.ID, ExternalID: extID(l.env.runID, seq, now.UnixNano()), Kind: journalentry.KindPAYMENT,
		OccurredAt: now, ReceiptNo: fmt.Sprintf("%06d", seq%1_000_000), RegisterNo: l.term.Register,
		StaffID: "101", StaffName: "山田 太郎", Total: 1420, Deposit: 2000, Change: 580, PaymentMethod: "現金",
		Items: []schematype.Item{{Name: "ブレンドコーヒー", Quantity: 2, Amount: 900}, {Name: "カフェラテ", Quantity: 1, Amount: 520}},
	}
	res := l.env.app.Ingester.Ingest(ctx, l.env.ds.AccountID, r)
	if res.Err != nil || res.Status != ingest.Created {
		return seq, fmt.Errorf("ingest %d: %s %v", seq, res.Status, res.Err)
	}
	l.env.remember(string(res.Entry.ID))
	return seq, nil
}

// waitLive rings up probe receipts until every client of ch has one: the
// subscriptions start asynchronously after "subscribe".
func (l *live) waitLive(ctx context.Context, ch *child) error {
	var last clientReport
	for attempt := range 60 {
		seq, err := l.ingestOne(ctx)
		if err != nil {
			return err
		}
		wait := time.Duration(min(attempt+1, 5)) * 500 * time.Millisecond
		sleepCtx(ctx, wait)
		if err := ch.command(fmt.Sprintf("report %d %d", seq, seq+1), &last, time.Minute); err != nil {
			return err
		}
		if last.Missing == 0 {
			return nil
		}
	}
	return fmt.Errorf("subscriptions not live: %d of %d clients missed the last probe (closed %d, errors %d, %s)",
		last.Missing, last.Clients, last.Closed, last.Errors, last.FirstErr)
}

// paced rings up rate receipts per second for dur through send and returns
// the seq range and how long sending took.
func paced(ctx context.Context, rate int, dur time.Duration, send func() (int, error)) (from, to int, took time.Duration, err error) {
	n := max(1, int(float64(rate)*dur.Seconds()))
	interval := time.Second / time.Duration(rate)
	began := time.Now()
	from = -1
	for i := range n {
		if d := time.Until(began.Add(time.Duration(i) * interval)); d > 0 {
			sleepCtx(ctx, d)
		}
		seq, err := send()
		if err != nil {
			return 0, 0, 0, err
		}
		if from < 0 {
			from = seq
		}
		to = seq + 1
	}
	return from, to, time.Since(began), nil
}

// drain waits until the clients have every event in [from, to) or timeout.
func drain(ch *child, from, to int, timeout time.Duration) (clientReport, error) {
	deadline := time.Now().Add(timeout)
	var r clientReport
	for {
		if err := ch.command(fmt.Sprintf("report %d %d", from, to), &r, time.Minute); err != nil {
			return r, err
		}
		if r.Missing == 0 || time.Now().After(deadline) {
			return r, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type memSnap struct {
	heap, rss  uint64
	goroutines int
}

// snapshot is the process's live heap (after a GC) and resident memory.
func snapshot() memSnap {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSnap{heap: m.HeapInuse + m.StackInuse, rss: rssBytes(), goroutines: runtime.NumGoroutine()}
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// s1 measures N subscriptions on the in-process server, then the same
// number of raw gorilla connections pushed the same frames.
func (l *live) s1(ctx context.Context, n, rate int, dur time.Duration) (S1Result, error) {
	res := S1Result{Subs: n, Rate: rate}
	before := snapshot()
	ch, err := startChild(l.env.childCmd, childArgs{Role: "clients", URLs: []string{l.env.wsURL}, N: n,
		Query: liveQuery, Vars: l.subscriptionVars(), Headers: l.env.headers})
	if err != nil {
		return res, err
	}
	defer ch.stop()
	var hello clientReport
	if err := ch.readLine(&hello, 10*time.Minute); err != nil {
		return res, err
	}
	if hello.Ready != n {
		return res, fmt.Errorf("%d of %d subscriptions connected: %s", hello.Ready, n, hello.FirstErr)
	}
	if err := l.waitLive(ctx, ch); err != nil {
		return res, err
	}
	sleepCtx(ctx, 2*time.Second) // idle
	after := snapshot()
	res.HeapPerSubKiB = float64(int64(after.heap)-int64(before.heap)) / float64(n) / 1024
	res.RSSPerSubKiB = float64(int64(after.rss)-int64(before.rss)) / float64(n) / 1024
	res.Goroutines = (after.goroutines - before.goroutines) * 100 / n

	var r clientReport
	if err := ch.command("reset", &r, time.Minute); err != nil {
		return res, err
	}
	from, to, took, err := paced(ctx, rate, dur, func() (int, error) { return l.ingestOne(ctx) })
	if err != nil {
		return res, err
	}
	r, err = drain(ch, from, to, 30*time.Second)
	if err != nil {
		return res, err
	}
	res.Events = to - from
	res.Delivered = int64(res.Events)*int64(n) - r.Missing
	res.Missing, res.Dups = r.Missing, r.Dups
	res.DeliveredPS = float64(res.Delivered) / took.Seconds()
	res.P50ms, res.P99ms = r.P50ms, r.P99ms
	if r.Missing > 0 || r.Dups > 0 || r.Closed > 0 {
		res.Note = fmt.Sprintf("missing %d, duplicates %d, closed connections %d (%s)", r.Missing, r.Dups, r.Closed, r.FirstErr)
	}
	sample := r.Sample
	ch.stop()

	// The floor: the same frame written to n plain gorilla connections, one
	// writer goroutine each, encoded once.
	ps := newPushServer()
	defer ps.close()
	rc, err := startChild(l.env.childCmd, childArgs{Role: "clients", URLs: []string{"ws" + strings.TrimPrefix(ps.hs.URL, "http")}, N: n, Raw: true})
	if err != nil {
		return res, err
	}
	defer rc.stop()
	if err := rc.readLine(&hello, 10*time.Minute); err != nil {
		return res, err
	}
	for ps.conns() < n {
		sleepCtx(ctx, 10*time.Millisecond)
	}
	seq := 0
	frame := func(seq int, stamp int64) []byte {
		data := strings.Replace(sample, extIDPattern(sample), extID(l.env.runID, seq, stamp), 1)
		b, _ := json.Marshal(wsMessage{ID: "1", Type: "next", Payload: json.RawMessage(data)})
		return b
	}
	res.FrameBytes = len(frame(0, time.Now().UnixNano()))
	from, to, took, err = paced(ctx, rate, dur, func() (int, error) {
		s := seq
		seq++
		ps.push(frame(s, time.Now().UnixNano()))
		return s, nil
	})
	if err != nil {
		return res, err
	}
	r, err = drain(rc, from, to, 30*time.Second)
	if err != nil {
		return res, err
	}
	res.RawDeliveredPS = float64(int64(to-from)*int64(n)-r.Missing) / took.Seconds()
	res.RawP50ms, res.RawP99ms = r.P50ms, r.P99ms
	return res, nil
}

// extIDPattern finds the harness external id inside a sample payload.
func extIDPattern(sample string) string {
	i := strings.Index(sample, `"run-`)
	if i < 0 {
		return "\x00"
	}
	j := strings.Index(sample[i+1:], `"`)
	return sample[i+1 : i+1+j]
}

// s2 starts two server processes on the same database, splits n
// subscriptions across them and checks every event reaches every
// subscriber exactly once.
func (l *live) s2(ctx context.Context, n, events int) (S2Result, error) {
	res := S2Result{Servers: 2, Subs: n}
	var urls []string
	for range 2 {
		port, err := freePort()
		if err != nil {
			return res, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		sc, err := startChild(l.env.childCmd, childArgs{Role: "serve", DSN: l.env.ds.DSN, Addr: addr})
		if err != nil {
			return res, err
		}
		defer sc.stop()
		var ready struct{ Ready bool }
		if err := sc.readLine(&ready, 2*time.Minute); err != nil {
			return res, err
		}
		urls = append(urls, "ws://"+addr+"/graphql")
	}
	ch, err := startChild(l.env.childCmd, childArgs{Role: "clients", URLs: urls, N: n,
		Query: liveQuery, Vars: l.subscriptionVars(), Headers: l.env.headers})
	if err != nil {
		return res, err
	}
	defer ch.stop()
	var hello clientReport
	if err := ch.readLine(&hello, 5*time.Minute); err != nil {
		return res, err
	}
	if hello.Ready != n {
		return res, fmt.Errorf("%d of %d subscriptions connected: %s", hello.Ready, n, hello.FirstErr)
	}
	if err := l.waitLive(ctx, ch); err != nil {
		return res, err
	}
	from, to, _, err := paced(ctx, 100, time.Duration(events)*10*time.Millisecond, func() (int, error) { return l.ingestOne(ctx) })
	if err != nil {
		return res, err
	}
	r, err := drain(ch, from, to, 30*time.Second)
	if err != nil {
		return res, err
	}
	res.Events = to - from
	res.Expected = int64(res.Events) * int64(n)
	res.Missing, res.Dups = r.Missing, r.Dups
	res.Delivered = res.Expected - r.Missing
	res.OK = r.Missing == 0 && r.Dups == 0
	if !res.OK {
		res.Note = fmt.Sprintf("closed %d, errors %d: %s", r.Closed, r.Errors, r.FirstErr)
	}
	return res, nil
}

// pushServer is the fan-out floor: a plain gorilla websocket server that
// writes one prepared message to every connection, each from its own
// goroutine, with nothing in between.
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
		out := make(chan []byte, 256)
		p.mu.Lock()
		p.outs = append(p.outs, out)
		p.mu.Unlock()
		p.writers.Add(1)
		go func() {
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

func (p *pushServer) push(msg []byte) {
	p.mu.Lock()
	outs := p.outs
	p.mu.Unlock()
	for _, out := range outs {
		select {
		case out <- msg:
		default: // a stuck client is the client's problem, as on the server
		}
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
