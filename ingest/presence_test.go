package ingest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// TestRecordPresenceOnceWithALiveUpdate: the count lands with one UPDATED
// event that a live subscriber receives carrying the count; recording
// again (a retry, another replica) changes nothing and adds no event.
func TestRecordPresenceOnceWithALiveUpdate(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		d := dbtest.Open(t, b.DatabaseURL)
		ctx := viewer.System(context.Background())
		acc, err := d.Client.Account.Create().SetName("テスト").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fx := testenv.NewFixture(t, d.Client, acc.ID)
		bus := pubsub.NewMemory()
		hub := feed.NewHub(d.Client, bus, testenv.Logger(), feed.Options{})
		hctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = hub.Run(hctx) }()
		t.Cleanup(func() { cancel(); <-done })
		if _, err := hub.Head(ctx); err != nil {
			t.Fatal(err)
		}
		in := ingest.New(d.Client, d.Dialect, bus, testenv.Logger())
		at := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
		var ids []pulid.ID
		for _, ext := range []string{"p1", "p2", "p3"} {
			r := in.Ingest(ctx, acc.ID, sale(fx.TerminalIDs[0], ext, at))
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			ids = append(ids, r.Entry.ID)
		}
		owner := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: acc.ID, Role: viewer.RoleOwner,
			Scopes: []viewer.Scope{viewer.ScopeJournalRead}})
		sctx, scancel := context.WithCancel(owner)
		defer scancel()
		newest, err := feed.Newest(ctx, d.Client)
		if err != nil {
			t.Fatal(err)
		}
		live, err := hub.Subscribe(sctx, journal.Filter{AccountID: acc.ID}, &newest)
		if err != nil {
			t.Fatal(err)
		}

		checked := at.Add(95 * time.Second)
		two := 2
		if err := in.RecordPresence(ctx, ids[0], &two, checked); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-live:
			if ev.Type != event.TypeUPDATED || ev.Entry.ID != ids[0] || ev.Entry.PersonsNearby == nil || *ev.Entry.PersonsNearby != 2 ||
				ev.Entry.PersonsCheckedAt == nil || !ev.Entry.PersonsCheckedAt.Equal(checked) {
				t.Errorf("live event %s of %s: persons %v checked %v", ev.Type, ev.Entry.ID, ev.Entry.PersonsNearby, ev.Entry.PersonsCheckedAt)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no live UPDATED event")
		}

		zero := 0
		if err := in.RecordPresence(ctx, ids[0], &zero, checked.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		e, _ := d.Client.JournalEntry.Get(ctx, ids[0])
		if *e.PersonsNearby != 2 || !e.PersonsCheckedAt.Equal(checked) {
			t.Errorf("recorded twice: persons %d at %s, want the first record kept", *e.PersonsNearby, e.PersonsCheckedAt)
		}

		// Past the cloud's retention: checked, count unknown.
		if err := in.RecordPresence(ctx, ids[1], nil, checked); err != nil {
			t.Fatal(err)
		}
		e, _ = d.Client.JournalEntry.Get(ctx, ids[1])
		if e.PersonsNearby != nil || e.PersonsCheckedAt == nil {
			t.Errorf("unknown: persons %v checked %v, want nil and set", e.PersonsNearby, e.PersonsCheckedAt)
		}

		// Two replicas at once: one record, one event.
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := i
				if err := in.RecordPresence(ctx, ids[2], &n, checked); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		for _, id := range ids {
			n, _ := d.Client.Event.Query().Where(event.EntryID(id), event.TypeEQ(event.TypeUPDATED)).Count(ctx)
			if n != 1 {
				t.Errorf("entry %s: %d UPDATED events, want 1", id, n)
			}
		}
		if err := in.RecordPresence(ctx, pulid.MustNew("JE"), &zero, checked); !errors.Is(err, ingest.ErrNoEntry) {
			t.Errorf("unknown entry: %v, want ErrNoEntry", err)
		}
	})
}
