// Package feed streams journal events to live subscribers. Each process has
// one Hub: it re-reads new events from the outbox table once (when the bus
// says there are some) and every local subscriber pulls from that shared,
// bounded window. A subscriber that falls behind the window, or resumes
// from an old cursor, catches up from the table, so nothing is lost and no
// subscriber can make the hub wait.
package feed

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pubsub"
)

// Event is one outbox event with its entry as loaded after the event.
type Event struct {
	ID    int64
	Type  event.Type
	Entry *ent.JournalEntry
}

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
	return 0, apperr.Invalid(field, "カーソルが不正です (malformed cursor): use the cursor of a received event")
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
		case _, ok := <-h.bus.Signals():
			if !ok {
				return nil
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
	h.mu.Unlock()
	close(h.ready)
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
		evs, err := Load(ctx, h.client, from, h.opt.Batch)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		h.mu.Lock()
		h.window = append(h.window, evs...)
		h.head = evs[len(evs)-1].ID
		if over := len(h.window) - h.opt.Window; over > 0 {
			h.base = h.window[over-1].ID
			h.window = append([]Event(nil), h.window[over:]...)
		}
		close(h.wake)
		h.wake = make(chan struct{})
		h.mu.Unlock()
		if len(evs) < h.opt.Batch {
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

// Load reads up to limit events after id `after`, in id order, with their
// entries and the edges a journal view shows, in three queries whatever the
// number of events.
func Load(ctx context.Context, client *ent.Client, after int64, limit int) ([]Event, error) {
	rows, err := client.Event.Query().Where(event.IDGT(after)).
		Order(ent.Asc(event.FieldID)).Limit(limit).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]pulid.ID, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.EntryID)
	}
	entries, err := client.JournalEntry.Query().Where(journalentry.IDIn(ids...)).Select(journal.ListColumns...).
		WithCamera().WithTerminal().WithShop().WithThumbnail().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read event entries: %w", err)
	}
	byID := make(map[pulid.ID]*ent.JournalEntry, len(entries))
	for _, e := range entries {
		byID[e.ID] = e
	}
	out := make([]Event, 0, len(rows))
	for _, r := range rows {
		if e := byID[r.EntryID]; e != nil {
			out = append(out, Event{ID: r.ID, Type: r.Type, Entry: e})
		}
	}
	return out, nil
}

// Subscribe streams events matching f after the event id `after` (nil:
// only events from now on). The channel closes when ctx ends.
func (h *Hub) Subscribe(ctx context.Context, f journal.Filter, after *int64) (<-chan *Event, error) {
	f.ForViewer(ctx)
	pos, err := h.Head(ctx)
	if err != nil {
		return nil, err
	}
	if after != nil {
		pos = *after
	}
	ch := make(chan *Event, h.opt.SendBuffer)
	go h.serve(ctx, f, pos, ch)
	return ch, nil
}

func (h *Hub) serve(ctx context.Context, f journal.Filter, pos int64, ch chan<- *Event) {
	defer close(ch)
	for {
		evs, covered, wake := h.since(pos)
		if !covered {
			// Behind the window: catch up from the table, then look again.
			var err error
			if evs, err = Load(ctx, h.client, pos, h.opt.Batch); err != nil {
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
		}
		for i := range evs {
			ev := &evs[i]
			pos = ev.ID
			if !f.Match(ev.Entry) {
				continue
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
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
