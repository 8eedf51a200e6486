package reports

import (
	"context"
	"reflect"
	"slices"
	"time"

	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports/rollup"
)

// rollupDimension is the rollup dimension of each grouping rollups can
// answer; HOUR rows need the journal.
var rollupDimension = map[GroupBy]rollup.Dimension{
	ByDay: rollup.Shop, ByShop: rollup.Shop, ByTerminal: rollup.Terminal,
	ByStaff: rollup.Staff, ByPaymentMethod: rollup.PaymentMethod,
}

// rollupRows answers [from, to) from the daily rollups for its whole days
// in loc and from the journal for the partial days at either end; ok is
// false when rollups cannot answer: a filter beyond shops, HOUR rows, no
// whole day, or a shop in scope whose rollups are not built in loc. The
// rows are the journal query's, group for group.
func (s *Service) rollupRows(ctx context.Context, f journal.Filter, g GroupBy, loc *time.Location, from, to time.Time) (rows []Row, ok bool, err error) {
	dim, ok := rollupDimension[g]
	if s.Rollups == nil || !ok {
		return nil, false, nil
	}
	rest := f
	rest.AccountID, rest.ShopIDs, rest.Restricted, rest.VisibleShops = "", nil, false, nil
	if !reflect.ValueOf(rest).IsZero() {
		return nil, false, nil // rollups know nothing of kinds, amounts, search…
	}
	shops := f.ShopIDs
	if f.Restricted {
		if len(shops) == 0 {
			shops = f.VisibleShops
		} else {
			shops = slices.DeleteFunc(slices.Clone(shops), func(id pulid.ID) bool { return !slices.Contains(f.VisibleShops, id) })
		}
		if len(shops) == 0 {
			return nil, false, nil
		}
	}
	first := dayStart(from.In(loc), loc)
	if first.Before(from) {
		n := from.In(loc)
		first = dayStart(time.Date(n.Year(), n.Month(), n.Day()+1, 12, 0, 0, 0, loc), loc)
	}
	last := dayStart(to.In(loc), loc)
	if !first.Before(last) {
		return nil, false, nil
	}
	covered, err := s.Rollups.Covered(ctx, f.AccountID, shops, loc.String())
	if err != nil || !covered {
		return nil, false, err
	}
	byKey := map[string]*Row{}
	merge := func(rs []Row) {
		for _, r := range rs {
			if m := byKey[r.Key]; m != nil {
				m.add(r)
				continue
			}
			byKey[r.Key] = &r
		}
	}
	if from.Before(first) {
		head, err := s.journalRows(ctx, f, g, loc, from, first)
		if err != nil {
			return nil, false, err
		}
		merge(head)
	}
	days, err := s.Rollups.Sum(ctx, rollup.Query{
		Account: f.AccountID, Shops: shops, Dimension: dim, ByDay: g == ByDay,
		FromDay: first.In(loc).Format(time.DateOnly), ToDay: last.In(loc).Format(time.DateOnly),
	})
	if err != nil {
		return nil, false, err
	}
	mid := make([]Row, len(days))
	for i, d := range days {
		mid[i] = Row{Key: d.Key, Sales: d.Sales, Refunds: d.Refunds, SalesCount: d.SalesCount,
			RefundCount: d.RefundCount, ModifyCount: d.ModifyCount, DeleteCount: d.DeleteCount}
	}
	merge(mid)
	if last.Before(to) {
		tail, err := s.journalRows(ctx, f, g, loc, last, to)
		if err != nil {
			return nil, false, err
		}
		merge(tail)
	}
	for _, r := range byKey {
		rows = append(rows, *r)
	}
	return rows, true, nil
}

// dayStart is the first instant of t's local day in loc. Midnight is
// usually it, but where a zone's clocks jump at midnight the day starts
// at the first time that exists, and where they fall back the first of
// the two; stepping by minutes covers every offset in use.
func dayStart(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	day := t.Format(time.DateOnly)
	s := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	for i := 0; i < 24*60 && s.In(loc).Format(time.DateOnly) < day; i++ {
		s = s.Add(time.Minute)
	}
	for i := 0; i < 24*60 && s.Add(-time.Minute).In(loc).Format(time.DateOnly) == day; i++ {
		s = s.Add(-time.Minute)
	}
	return s
}
