package rollup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pulid"
)

// Run builds what is missing at start-up and then every Interval, and
// verifies the rows against the journal at start-up and then every
// VerifyInterval, until ctx ends. Failures are logged and tried again next time: until a shop
// is built its summaries read the journal.
func (s *Store) Run(ctx context.Context) {
	every, verifyEvery := s.Interval, s.VerifyInterval
	if every <= 0 {
		every = time.Minute
	}
	if verifyEvery <= 0 {
		verifyEvery = 6 * time.Hour
	}
	var verified time.Time
	for {
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.Log.WarnContext(ctx, "rollup sync", "err", err)
		}
		if time.Since(verified) >= verifyEvery {
			if err := s.Verify(ctx); err != nil && ctx.Err() == nil {
				s.Log.WarnContext(ctx, "rollup verify", "err", err)
			}
			verified = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Sync builds the rows of every shop that has none yet, or whose timezone
// is no longer the one its rows are cut in. Several replicas may run it at
// once: each build checks again under the lock.
func (s *Store) Sync(ctx context.Context) error {
	rows, err := s.DB.QueryContext(ctx, `SELECT s.id, s.timezone, r.timezone FROM shops s
		LEFT JOIN rollup_shops r ON r.shop_id = s.id ORDER BY s.id`)
	if err != nil {
		return fmt.Errorf("rollup shops: %w", err)
	}
	var todo []pulid.ID
	for rows.Next() {
		var id, zone string
		var built sql.NullString
		if err := rows.Scan(&id, &zone, &built); err != nil {
			rows.Close()
			return fmt.Errorf("rollup shops: %w", err)
		}
		if !built.Valid || built.String != zoneName(zone) {
			todo = append(todo, pulid.ID(id))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rollup shops: %w", err)
	}
	var errs []error
	for _, id := range todo {
		start := time.Now()
		n, err := s.build(ctx, id, false)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("shop %s: %w", id, err))
			continue
		}
		if n >= 0 {
			s.Log.InfoContext(ctx, "rollup built", "shop_id", id, "entries", n, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	return errors.Join(errs...)
}

// Rebuild recounts one shop from the journal whatever its state, for
// writers that bypass ingest.
func (s *Store) Rebuild(ctx context.Context, shopID pulid.ID) error {
	_, err := s.build(ctx, shopID, true)
	return err
}

func zoneName(z string) string {
	if z == "" {
		return DefaultTimezone
	}
	return z
}

// build recounts shopID in one transaction and returns the entries it
// counted, or -1 when another replica had built it meanwhile (force
// false).
func (s *Store) build(ctx context.Context, shopID pulid.ID, force bool) (int, error) {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// Ingest counts under this lock (ingest.Rollups); on SQLite the write
	// transaction (BEGIN IMMEDIATE) already excludes every other writer.
	if s.Dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", ingest.EventLockKey); err != nil {
			return 0, fmt.Errorf("event lock: %w", err)
		}
	}
	var account, zone string
	var built sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT s.account_id, s.timezone, r.timezone FROM shops s
		LEFT JOIN rollup_shops r ON r.shop_id = s.id WHERE s.id = `+s.param(1), string(shopID)).Scan(&account, &zone, &built)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, nil // deleted meanwhile
	}
	if err != nil {
		return 0, fmt.Errorf("load shop: %w", err)
	}
	zone = zoneName(zone)
	if !force && built.Valid && built.String == zone {
		return -1, nil
	}
	loc, err := s.location(zone)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM daily_rollups WHERE shop_id = "+s.param(1), string(shopID)); err != nil {
		return 0, fmt.Errorf("delete rollups: %w", err)
	}
	t, n, err := s.recount(ctx, tx, pulid.ID(account), shopID, loc)
	if err != nil {
		return 0, err
	}
	if err := s.write(ctx, tx, t, false); err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO rollup_shops (account_id, shop_id, timezone, built_at) VALUES (`+s.params(1, 4)+`)
		ON CONFLICT (account_id, shop_id) DO UPDATE SET timezone = excluded.timezone, built_at = excluded.built_at`,
		account, string(shopID), zone, time.Now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return 0, fmt.Errorf("mark rollup built: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return n, nil
}

// recount adds up every entry of the shop, the same way Count does one by
// one.
func (s *Store) recount(ctx context.Context, tx *sql.Tx, account, shopID pulid.ID, loc *time.Location) (tally, int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT terminal_id, staff_name, payment_method, kind, total, occurred_at
		FROM journal_entries WHERE account_id = `+s.param(1)+` AND shop_id = `+s.param(2)+` AND kind IN ('PAYMENT', 'CANCEL', 'MODIFY', 'DELETE')`,
		string(account), string(shopID))
	if err != nil {
		return nil, 0, fmt.Errorf("read entries: %w", err)
	}
	defer rows.Close()
	t := tally{}
	n := 0
	for rows.Next() {
		var terminal, staff, payment, kind string
		var total int64
		var at time.Time
		if err := rows.Scan(&terminal, &staff, &payment, &kind, &total, &at); err != nil {
			return nil, 0, fmt.Errorf("read entries: %w", err)
		}
		t.add(loc, account, shopID, pulid.ID(terminal), staff, payment, journalentry.Kind(kind), total, at)
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read entries: %w", err)
	}
	return t, n, nil
}

// Verify compares each built shop's rows with its journal, in one
// snapshot, and rebuilds the shops that differ: entries some writer put in
// the journal without counting them (a replica of a version before
// rollups during a rolling upgrade, a bulk load, a deletion by hand). It
// reads every entry once, so Run does it at start-up and then every
// VerifyInterval.
func (s *Store) Verify(ctx context.Context) error {
	stale, err := s.stale(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range stale {
		s.Log.WarnContext(ctx, "rollup differs from the journal, rebuilding", "shop_id", id)
		if err := s.Rebuild(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("shop %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// stale returns the built shops whose rows do not add up to their
// entries.
func (s *Store) stale(ctx context.Context) ([]pulid.ID, error) {
	var opts *sql.TxOptions
	if s.Dialect == dialect.Postgres {
		// One snapshot for both sides, so a commit between them is no
		// difference.
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	sums := func(q string) (map[string]Figures, error) {
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[string]Figures{}
		for rows.Next() {
			var id string
			var f Figures
			if err := rows.Scan(&id, &f.Sales, &f.Refunds, &f.SalesCount, &f.RefundCount, &f.ModifyCount, &f.DeleteCount); err != nil {
				return nil, err
			}
			out[id] = f
		}
		return out, rows.Err()
	}
	counted, err := sums(`SELECT shop_id, COALESCE(SUM(sales), 0), COALESCE(SUM(refunds), 0), COALESCE(SUM(sales_count), 0),
		COALESCE(SUM(refund_count), 0), COALESCE(SUM(modify_count), 0), COALESCE(SUM(delete_count), 0)
		FROM daily_rollups WHERE dimension = 'SHOP' GROUP BY shop_id`)
	if err != nil {
		return nil, fmt.Errorf("rollup sums: %w", err)
	}
	entries, err := sums(`SELECT j.shop_id,
		COALESCE(SUM(CASE WHEN j.kind = 'PAYMENT' THEN j.total ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN j.kind = 'CANCEL' THEN ABS(j.total) ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN j.kind = 'PAYMENT' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN j.kind = 'CANCEL' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN j.kind = 'MODIFY' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN j.kind = 'DELETE' THEN 1 ELSE 0 END), 0)
		FROM journal_entries j JOIN rollup_shops r ON r.shop_id = j.shop_id
		WHERE j.kind IN ('PAYMENT', 'CANCEL', 'MODIFY', 'DELETE') GROUP BY j.shop_id`)
	if err != nil {
		return nil, fmt.Errorf("journal sums: %w", err)
	}
	built, err := tx.QueryContext(ctx, `SELECT shop_id FROM rollup_shops ORDER BY shop_id`)
	if err != nil {
		return nil, fmt.Errorf("rollup shops: %w", err)
	}
	defer built.Close()
	var stale []pulid.ID
	for built.Next() {
		var id string
		if err := built.Scan(&id); err != nil {
			return nil, fmt.Errorf("rollup shops: %w", err)
		}
		if counted[id] != entries[id] {
			stale = append(stale, pulid.ID(id))
		}
	}
	return stale, built.Err()
}
