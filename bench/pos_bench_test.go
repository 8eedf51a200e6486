package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/smaregi/fake"
	"github.com/regicam/regicam/pulid"
)

// posEnv is one server with one Smaregi connection to a fake, and a live
// journal subscription whose arrivals (externalID → time) feed a channel.
type posEnv struct {
	fk      *fake.Server
	srv     *testenv.Server
	conn    pulid.ID
	arrived chan arrival
}

type arrival struct {
	ext, kind string
	at        time.Time
}

const posContract, posClient, posSecret = "sb_bench", "cli-bench", "bench-secret-0001"

func newPosEnv(b *testing.B, fk *fake.Server, interval time.Duration, subscribe bool) *posEnv {
	b.Helper()
	e := &posEnv{fk: fk}
	e.srv = testenv.StartWith(b, testenv.Backend{Name: "sqlite"}, "", func(cfg *app.Config, _ string) {
		cfg.SmaregiIDURL, cfg.SmaregiAPIURL = fk.URL(), fk.URL()
		cfg.PollInterval = interval
	})
	var out struct{ ConnectSmaregi struct{ ID string } }
	e.srv.MustQuery(b, `mutation($in: SmaregiCredentialsInput!){ connectSmaregi(input: $in){ id } }`,
		map[string]any{"in": map[string]any{"contractID": posContract, "clientID": posClient, "clientSecret": posSecret}}, &out)
	e.conn = pulid.ID(out.ConnectSmaregi.ID)
	if !subscribe {
		return e
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	sub, err := e.srv.Subscribe(ctx, liveQuery, map[string]any{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sub.Close)
	e.arrived = make(chan arrival, 1024)
	go func() {
		for {
			data, _, err := sub.Next(time.Minute)
			if err != nil {
				return
			}
			now := time.Now()
			var d struct {
				Journal struct {
					Type  string
					Entry struct{ ExternalID, Kind string }
				}
			}
			if json.Unmarshal(data, &d) == nil && d.Journal.Type == "ADDED" {
				e.arrived <- arrival{d.Journal.Entry.ExternalID, d.Journal.Entry.Kind, now}
			}
		}
	}()
	return e
}

func (e *posEnv) sync(b *testing.B) (string, string) {
	b.Helper()
	var o struct {
		SyncConnection struct{ Status, LastError string }
	}
	e.srv.MustQuery(b, `mutation($id: ID!){ syncConnection(id: $id){ status lastError } }`, map[string]any{"id": e.conn}, &o)
	return o.SyncConnection.Status, o.SyncConnection.LastError
}

// await waits for ext to arrive and returns when it did.
func (e *posEnv) await(b *testing.B, ext string, timeout time.Duration) time.Time {
	b.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case a := <-e.arrived:
			if a.ext == ext {
				return a.at
			}
		case <-deadline:
			b.Fatalf("entry %s never reached the subscriber", ext)
		}
	}
}

func posSamples() int { return 30 }

// BenchmarkSmaregiEndToEnd: a sale rung up on the fake → the entry at a
// live websocket subscriber, (i) by the `created` webhook, (ii) by the
// runtime's own polling at a 1 s interval, (iii) baseline: the same
// receipt through the ingestJournal mutation. The server default interval
// is 30 s (±20 % jitter), so at the default the polling latency is about
// interval/2 (≈15 s) on average plus the measured per-poll processing.
func BenchmarkSmaregiEndToEnd(b *testing.B) {
	for range b.N {
		fk := fake.New(fake.Options{ContractID: posContract, ClientID: posClient, ClientSecret: posSecret})
		b.Cleanup(fk.Close)
		n := posSamples()

		// (i) webhook, with polling out of the way (1 h).
		e := newPosEnv(b, fk, time.Hour, true)
		if st, msg := e.sync(b); st != "OK" {
			b.Fatalf("sync: %s %s", st, msg)
		}
		var ep struct{ CreateWebhookSecret struct{ Path string } }
		e.srv.MustQuery(b, `mutation($id: ID!){ createWebhookSecret(id: $id){ path } }`, map[string]any{"id": e.conn}, &ep)
		hook := e.srv.URL + ep.CreateWebhookSecret.Path
		ctx := context.Background()
		web := newSamples(n)
		var termID string
		for i := range n + 1 {
			t0 := time.Now()
			id := fk.RingUp(fake.TransactionSpec{TerminalID: "1", Total: int64(100 + i)})
			if err := fk.SendWebhook(ctx, hook, "created", id); err != nil {
				b.Fatal(err)
			}
			at := e.await(b, id, 30*time.Second)
			if i > 0 { // the first one creates the terminal and shop
				web.add(at.Sub(t0))
			}
		}
		x, err := e.srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(e.conn)).First(ctx)
		if err != nil {
			b.Fatal(err)
		}
		termID = string(x.TerminalID)

		// (iii) baseline: ingestJournal on the same server and terminal.
		base := newSamples(n)
		for i := range n {
			ext := fmt.Sprintf("direct-%d", i)
			t0 := time.Now()
			r := e.srv.Query(b, `mutation($in: [JournalInput!]!){ ingestJournal(input: $in){ status error { message } } }`,
				map[string]any{"in": []map[string]any{{"terminalID": termID, "externalID": ext, "kind": "PAYMENT",
					"occurredAt": time.Now().UTC().Format(time.RFC3339Nano), "total": 100 + i}}})
			if len(r.Errors) > 0 || !strings.Contains(string(r.Data), "CREATED") {
				b.Fatalf("ingestJournal: %s %+v", r.Data, r.Errors)
			}
			base.add(e.await(b, ext, 30*time.Second).Sub(t0))
		}

		// (ii) polling at 1 s on a second server (its own database and
		// connection to the same contract).
		const interval = time.Second
		p := newPosEnv(b, fk, interval, true)
		if st, msg := p.sync(b); st != "OK" {
			b.Fatalf("sync: %s %s", st, msg)
		}
		poll := newSamples(n)
		for i := range n {
			t0 := time.Now()
			id := fk.RingUp(fake.TransactionSpec{TerminalID: "2", Total: int64(5000 + i)})
			poll.add(p.await(b, id, 30*time.Second).Sub(t0))
			// desynchronise from the poll phase
			time.Sleep(time.Duration(i%7) * 130 * time.Millisecond)
		}

		b.Logf("webhook  p50 %v p99 %v mean %v (n=%d)", web.pct(.5), web.pct(.99), web.mean(), web.len())
		b.Logf("polling@%v p50 %v p99 %v mean %v (n=%d); at the default 30s interval expect ≈15s mean, ≤36s worst + processing",
			interval, poll.pct(.5), poll.pct(.99), poll.mean(), poll.len())
		b.Logf("baseline ingestJournal p50 %v p99 %v mean %v (n=%d)", base.pct(.5), base.pct(.99), base.mean(), base.len())
		reportLatency(b, "webhook_", web)
		reportLatency(b, "poll1s_", poll)
		reportLatency(b, "direct_", base)
	}
}

// BenchmarkSmaregiSustained: 10,000 transactions over 50 terminals on a
// fake limited to 10 requests a second; syncConnection until all are in;
// every one must be stored exactly once.
func BenchmarkSmaregiSustained(b *testing.B) {
	const total, terminals = 10000, 50
	for range b.N {
		fk := fake.New(fake.Options{ContractID: posContract, ClientID: posClient, ClientSecret: posSecret, RatePerSecond: 10})
		b.Cleanup(fk.Close)
		start := time.Now().Add(-3 * time.Hour)
		ids := make([]string, 0, total)
		for i := range total {
			at := start.Add(time.Duration(i) * time.Second)
			ids = append(ids, fk.RingUp(fake.TransactionSpec{StoreID: "1", TerminalID: fmt.Sprint(1 + i%terminals),
				Total: int64(100 + i%900), At: at, ServerAt: at}))
		}
		e := newPosEnv(b, fk, time.Hour, false)
		ctx := context.Background()
		t0 := time.Now()
		syncs := 0
		for {
			syncs++
			st, msg := e.sync(b)
			if st != "OK" {
				b.Logf("sync %d: %s %s", syncs, st, msg)
			}
			n, err := e.srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(e.conn)).Count(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if n >= total || syncs >= 20 {
				break
			}
		}
		took := time.Since(t0)
		e.sync(b) // a quiet poll: still once
		es, err := e.srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(e.conn)).All(ctx)
		if err != nil {
			b.Fatal(err)
		}
		seen := map[string]int{}
		for _, x := range es {
			if x.Kind != journalentry.KindPAYMENT {
				b.Fatalf("unexpected %s entry for %s", x.Kind, x.ExternalID)
			}
			seen[x.ExternalID]++
		}
		for _, id := range ids {
			if seen[id] != 1 {
				b.Fatalf("transaction %s stored %d times (%d entries for %d transactions)", id, seen[id], len(es), total)
			}
		}
		if len(es) != total {
			b.Fatalf("%d entries for %d transactions", len(es), total)
		}
		terms, _ := e.srv.DB.Client.Terminal.Query().Count(ctx)
		st := fk.Stats()
		b.Logf("%d transactions / %d terminals in %v over %d sync(s): %.0f entries/s; fake %+v; %d terminals stored",
			total, terminals, took.Round(time.Millisecond), syncs, float64(total)/took.Seconds(), st, terms)
		b.ReportMetric(float64(total)/took.Seconds(), "entries/s")
		b.ReportMetric(took.Seconds(), "total_s")
		b.ReportMetric(float64(st.RateLimited), "rate_limited")
	}
}

// liveQuery is a live view's subscription: the timeline row of each event.
const liveQuery = `subscription Live($w: JournalWhere) {
  journal(where: $w) {
    cursor type
    entry { id externalID kind occurredAt receiptNo registerNo staffName total deposit change paymentMethod cameraID }
  }
}`
