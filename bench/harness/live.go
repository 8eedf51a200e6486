package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pulid"
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
	Groups         int     `json:"shared_groups"`
	Expected       int64   `json:"expected"`
	Delivered      int64   `json:"delivered"`
	Missing        int64   `json:"missing"`
	Dups           int64   `json:"duplicates"`
	DeliveredPS    float64 `json:"delivered_per_sec"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	RawDeliveredPS float64 `json:"raw_delivered_per_sec"`
	RawP50ms       float64 `json:"raw_p50_ms"`
	RawP99ms       float64 `json:"raw_p99_ms"`
	IngestP50ms    float64 `json:"ingest_p50_ms"` // the Ingest call alone (commit included)
	IngestP99ms    float64 `json:"ingest_p99_ms"`
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
	env         *runEnv
	heapProfile string
	mu          sync.Mutex
	seq         int
	term        Terminal
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
func (l *live) ingestOne(ctx context.Context) (int, error) { return l.ingestOn(ctx, l.term) }

// ingestOn rings up the next event on register t.
func (l *live) ingestOn(ctx context.Context, t Terminal) (int, error) {
	l.mu.Lock()
	seq := l.seq
	l.seq++
	l.mu.Unlock()
	now := time.Now()
	r := ingest.Receipt{
		TerminalID: t.ID, ExternalID: extID(l.env.runID, seq, now.UnixNano()), Kind: journalentry.KindPAYMENT,
		OccurredAt: now, ReceiptNo: fmt.Sprintf("%06d", seq%1_000_000), RegisterNo: t.Register,
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

// paced rings up rate receipts per second for dur through send, each on
// its own goroutine (an ingest waits for its commit; the rate must not
// depend on how long that takes), and returns the seq range and how long
// sending took.
func paced(ctx context.Context, rate int, dur time.Duration, send func() (int, error)) (from, to int, took time.Duration, err error) {
	n := max(1, int(float64(rate)*dur.Seconds()))
	interval := time.Second / time.Duration(rate)
	began := time.Now()
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	from, to = -1, 0
	sem := make(chan struct{}, 64)
	for i := range n {
		if d := time.Until(began.Add(time.Duration(i) * interval)); d > 0 {
			sleepCtx(ctx, d)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			seq, err := send()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if err == nil && (from < 0 || seq < from) {
				from = seq
			}
			if err == nil && seq+1 > to {
				to = seq + 1
			}
		}()
	}
	wg.Wait()
	return from, to, time.Since(began), firstErr
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

// s1Spec is what one S1 subscriber watches. The mix is a chain's: most
// live views watch one camera (some only its 支払い tab), some a whole
// shop, a few (head office) everything.
type s1Spec struct {
	all        bool
	shop, cam  pulid.ID
	paymentTab bool
}

func (l *live) s1Specs(n int) ([]s1Spec, []json.RawMessage) {
	type camInfo struct{ cam, shop pulid.ID }
	var cams []camInfo
	seen := map[pulid.ID]bool{}
	for _, t := range l.env.ds.Terminals {
		if !seen[t.CameraID] {
			seen[t.CameraID] = true
			cams = append(cams, camInfo{t.CameraID, t.ShopID})
		}
	}
	specs := make([]s1Spec, n)
	vars := make([]json.RawMessage, n)
	for i := range n {
		c := cams[i%len(cams)]
		var w map[string]any
		switch r := i % 100; {
		case r < 1:
			specs[i] = s1Spec{all: true}
		case r < 11:
			specs[i] = s1Spec{shop: c.shop}
			w = map[string]any{"shopIDs": []pulid.ID{c.shop}}
		case r < 26:
			specs[i] = s1Spec{cam: c.cam, paymentTab: true}
			w = map[string]any{"cameraIDs": []pulid.ID{c.cam}, "kinds": []string{"PAYMENT"}}
		default:
			specs[i] = s1Spec{cam: c.cam}
			w = map[string]any{"cameraIDs": []pulid.ID{c.cam}}
		}
		vars[i], _ = json.Marshal(map[string]any{"w": w})
	}
	return specs, vars
}

// s1 measures N subscriptions on the in-process server receiving entries
// rung up at rate on registers all over the chain, then the floor: the
// same number of frames per event written to N raw gorilla connections.
func (l *live) s1(ctx context.Context, n, rate int, dur time.Duration) (S1Result, error) {
	res := S1Result{Subs: n, Rate: rate}
	specs, vars := l.s1Specs(n)
	terms := l.env.ds.Terminals
	matching := make([]int64, len(terms)) // subscribers each register's entries reach
	for ti, t := range terms {
		for _, sp := range specs {
			if sp.all || sp.shop == t.ShopID || sp.cam == t.CameraID {
				matching[ti]++
			}
		}
	}
	_, membersBefore := l.env.app.Live.Groups()
	before := snapshot()
	ch, err := startChild(l.env.childCmd, childArgs{Role: "clients", URLs: []string{l.env.wsURL}, N: n,
		Query: liveQuery, Vars: vars, Headers: l.env.headers})
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
	deadline := time.Now().Add(2 * time.Minute)
	for {
		g, m := l.env.app.Live.Groups()
		if m-membersBefore >= n {
			res.Groups = g
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("only %d of %d subscriptions live", m-membersBefore, n)
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	sleepCtx(ctx, 2*time.Second) // new groups register with the feed; then idle
	after := snapshot()
	if l.heapProfile != "" {
		if f, err := os.Create(l.heapProfile); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	res.HeapPerSubKiB = float64(int64(after.heap)-int64(before.heap)) / float64(n) / 1024
	res.RSSPerSubKiB = float64(int64(after.rss)-int64(before.rss)) / float64(n) / 1024
	res.Goroutines = (after.goroutines - before.goroutines) * 100 / n

	var r clientReport
	if err := ch.command("reset", &r, time.Minute); err != nil {
		return res, err
	}
	var expected int64
	var pickMu sync.Mutex
	pick := 0
	next := func() int {
		pickMu.Lock()
		defer pickMu.Unlock()
		ti := (pick * 7) % len(terms) // spread over the chain
		pick++
		return ti
	}
	var ingMu sync.Mutex
	var ingLat []time.Duration
	from, to, took, err := paced(ctx, rate, dur, func() (int, error) {
		ti := next()
		atomic.AddInt64(&expected, matching[ti])
		t0 := time.Now()
		seq, err := l.ingestOn(ctx, terms[ti])
		d := time.Since(t0)
		ingMu.Lock()
		ingLat = append(ingLat, d)
		ingMu.Unlock()
		return seq, err
	})
	if err != nil {
		return res, err
	}
	r, err = drainUnique(ch, from, to, expected, 30*time.Second)
	if err != nil {
		return res, err
	}
	res.Events = to - from
	res.Expected = expected
	res.Delivered = r.Unique
	res.Missing, res.Dups = expected-r.Unique, r.Dups
	res.DeliveredPS = float64(res.Delivered) / took.Seconds()
	res.P50ms, res.P99ms = r.P50ms, r.P99ms
	res.IngestP50ms, res.IngestP99ms = ms(percentile(ingLat, 0.5)), ms(percentile(ingLat, 0.99))
	if res.Missing != 0 || r.Dups > 0 || r.Closed > 0 {
		res.Note = fmt.Sprintf("missing %d, duplicates %d, closed connections %d (%s)", res.Missing, r.Dups, r.Closed, r.FirstErr)
	}
	sample := r.Sample
	ch.stop()

	// The floor: for each event, the same number of frames written to as
	// many plain gorilla connections, one writer goroutine each, encoded
	// once.
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
	var seq atomic.Int64
	pattern := extIDPattern(sample)
	frame := func(seq int, stamp int64) []byte {
		data := strings.Replace(sample, pattern, extID(l.env.runID, seq, stamp), 1)
		b, _ := json.Marshal(wsMessage{ID: "1", Type: "next", Payload: json.RawMessage(data)})
		return b
	}
	res.FrameBytes = len(frame(0, time.Now().UnixNano()))
	var rawExpected int64
	pick = 0
	from, to, took, err = paced(ctx, rate, dur, func() (int, error) {
		ti := next()
		k := int(matching[ti])
		atomic.AddInt64(&rawExpected, int64(k))
		s := int(seq.Add(1) - 1)
		ps.pushTo(frame(s, time.Now().UnixNano()), k, s*k)
		return s, nil
	})
	if err != nil {
		return res, err
	}
	r, err = drainUnique(rc, from, to, rawExpected, 30*time.Second)
	if err != nil {
		return res, err
	}
	res.RawDeliveredPS = float64(r.Unique) / took.Seconds()
	res.RawP50ms, res.RawP99ms = r.P50ms, r.P99ms
	return res, nil
}

// drainUnique waits until the clients have seen want (client, event)
// pairs of [from, to) or timeout.
func drainUnique(ch *child, from, to int, want int64, timeout time.Duration) (clientReport, error) {
	deadline := time.Now().Add(timeout)
	var r clientReport
	for {
		if err := ch.command(fmt.Sprintf("report %d %d", from, to), &r, time.Minute); err != nil {
			return r, err
		}
		if r.Unique >= want || time.Now().After(deadline) {
			return r, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
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
		sc, err := startChild(l.env.childCmd, childArgs{Role: "serve", DSN: l.env.ds.DSN, Addr: addr, DBMaxConns: l.env.dbMaxConns})
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

// pushTo hands msg to k connections starting at offset (wrapping).
func (p *pushServer) pushTo(msg []byte, k, offset int) {
	p.mu.Lock()
	outs := p.outs
	p.mu.Unlock()
	for j := range min(k, len(outs)) {
		select {
		case outs[(offset+j)%len(outs)] <- msg:
		default:
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
