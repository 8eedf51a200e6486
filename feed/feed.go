// Package feed streams outbox events to live subscribers: journal events
// (Subscription.journal) and alerts (Subscription.alerts, through
// alerts.Service), one event type per stream. Each process has one Hub: it
// re-reads new events from the outbox table once (when the bus says there
// are some) and every local subscriber pulls from that shared, bounded
// window. A subscriber that falls behind the window, or resumes from an old
// cursor, catches up from the table, so nothing is lost and no subscriber
// can make the hub wait. A new live stream is a new event type (see
// ent/schema/event.go) and what load attaches to it, not a new hub.
package feed

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
)

// Event is one outbox event with what it announces, as loaded after the
// event: the entry of a journal event, or the alert of an ALERT event.
type Event struct {
	ID    int64
	Type  event.Type
	Entry *ent.JournalEntry
	Alert *ent.Alert
}

// JournalTypes are the event types of the journal stream.
var JournalTypes = []event.Type{event.TypeADDED, event.TypeUPDATED, event.TypeTHUMBNAIL}

// AlertTypes are the event types of the alert stream.
var AlertTypes = []event.Type{event.TypeALERT}

// Cursor returns the opaque resume point of e.
func (e Event) Cursor() string { return EncodeCursor(e.ID) }

// EncodeCursor returns the opaque cursor for an event id.
func EncodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("ev:" + strconv.FormatInt(id, 10)))
}

// DecodeCursor parses a subscription cursor; field names the argument.
func DecodeCursor(s, field string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if v, ok := strings.CutPrefix(string(raw), "ev:"); ok {
			if id, err := strconv.ParseInt(v, 10, 64); err == nil && id >= 0 {
				return id, nil
			}
		}
	}
	return 0, apperr.Invalid(field, "カーソルが不正です (malformed cursor): use the cursor of a received event").Because(apperr.CURSOR_INVALID)
}

// Options tune a Hub.
type Options struct {
	// Window is how many recent events stay in memory for subscribers.
	Window int
	// Poll re-reads the table this often even without a signal, a safety
	// net for lost notifications.
	Poll time.Duration
	// Batch is how many events one table read returns.
	Batch int
	// SendBuffer is each subscriber's channel capacity.
	SendBuffer int
}

func (o *Options) defaults() {
	if o.Window <= 0 {
		o.Window = 8192
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.SendBuffer <= 0 {
		o.SendBuffer = 64
	}
}

// Hub is the per-process reader and fan-out point.
type Hub struct {
	client *ent.Client
	bus    pubsub.Bus
	log    *slog.Logger
	opt    Options

	mu     sync.Mutex
	base   int64   // the window holds every event with id in (base, head]
	head   int64   // highest event id read from the table
	window []Event // ascending ids
	wake   chan struct{}
	ready  chan struct{}

	obsMu     sync.Mutex // orders the calls to observers
	observers []func(Advance)
}

// Advance is one step of the hub's reading, told to observers (Observe) in
// order: what a process derives from events (pagecache) stays
// exactly as current as the hub.
type Advance struct {
	// Head is the hub's head after the step: every event with an id up to
	// Head has been told.
	Head int64
	// Events are the events the step read, with their subjects.
	Events []Event
	// Incomplete: some event read had no subject to load, so it is not in
	// Events and its account is unknown.
	Incomplete bool
	// Reset: the hub (re)started or its bus lost notifications (Resync);
	// whatever was derived before may be stale.
	Reset bool
}

// Observe calls fn with every later Advance of the hub, in order, on the
// hub's goroutine, and at once with a Reset at the current head if the hub
// has started. fn must be quick and must not call the hub.
func (h *Hub) Observe(fn func(Advance)) {
	h.obsMu.Lock()
	defer h.obsMu.Unlock()
	h.mu.Lock()
	head := h.head
	started := false
	select {
	case <-h.ready:
		started = true
	default:
	}
	h.mu.Unlock()
	if started {
		fn(Advance{Head: head, Reset: true})
	}
	h.observers = append(h.observers, fn)
}

func (h *Hub) tell(a Advance) {
	h.obsMu.Lock()
	defer h.obsMu.Unlock()
	for _, fn := range h.observers {
		fn(a)
	}
}

// NewHub returns a Hub; call Run to start it.
func NewHub(client *ent.Client, bus pubsub.Bus, log *slog.Logger, opt Options) *Hub {
	opt.defaults()
	if log == nil {
		log = slog.Default()
	}
	return &Hub{client: client, bus: bus, log: log, opt: opt,
		wake: make(chan struct{}), ready: make(chan struct{})}
}

// Run reads new events until ctx ends or the bus closes.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.start(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(h.opt.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case sig, ok := <-h.bus.Signals():
			if !ok {
				return nil
			}
			if sig.Resync {
				h.tell(Advance{Head: h.headNow(), Reset: true})
			}
		case <-tick.C:
		}
		if err := h.advance(ctx); err != nil && ctx.Err() == nil {
			h.log.WarnContext(ctx, "feed read failed", "err", err)
		}
	}
}

// Newest returns the id of the newest committed event (0 when none).
func Newest(ctx context.Context, client *ent.Client) (int64, error) {
	last, err := client.Event.Query().Order(ent.Desc(event.FieldID)).First(ctx)
	if ent.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("newest event: %w", err)
	}
	return last.ID, nil
}

// start sets the window to begin at the current end of the table.
func (h *Hub) start(ctx context.Context) error {
	head, err := Newest(ctx, h.client)
	if err != nil {
		return fmt.Errorf("feed start: %w", err)
	}
	h.mu.Lock()
	h.base, h.head = head, head
	close(h.ready)
	h.mu.Unlock()
	h.tell(Advance{Head: head, Reset: true})
	return nil
}

// Head returns the id of the newest event the hub has read.
func (h *Hub) Head(ctx context.Context) (int64, error) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.head, nil
}

// advance reads every event after head into the window and wakes waiters.
func (h *Hub) advance(ctx context.Context) error {
	for {
		h.mu.Lock()
		from := h.head
		h.mu.Unlock()
		evs, n, last, err := load(ctx, h.client, from, h.opt.Batch, nil)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		h.mu.Lock()
		h.window = append(h.window, evs...)
		h.head = last
		if over := len(h.window) - h.opt.Window; over > 0 {
			h.base = h.window[over-1].ID
			h.window = append([]Event(nil), h.window[over:]...)
		}
		close(h.wake)
		h.wake = make(chan struct{})
		h.mu.Unlock()
		h.tell(Advance{Head: last, Events: evs, Incomplete: len(evs) < n})
		if n < h.opt.Batch {
			return nil
		}
	}
}

// since returns window events after pos, whether the window covers pos,
// and the channel that closes when more arrive.
func (h *Hub) since(pos int64) ([]Event, bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if pos < h.base {
		return nil, false, h.wake
	}
	i := sort.Search(len(h.window), func(i int) bool { return h.window[i].ID > pos })
	return h.window[i:], true, h.wake
}

// headNow is the hub's head without waiting for start (0 before it).
func (h *Hub) headNow() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.head
}

// load reads up to limit events after id `after` (of types, all when
// empty), in id order, with what each announces: entries with the edges a
// journal view shows, alerts as stored; a query per kind of subject
// whatever the number of events. n is the number of rows read and last the
// id of the last one; an event whose subject ctx may not see is left out.
func load(ctx context.Context, client *ent.Client, after int64, limit int, types []event.Type) (evs []Event, n int, last int64, err error) {
	q := client.Event.Query().Where(event.IDGT(after))
	if len(types) > 0 {
		q = q.Where(event.TypeIn(types...))
	}
	rows, err := q.Order(ent.Asc(event.FieldID)).Limit(limit).All(ctx)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("read events: %w", err)
	}
	if len(rows) == 0 {
		return nil, 0, 0, nil
	}
	var entryIDs, alertIDs []pulid.ID
	for _, r := range rows {
		if r.Type == event.TypeALERT {
			alertIDs = append(alertIDs, r.AlertID)
		} else {
			entryIDs = append(entryIDs, r.EntryID)
		}
	}
	entries := make(map[pulid.ID]*ent.JournalEntry, len(entryIDs))
	if len(entryIDs) > 0 {
		es, err := client.JournalEntry.Query().Where(journalentry.IDIn(entryIDs...)).Select(journal.ListColumns...).
			WithCamera().WithTerminal().WithShop().WithThumbnail().All(ctx)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("read event entries: %w", err)
		}
		for _, e := range es {
			entries[e.ID] = e
		}
	}
	alerts := make(map[pulid.ID]*ent.Alert, len(alertIDs))
	if len(alertIDs) > 0 {
		as, err := client.Alert.Query().Where(alert.IDIn(alertIDs...)).All(ctx)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("read event alerts: %w", err)
		}
		for _, a := range as {
			alerts[a.ID] = a
		}
	}
	evs = make([]Event, 0, len(rows))
	for _, r := range rows {
		ev := Event{ID: r.ID, Type: r.Type}
		if r.Type == event.TypeALERT {
			ev.Alert = alerts[r.AlertID]
		} else {
			ev.Entry = entries[r.EntryID]
		}
		if ev.Entry != nil || ev.Alert != nil {
			evs = append(evs, ev)
		}
	}
	return evs, len(rows), rows[len(rows)-1].ID, nil
}

// Subscribe streams journal events matching f after the event id `after`
// (nil: only events from now on). The channel closes when ctx ends.
func (h *Hub) Subscribe(ctx context.Context, f journal.Filter, after *int64) (<-chan *Event, error) {
	f.ForViewer(ctx)
	return h.Stream(ctx, JournalTypes, after, func(ev *Event) bool { return f.Match(ev.Entry) })
}

// Stream streams the events of types that keep accepts, after the event id
// `after` (nil: only events from now on), in id order. keep runs on the
// subscriber's goroutine and must not change the event (subscribers share
// it). The channel closes when ctx ends.
func (h *Hub) Stream(ctx context.Context, types []event.Type, after *int64, keep func(*Event) bool) (<-chan *Event, error) {
	pos, err := h.Head(ctx)
	if err != nil {
		return nil, err
	}
	if after != nil {
		pos = *after
	}
	ch := make(chan *Event, h.opt.SendBuffer)
	go h.serve(ctx, types, keep, pos, ch)
	return ch, nil
}

func (h *Hub) serve(ctx context.Context, types []event.Type, keep func(*Event) bool, pos int64, ch chan<- *Event) {
	defer close(ch)
	stream := metrics.StreamJournal
	if slices.Contains(types, event.TypeALERT) {
		stream = metrics.StreamAlerts
	}
	defer metrics.SubscriptionOpened(stream)()
	for {
		evs, covered, wake := h.since(pos)
		next := pos
		if !covered {
			// Behind the window: catch up from the table, then look again.
			head := h.headNow()
			var n int
			var err error
			if evs, n, next, err = load(ctx, h.client, pos, h.opt.Batch, types); err != nil {
				if ctx.Err() == nil {
					h.log.WarnContext(ctx, "feed catch-up failed", "err", err)
					select {
					case <-time.After(time.Second):
					case <-ctx.Done():
					}
				}
				if ctx.Err() != nil {
					return
				}
				continue
			}
			// A short read saw every event of these types up to the hub's
			// head (the hub had read them, so they were visible): the window
			// takes over from there, even for a stream whose events are rare.
			if n < h.opt.Batch {
				next = max(next, head)
			}
		}
		for i := range evs {
			ev := &evs[i]
			pos = ev.ID
			if !slices.Contains(types, ev.Type) || !keep(ev) {
				continue
			}
			select {
			case ch <- ev:
				if covered {
					// Live, not a catch-up replay of old events.
					metrics.FeedLag(stream, writtenAt(ev))
				}
			case <-ctx.Done():
				return
			}
		}
		if next > pos {
			pos = next
			continue
		}
		if len(evs) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}

// writtenAt is when ev's transaction wrote it, as far as its subject says:
// a new entry's receivedAt, an alert's createdAt; zero (not measured) for
// events about an entry written earlier (UPDATED, THUMBNAIL).
func writtenAt(ev *Event) time.Time {
	switch {
	case ev.Type == event.TypeADDED && ev.Entry != nil:
		return ev.Entry.ReceivedAt
	case ev.Type == event.TypeALERT && ev.Alert != nil:
		return ev.Alert.CreatedAt
	}
	return time.Time{}
}
