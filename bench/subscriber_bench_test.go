package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
)

const liveQuery = `subscription Live($w: JournalWhere) {
  journal(where: $w) {
    cursor type
    entry { id externalID kind occurredAt receiptNo registerNo staffName total deposit change paymentMethod cameraID }
  }
}`

func benchSubs(tb testing.TB) int {
	s := os.Getenv("REGICAM_BENCH_SUBS")
	if s == "" {
		return 1000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("REGICAM_BENCH_SUBS=%q: want a positive integer", s)
	}
	return n
}

// BenchmarkIngestToSubscriber measures the time from just before
// Ingester.Ingest to the arrival of the event at each of 1,000 websocket
// subscriptions of one server, against a plain gorilla push of a frame of
// the same size to 1,000 connections in the same run.
//
//   - paced: one receipt at a time; the next is ingested once every
//     subscriber has the previous one (and the baseline frame likewise).
//   - flood: bursts of 25 receipts back to back, each burst waited for,
//     then the same for baseline frames; latency includes queueing within a
//     burst, msgs/s is the delivery throughput.
func BenchmarkIngestToSubscriber(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { ingestToSubscriber(b, testenv.Backend{Name: "sqlite"}) })
	b.Run("postgres", func(b *testing.B) {
		requirePostgres(b, adminURL())
		ingestToSubscriber(b, testenv.Postgres(b))
	})
}

// liveEnv is one server with its subscribers and the baseline beside it.
type liveEnv struct {
	srv  *testenv.Server
	fx   testenv.Fixture
	subs *tracker
	raw  *tracker
	push *pushServer
	// closing is set when the benchmark closes the subscriptions; a reader
	// that stops before that lost its connection (server close, or a write
	// error: gorilla's default ping handler answers with a 1 s deadline, and
	// a client starved that long poisons its own connection).
	closing  atomic.Bool
	stopped  atomic.Int64
	firstErr atomic.Pointer[string]
	seq      int64  // next event number
	frame    []byte // a real "next" frame, externalID extID(frameSeq)
	fseq     int64
}

func ingestToSubscriber(b *testing.B, backend testenv.Backend) {
	n := benchSubs(b)
	srv := testenv.Start(b, backend, "")
	env := &liveEnv{srv: srv, fx: testenv.NewFixture(b, srv.DB.Client, srv.AccountID),
		subs: newTracker(n), raw: newTracker(n), seq: 1}

	sample := env.subscribe(b, n)
	env.push = newPushServer()
	pc := dialPushClients(b, env.push.hs.URL, n, env.raw)
	b.Cleanup(func() {
		pc.close()
		env.push.close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for env.push.conns() < n {
		if time.Now().After(deadline) {
			b.Fatalf("baseline: %d/%d connections", env.push.conns(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The baseline frame is a real one from the server, re-numbered per push.
	fseq, ok := seqOf(sample)
	if !ok {
		b.Fatalf("cannot read the event number of %s", sample)
	}
	env.fseq = fseq
	env.frame, _ = json.Marshal(wsMessage{ID: "1", Type: "next", Payload: json.RawMessage(`{"data":` + string(sample) + `}`)})
	b.Logf("%s: %d subscriptions; frame %d bytes: %s", backend.Name, n, len(env.frame), env.frame)

	b.Run("paced", env.paced)
	b.Run("flood", env.flood)
}

// subscribe opens n subscriptions with a mix of filters that all match the
// receipts of terminal 0 (camera 0), waits until every one of them is live
// and returns the data of one delivered event.
func (env *liveEnv) subscribe(b *testing.B, n int) json.RawMessage {
	b.Helper()
	fx := env.fx
	cam0, cam1, shop, term0 := fx.CameraIDs[0], fx.CameraIDs[1], fx.ShopID, fx.TerminalIDs[0]
	wheres := []map[string]any{
		nil, // すべて
		{"cameraIDs": []pulid.ID{cam0}},
		{"cameraIDs": []pulid.ID{cam0}, "kinds": []string{"PAYMENT"}},
		{"shopIDs": []pulid.ID{shop}},
		{"terminalIDs": []pulid.ID{term0}},
		{"cameraIDs": []pulid.ID{cam0, cam1}},
		{"kinds": []string{"PAYMENT"}, "search": "田中"},
	}
	ctx := context.Background()
	subs := make([]*testenv.Subscription, n)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		dialErr error
		next    atomic.Int64
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				vars := map[string]any{"w": wheres[i%len(wheres)]}
				s, err := env.srv.Subscribe(ctx, liveQuery, vars)
				if err != nil {
					mu.Lock()
					dialErr = fmt.Errorf("subscription %d: %w", i, err)
					mu.Unlock()
					return
				}
				subs[i] = s
			}
		}()
	}
	wg.Wait()
	var readers sync.WaitGroup
	b.Cleanup(func() {
		env.closing.Store(true)
		for _, s := range subs {
			if s != nil {
				s.Close()
			}
		}
		readers.Wait()
	})
	if dialErr != nil {
		b.Fatal(dialErr)
	}
	var (
		sample   atomic.Pointer[json.RawMessage]
		gqlErrs  atomic.Int64
		firstErr atomic.Pointer[string]
	)
	for i, s := range subs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				data, errs, err := s.Next(time.Hour)
				if err != nil {
					if !env.closing.Load() && env.stopped.Add(1) == 1 {
						msg := fmt.Sprintf("subscription %d: %v", i, err)
						env.firstErr.Store(&msg)
					}
					return
				}
				if len(errs) > 0 {
					if gqlErrs.Add(1) == 1 {
						msg := fmt.Sprintf("%+v", errs)
						firstErr.Store(&msg)
					}
					continue
				}
				if seq, ok := seqOf(data); ok {
					env.subs.deliver(i, seq)
					sample.CompareAndSwap(nil, &data)
				}
			}
		}()
	}
	// Subscriptions start asynchronously; one receipt that reaches every
	// subscriber proves all of them are live.
	for attempt := 0; ; attempt++ {
		r := env.subs.begin(env.seq, 1)
		env.subs.start(r, 0)
		env.ingest(b, env.seq)
		env.seq++
		err := r.waitOne(3 * time.Second)
		env.subs.end()
		if err == nil {
			break
		}
		if p := firstErr.Load(); p != nil {
			b.Fatalf("subscription errors (%d): %s", gqlErrs.Load(), *p)
		}
		if attempt == 20 {
			b.Fatalf("subscriptions not live: %v", err)
		}
	}
	return *sample.Load()
}

// receipt is event seq: a cash sale on terminal 0, which camera 0 watches.
func (env *liveEnv) receipt(seq int64) ingest.Receipt {
	return ingest.Receipt{
		TerminalID: env.fx.TerminalIDs[0], ExternalID: extID(seq), Kind: journalentry.KindPAYMENT,
		OccurredAt: time.Now(), ReceiptNo: fmt.Sprintf("%06d", seq%1_000_000), RegisterNo: "1",
		StaffID: "105", StaffName: "田中 健", Total: 1420, Deposit: 2000, Change: 580, PaymentMethod: "現金",
		Items: []schematype.Item{{Name: "ブレンドコーヒー", Quantity: 2, Amount: 900}, {Name: "カフェラテ", Quantity: 1, Amount: 520}},
	}
}

func (env *liveEnv) ingest(b *testing.B, seq int64) time.Duration {
	r := env.receipt(seq)
	began := time.Now()
	res := env.srv.Ingester.Ingest(context.Background(), env.srv.AccountID, r)
	d := time.Since(began)
	if res.Err != nil || res.Status != ingest.Created {
		b.Fatalf("ingest %d: %s %v", seq, res.Status, res.Err)
	}
	return d
}

// frameFor is the baseline frame of event seq.
func (env *liveEnv) frameFor(seq int64) []byte {
	return bytes.Replace(env.frame, []byte(extID(env.fseq)), []byte(extID(seq)), 1)
}

func (env *liveEnv) paced(b *testing.B) {
	base := env.seq
	sr, rr := env.subs.begin(base, b.N), env.raw.begin(base, b.N)
	ingestLat := newSamples(b.N)
	var subWall, rawWall time.Duration
	b.ResetTimer()
	for i := range b.N {
		seq := base + int64(i)
		t0 := time.Now()
		env.subs.start(sr, i)
		ingestLat.add(env.ingest(b, seq))
		if err := sr.waitOne(30 * time.Second); err != nil {
			b.Fatalf("subscriptions: %v%s", err, env.readerErrors())
		}
		subWall += time.Since(t0)

		frame := env.frameFor(seq)
		t1 := time.Now()
		env.raw.start(rr, i)
		env.push.push(frame)
		if err := rr.waitOne(30 * time.Second); err != nil {
			b.Fatalf("baseline: %v", err)
		}
		rawWall += time.Since(t1)
	}
	b.StopTimer()
	env.subs.end()
	env.raw.end()
	env.seq += int64(b.N)
	env.report(b, sr, rr, subWall, rawWall)
	reportLatency(b, "ingest_", ingestLat)
}

// burstLen bounds a flood burst: enough back-to-back receipts to keep
// every subscriber's queue busy, few enough that the backlog stays far below
// what makes the server drop a slow consumer (a pong stuck behind megabytes
// of unread frames for PongWait), which an unbounded flood runs into.
// REGICAM_BENCH_BURST overrides it.
const burstLen = 25

func (env *liveEnv) flood(b *testing.B) {
	burst := burstLen
	if s := os.Getenv("REGICAM_BENCH_BURST"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("REGICAM_BENCH_BURST=%q: want a positive integer", s)
		}
		burst = n
	}
	base := env.seq
	sr, rr := env.subs.begin(base, b.N), env.raw.begin(base, b.N)
	var subWall, rawWall, ingestWall time.Duration
	frames := make([][]byte, b.N)
	for i := range frames {
		frames[i] = env.frameFor(base + int64(i))
	}
	b.ResetTimer()
	for from := 0; from < b.N; from += burst {
		to := min(from+burst, b.N)
		t0 := time.Now()
		for i := from; i < to; i++ {
			env.subs.start(sr, i)
			env.ingest(b, base+int64(i))
		}
		ingestWall += time.Since(t0)
		if err := sr.waitN(to-from, time.Minute); err != nil {
			b.Fatalf("subscriptions: %v%s", err, env.readerErrors())
		}
		subWall += time.Since(t0)

		t1 := time.Now()
		for i := from; i < to; i++ {
			env.raw.start(rr, i)
			env.push.push(frames[i])
		}
		if err := rr.waitN(to-from, time.Minute); err != nil {
			b.Fatalf("baseline: %v", err)
		}
		rawWall += time.Since(t1)
	}
	b.StopTimer()
	env.subs.end()
	env.raw.end()
	env.seq += int64(b.N)
	env.report(b, sr, rr, subWall, rawWall)
	b.ReportMetric(float64(b.N)/ingestWall.Seconds(), "ingests/s")
}

// readerErrors describes subscriptions whose connection failed, if any.
func (env *liveEnv) readerErrors() string {
	n := env.stopped.Load()
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d subscription connections failed; first: %s)", n, *env.firstErr.Load())
}

func (env *liveEnv) report(b *testing.B, sr, rr *round, subWall, rawWall time.Duration) {
	if d := sr.dups.Load() + rr.dups.Load(); d > 0 {
		b.Errorf("%d duplicate deliveries", d)
	}
	ss, rs := sr.samples(), rr.samples()
	want := b.N * env.subs.nClients
	if ss.len() != want || rs.len() != want {
		b.Fatalf("%d and %d deliveries, want %d each", ss.len(), rs.len(), want)
	}
	reportLatency(b, "", ss)
	reportLatency(b, "raw_", rs)
	b.ReportMetric(float64(ss.pct(0.99))/float64(rs.pct(0.99)), "p99_ratio")
	b.ReportMetric(float64(want)/subWall.Seconds(), "msgs/s")
	b.ReportMetric(float64(want)/rawWall.Seconds(), "raw_msgs/s")
	b.ReportMetric(float64(subWall)/float64(b.N), "ns/op") // one event to all subscribers
}
