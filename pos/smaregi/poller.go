package smaregi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/regicam/regicam/pos"
)

// PollerOptions tune a Poller; zero values take the defaults.
type PollerOptions struct {
	// Overlap re-reads the end of the previous window on every poll. It
	// covers Smaregi committing a change a little after stamping its
	// updDateTime and clock skew between us and Smaregi; ingest drops what
	// it has already seen. Default 5m.
	Overlap time.Duration
	// InitialLookback is where the first poll of a connection starts.
	// Default 24h; use a backfill for anything older.
	InitialLookback time.Duration
	// MaxWindowsPerPoll bounds catch-up after a long outage: each poll reads
	// at most this many 31-day windows and the cursor moves on from there.
	// Default 3.
	MaxWindowsPerPoll int
	// StoreID limits reads to one store ("" = all).
	StoreID string
	// Terminal keeps records of the registers it returns true for (nil =
	// all). Smaregi cannot filter by terminal.
	Terminal func(terminalID string) bool
	Now      func() time.Time
}

// Poller turns a Client into what the poll runtime (pos/polling) needs:
// Poll with a cursor, Backfill in windows with progress, and webhook
// handling. Its method sets match pos.Source and pos.Backfiller.
type Poller struct {
	c   *Client
	opt PollerOptions

	mu       sync.Mutex
	stores   map[string]string
	storesAt time.Time
	warned   map[string]bool
	// unreadable counts reads of transaction versions with junk amounts.
	unreadable map[string]int
	lastStore  error
	failedAt   time.Time
}

// NewPoller returns a Poller reading through c.
func NewPoller(c *Client, opt PollerOptions) *Poller {
	if opt.Overlap <= 0 {
		opt.Overlap = 5 * time.Minute
	}
	if opt.InitialLookback <= 0 {
		opt.InitialLookback = 24 * time.Hour
	}
	if opt.MaxWindowsPerPoll <= 0 {
		opt.MaxWindowsPerPoll = 3
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Poller{c: c, opt: opt, warned: map[string]bool{}}
}

const cursorPrefix = "smaregi:upd:"

// Cursor encodes the end of the last upd_date_time window read.
func Cursor(t time.Time) string { return cursorPrefix + t.UTC().Format(time.RFC3339) }

// ParseCursor decodes a Cursor.
func ParseCursor(s string) (time.Time, error) {
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return time.Time{}, fmt.Errorf("smaregi: not a cursor: %q", clip(s, 60))
	}
	return time.Parse(time.RFC3339, rest)
}

// Poll reads transactions whose updDateTime lies in [cursor − Overlap, now]
// (split into 31-day windows, at most MaxWindowsPerPoll of them) and returns
// their records and the cursor to store once they are ingested. An empty
// or unreadable cursor starts InitialLookback ago. On error nothing is
// returned and the old cursor stays valid.
func (p *Poller) Poll(ctx context.Context, cursor string) ([]pos.Record, string, error) {
	now := p.opt.Now().Truncate(time.Second)
	from := now.Add(-p.opt.InitialLookback)
	if cursor != "" {
		if t, err := ParseCursor(cursor); err != nil {
			p.c.log.Warn("smaregi cursor unreadable; starting over", "cursor", clip(cursor, 60), "err", err)
		} else {
			from = t.Add(-p.opt.Overlap)
		}
	}
	if from.After(now) { // our clock went back, or the cursor came from a skewed host
		from = now.Add(-p.opt.Overlap)
	}
	windows := SplitWindows(from, now, MaxWindow)
	if len(windows) > p.opt.MaxWindowsPerPoll {
		windows = windows[:p.opt.MaxWindowsPerPoll]
	}
	var recs []pos.Record
	for _, w := range windows {
		w.Field = FieldUpdated
		ts, err := p.c.Transactions(ctx, w, p.opt.StoreID)
		if err != nil {
			return nil, cursor, err
		}
		got, err := p.records(ctx, ts)
		if err != nil {
			return nil, cursor, err
		}
		recs = append(recs, got...)
	}
	return recs, Cursor(windows[len(windows)-1].To), nil
}

// Backfill reads [from, to] by transactionDateTime in 31-day windows and
// hands each window's records to emit with its position, for progress.
func (p *Poller) Backfill(ctx context.Context, from, to time.Time, emit func(window, windows int, recs []pos.Record) error) error {
	if to.Before(from) {
		return fmt.Errorf("smaregi: backfill range ends before it starts")
	}
	windows := SplitWindows(from, to, MaxWindow)
	for i, w := range windows {
		w.Field = FieldTransaction
		ts, err := p.c.Transactions(ctx, w, p.opt.StoreID)
		if err != nil {
			return fmt.Errorf("smaregi: backfill window %d/%d: %w", i+1, len(windows), err)
		}
		got, err := p.records(ctx, ts)
		if err != nil {
			return err
		}
		if err := emit(i+1, len(windows), got); err != nil {
			return err
		}
	}
	return nil
}

// Webhook re-fetches the ids a notification names and returns their
// records. For deleted / bulk-deleted, ids Smaregi no longer has become
// DELETE records at the time we learned of it; an id that still exists is
// read as it is now, so a late or repeated notification cannot contradict
// the provider. Other events give no records.
func (p *Poller) Webhook(ctx context.Context, wh Webhook) ([]pos.Record, error) {
	if wh.ContractID != p.c.ContractID() {
		return nil, fmt.Errorf("smaregi webhook: contract %q is not this connection's", clip(wh.ContractID, 100))
	}
	if wh.Event != EventTransactions || len(wh.IDs) == 0 {
		return nil, nil
	}
	found, missing, err := p.c.Get(ctx, wh.IDs)
	if err != nil {
		return nil, err
	}
	recs, err := p.records(ctx, found)
	if err != nil {
		return nil, err
	}
	if wh.IsDeletion() {
		at := p.opt.Now()
		for _, id := range missing {
			recs = append(recs, DeleteRecord(id, "", at))
		}
	} else if len(missing) > 0 {
		p.c.log.Info("smaregi webhook names transactions that are gone", "action", wh.Action, "ids", missing)
	}
	return recs, nil
}

// maxUnreadable is how often one version of a transaction may come back
// with unreadable amounts before it is skipped (with a warning) so that a
// provider that always sends junk cannot stall the connection.
const maxUnreadable = 3

// records is Records, but a transaction whose amounts do not read fails the
// batch (so the cursor stays and it is read again) until it has done so
// maxUnreadable times.
func (p *Poller) records(ctx context.Context, ts []Transaction) ([]pos.Record, error) {
	for _, t := range ts {
		if _, err := MapTransaction(t); errors.Is(err, ErrUnreadableAmount) {
			key := t.TransactionHeadID + "|" + t.UpdDateTime
			p.mu.Lock()
			if p.unreadable == nil {
				p.unreadable = map[string]int{}
			}
			p.unreadable[key]++
			n := p.unreadable[key]
			p.mu.Unlock()
			if n <= maxUnreadable {
				return nil, err
			}
		}
	}
	return p.Records(ctx, ts), nil
}

// Records maps transactions, keeps the wanted terminals and names their
// stores. Odd transactions are logged once each; ones whose amounts do not
// read are left out.
func (p *Poller) Records(ctx context.Context, ts []Transaction) []pos.Record {
	names := p.storeNames(ctx)
	var out []pos.Record
	for _, t := range ts {
		recs, err := MapTransaction(t)
		if err != nil {
			p.warnOnce(t.TransactionHeadID+"|"+t.UpdDateTime, "smaregi transaction odd", "transaction_head_id", t.TransactionHeadID, "err", err)
		}
		for _, r := range recs {
			if p.opt.Terminal != nil && !p.opt.Terminal(r.TerminalExternalID) {
				continue
			}
			r.StoreName = names[r.StoreExternalID]
			out = append(out, r)
		}
	}
	return out
}

func (p *Poller) warnOnce(key, msg string, args ...any) {
	p.mu.Lock()
	seen := p.warned[key]
	if !seen {
		if len(p.warned) > 10000 {
			p.warned = map[string]bool{}
		}
		p.warned[key] = true
	}
	p.mu.Unlock()
	if !seen {
		p.c.log.Warn(msg, args...)
	}
}

// storeNames is cached for an hour: stores are renamed rarely and the rate
// budget is better spent on transactions. A failure leaves names empty
// rather than failing the poll.
func (p *Poller) storeNames(ctx context.Context) map[string]string {
	p.mu.Lock()
	now := p.opt.Now()
	fresh := p.stores != nil && now.Sub(p.storesAt) < time.Hour ||
		!p.failedAt.IsZero() && now.Sub(p.failedAt) < 5*time.Minute
	names := p.stores
	p.mu.Unlock()
	if fresh {
		if names == nil {
			return map[string]string{}
		}
		return names
	}
	stores, err := p.c.Stores(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if p.lastStore == nil || p.lastStore.Error() != err.Error() {
			p.c.log.Warn("smaregi stores unavailable", "err", err)
		}
		p.lastStore, p.failedAt = err, p.opt.Now()
		if p.stores == nil {
			return map[string]string{}
		}
		return p.stores
	}
	p.lastStore, p.failedAt = nil, time.Time{}
	p.stores = make(map[string]string, len(stores))
	for _, s := range stores {
		p.stores[s.ID] = s.Name
	}
	p.storesAt = p.opt.Now()
	return p.stores
}
