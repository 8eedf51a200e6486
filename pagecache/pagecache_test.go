package pagecache_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/pgtest"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pagecache"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// bus is a pubsub.Bus whose Resync the test sends; a full mailbox drops
// the signal, which the hub's short poll makes up for.
type bus struct{ ch chan pubsub.Signal }

func newBus() *bus { return &bus{ch: make(chan pubsub.Signal, 1)} }

func (b *bus) Publish(_ context.Context, id int64) error {
	select {
	case b.ch <- pubsub.Signal{EventID: id}:
	default:
	}
	return nil
}
func (b *bus) Signals() <-chan pubsub.Signal { return b.ch }
func (b *bus) Close() error                  { return nil }
func (b *bus) resync()                       { b.ch <- pubsub.Signal{Resync: true} }

// process is what one regicam process holds for the journal: an ingester,
// a hub and the page cache following it.
type process struct {
	client *ent.Client
	ing    *ingest.Ingester
	hub    *feed.Hub
	cache  *pagecache.Cache
}

func start(t testing.TB, d *db.DB, b pubsub.Bus, opts ...pagecache.Options) *process {
	t.Helper()
	opt := pagecache.Options{MaxAge: time.Minute}
	if len(opts) > 0 {
		opt = opts[0]
	}
	p := &process{client: d.Client, ing: ingest.New(d.Client, d.Dialect, b, nil)}
	p.hub = feed.NewHub(d.Client, b, nil, feed.Options{Poll: 20 * time.Millisecond})
	p.cache = pagecache.Following(p.hub, d.Client, opt)
	ctx, cancel := context.WithCancel(viewer.System(context.Background()))
	done := make(chan struct{})
	go func() { defer close(done); _ = p.hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := p.hub.Head(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixture is one account's 渋谷店 with registers 0 and 1 watched by camera
// 0, and 新宿店 with register term2, also watched by camera 0.
type fixture struct {
	ShopID      pulid.ID
	CameraIDs   []pulid.ID
	TerminalIDs []pulid.ID
}

type tenant struct {
	account pulid.ID
	fx      fixture
	shop2   pulid.ID
	term2   pulid.ID
}

var linkedSince = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func newTenant(t testing.TB, client *ent.Client) tenant {
	t.Helper()
	ctx := viewer.System(context.Background())
	acc, err := client.Account.Create().SetName("pagecache").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tn := tenant{account: acc.ID}
	conn, err := client.PosConnection.Create().SetAccountID(acc.ID).SetProvider("PARTNER").
		SetContractID("pc-" + string(pulid.MustNew("xx"))).Save(ctx)
	must(err)
	for i := range 2 {
		c, err := client.Camera.Create().SetAccountID(acc.ID).SetName(fmt.Sprint("カメラ", i)).SetModel("CC-2L_SF").
			SetDeviceID(string(pulid.MustNew("dv"))).SetPosOption(true).Save(ctx)
		must(err)
		tn.fx.CameraIDs = append(tn.fx.CameraIDs, c.ID)
	}
	register := func(shop pulid.ID, ext string, cam pulid.ID) pulid.ID {
		term, err := client.Terminal.Create().SetAccountID(acc.ID).SetConnectionID(conn.ID).
			SetShopID(shop).SetExternalID(ext).SetName("レジ" + ext).Save(ctx)
		must(err)
		must(client.Link.Create().SetAccountID(acc.ID).SetTerminalID(term.ID).SetCameraID(cam).
			SetCreatedAt(linkedSince).Exec(ctx))
		return term.ID
	}
	s1, err := client.Shop.Create().SetAccountID(acc.ID).SetName("渋谷店").Save(ctx)
	must(err)
	s2, err := client.Shop.Create().SetAccountID(acc.ID).SetName("新宿店").Save(ctx)
	must(err)
	tn.fx.ShopID, tn.shop2 = s1.ID, s2.ID
	tn.fx.TerminalIDs = []pulid.ID{register(s1.ID, "1", tn.fx.CameraIDs[0]), register(s1.ID, "2", tn.fx.CameraIDs[0])}
	tn.term2 = register(s2.ID, "3", tn.fx.CameraIDs[0])
	return tn
}

var seq atomic.Int64

// ring ingests one sale on term, newer than every earlier one, and returns
// its entry once Ingest has returned.
func ring(t testing.TB, p *process, tn tenant, term pulid.ID) *ent.JournalEntry {
	t.Helper()
	n := seq.Add(1)
	r := ingest.Receipt{TerminalID: term, ExternalID: fmt.Sprintf("pc-%d", n), Kind: journalentry.KindPAYMENT,
		OccurredAt: time.Now().Add(-time.Hour).Add(time.Duration(n) * time.Millisecond).UTC(), Total: 100 + n}
	res := p.ing.Ingest(viewer.System(context.Background()), tn.account, r)
	if res.Status != ingest.Created {
		t.Errorf("ingest %s: %s %v", r.ExternalID, res.Status, res.Err)
		return nil
	}
	return res.Entry
}

func as(tn tenant, role viewer.Role, shops ...pulid.ID) context.Context {
	v := viewer.Viewer{AccountID: tn.account, UserID: pulid.MustNew("US"), Role: role,
		Scopes: []viewer.Scope{viewer.ScopeJournalRead}, Restricted: role == viewer.RoleStaff, ShopIDs: shops}
	return viewer.WithRequest(viewer.NewContext(context.Background(), v))
}

func firstPage(t testing.TB, c *pagecache.Cache, ctx context.Context, f journal.Filter, n int) []pulid.ID {
	t.Helper()
	p, err := c.List(ctx, f, n, nil, "", nil)
	if err != nil {
		t.Error(err) // not Fatal: writers call it from their goroutines
		return nil
	}
	ids := make([]pulid.ID, len(p.Edges))
	for i, e := range p.Edges {
		ids[i] = e.Entry.ID
	}
	return ids
}

// The hard rule, in one process on both databases: once Ingest has
// returned, the first page has the entry, while other readers keep the
// same page cached.
func TestPageHasEveryReturnedIngest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		p := start(t, d, newBus())
		tn := newTenant(t, d.Client)
		checkFresh(t, p, p, tn, 40)
		if s := p.cache.Stats(); s.Hits == 0 {
			t.Errorf("no page was served from memory: %+v", s)
		}
	})
}

// The hard rule across two processes on one PostgreSQL database, each with
// its own pool, LISTEN connection, hub and cache: a sale ingested on A is on
// B's first page as soon as A's Ingest returns.
func TestPageHasEveryReturnedIngestAcrossProcesses(t *testing.T) {
	url := pgtest.New(t)
	da, dbb := dbtest.Open(t, url), dbtest.Open(t, url)
	busOf := func(d *db.DB) pubsub.Bus {
		b, err := pubsub.NewPostgres(url, d.SQL, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	a, b := start(t, da, busOf(da)), start(t, dbb, busOf(dbb))
	tn := newTenant(t, da.Client)
	checkFresh(t, a, b, tn, 60)
	if s := b.cache.Stats(); s.Hits == 0 {
		t.Errorf("B served no page from memory: %+v", s)
	}
}

// checkFresh runs two writers on w, each asking r's first pages right after
// every ingest returns, while two readers keep those pages hot on r.
func checkFresh(t *testing.T, w, r *process, tn tenant, rounds int) {
	owner := as(tn, viewer.RoleOwner)
	all := journal.Filter{AccountID: tn.account}
	cam := journal.Filter{AccountID: tn.account, CameraIDs: []pulid.ID{tn.fx.CameraIDs[0]},
		Kinds: []journalentry.Kind{journalentry.KindPAYMENT}}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, f := range []journal.Filter{all, cam} {
					if _, err := r.cache.List(owner, f, 20, nil, "", nil); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	var writers sync.WaitGroup
	for i := range 2 {
		writers.Go(func() {
			for range rounds {
				e := ring(t, w, tn, tn.fx.TerminalIDs[i]) // both watched by camera 0
				if e == nil {
					return
				}
				for _, f := range []journal.Filter{all, cam} {
					if got := firstPage(t, r.cache, owner, f, 20); !slices.Contains(got, e.ID) {
						t.Errorf("first page (cameras %v) misses %s right after its ingest returned", f.CameraIDs, e.ID)
						return
					}
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
}

// A STAFF user of one shop gets that shop's page, never the OWNER's cached
// one, and the OWNER never the STAFF user's.
func TestStaffAndOwnerGetTheirOwnPages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		p := start(t, d, newBus())
		tn := newTenant(t, d.Client)
		in1 := ring(t, p, tn, tn.fx.TerminalIDs[0])
		in2 := ring(t, p, tn, tn.term2)
		owner, staff := as(tn, viewer.RoleOwner), as(tn, viewer.RoleStaff, tn.fx.ShopID)
		f := journal.Filter{AccountID: tn.account, CameraIDs: []pulid.ID{tn.fx.CameraIDs[0]}}
		for range 2 { // the second round is served from memory
			if got := firstPage(t, p.cache, owner, f, 10); !slices.Contains(got, in1.ID) || !slices.Contains(got, in2.ID) {
				t.Errorf("owner sees %v, want both shops' %s and %s", got, in1.ID, in2.ID)
			}
			if got := firstPage(t, p.cache, staff, f, 10); !slices.Equal(got, []pulid.ID{in1.ID}) {
				t.Errorf("staff of 渋谷店 sees %v, want only %s", got, in1.ID)
			}
		}
		if s := p.cache.Stats(); s.Hits < 2 {
			t.Errorf("pages not served from memory: %+v", s)
		}
	})
}

// A Resync drops every cached page: a row written without an event (which
// the cache cannot see) shows after it.
func TestResyncDropsTheCache(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := newBus()
		p := start(t, d, b)
		tn := newTenant(t, d.Client)
		owner := as(tn, viewer.RoleOwner)
		f := journal.Filter{AccountID: tn.account}
		e := ring(t, p, tn, tn.fx.TerminalIDs[0])
		waitHit(t, p, owner, f, e.ID)
		ctx := viewer.System(context.Background())
		term, err := d.Client.Terminal.Get(ctx, tn.fx.TerminalIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		quiet, err := d.Client.JournalEntry.Create().SetAccountID(tn.account).SetConnectionID(term.ConnectionID).
			SetTerminalID(term.ID).SetShopID(tn.fx.ShopID).SetKind(journalentry.KindPAYMENT).
			SetOccurredAt(time.Now().UTC()).SetExternalID("no-event").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := firstPage(t, p.cache, owner, f, 10); slices.Contains(got, quiet.ID) {
			t.Fatalf("the page was not cached: it already shows %s", quiet.ID)
		}
		b.resync()
		deadline := time.Now().Add(10 * time.Second)
		for !slices.Contains(firstPage(t, p.cache, owner, f, 10), quiet.ID) {
			if time.Now().After(deadline) {
				t.Fatal("the cached page survived a Resync")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// waitHit asks for the page until it is served from memory with want on it.
func waitHit(t *testing.T, p *process, ctx context.Context, f journal.Filter, want pulid.ID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := p.cache.Stats().Hits
		got := firstPage(t, p.cache, ctx, f, 10)
		if !slices.Contains(got, want) {
			t.Fatalf("page %v misses %s", got, want)
		}
		if p.cache.Stats().Hits > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("page never served from memory: %+v", p.cache.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Searches and later pages always read the database.
func TestSearchAndCursorsReadTheDatabase(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		p := start(t, d, newBus())
		tn := newTenant(t, d.Client)
		owner := as(tn, viewer.RoleOwner)
		e1 := ring(t, p, tn, tn.fx.TerminalIDs[0])
		e2 := ring(t, p, tn, tn.fx.TerminalIDs[0])
		f := journal.Filter{AccountID: tn.account}
		before := p.cache.Stats()
		for range 3 {
			cur := journal.Cursor{OccurredAt: e2.OccurredAt, ID: e2.ID}
			page, err := p.cache.List(owner, f, 10, &cur, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Edges) != 1 || page.Edges[0].Entry.ID != e1.ID {
				t.Fatalf("page after %s: %v", e2.ID, page.Edges)
			}
			if _, err := p.cache.List(owner, journal.Filter{AccountID: tn.account, Search: "x"}, 10, nil, "", nil); err != nil {
				t.Fatal(err)
			}
		}
		if s := p.cache.Stats(); s.Hits != before.Hits || s.Bypassed-before.Bypassed != 6 {
			t.Errorf("searches and cursors: %+v, then %+v", before, s)
		}
	})
}

// A cache smaller than the pages asked keeps dropping the oldest, and every
// answer stays the page the database gives.
func TestSmallCacheStillRight(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		p := start(t, d, newBus(), pagecache.Options{MaxAge: time.Minute, MaxRows: 3})
		tn := newTenant(t, d.Client)
		owner := as(tn, viewer.RoleOwner)
		for _, term := range []pulid.ID{tn.fx.TerminalIDs[0], tn.fx.TerminalIDs[1], tn.term2, tn.fx.TerminalIDs[0]} {
			ring(t, p, tn, term)
		}
		filters := []journal.Filter{{AccountID: tn.account}, {AccountID: tn.account, ShopIDs: []pulid.ID{tn.shop2}},
			{AccountID: tn.account, TerminalIDs: []pulid.ID{tn.fx.TerminalIDs[0]}}, {AccountID: tn.account, CameraIDs: []pulid.ID{tn.fx.CameraIDs[1]}}}
		for range 3 {
			for _, f := range filters {
				want, err := journal.List(owner, d.Client, f, 2, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				got := firstPage(t, p.cache, owner, f, 2)
				if len(got) != len(want.Edges) {
					t.Fatalf("filter %+v: %v, database %d entries", f, got, len(want.Edges))
				}
				for i, e := range want.Edges {
					if got[i] != e.Entry.ID {
						t.Errorf("filter %+v: %v, database %v", f, got, want.Edges)
					}
				}
			}
		}
	})
}
