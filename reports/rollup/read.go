package rollup

import (
	"context"
	"fmt"

	"github.com/regicam/regicam/pulid"
)

// Covered reports whether the rows of every shop in scope are complete and
// cut in zone; shops empty means all of the account's shops.
func (s *Store) Covered(ctx context.Context, account pulid.ID, shops []pulid.ID, zone string) (bool, error) {
	q := `SELECT COUNT(*) FROM shops s LEFT JOIN rollup_shops r ON r.shop_id = s.id AND r.timezone = ` + s.param(1) +
		` WHERE s.account_id = ` + s.param(2) + ` AND r.id IS NULL`
	args := []any{zone, string(account)}
	if len(shops) > 0 {
		q += ` AND s.id IN (` + s.params(3, len(shops)) + `)`
		for _, id := range shops {
			args = append(args, string(id))
		}
	}
	var missing int
	if err := s.DB.QueryRowContext(ctx, q, args...).Scan(&missing); err != nil {
		return false, fmt.Errorf("rollup coverage: %w", err)
	}
	return missing == 0, nil
}

// Query asks for the figures of whole days [FromDay, ToDay) (YYYY-MM-DD,
// in the zone Covered was asked about), grouped by day or by one
// dimension's key.
type Query struct {
	Account pulid.ID
	// Shops narrows the rows; empty means all of the account's.
	Shops          []pulid.ID
	FromDay, ToDay string
	// ByDay groups SHOP rows by day; otherwise rows group by Dimension's
	// key (SHOP: the shop id).
	ByDay     bool
	Dimension Dimension
}

// Row is one group's figures.
type Row struct {
	Key string
	Figures
}

// SQL is the one statement Sum runs (exported for the benchmark and
// EXPLAIN).
func (s *Store) SQL(q Query) (string, []any) {
	dim, key := q.Dimension, `"key"`
	switch {
	case q.ByDay:
		dim, key = Shop, "day"
	case dim == Shop:
		key = "shop_id"
	}
	sql := `SELECT ` + key + `, SUM(sales), SUM(refunds), SUM(sales_count), SUM(refund_count), SUM(modify_count), SUM(delete_count)
		FROM daily_rollups WHERE account_id = ` + s.param(1) + ` AND dimension = ` + s.param(2) +
		` AND day >= ` + s.param(3) + ` AND day < ` + s.param(4)
	args := []any{string(q.Account), string(dim), q.FromDay, q.ToDay}
	if len(q.Shops) > 0 {
		sql += ` AND shop_id IN (` + s.params(5, len(q.Shops)) + `)`
		for _, id := range q.Shops {
			args = append(args, string(id))
		}
	}
	return sql + ` GROUP BY ` + key, args
}

// Sum runs q.
func (s *Store) Sum(ctx context.Context, q Query) ([]Row, error) {
	query, args := s.SQL(q)
	rows, err := s.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("rollup summary: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		if err := rows.Scan(&r.Key, &r.Sales, &r.Refunds, &r.SalesCount, &r.RefundCount, &r.ModifyCount, &r.DeleteCount); err != nil {
			return nil, fmt.Errorf("rollup summary row: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rollup summary rows: %w", err)
	}
	return out, nil
}
