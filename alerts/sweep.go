package alerts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Ingest calls Observe only after the entry's transaction committed, so a
// process that dies in between would lose the entry's alerts. The sweep
// closes that gap: it walks the ADDED events (written in the entry's own
// transaction) past a durable watermark and evaluates every entry no
// Observe of this process finished, then advances the watermark. The
// (rule, entry) dedupe key makes evaluating an entry twice harmless.
//
// The watermark lives in a table of its own, created here rather than in
// ent's schema: it is the alerts service's private bookkeeping, never
// queried through the API.
const (
	sweepTable  = "alert_sweep"
	sweepName   = "entries"
	sweepBatch  = 500
	observedCap = 200_000 // per generation; beyond it the sweep simply re-evaluates
)

// observed remembers the entries whose Observe finished, so the sweep does
// not evaluate them again. Two generations rotated per sweep bound it in
// time; the cap bounds it in size. Forgetting an entry only costs a
// redundant evaluation.
type observed struct {
	mu        sync.Mutex
	cur, prev map[pulid.ID]struct{}
}

func (o *observed) add(id pulid.ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == nil {
		o.cur = map[pulid.ID]struct{}{}
	}
	if len(o.cur) < observedCap {
		o.cur[id] = struct{}{}
	}
}

// take reports whether id was observed, forgetting it.
func (o *observed) take(id pulid.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.cur[id]; ok {
		delete(o.cur, id)
		return true
	}
	if _, ok := o.prev[id]; ok {
		delete(o.prev, id)
		return true
	}
	return false
}

func (o *observed) rotate() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prev, o.cur = o.cur, nil
}

func (s *Service) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.opt.SweepEvery)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.Log.WarnContext(ctx, "alert recovery sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep evaluates the entries added since the watermark that are at least
// SweepGrace old (younger ones are normally still being observed) and
// returns how many alerts it raised. On a database that never had a
// watermark it starts from the newest event: history predates the sweep.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	ctx = viewer.System(ctx)
	defer s.observed.rotate()
	w, err := s.watermark(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-s.opt.SweepGrace)
	raised := 0
	for {
		evs, err := s.Client.Event.Query().Where(event.IDGT(w), event.TypeEQ(event.TypeADDED)).
			Order(ent.Asc(event.FieldID)).Limit(sweepBatch).All(ctx)
		if err != nil {
			return raised, fmt.Errorf("sweep events: %w", err)
		}
		n, last, done, err := s.sweepBatch(ctx, evs, cutoff)
		raised += n
		if last > w {
			if err := s.advance(ctx, last); err != nil {
				return raised, err
			}
			w = last
		}
		if err != nil || done || len(evs) < sweepBatch {
			return raised, err
		}
	}
}

// sweepBatch evaluates evs in order up to the first one younger than
// cutoff and returns the alerts raised, the last event fully handled and
// whether the cutoff was reached.
func (s *Service) sweepBatch(ctx context.Context, evs []*ent.Event, cutoff time.Time) (raised int, last int64, done bool, err error) {
	var todo []pulid.ID
	due := evs[:0:0]
	for _, ev := range evs {
		if ev.CreatedAt.After(cutoff) {
			done = true
			break
		}
		due = append(due, ev)
		if s.observed.take(ev.EntryID) {
			continue
		}
		// An account without rules has nothing to evaluate (cached: no query).
		rules, err := s.enabled(ctx, ev.AccountID)
		if err != nil {
			return 0, 0, done, err
		}
		if len(rules) > 0 {
			todo = append(todo, ev.EntryID)
		}
	}
	entries := map[pulid.ID]*ent.JournalEntry{}
	if len(todo) > 0 {
		rows, err := s.Client.JournalEntry.Query().Where(journalentry.IDIn(todo...)).All(ctx)
		if err != nil {
			return 0, 0, done, fmt.Errorf("sweep entries: %w", err)
		}
		for _, e := range rows {
			entries[e.ID] = e
		}
	}
	for _, ev := range due {
		if e := entries[ev.EntryID]; e != nil {
			hits, err := s.Evaluate(ctx, e)
			if err != nil {
				return raised, last, done, fmt.Errorf("sweep entry %s: %w", e.ID, err)
			}
			for _, h := range hits {
				// A rule made after the entry arrived never saw it live:
				// the sweep must not raise what Observe would not have.
				if h.rule.CreatedAt.After(ev.CreatedAt) {
					continue
				}
				a, err := s.save(ctx, h)
				if err != nil {
					return raised, last, done, fmt.Errorf("sweep entry %s: %w", e.ID, err)
				}
				if a != nil {
					raised++
				}
			}
		}
		last = ev.ID
	}
	return raised, last, done, nil
}

// watermark reads the last swept event id, creating the table and row on
// first use.
func (s *Service) watermark(ctx context.Context) (int64, error) {
	tx, err := s.Client.Tx(ctx)
	if err != nil {
		return 0, fmt.Errorf("sweep watermark: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if !s.swept.Load() {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+sweepTable+
			" (name VARCHAR(40) PRIMARY KEY, event_id BIGINT NOT NULL)"); err != nil {
			return 0, fmt.Errorf("create %s: %w", sweepTable, err)
		}
	}
	// MAX of the primary key is one index probe, also on a large table.
	// (SQLite needs the WHERE to parse an upsert of a SELECT.)
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+sweepTable+" (name, event_id) SELECT "+s.ph(1)+
		", COALESCE(MAX(id), 0) FROM "+event.Table+" WHERE true ON CONFLICT (name) DO NOTHING", sweepName); err != nil {
		return 0, fmt.Errorf("start %s: %w", sweepTable, err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT event_id FROM "+sweepTable+" WHERE name = "+s.ph(1), sweepName)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", sweepTable, err)
	}
	var w sql.NullInt64
	for rows.Next() {
		if err := rows.Scan(&w); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read %s: %w", sweepTable, err)
		}
	}
	rows.Close()
	if !w.Valid {
		return 0, errors.New("sweep watermark row missing")
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sweep watermark: %w", err)
	}
	s.swept.Store(true)
	return w.Int64, nil
}

// advance moves the watermark forward only: two servers may sweep at once.
func (s *Service) advance(ctx context.Context, to int64) error {
	tx, err := s.Client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("advance sweep watermark: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "UPDATE "+sweepTable+" SET event_id = "+s.ph(1)+
		" WHERE name = "+s.ph(2)+" AND event_id < "+s.ph(1), to, sweepName); err != nil {
		return fmt.Errorf("advance sweep watermark: %w", err)
	}
	return tx.Commit()
}

func (s *Service) ph(n int) string {
	if s.Dialect == dialect.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return fmt.Sprintf("?%d", n)
}
