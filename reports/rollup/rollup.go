// Package rollup keeps daily sales figures per shop, terminal, staff and
// payment method, so package reports can answer whole days by adding up a
// few rows instead of scanning the journal (a chain-wide month, 400 days).
//
// Each shop's rows are cut into days in one timezone, the one its
// RollupShop row names; a row exists only once every entry of the shop is
// counted. Package reports uses the rows when every shop in scope has one
// in the zone it is asked for, and reads the journal otherwise (and for
// partial days and HOUR rows), so an answer never depends on whether the
// rows are there.
//
// Exactly once, in the ingest transaction. Count is ingest's Rollups hook:
// it upserts the affected day rows inside the transaction that inserts the
// entries, after the event lock (ingest.EventLockKey). Rejected
// alternative: an incremental job following the outbox past a durable
// cursor. It needs a cursor table, a lease, and a lag during which a
// summary must either fall back to the journal or miss the newest entries;
// counting in the entry's own transaction has none of these. Its price is
// paid under the event lock: one indexed read of rollup_shops and one
// multi-row upsert per ingest transaction. Duplicates insert no entry
// and so count nothing; a rolled-back ingest rolls its counts back; a late
// cancel is its own entry and counts on its own day, exactly as the journal
// query does. Days are cut with Go's zone database here and with
// PostgreSQL's in the journal query; they agree while both are current.
//
// Existing entries. Sync builds the rows of every shop without a
// RollupShop row, or whose timezone changed since (its rows are cut in the
// old zone), one shop per transaction under the event lock: it deletes the
// shop's rows, recounts its entries from the journal and writes the
// RollupShop row. The lock keeps ingest's upserts out while a shop is
// recounted (on SQLite the write transaction does), so an entry is either
// in the recount or upserted after it. A crash loses at most the shop in
// progress, which the next Sync does again; Run calls Sync at start-up and
// then every minute, which also takes in new shops.
//
// Writers that bypass ingest. Verify compares each built shop's rows with
// its journal in one snapshot and rebuilds a shop that differs: a replica
// of a version without rollups ingesting during a rolling upgrade, a bulk
// load (the benchmark harness's COPY seed), rows deleted by hand. Run
// verifies at start-up and every six hours; a writer that knows what it
// touched calls Rebuild.
package rollup

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pulid"
)

// Dimension is what a row splits a shop's day by.
type Dimension string

const (
	// Shop rows (key "") hold a shop's whole day.
	Shop          Dimension = "SHOP"
	Terminal      Dimension = "TERMINAL"
	Staff         Dimension = "STAFF"
	PaymentMethod Dimension = "PAYMENT_METHOD"
)

var dimensions = []Dimension{Shop, Terminal, Staff, PaymentMethod}

// DefaultTimezone is the zone of a shop whose timezone is empty, as in
// package reports.
const DefaultTimezone = "Asia/Tokyo"

// Figures are the sums of one row, as package reports defines them.
type Figures struct {
	Sales, Refunds                                    int64
	SalesCount, RefundCount, ModifyCount, DeleteCount int64
}

func (f *Figures) add(o Figures) {
	f.Sales += o.Sales
	f.Refunds += o.Refunds
	f.SalesCount += o.SalesCount
	f.RefundCount += o.RefundCount
	f.ModifyCount += o.ModifyCount
	f.DeleteCount += o.DeleteCount
}

// figuresOf is one entry's part of its day, the journal query's CASE
// expressions in Go; ok is false for kinds that move no figure.
func figuresOf(kind journalentry.Kind, total int64) (Figures, bool) {
	switch kind {
	case journalentry.KindPAYMENT:
		return Figures{Sales: total, SalesCount: 1}, true
	case journalentry.KindCANCEL:
		if total < 0 {
			total = -total
		}
		return Figures{Refunds: total, RefundCount: 1}, true
	case journalentry.KindMODIFY:
		return Figures{ModifyCount: 1}, true
	case journalentry.KindDELETE:
		return Figures{DeleteCount: 1}, true
	}
	return Figures{}, false
}

// Store maintains and reads the rollups.
type Store struct {
	DB      *sql.DB
	Dialect string
	Log     *slog.Logger
	// Interval between Syncs in Run; default one minute.
	Interval time.Duration
	// VerifyInterval between Verifys in Run; default six hours.
	VerifyInterval time.Duration

	zones sync.Map // zone name → *time.Location
}

// New returns a Store over db (entgo's dialect name).
func New(db *sql.DB, dialectName string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.Default()
	}
	return &Store{DB: db, Dialect: dialectName, Log: log}
}

// conn is what writing needs; *ent.Tx and *sql.Tx both provide it.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Count adds new entries to their shops' day rows, in the transaction that
// inserts them (ingest.Rollups). Entries of shops not built yet are left
// to their build, which counts them from the journal.
func (s *Store) Count(ctx context.Context, tx *ent.Tx, entries []*ent.JournalEntry) error {
	var shops []pulid.ID
	for _, e := range entries {
		if _, ok := figuresOf(e.Kind, e.Total); ok && !slices.Contains(shops, e.ShopID) {
			shops = append(shops, e.ShopID)
		}
	}
	if len(shops) == 0 {
		return nil
	}
	zones, err := s.builtZones(ctx, tx, shops)
	if err != nil {
		return err
	}
	t := tally{}
	for _, e := range entries {
		loc := zones[e.ShopID]
		if loc == nil {
			continue
		}
		t.add(loc, e.AccountID, e.ShopID, e.TerminalID, e.StaffName, e.PaymentMethod, e.Kind, e.Total, e.OccurredAt)
	}
	return s.upsert(ctx, tx, t)
}

// builtZones returns the zone of each of shops that has a RollupShop row.
func (s *Store) builtZones(ctx context.Context, c conn, shops []pulid.ID) (map[pulid.ID]*time.Location, error) {
	args := make([]any, len(shops))
	for i, id := range shops {
		args[i] = string(id)
	}
	rows, err := c.QueryContext(ctx, "SELECT shop_id, timezone FROM rollup_shops WHERE shop_id IN ("+s.params(1, len(shops))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("rollup zones: %w", err)
	}
	defer rows.Close()
	out := make(map[pulid.ID]*time.Location, len(shops))
	for rows.Next() {
		var id, zone string
		if err := rows.Scan(&id, &zone); err != nil {
			return nil, fmt.Errorf("rollup zones: %w", err)
		}
		loc, err := s.location(zone)
		if err != nil {
			return nil, err
		}
		out[pulid.ID(id)] = loc
	}
	return out, rows.Err()
}

func (s *Store) location(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultTimezone
	}
	if l, ok := s.zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("rollup timezone %q: %w", name, err)
	}
	s.zones.Store(name, loc)
	return loc, nil
}

// rowKey names one row.
type rowKey struct {
	account, shop pulid.ID
	day           string
	dim           Dimension
	key           string
}

// tally adds entries up into rows before they are written.
type tally map[rowKey]*Figures

func (t tally) add(loc *time.Location, account, shop, terminal pulid.ID, staff, payment string, kind journalentry.Kind, total int64, at time.Time) {
	f, ok := figuresOf(kind, total)
	if !ok {
		return
	}
	day := at.In(loc).Format(time.DateOnly)
	for _, d := range dimensions {
		k := rowKey{account, shop, day, d, ""}
		switch d {
		case Terminal:
			k.key = string(terminal)
		case Staff:
			k.key = staff
		case PaymentMethod:
			k.key = payment
		}
		if t[k] == nil {
			t[k] = &Figures{}
		}
		t[k].add(f)
	}
}

// upsertBatch bounds the rows of one statement (11 parameters a row).
const upsertBatch = 1000

// upsert adds t to the stored rows. Rows are written in key order so two
// writers (were they ever not serialised by the event lock) lock them in
// the same order.
func (s *Store) upsert(ctx context.Context, c conn, t tally) error {
	return s.write(ctx, c, t, true)
}

// write inserts t's rows, adding to stored ones when add is set (a build
// deleted them first and inserts plainly, which is cheaper).
func (s *Store) write(ctx context.Context, c conn, t tally, add bool) error {
	keys := make([]rowKey, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rowKey) int {
		return cmp.Or(strings.Compare(string(a.account), string(b.account)), strings.Compare(string(a.dim), string(b.dim)),
			strings.Compare(a.day, b.day), strings.Compare(string(a.shop), string(b.shop)), strings.Compare(a.key, b.key))
	})
	for len(keys) > 0 {
		n := min(len(keys), upsertBatch)
		var q strings.Builder
		q.WriteString(`INSERT INTO daily_rollups (account_id, shop_id, day, dimension, "key", sales, refunds, sales_count, refund_count, modify_count, delete_count) VALUES `)
		args := make([]any, 0, n*11)
		for i, k := range keys[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(" + s.params(len(args)+1, 11) + ")")
			f := t[k]
			args = append(args, string(k.account), string(k.shop), k.day, string(k.dim), k.key,
				f.Sales, f.Refunds, f.SalesCount, f.RefundCount, f.ModifyCount, f.DeleteCount)
		}
		if add {
			q.WriteString(` ON CONFLICT (account_id, dimension, day, shop_id, "key") DO UPDATE SET ` +
				`sales = daily_rollups.sales + excluded.sales, refunds = daily_rollups.refunds + excluded.refunds, ` +
				`sales_count = daily_rollups.sales_count + excluded.sales_count, refund_count = daily_rollups.refund_count + excluded.refund_count, ` +
				`modify_count = daily_rollups.modify_count + excluded.modify_count, delete_count = daily_rollups.delete_count + excluded.delete_count`)
		}
		if _, err := c.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("upsert rollups: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

// params is n placeholders numbered from first.
func (s *Store) params(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.param(first + i))
	}
	return b.String()
}

func (s *Store) param(i int) string {
	if s.Dialect == dialect.Postgres {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}
