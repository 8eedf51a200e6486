package alerts_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// node is one server process as app wires it: a bus, the feed hub, the
// alert service on both, and an ingester whose entries it evaluates.
type node struct {
	svc *alerts.Service
	in  *ingest.Ingester
	hub *feed.Hub
}

func startNode(t *testing.T, d *db.DB, box *secrets.Box) *node {
	t.Helper()
	var bus pubsub.Bus = pubsub.NewMemory()
	if d.Dialect == dialect.Postgres {
		var err error
		if bus, err = pubsub.NewPostgres(d.DSN, d.SQL, testenv.Logger()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = bus.Close() })
	// A small window and batch: resumed and lagging subscribers catch up
	// from the table, past journal events, a few rows at a time.
	hub := feed.NewHub(d.Client, bus, testenv.Logger(), feed.Options{Window: 4, Batch: 3})
	ctx, cancel := context.WithCancel(viewer.System(context.Background()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := hub.Head(ctx); err != nil {
		t.Fatal(err)
	}
	n := &node{svc: alerts.New(d.Client, d.Dialect, box, testenv.Logger(), alerts.Options{Bus: bus, Feed: hub}), hub: hub}
	n.in = ingest.New(d.Client, d.Dialect, bus, testenv.Logger())
	n.in.Observer = n.svc
	return n
}

func subscribe(t *testing.T, n *node, ctx context.Context, after *string) <-chan *ent.Alert {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	ch, err := n.svc.Subscribe(ctx, after)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return ch
}

// take receives want's alerts and fails unless they come in that order.
func take(t *testing.T, what string, ch <-chan *ent.Alert, want []*ent.Alert) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for i, w := range want {
		select {
		case a := <-ch:
			if a.ID != w.ID || a.Seq != w.Seq {
				t.Fatalf("%s: alert %d is seq %d (%s), want seq %d (%s)", what, i, a.Seq, a.ID, w.Seq, w.ID)
			}
		case <-timeout:
			t.Fatalf("%s: %d of %d alerts arrived", what, i, len(want))
		}
	}
}

// quiet fails if anything arrives within d.
func quiet(t *testing.T, what string, ch <-chan *ent.Alert, d time.Duration) {
	t.Helper()
	select {
	case a := <-ch:
		t.Fatalf("%s: unexpected alert seq %d (%s)", what, a.Seq, a.ID)
	case <-time.After(d):
	}
}

// TestAlertStreamAcrossServers: alerts raised at once on two servers of one
// PostgreSQL (one server on SQLite) reach every subscriber of every server
// once each, in seq order; STAFF get only the alerts of their shops; a
// subscription from now gets only later alerts, one resumed after a cursor
// exactly the alerts after it, one resumed from al:0 all of them; the
// journal stream of the same hub carries none of the alerts' events.
func TestAlertStreamAcrossServers(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		nodes := []*node{startNode(t, e.db, e.svc.Box)}
		if e.db.Dialect == dialect.Postgres {
			nodes = append(nodes, startNode(t, dbtest.Open(t, b.DatabaseURL), e.svc.Box))
		}
		e.rule(t, alerts.Input{Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(0))})
		sys := viewer.System(context.Background())
		other, err := e.db.Client.Shop.Create().SetAccountID(e.acct).SetName("新宿店").Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		// A register without a camera: its alerts are not held for a
		// picture (alerts.ThumbnailWait).
		term0, _ := e.db.Client.Terminal.Get(sys, e.fx.TerminalIDs[0])
		lone, err := e.db.Client.Terminal.Create().SetAccountID(e.acct).SetConnectionID(term0.ConnectionID).SetShopID(e.fx.ShopID).
			SetExternalID("lone").SetName("レジ9").Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		staffOf := func(shop pulid.ID) context.Context {
			return viewer.NewContext(context.Background(), viewer.Viewer{AccountID: e.acct, Role: viewer.RoleStaff,
				Restricted: true, ShopIDs: []pulid.ID{shop}, Scopes: []viewer.Scope{viewer.ScopeJournalRead}})
		}
		var owners []<-chan *ent.Alert
		for _, n := range nodes {
			owners = append(owners, subscribe(t, n, e.ctx, nil))
		}
		last := nodes[len(nodes)-1]
		staffIn := subscribe(t, last, staffOf(e.fx.ShopID), nil)
		staffOut := subscribe(t, nodes[0], staffOf(other.ID), nil)
		jctx, jcancel := context.WithCancel(e.ctx)
		t.Cleanup(jcancel)
		journalSub, err := nodes[0].hub.Subscribe(jctx, journal.Filter{AccountID: e.acct}, nil)
		if err != nil {
			t.Fatal(err)
		}

		const each = 12
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range each {
					res := n.in.Ingest(context.Background(), e.acct, ingest.Receipt{TerminalID: lone.ID,
						ExternalID: fmt.Sprintf("s%d-%d", i, k), Kind: journalentry.KindDELETE, OccurredAt: time.Now().UTC(), Total: 100})
					if res.Err != nil {
						t.Errorf("ingest: %v", res.Err)
					}
				}
			}()
		}
		wg.Wait()
		all, err := e.db.Client.Alert.Query().Order(ent.Asc(alert.FieldSeq)).All(sys)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != each*len(nodes) {
			t.Fatalf("%d alerts stored, want %d", len(all), each*len(nodes))
		}
		for i, ch := range owners {
			take(t, fmt.Sprintf("owner on server %d", i), ch, all)
		}
		take(t, "staff of the shop", staffIn, all)
		for i, ch := range owners {
			quiet(t, fmt.Sprintf("owner on server %d", i), ch, 300*time.Millisecond)
		}
		quiet(t, "staff of another shop", staffOut, 300*time.Millisecond)
		// The journal stream, on the same hub, has the entries and none of
		// the alerts' events.
		for i := range all {
			select {
			case ev := <-journalSub:
				if ev.Type != event.TypeADDED || ev.Entry == nil || ev.Alert != nil {
					t.Fatalf("journal event %d: %s entry %v alert %v", i, ev.Type, ev.Entry, ev.Alert)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("journal: %d of %d events arrived", i, len(all))
			}
		}
		select {
		case ev := <-journalSub:
			t.Fatalf("journal: unexpected %s event %d", ev.Type, ev.ID)
		case <-time.After(300 * time.Millisecond):
		}

		mid := all[4]
		take(t, "resumed after the fifth", subscribe(t, last, e.ctx, ptr(alerts.EncodeCursor(mid.Seq))), all[5:])
		fromStart := subscribe(t, nodes[0], e.ctx, ptr("YWw6MA")) // al:0
		take(t, "resumed from al:0", fromStart, all)
		quiet(t, "resumed from al:0", fromStart, 300*time.Millisecond)

		live := subscribe(t, last, e.ctx, nil)
		quiet(t, "live, before a new alert", live, 300*time.Millisecond)
		res := nodes[0].in.Ingest(context.Background(), e.acct, ingest.Receipt{TerminalID: lone.ID,
			ExternalID: "later", Kind: journalentry.KindDELETE, OccurredAt: time.Now().UTC(), Total: 100})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		newest, err := e.db.Client.Alert.Query().Where(alert.EntryID(res.Entry.ID)).Only(sys)
		if err != nil {
			t.Fatal(err)
		}
		take(t, "live", live, []*ent.Alert{newest})
		take(t, "resumed from al:0, then live", fromStart, []*ent.Alert{newest})
		quiet(t, "staff of another shop", staffOut, 200*time.Millisecond)
	})
}
