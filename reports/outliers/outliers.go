// Package outliers compares each staff member's rates of cancels,
// corrections, deletions, refunds and discounts per 100 sales with their
// peers' (README "Staff outliers"), with a robust score: how many MADs
// (scaled to a standard deviation) a rate lies above the peers' median.
//
// What is counted, per entry on its own occurred_at, by staff_name:
//   - sales: PAYMENT entries with a total of 0 or more;
//   - CANCEL, MODIFY, DELETE: entries of that kind (a Smaregi return or 打消
//     and a card terminal's refund are CANCEL entries: the journal keeps
//     them as cancels with the amount as a magnitude);
//   - REFUND: PAYMENT entries with a negative total (a return rung up as a
//     minus sale, as partners may send it through ingestJournal);
//   - DISCOUNT: sales carrying a line item with a negative amount (receipt
//     lines have no discount field: a discount is its own minus line).
//
// Peers are the staff with at least MinSales sales in the same shops and
// period; the median and MAD of each rate are theirs. Everyone gets a
// score, only peers can be flagged. When the MAD is 0 (most peers share
// one rate, typically 0) the scale falls back to 1.2533 × the mean
// absolute deviation (the usual modified z-score fallback; 1.2533 makes
// it a standard deviation for normal data, as 1.4826 does the MAD); when
// that is 0 too, every peer has the same rate and the scores are 0.
package outliers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Defaults and limits of a Request.
const (
	DefaultThreshold = 3.5
	DefaultMinSales  = 20
	MaxSpan          = 400 * 24 * time.Hour
	MaxShops         = 500
	// MaxStaff bounds the answer (about 300 bytes a staff member).
	MaxStaff = 2000
	// madScale and meanADScale turn a MAD and a mean absolute deviation
	// into a standard deviation's scale for normal data.
	madScale    = 1.4826
	meanADScale = 1.2533
)

// Metric is one rate compared.
type Metric string

const (
	Cancel   Metric = "CANCEL"
	Modify   Metric = "MODIFY"
	Delete   Metric = "DELETE"
	Refund   Metric = "REFUND"
	Discount Metric = "DISCOUNT"
)

// Metrics in the order they are reported.
var Metrics = []Metric{Cancel, Modify, Delete, Refund, Discount}

// Request asks for one report.
type Request struct {
	From, To  time.Time
	ShopIDs   []pulid.ID // empty: every shop the viewer sees
	Threshold *float64
	MinSales  *int
}

// Rate is one metric of one staff member.
type Rate struct {
	Metric  Metric
	Count   int
	Per100  float64
	Score   float64
	Flagged bool
}

// Staff is one staff member's row.
type Staff struct {
	Name    string
	Sales   int
	Rates   []Rate
	Flagged bool
	// Where lists this staff member's entries of the period (drill-down).
	Where journal.Where
}

// Peer is the peers' median and MAD of one metric.
type Peer struct {
	Metric      Metric
	Median, MAD float64
}

// Report is the answer.
type Report struct {
	From, To  time.Time
	Threshold float64
	Staff     []Staff
	Peers     []Peer
}

// Service computes reports with one aggregate query each.
type Service struct {
	Client  *ent.Client
	DB      *sql.DB
	Dialect string
}

// Timeout bounds the report's one aggregate query.
const Timeout = 20 * time.Second

// Report checks the request against what v may see and computes it.
func (s *Service) Report(ctx context.Context, v viewer.Viewer, req Request) (*Report, error) {
	threshold, minSales, err := check(&req)
	if err != nil {
		return nil, err
	}
	shops, err := s.shops(ctx, v, req.ShopIDs)
	if err != nil {
		return nil, err
	}
	rep := &Report{From: req.From.UTC(), To: req.To.UTC(), Threshold: threshold}
	if shops != nil && len(shops) == 0 {
		return rep, nil // a STAFF without shops sees nothing
	}
	// One aggregate over up to 400 days of a chain: bounded in time, so a
	// report cannot hold a database connection for minutes.
	cctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	counts, err := s.count(cctx, v.AccountID, shops, rep.From, rep.To)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return nil, apperr.Invalid("input.to", "%d 秒で集計し終わりませんでした。期間を短くするか、店舗を絞ってください", int(Timeout/time.Second)).Because(apperr.RANGE_TOO_LONG)
	}
	if err != nil {
		return nil, err
	}
	if len(counts) > MaxStaff {
		return nil, apperr.Invalid("input.shopIDs", "担当者が %d 人を超えます。店舗か期間を絞ってください", MaxStaff).Because(apperr.VALUE_OUT_OF_RANGE)
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	// Byte order, not a collation: both backends agree.
	slices.Sort(names)
	rates := map[Metric]map[string]float64{}
	for _, m := range Metrics {
		rates[m] = map[string]float64{}
	}
	for _, n := range names {
		c := counts[n]
		for _, m := range Metrics {
			rates[m][n] = per100(c.by[m], c.sales)
		}
	}
	scale := map[Metric]float64{}
	med := map[Metric]float64{}
	for _, m := range Metrics {
		var peer []float64
		for _, n := range names {
			if counts[n].sales >= minSales {
				peer = append(peer, rates[m][n])
			}
		}
		md, mad, sc := robust(peer)
		med[m], scale[m] = md, sc
		rep.Peers = append(rep.Peers, Peer{Metric: m, Median: md, MAD: mad})
	}
	for _, n := range names {
		c := counts[n]
		st := Staff{Name: n, Sales: c.sales, Where: where(n, shops, req.ShopIDs, rep.From, rep.To)}
		for _, m := range Metrics {
			r := Rate{Metric: m, Count: c.by[m], Per100: rates[m][n]}
			if scale[m] > 0 {
				r.Score = (r.Per100 - med[m]) / scale[m]
			}
			r.Flagged = c.sales >= minSales && r.Score > threshold
			st.Flagged = st.Flagged || r.Flagged
			st.Rates = append(st.Rates, r)
		}
		rep.Staff = append(rep.Staff, st)
	}
	return rep, nil
}

func check(req *Request) (float64, int, error) {
	if !req.From.Before(req.To) {
		return 0, 0, apperr.Invalid("input.to", "終了日時は開始日時より後にしてください").Because(apperr.RANGE_REVERSED)
	}
	if req.To.Sub(req.From) > MaxSpan {
		return 0, 0, apperr.Invalid("input.to", "期間は %d 日までにしてください", int(MaxSpan/(24*time.Hour))).Because(apperr.RANGE_TOO_LONG)
	}
	threshold := DefaultThreshold
	if req.Threshold != nil {
		threshold = *req.Threshold
		if math.IsNaN(threshold) || threshold <= 0 || threshold > 100 {
			return 0, 0, apperr.Invalid("input.threshold", "しきい値は 0 より大きく 100 以下の数で指定してください").Because(apperr.VALUE_OUT_OF_RANGE)
		}
	}
	minSales := DefaultMinSales
	if req.MinSales != nil {
		minSales = *req.MinSales
		if minSales < 1 || minSales > 1_000_000 {
			return 0, 0, apperr.Invalid("input.minSales", "最低売上件数は 1 以上 1000000 以下で指定してください").Because(apperr.VALUE_OUT_OF_RANGE)
		}
	}
	if len(req.ShopIDs) > MaxShops {
		return 0, 0, apperr.Invalid("input.shopIDs", "店舗は %d 件まで指定できます", MaxShops).Because(apperr.VALUE_OUT_OF_RANGE)
	}
	return threshold, minSales, nil
}

// shops is the shops to count: nil means every shop of the account. Shops
// of other accounts, or outside a STAFF's, are NOT_FOUND.
func (s *Service) shops(ctx context.Context, v viewer.Viewer, asked []pulid.ID) ([]pulid.ID, error) {
	asked = slices.Compact(slices.Sorted(slices.Values(asked)))
	if len(asked) > 0 {
		n, err := s.Client.Shop.Query().Where(shop.AccountID(v.AccountID), shop.IDIn(asked...)).Count(ctx)
		if err != nil {
			return nil, fmt.Errorf("check shops: %w", err)
		}
		if n != len(asked) || slices.ContainsFunc(asked, func(id pulid.ID) bool { return !v.SeesShop(id) }) {
			return nil, apperr.Missing("input.shopIDs", "指定された店舗が見つかりません").Because(apperr.NOT_FOUND)
		}
		return asked, nil
	}
	if v.Restricted {
		return append([]pulid.ID{}, v.ShopIDs...), nil
	}
	return nil, nil
}

type tally struct {
	sales int
	by    map[Metric]int
}

// count runs the report's one aggregate statement: per staff and kind,
// the entries, the minus sales and the sales with a minus line.
func (s *Service) count(ctx context.Context, account pulid.ID, shops []pulid.ID, from, to time.Time) (map[string]*tally, error) {
	ph := func(n int) string {
		if s.Dialect == dialect.Postgres {
			return fmt.Sprintf("$%d", n)
		}
		return fmt.Sprintf("?%d", n)
	}
	var minusLine string
	if s.Dialect == dialect.Postgres {
		minusLine = "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(items) = 'array' THEN items ELSE '[]'::jsonb END) AS it" +
			" WHERE jsonb_typeof(it->'amount') = 'number' AND (it->>'amount')::numeric < 0)"
	} else {
		minusLine = "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(items) AND json_type(items) = 'array' THEN items ELSE '[]' END) AS it" +
			" WHERE json_type(it.value, '$.amount') IN ('integer', 'real') AND json_extract(it.value, '$.amount') < 0)"
	}
	args := []any{account, from, to}
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT staff_name, kind, COUNT(*),"+
		" COALESCE(SUM(CASE WHEN kind = 'PAYMENT' AND total < 0 THEN 1 ELSE 0 END), 0),"+
		" COALESCE(SUM(CASE WHEN kind = 'PAYMENT' AND total >= 0 AND %s THEN 1 ELSE 0 END), 0)"+
		" FROM %s WHERE account_id = %s AND occurred_at >= %s AND occurred_at < %s"+
		" AND kind IN ('PAYMENT', 'CANCEL', 'MODIFY', 'DELETE') AND staff_name <> ''",
		minusLine, journalentry.Table, ph(1), ph(2), ph(3))
	if shops != nil {
		marks := make([]string, len(shops))
		for i, id := range shops {
			args = append(args, id)
			marks[i] = ph(len(args))
		}
		fmt.Fprintf(&b, " AND shop_id IN (%s)", strings.Join(marks, ", "))
	}
	b.WriteString(" GROUP BY staff_name, kind")
	rows, err := s.DB.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("staff counts: %w", err)
	}
	defer rows.Close()
	out := map[string]*tally{}
	for rows.Next() {
		var name, kind string
		var n, minus, discounted int
		if err := rows.Scan(&name, &kind, &n, &minus, &discounted); err != nil {
			return nil, fmt.Errorf("staff counts: %w", err)
		}
		t := out[name]
		if t == nil {
			t = &tally{by: map[Metric]int{}}
			out[name] = t
		}
		switch journalentry.Kind(kind) {
		case journalentry.KindPAYMENT:
			t.sales += n - minus
			t.by[Refund] += minus
			t.by[Discount] += discounted
		case journalentry.KindCANCEL:
			t.by[Cancel] += n
		case journalentry.KindMODIFY:
			t.by[Modify] += n
		case journalentry.KindDELETE:
			t.by[Delete] += n
		}
	}
	return out, rows.Err()
}

func per100(n, sales int) float64 {
	if sales == 0 {
		return 0
	}
	return float64(n) * 100 / float64(sales)
}

// robust returns the median, the MAD and the scale scores divide by.
func robust(xs []float64) (median, mad, scale float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	median = middle(xs)
	dev := make([]float64, len(xs))
	var sum float64
	for i, x := range xs {
		dev[i] = math.Abs(x - median)
		sum += dev[i]
	}
	mad = middle(dev)
	switch {
	case mad > 0:
		scale = madScale * mad
	case sum > 0:
		scale = meanADScale * sum / float64(len(xs))
	}
	return median, mad, scale
}

func middle(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// where is the journal filter of one staff member's entries of the period
// in the shops asked for (a STAFF's own shops are applied by the journal).
func where(name string, shops, asked []pulid.ID, from, to time.Time) journal.Where {
	w := journal.Where{Staff: name, From: &from, To: &to}
	if len(asked) > 0 {
		w.ShopIDs = shops
	}
	return w
}
