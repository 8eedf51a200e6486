package cases

import (
	"context"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/investigation"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Page sizes of the case list.
const (
	DefaultPage = 20
	MaxPage     = 100
)

// List is the case list, most recently changed first (updated_at, then
// id, both descending), a keyset page after the cursor. ent's generated
// pager orders cases by created_at or id only, so the page is built here;
// its cursor carries (id, updated_at) as entgql's does. Callers need
// journal:read (every session has it; API keys must hold it).
func (s *Service) List(ctx context.Context, where *ent.CaseWhereInput, first *int, after *entgql.Cursor[pulid.ID]) (*ent.CaseConnection, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	n := DefaultPage
	if first != nil {
		if *first < 0 || *first > MaxPage {
			return nil, apperr.Invalid("first", "first は 0 から %d までです", MaxPage).Because(apperr.VALUE_OUT_OF_RANGE)
		}
		n = *first
	}
	q, err := where.Filter(s.Client.Investigation.Query().Where(investigation.AccountID(v.AccountID)))
	if err != nil {
		return nil, apperr.Invalid("where", "条件が正しくありません").Because(apperr.BAD_USER_INPUT)
	}
	total, err := q.Clone().Count(ctx)
	if err != nil {
		return nil, err
	}
	conn := &ent.CaseConnection{TotalCount: total, Edges: []*ent.CaseEdge{}}
	if after != nil {
		at, ok := after.Value.(time.Time)
		if !ok || after.ID == "" {
			return nil, apperr.Invalid("after", "カーソルが正しくありません").Because(apperr.CURSOR_INVALID)
		}
		at, id := at.UTC(), after.ID
		q = q.Where(func(s *sql.Selector) {
			s.Where(sql.Or(
				sql.LT(s.C(investigation.FieldUpdatedAt), at),
				sql.And(sql.EQ(s.C(investigation.FieldUpdatedAt), at), sql.LT(s.C(investigation.FieldID), id)),
			))
		})
		conn.PageInfo.HasPreviousPage = true
	}
	if n == 0 {
		return conn, nil
	}
	rows, err := q.Order(ent.Desc(investigation.FieldUpdatedAt), ent.Desc(investigation.FieldID)).Limit(n + 1).All(ctx)
	if err != nil {
		return nil, err
	}
	if len(rows) > n {
		rows = rows[:n]
		conn.PageInfo.HasNextPage = true
	}
	for _, r := range rows {
		conn.Edges = append(conn.Edges, &ent.CaseEdge{Node: r, Cursor: cursorOf(r)})
	}
	if len(rows) > 0 {
		start, end := cursorOf(rows[0]), cursorOf(rows[len(rows)-1])
		conn.PageInfo.StartCursor, conn.PageInfo.EndCursor = &start, &end
	}
	return conn, nil
}

func cursorOf(c *ent.Investigation) entgql.Cursor[pulid.ID] {
	return entgql.Cursor[pulid.ID]{ID: c.ID, Value: c.UpdatedAt.UTC()}
}
