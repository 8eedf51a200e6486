// Package pagecache serves the journal's hot pages — the first page of a
// camera, shop or register and tab, what every dashboard load asks — from
// memory, without ever serving a page that misses an entry whose ingest
// has returned, on any replica.
//
// # What is cached
//
// The loaded rows (with the edges the selection asked for) of a first page
// (no cursor), keyed by everything that changes the rows: the account, the
// viewer's view of it (a STAFF user's shops; whether an API key may read
// private rows), the normalised camera/terminal/shop ids and kinds, the
// page size and the edges loaded. Searches, deep pages and the filters
// beyond the tabs always read the database. The response is still built per
// request, so field selection, masking and cursors are as uncached.
//
// # Why a hit is never stale
//
// Every change to an entry a page shows is written with an outbox event in
// the same transaction, and event ids become visible strictly in id order
// (ingest.EventLockKey; see docs/ARCHITECTURE.md §3). This process's
// feed.Hub reads every event in id order and tells the cache (Observe):
// applied is the highest id told, and touched[a] the highest journal event
// of account a told.
//
//   - A fill reads M, the newest committed event id, before the page. The
//     page's snapshot is taken after M was visible, so it reflects every
//     event ≤ M; the entry remembers W = M. It is kept only if no event of
//     its account above W was told meanwhile and no Reset came.
//   - A hit first reads M again (one index-only probe of the events'
//     primary key, run as the system so it is the same for every viewer).
//     It is served only if W ≥ M (nothing committed since the fill) or the
//     hub has told every event up to M (applied ≥ M) and none of them
//     touched the account after W. Otherwise it waits a moment for the hub
//     (MaxWait) and then reads the database.
//
// An ingestJournal that returned on any replica committed its event E
// before the reader's probe, so E ≤ M: either the page was read after E
// (W ≥ E), or the hub has told E and touched[a] ≥ E > W drops the entry.
// The bus only decides how soon a hit is possible, never whether one is
// correct: a replica whose listener is down or behind reads the database.
// A Resync, the hub's start or an event whose subject could not be loaded
// drops the whole cache anyway.
//
// Changes written without an event — a camera, shop or register renamed, a
// thumbnail reason set by retention or a retake count — do not enter the
// probe; an entry lives at most MaxAge, which bounds how long such a change
// can stay unseen on a cached page.
package pagecache

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Options tune a Cache.
type Options struct {
	// MaxRows bounds the entries held over all cached pages (a page of
	// 50 holds 50), and so the memory: an entry with its edges is a few KiB.
	MaxRows int
	// MaxAge bounds how long a page is served from memory; it is the
	// staleness bound of changes that carry no event (renames).
	MaxAge time.Duration
	// MaxWait is how long a hit waits for the hub to catch up with the
	// newest committed event before reading the database instead.
	MaxWait time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.MaxRows <= 0 {
		o.MaxRows = 20_000
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 3 * time.Second
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 20 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Cache holds the first pages of one process.
type Cache struct {
	client *ent.Client
	opt    Options

	mu      sync.Mutex
	gen     uint64 // bumped by every Reset: fills begun before it are not kept
	applied int64  // highest event id the hub has told; -1 before its start
	moved   chan struct{}
	touched map[pulid.ID]int64
	pages   map[pulid.ID]map[key]*entry // by account, so a touch drops them at once
	rows    int                         // entries held over all pages

	stats Stats
}

// Stats counts how first pages were answered.
type Stats struct {
	Hits, Misses, Bypassed, Waited uint64
}

type key struct {
	account            pulid.ID
	view               string // restricted shops and private-read permission
	cameras, terminals string
	shops, kinds       string
	first              int
	variant            string
}

type entry struct {
	page *journal.Page
	w    int64 // the newest committed event id read before the page
	gen  uint64
	at   time.Time
}

// New returns an empty cache over client; Follow connects it to the hub.
func New(client *ent.Client, opt Options) *Cache {
	opt.defaults()
	return &Cache{client: client, opt: opt, applied: -1, moved: make(chan struct{}),
		touched: map[pulid.ID]int64{}, pages: map[pulid.ID]map[key]*entry{}}
}

// Follow makes the cache follow h's events; until h has started the cache
// reads the database.
func (c *Cache) Follow(h *feed.Hub) {
	if c != nil {
		h.Observe(c.apply)
	}
}

// Following is New and Follow in one: the cache of a process, following its
// hub.
func Following(h *feed.Hub, client *ent.Client, opt Options) *Cache {
	c := New(client, opt)
	c.Follow(h)
	return c
}

// Stats returns the counters so far.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *Cache) apply(a feed.Advance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.Reset || a.Incomplete {
		c.dropAll()
	}
	for _, ev := range a.Events {
		if ev.Type == event.TypeALERT || ev.Entry == nil {
			continue // an alert changes no journal row
		}
		acct := ev.Entry.AccountID
		c.touched[acct] = max(c.touched[acct], ev.ID)
		for k, e := range c.pages[acct] {
			if e.w < ev.ID { // a page read after the event already has it
				delete(c.pages[acct], k)
				c.rows -= len(e.page.Edges)
			}
		}
	}
	if a.Head > c.applied {
		c.applied = a.Head
		close(c.moved)
		c.moved = make(chan struct{})
	}
}

func (c *Cache) dropAll() {
	c.gen++
	clear(c.pages)
	clear(c.touched)
	c.rows = 0
}

// Query adds the eager loading a GraphQL selection asks for (as
// journal.List takes it).
type Query = func(*ent.JournalEntryQuery) (*ent.JournalEntryQuery, error)

// List is journal.List with the first page of a tab served from memory when
// that is provably current. variant names what query loads (the edges),
// since entries loaded with other edges are another page. The page and its
// entries may be shared with other requests: callers read, never change them.
func (c *Cache) List(ctx context.Context, f journal.Filter, first int, after *journal.Cursor, variant string, query Query) (*journal.Page, error) {
	k, ok := keyOf(ctx, f, first, after, variant)
	if !ok {
		c.count(func(s *Stats) { s.Bypassed++ })
		return journal.List(ctx, c.client, f, first, after, query)
	}
	m, err := newest(ctx, c.client)
	if err != nil {
		return nil, err
	}
	deadline := c.opt.Now().Add(c.opt.MaxWait)
	c.mu.Lock()
	for {
		e := c.pages[k.account][k]
		if e == nil || e.gen != c.gen || c.opt.Now().Sub(e.at) > c.opt.MaxAge || c.touched[k.account] > e.w {
			break
		}
		if e.w >= m || c.applied >= m {
			c.stats.Hits++
			c.mu.Unlock()
			return e.page, nil
		}
		// The hub has not told every committed event yet; wait for it a
		// moment rather than read the page again.
		left := deadline.Sub(c.opt.Now())
		if left <= 0 {
			break
		}
		c.stats.Waited++
		moved := c.moved
		c.mu.Unlock()
		t := time.NewTimer(left)
		select {
		case <-moved:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
		c.mu.Lock()
	}
	c.stats.Misses++
	gen, started := c.gen, c.applied >= 0
	c.mu.Unlock()

	page, err := journal.List(ctx, c.client, f, first, after, query)
	if err != nil || !started {
		return page, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.touched[k.account] > m {
		return page, nil // an event of the account came during the read: the page may or may not have it
	}
	if len(page.Edges) > c.opt.MaxRows {
		return page, nil
	}
	for c.rows+len(page.Edges) > c.opt.MaxRows {
		if !c.evictOne() {
			break
		}
	}
	byKey := c.pages[k.account]
	if byKey == nil {
		byKey = map[key]*entry{}
		c.pages[k.account] = byKey
	}
	if old := byKey[k]; old != nil {
		c.rows -= len(old.page.Edges)
	}
	byKey[k] = &entry{page: page, w: m, gen: gen, at: c.opt.Now()}
	c.rows += len(page.Edges)
	return page, nil
}

func (c *Cache) count(fn func(*Stats)) {
	c.mu.Lock()
	fn(&c.stats)
	c.mu.Unlock()
}

// evictOne drops the oldest page of some account: crude, but bounded and
// only reached with MaxRows entries cached. It reports false when nothing
// is left to drop.
func (c *Cache) evictOne() bool {
	for acct, byKey := range c.pages {
		var oldest *entry
		var ok key
		for k, e := range byKey {
			if oldest == nil || e.at.Before(oldest.at) {
				oldest, ok = e, k
			}
		}
		if oldest != nil {
			delete(byKey, ok)
			c.rows -= len(oldest.page.Edges)
		}
		if len(byKey) == 0 {
			delete(c.pages, acct)
		}
		return true
	}
	return false
}

// newest is the newest committed event id: the primary key's last entry,
// read as the system so a viewer's privacy filter cannot turn it into a
// scan of the account's events.
func newest(ctx context.Context, client *ent.Client) (int64, error) {
	ids, err := client.Event.Query().Order(ent.Desc(event.FieldID)).Limit(1).IDs(viewer.System(ctx))
	if err != nil {
		return 0, fmt.Errorf("newest event: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	return ids[0], nil
}

// keyOf is the cache key of a first page of the tabs' filters; ok is false
// for everything the cache leaves to the database.
func keyOf(ctx context.Context, f journal.Filter, first int, after *journal.Cursor, variant string) (key, bool) {
	if after != nil || f.AccountID == "" || f.Search != "" || f.From != nil || f.To != nil ||
		f.MinTotal != nil || f.MaxTotal != nil || len(f.PaymentMethods) > 0 || f.ItemText != "" ||
		f.MaskedCard != "" || f.ExternalID != "" || f.Staff != "" || f.Restricted {
		return key{}, false
	}
	v, ok := viewer.FromContext(ctx)
	if !ok || v.AccountID != f.AccountID {
		return key{}, false
	}
	view := "all"
	if v.Restricted {
		view = "shops:" + ids(v.ShopIDs)
	}
	if v.Allows(viewer.ScopeAdmin) {
		view += "+admin"
	}
	kinds := make([]string, len(f.Kinds))
	for i, k := range f.Kinds {
		kinds[i] = string(k)
	}
	return key{account: f.AccountID, view: view, cameras: ids(f.CameraIDs), terminals: ids(f.TerminalIDs),
		shops: ids(f.ShopIDs), kinds: set(kinds), first: first, variant: variant}, true
}

func ids(l []pulid.ID) string {
	s := make([]string, len(l))
	for i, id := range l {
		s[i] = string(id)
	}
	return set(s)
}

// set is a list as a sorted, de-duplicated string: the order of the ids a
// client sends does not change the page.
func set(s []string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}
