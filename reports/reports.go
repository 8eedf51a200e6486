// Package reports computes the figures a shop closes its day with: sales,
// refunds and net per day, hour, shop, terminal, staff or payment method,
// in the shops' own timezone, aggregated by the database.
//
// Accounting rule: an entry counts on its own occurred_at. A sale cancelled
// days later is a sale on its day and the cancel a refund on the cancel's
// day, so each day's net matches that day's drawer and earlier closed days
// never change. MODIFY and DELETE entries are counted but move no money:
// providers disagree on what their totals mean.
package reports

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/shopgroup"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports/rollup"
	"github.com/regicam/regicam/viewer"
)

// GroupBy splits a summary into rows.
type GroupBy string

const (
	ByDay           GroupBy = "DAY"
	ByHour          GroupBy = "HOUR"
	ByShop          GroupBy = "SHOP"
	ByTerminal      GroupBy = "TERMINAL"
	ByStaff         GroupBy = "STAFF"
	ByPaymentMethod GroupBy = "PAYMENT_METHOD"
)

// DefaultTimezone is used when no shop is in scope.
const DefaultTimezone = "Asia/Tokyo"

// Request asks for one summary.
type Request struct {
	// Filter narrows the entries; its AccountID must be the viewer's.
	Filter      journal.Filter
	From, To    *time.Time
	Period      Period // used when From and To are nil; default Today
	GroupBy     GroupBy
	ShopGroupID *pulid.ID
}

// Row is the figures of one group.
type Row struct {
	Key, Label  string
	Start       *time.Time
	Sales       int64
	Refunds     int64
	SalesCount  int64
	RefundCount int64
	ModifyCount int64
	DeleteCount int64
}

// Net is 差引額.
func (r Row) Net() int64 { return r.Sales - r.Refunds }

func (r *Row) add(o Row) {
	r.Sales += o.Sales
	r.Refunds += o.Refunds
	r.SalesCount += o.SalesCount
	r.RefundCount += o.RefundCount
	r.ModifyCount += o.ModifyCount
	r.DeleteCount += o.DeleteCount
}

// Summary is the answer.
type Summary struct {
	From, To time.Time
	Timezone string
	GroupBy  GroupBy
	Rows     []Row
	Total    Row
	// FromRollups says the whole days were added up from daily rollups
	// (package reports/rollup) rather than read from the journal.
	FromRollups bool
}

// Service computes summaries.
type Service struct {
	Client  *ent.Client
	DB      *sql.DB
	Dialect string
	Now     func() time.Time
	// Rollups, when set, answers whole days (rollups.go).
	Rollups *rollup.Store
}

// Summarize checks what v may see, resolves the period and runs one
// aggregate query over the journal, or over the daily rollups for whole
// days and the journal for the partial days at either end.
func (s *Service) Summarize(ctx context.Context, v viewer.Viewer, req Request) (*Summary, error) {
	if _, ok := groupLabel[req.GroupBy]; !ok {
		return nil, apperr.Invalid("groupBy", "集計単位 %q は使えません (unknown groupBy)", string(req.GroupBy)).Because(apperr.INVALID_CHOICE)
	}
	f := req.Filter
	f.AccountID = v.AccountID
	if err := journal.CheckIDs(ctx, s.Client, f); err != nil {
		return nil, err
	}
	shops, empty, err := s.scopeShops(ctx, v, f.ShopIDs, req.ShopGroupID)
	if err != nil {
		return nil, err
	}
	f.ShopIDs = shops
	loc, err := s.zone(ctx, v.AccountID, shops)
	if err != nil {
		return nil, err
	}
	from, to, err := s.period(req, loc)
	if err != nil {
		return nil, err
	}
	sum := &Summary{From: from, To: to, Timezone: loc.String(), GroupBy: req.GroupBy, Total: Row{Key: "total", Label: "合計"}}
	if empty {
		return sum, nil
	}
	rows, fromRollups, err := s.rollupRows(ctx, f, req.GroupBy, loc, from, to)
	if err != nil {
		return nil, err
	}
	if !fromRollups {
		if rows, err = s.journalRows(ctx, f, req.GroupBy, loc, from, to); err != nil {
			return nil, err
		}
	}
	sum.Rows, sum.FromRollups = rows, fromRollups
	for _, r := range rows {
		sum.Total.add(r)
	}
	// Byte order, not the database collation, so both backends agree.
	slices.SortFunc(sum.Rows, func(a, b Row) int { return strings.Compare(a.Key, b.Key) })
	if err := s.label(ctx, sum, loc); err != nil {
		return nil, err
	}
	return sum, nil
}

// journalRows runs the aggregate over the journal for [from, to).
func (s *Service) journalRows(ctx context.Context, f journal.Filter, g GroupBy, loc *time.Location, from, to time.Time) ([]Row, error) {
	query, args := s.SQL(f, g, loc, from, to)
	rows, err := s.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		var key sql.NullString
		if err := rows.Scan(&key, &r.Sales, &r.Refunds, &r.SalesCount, &r.RefundCount, &r.ModifyCount, &r.DeleteCount); err != nil {
			return nil, fmt.Errorf("summary row: %w", err)
		}
		r.Key = key.String
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summary rows: %w", err)
	}
	return out, nil
}

// SQL is the one aggregate statement of a summary (exported so the
// benchmark can run the very same SQL raw).
func (s *Service) SQL(f journal.Filter, g GroupBy, loc *time.Location, from, to time.Time) (string, []any) {
	b := entsql.Dialect(s.Dialect)
	t := entsql.Table(journalentry.Table)
	sel := b.Select().From(t)
	col := func(c string) string { return sel.C(c) }
	kind, total := col(journalentry.FieldKind), col(journalentry.FieldTotal)
	key := s.keyExpr(sel, g, loc, from, to)
	sumIf := func(k journalentry.Kind, v string) string {
		return fmt.Sprintf("COALESCE(SUM(CASE WHEN %s = '%s' THEN %s ELSE 0 END), 0)", kind, k, v)
	}
	sel.Select(
		key+" AS k",
		sumIf(journalentry.KindPAYMENT, total),
		sumIf(journalentry.KindCANCEL, "ABS("+total+")"),
		sumIf(journalentry.KindPAYMENT, "1"),
		sumIf(journalentry.KindCANCEL, "1"),
		sumIf(journalentry.KindMODIFY, "1"),
		sumIf(journalentry.KindDELETE, "1"),
	)
	for _, p := range f.Predicates() {
		p(sel)
	}
	// 入金/出金 and other OTHER records move no sales figure; leaving them
	// out also keeps all-zero rows away.
	sel.Where(entsql.In(kind, string(journalentry.KindPAYMENT), string(journalentry.KindCANCEL),
		string(journalentry.KindMODIFY), string(journalentry.KindDELETE)))
	sel.Where(entsql.And(entsql.GTE(col(journalentry.FieldOccurredAt), from.UTC()), entsql.LT(col(journalentry.FieldOccurredAt), to.UTC())))
	sel.GroupBy(key).OrderBy("k")
	return sel.Query()
}

// keyExpr is the group key; days and hours are cut in loc. PostgreSQL
// converts with AT TIME ZONE; SQLite has no zone database, so the offsets
// of [from, to) are spelled out (one for JST).
func (s *Service) keyExpr(sel *entsql.Selector, g GroupBy, loc *time.Location, from, to time.Time) string {
	at := sel.C(journalentry.FieldOccurredAt)
	switch g {
	case ByDay, ByHour:
		if s.Dialect == "postgres" {
			format := "YYYY-MM-DD"
			if g == ByHour {
				format = `YYYY-MM-DD"T"HH24`
			}
			return fmt.Sprintf("to_char(%s AT TIME ZONE '%s', '%s')", at, loc.String(), format)
		}
		format := "%Y-%m-%d"
		if g == ByHour {
			format = "%Y-%m-%dT%H"
		}
		segs := offsets(loc, from, to)
		shift := minutes(segs[0].offset)
		if len(segs) > 1 {
			var b strings.Builder
			b.WriteString("CASE")
			for _, sg := range segs[:len(segs)-1] {
				fmt.Fprintf(&b, " WHEN %s < '%s' THEN %s", at, sqliteTime(sg.until), minutes(sg.offset))
			}
			fmt.Fprintf(&b, " ELSE %s END", minutes(segs[len(segs)-1].offset))
			shift = b.String()
		}
		return fmt.Sprintf("strftime('%s', %s, %s)", format, at, shift)
	case ByShop:
		return sel.C(journalentry.FieldShopID)
	case ByTerminal:
		return sel.C(journalentry.FieldTerminalID)
	case ByStaff:
		return sel.C(journalentry.FieldStaffName)
	default:
		return sel.C(journalentry.FieldPaymentMethod)
	}
}

// scopeShops narrows the shops to what v may see and the group asked for.
// empty means nothing can match (a STAFF without shops, a group without
// shops, a filter outside the group).
func (s *Service) scopeShops(ctx context.Context, v viewer.Viewer, asked []pulid.ID, groupID *pulid.ID) ([]pulid.ID, bool, error) {
	shops := slices.Clone(asked)
	if v.Restricted {
		for _, id := range shops {
			if !v.SeesShop(id) {
				return nil, false, apperr.Missing("where.shopIDs", "店舗が見つかりません (no such shop): %s", id).Because(apperr.NOT_FOUND)
			}
		}
	}
	if groupID != nil {
		q := s.Client.ShopGroup.Query().Where(shopgroup.ID(*groupID), shopgroup.AccountID(v.AccountID))
		if v.Restricted {
			q = q.Where(shopgroup.HasUsersWith(user.ID(v.UserID)))
		}
		g, err := q.Only(ctx)
		if ent.IsNotFound(err) {
			return nil, false, apperr.Missing("shopGroupID", "店舗グループが見つかりません (no such shop group)").Because(apperr.NOT_FOUND)
		}
		if err != nil {
			return nil, false, fmt.Errorf("load shop group: %w", err)
		}
		member, err := g.QueryShops().IDs(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("shops of group: %w", err)
		}
		if len(shops) == 0 {
			shops = member
		} else {
			shops = slices.DeleteFunc(shops, func(id pulid.ID) bool { return !slices.Contains(member, id) })
		}
		return shops, len(shops) == 0, nil
	}
	if v.Restricted && len(shops) == 0 {
		shops = slices.Clone(v.ShopIDs)
		return shops, len(shops) == 0, nil
	}
	return shops, false, nil
}

var zoneName = regexp.MustCompile(`^[A-Za-z0-9_/+\-]+$`)

// zone is the one timezone of the shops in scope; days of shops in
// different zones cannot share a row.
func (s *Service) zone(ctx context.Context, account pulid.ID, shops []pulid.ID) (*time.Location, error) {
	q := s.Client.Shop.Query().Where(shop.AccountID(account))
	if len(shops) > 0 {
		q = q.Where(shop.IDIn(shops...))
	}
	zones, err := q.Unique(true).Select(shop.FieldTimezone).Strings(ctx)
	if err != nil {
		return nil, fmt.Errorf("shop timezones: %w", err)
	}
	name := DefaultTimezone
	switch {
	case len(zones) == 1 && zones[0] != "":
		name = zones[0]
	case len(zones) > 1:
		return nil, apperr.Invalid("where.shopIDs", "タイムゾーンの異なる店舗はまとめて集計できません (shops in different timezones: %s)", strings.Join(zones, ", ")).Because(apperr.MIXED_TIMEZONES)
	}
	if !zoneName.MatchString(name) {
		return nil, fmt.Errorf("shop timezone %q", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("shop timezone %q: %w", name, err)
	}
	return loc, nil
}

func (s *Service) period(req Request, loc *time.Location) (time.Time, time.Time, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var from, to time.Time
	switch {
	case req.Period != "" && (req.From != nil || req.To != nil):
		return from, to, apperr.Invalid("period", "period と from/to は同時に指定できません (give a period or from/to, not both)").Because(apperr.MUTUALLY_EXCLUSIVE)
	case req.From != nil || req.To != nil:
		if req.From == nil {
			return from, to, apperr.Invalid("from", "開始日時を指定してください (from is required with to)").Because(apperr.REQUIRED)
		}
		from = req.From.UTC()
		to = now().UTC()
		if req.To != nil {
			to = req.To.UTC()
		}
	default:
		p := req.Period
		if p == "" {
			p = Today
		}
		var err error
		if from, to, err = p.Range(now(), loc); err != nil {
			return from, to, err
		}
		from, to = from.UTC(), to.UTC()
	}
	return from, to, checkSpan(req.GroupBy, from, to)
}

// label fills what a person reads: dates stay as keys, ids become names.
func (s *Service) label(ctx context.Context, sum *Summary, loc *time.Location) error {
	names := map[string]string{}
	var ids []pulid.ID
	for _, r := range sum.Rows {
		ids = append(ids, pulid.ID(r.Key))
	}
	switch sum.GroupBy {
	case ByShop:
		shops, err := s.Client.Shop.Query().Where(shop.IDIn(ids...)).Select(shop.FieldName).All(ctx)
		if err != nil {
			return fmt.Errorf("shop names: %w", err)
		}
		for _, sh := range shops {
			names[string(sh.ID)] = sh.Name
		}
	case ByTerminal:
		terms, err := s.Client.Terminal.Query().Where(terminal.IDIn(ids...)).Select(terminal.FieldName).All(ctx)
		if err != nil {
			return fmt.Errorf("terminal names: %w", err)
		}
		for _, t := range terms {
			names[string(t.ID)] = t.Name
		}
	}
	for i := range sum.Rows {
		r := &sum.Rows[i]
		r.Label = r.Key
		switch sum.GroupBy {
		case ByDay:
			if t, err := time.ParseInLocation("2006-01-02", r.Key, loc); err == nil {
				r.Start = &t
			}
		case ByHour:
			if t, err := time.ParseInLocation("2006-01-02T15", r.Key, loc); err == nil {
				r.Start = &t
				r.Label = t.Format("2006-01-02 15:00")
			}
		case ByShop, ByTerminal:
			if n := names[r.Key]; n != "" {
				r.Label = n
			}
		case ByStaff:
			if r.Key == "" {
				r.Label = "(担当なし)"
			}
		case ByPaymentMethod:
			if r.Key == "" {
				r.Label = "(支払い方法なし)"
			}
		}
	}
	return nil
}
