package journal

import (
	"context"
	"fmt"
	"sync"

	"entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pulid"
)

// Page sizes for Query.journal.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Edge is one entry of a page with its cursor.
type Edge struct {
	Entry  *ent.JournalEntry
	Cursor Cursor
}

// Page is one newest-first slice of the journal.
type Page struct {
	Edges   []Edge
	HasNext bool
}

// PageSize validates the requested page size.
func PageSize(first *int) (int, error) {
	if first == nil {
		return DefaultPageSize, nil
	}
	if *first < 1 || *first > MaxPageSize {
		return 0, apperr.Invalid("first", "first は 1 から %d の範囲で指定してください (first must be between 1 and %d)", MaxPageSize, MaxPageSize).Because(apperr.VALUE_OUT_OF_RANGE)
	}
	return *first, nil
}

// ListColumns are the columns a page reads: all but the provider's raw
// payload, which the API never shows and which costs most to decode.
var ListColumns = func() []string {
	var cols []string
	for _, c := range journalentry.Columns {
		if c != journalentry.FieldRaw {
			cols = append(cols, c)
		}
	}
	return cols
}()

// List returns up to first entries matching f, older than after.
// query lets the caller add eager loading chosen from the GraphQL selection.
func List(ctx context.Context, client *ent.Client, f Filter, first int, after *Cursor, query func(*ent.JournalEntryQuery) (*ent.JournalEntryQuery, error)) (*Page, error) {
	// An unknown id beside a busy one would otherwise pass unnoticed.
	if err := CheckIDs(ctx, client, f); err != nil {
		return nil, err
	}
	f.ForViewer(ctx)
	q := client.JournalEntry.Query().Where(f.Predicates()...)
	q.Select(ListColumns...)
	if after != nil {
		q = q.Where(olderThan(*after))
	}
	q = q.Order(journalentry.ByOccurredAt(sql.OrderDesc()), journalentry.ByID(sql.OrderDesc())).Limit(first + 1)
	if query != nil {
		var err error
		if q, err = query(q); err != nil {
			return nil, err
		}
	}
	rows, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list journal: %w", err)
	}
	p := &Page{HasNext: len(rows) > first}
	if p.HasNext {
		rows = rows[:first]
	}
	p.Edges = make([]Edge, len(rows))
	for i, e := range rows {
		p.Edges[i] = Edge{Entry: e, Cursor: Cursor{OccurredAt: e.OccurredAt, ID: e.ID}}
	}
	return p, nil
}

// MaxCount is where Count stops: a search over years of receipts is
// answered with "more than 1,000" after reading at most 1,001 ids, not with
// a count over every matching row.
const MaxCount = 1000

// Count is how many entries match f (as List sees them), up to MaxCount;
// more reports that there are further ones.
func Count(ctx context.Context, client *ent.Client, f Filter) (n int, more bool, err error) {
	f.ForViewer(ctx)
	ids, err := client.JournalEntry.Query().Where(f.Predicates()...).Limit(MaxCount + 1).IDs(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("count journal: %w", err)
	}
	if len(ids) > MaxCount {
		return MaxCount, true, nil
	}
	return len(ids), false, nil
}

// CheckIDs turns ids the viewer cannot see into NOT_FOUND, so a typo
// is not mistaken for a quiet camera.
func CheckIDs(ctx context.Context, client *ent.Client, f Filter) error {
	if err := exist(ctx, f.AccountID, "where.cameraIDs", f.CameraIDs, func(ids []pulid.ID) (int, error) {
		q := client.Camera.Query().Where(camera.IDIn(ids...))
		if f.AccountID != "" {
			q = q.Where(camera.AccountID(f.AccountID))
		}
		return q.Count(ctx)
	}); err != nil {
		return err
	}
	if err := exist(ctx, f.AccountID, "where.terminalIDs", f.TerminalIDs, func(ids []pulid.ID) (int, error) {
		q := client.Terminal.Query().Where(terminal.IDIn(ids...))
		if f.AccountID != "" {
			q = q.Where(terminal.AccountID(f.AccountID))
		}
		return q.Count(ctx)
	}); err != nil {
		return err
	}
	return exist(ctx, f.AccountID, "where.shopIDs", f.ShopIDs, func(ids []pulid.ID) (int, error) {
		q := client.Shop.Query().Where(shop.IDIn(ids...))
		if f.AccountID != "" {
			q = q.Where(shop.AccountID(f.AccountID))
		}
		return q.Count(ctx)
	})
}

func exist(ctx context.Context, account pulid.ID, field string, ids []pulid.ID, count func([]pulid.ID) (int, error)) error {
	uniq := dedupe(ids)
	if len(uniq) == 0 || known.all(account, uniq) {
		return nil
	}
	n, err := count(uniq)
	if err != nil {
		return fmt.Errorf("check ids: %w", err)
	}
	if n != len(uniq) {
		return apperr.Missing(field, "指定された ID の一部が見つかりません (one or more ids do not exist)").Because(apperr.NOT_FOUND)
	}
	known.add(account, uniq)
	return nil
}

// known remembers ids already seen to belong to an account. A camera,
// terminal or shop never changes account, so a yes stays true and the
// dashboard's every page needs no extra query; a no is never cached.
var known = &ownership{m: map[pulid.ID]pulid.ID{}}

type ownership struct {
	mu sync.Mutex
	m  map[pulid.ID]pulid.ID
}

const maxKnown = 100_000

func (o *ownership) all(account pulid.ID, ids []pulid.ID) bool {
	if account == "" {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range ids {
		if o.m[id] != account {
			return false
		}
	}
	return true
}

func (o *ownership) add(account pulid.ID, ids []pulid.ID) {
	if account == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.m)+len(ids) > maxKnown {
		clear(o.m) // crude but bounded; it refills from the next pages
	}
	for _, id := range ids {
		o.m[id] = account
	}
}

func dedupe(ids []pulid.ID) []pulid.ID {
	seen := make(map[pulid.ID]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
