package harness

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
)

// q1Query is the dashboard's timeline page: the fields a row of the list
// shows, newest first.
const q1Query = `query Q1($w: JournalWhere, $after: String) {
  journal(where: $w, first: 50, after: $after) {
    edges { cursor node { id kind occurredAt receiptNo registerNo staffName total deposit change paymentMethod } }
    pageInfo { hasNextPage endCursor }
  }
}`

// peerQuery is the same page from PostGraphile: its connection over the
// same table, with the condition and order it generates from the schema.
const peerQuery = `query P($c: JournalEntryCondition, $after: Cursor) {
  allJournalEntries(condition: $c, orderBy: OCCURRED_AT_DESC, first: 50, after: $after) {
    nodes { rowId kind occurredAt receiptNo registerNo staffName total deposit change paymentMethod }
    pageInfo { hasNextPage endCursor }
  }
}`

// maxPageDepth is how many pages deep the "page N" variant starts (fewer
// on a dataset too small for it).
const maxPageDepth = 10

// q1Variant is one form of the timeline query.
type q1Variant struct {
	Name   string
	Where  map[string]any
	Filter journal.Filter
	After  *journal.Cursor
	depth  int
	// gqlAfter and peerAfter are the cursor of page N in each API.
	gqlAfter, peerAfter *string
	peerCond            map[string]any
	peerOK              bool
	stmts               []capturedQuery
	page                int
}

func q1Variants(ds *Dataset) []*q1Variant {
	cam := ds.CameraID
	base := journal.Filter{AccountID: ds.AccountID, CameraIDs: []pulid.ID{cam}}
	kind := base
	kind.Kinds = []journalentry.Kind{journalentry.KindCANCEL}
	search := base
	search.Search = "山田"
	depth := min(maxPageDepth, max(1, ds.Rows/Cameras/journal.DefaultPageSize-1))
	return []*q1Variant{
		{Name: "first page", Where: map[string]any{"cameraIDs": []pulid.ID{cam}}, Filter: base,
			peerCond: map[string]any{"accountId": ds.AccountID, "cameraId": cam}, peerOK: true},
		{Name: "kind tab (CANCEL)", Where: map[string]any{"cameraIDs": []pulid.ID{cam}, "kinds": []string{"CANCEL"}}, Filter: kind,
			peerCond: map[string]any{"accountId": ds.AccountID, "cameraId": cam, "kind": "CANCEL"}, peerOK: true},
		{Name: "search 山田", Where: map[string]any{"cameraIDs": []pulid.ID{cam}, "search": "山田"}, Filter: search},
		{Name: fmt.Sprintf("page %d (cursor)", depth+1), Where: map[string]any{"cameraIDs": []pulid.ID{cam}}, Filter: base,
			peerCond: map[string]any{"accountId": ds.AccountID, "cameraId": cam}, peerOK: true, depth: depth},
	}
}

// captureDriver records the statements an ent client sends.
type captureDriver struct {
	dialect.Driver
	mu      sync.Mutex
	queries []capturedQuery
}

type capturedQuery struct {
	SQL  string `json:"sql"`
	Args []any  `json:"args"`
}

func (d *captureDriver) Query(ctx context.Context, query string, args, v any) error {
	a, _ := args.([]any)
	d.mu.Lock()
	d.queries = append(d.queries, capturedQuery{SQL: query, Args: append([]any(nil), a...)})
	d.mu.Unlock()
	return d.Driver.Query(ctx, query, args, v)
}

// capture runs journal.List, the function behind Query.journal, and keeps
// the statements it sends for the raw-SQL floor. The ownership check runs
// first (and is cached by the server), so only the page query is kept.
func (v *q1Variant) capture(ctx context.Context, db *sql.DB) error {
	cd := &captureDriver{Driver: entsql.OpenDB(dialect.Postgres, db)}
	client := ent.NewClient(ent.Driver(cd))
	if _, err := journal.List(ctx, client, v.Filter, journal.DefaultPageSize, v.After, nil); err != nil {
		return err
	}
	cd.queries = nil
	if _, err := journal.List(ctx, client, v.Filter, journal.DefaultPageSize, v.After, nil); err != nil {
		return err
	}
	v.stmts = nil
	for _, q := range cd.queries {
		if strings.Contains(q.SQL, `FROM "journal_entries"`) && strings.Contains(q.SQL, "ORDER BY") {
			v.page = len(v.stmts)
		}
		v.stmts = append(v.stmts, q)
	}
	if len(v.stmts) == 0 {
		return fmt.Errorf("journal.List sent no page query")
	}
	return nil
}

// raw runs the captured statements straight through lib/pq, scanning each
// row into Go values the way a hand-written repository would.
func (v *q1Variant) raw(ctx context.Context, db *sql.DB) ([]string, error) {
	var ids []string
	for i, st := range v.stmts {
		got, err := scanAll(ctx, db, st)
		if err != nil {
			return nil, err
		}
		if i == v.page {
			ids = got
		}
	}
	return ids, nil
}

func scanAll(ctx context.Context, db *sql.DB, st capturedQuery) ([]string, error) {
	rows, err := db.QueryContext(ctx, st.SQL, st.Args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	var first []string
	dest := make([]any, len(types))
	for rows.Next() {
		for i, t := range types {
			switch t.DatabaseTypeName() {
			case "VARCHAR", "TEXT", "BPCHAR":
				dest[i] = new(sql.NullString)
			case "TIMESTAMPTZ", "TIMESTAMP":
				dest[i] = new(sql.NullTime)
			case "INT8", "INT4", "INT2":
				dest[i] = new(sql.NullInt64)
			case "JSONB", "JSON":
				dest[i] = new([]byte)
			default:
				dest[i] = new(any)
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if s, ok := dest[0].(*sql.NullString); ok {
			first = append(first, s.String)
		}
	}
	return first, rows.Err()
}

// explain returns EXPLAIN (ANALYZE, BUFFERS) of the variant's page query.
func (v *q1Variant) explain(ctx context.Context, db *sql.DB) (string, error) {
	st := v.stmts[v.page]
	rows, err := db.QueryContext(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+st.SQL, st.Args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		plan = append(plan, line)
	}
	return strings.Join(plan, "\n"), rows.Err()
}

// gqlClient posts GraphQL operations.
type gqlClient struct {
	url    string
	client *http.Client
	header http.Header
}

func newGQLClient(url string, conns int) *gqlClient {
	tr := &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, DisableCompression: true}
	return &gqlClient{url: url, client: &http.Client{Transport: tr, Timeout: 60 * time.Second}, header: http.Header{}}
}

func (c *gqlClient) postRaw(body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %.300s", resp.StatusCode, data)
	}
	if bytes.Contains(data, []byte(`"errors"`)) {
		return data, fmt.Errorf("graphql errors: %.500s", data)
	}
	return data, nil
}

func (c *gqlClient) post(query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	data, err := c.postRaw(body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

type journalPage struct {
	Data struct {
		Journal struct {
			Edges []struct {
				Node struct {
					ID   string `json:"id"`
					Kind string `json:"kind"`
				} `json:"node"`
			} `json:"edges"`
			PageInfo struct {
				HasNextPage bool    `json:"hasNextPage"`
				EndCursor   *string `json:"endCursor"`
			} `json:"pageInfo"`
		} `json:"journal"`
	} `json:"data"`
}

type peerPage struct {
	Data struct {
		All struct {
			Nodes []struct {
				RowID string `json:"rowId"`
			} `json:"nodes"`
			PageInfo struct {
				EndCursor *string `json:"endCursor"`
			} `json:"pageInfo"`
		} `json:"allJournalEntries"`
	} `json:"data"`
}

// prepare finds page N's cursors, captures the SQL and checks that regicam
// and the raw SQL return the same entries.
func (v *q1Variant) prepare(ctx context.Context, db *sql.DB, gql *gqlClient, peer *gqlClient) error {
	if strings.HasPrefix(v.Name, "page") {
		var after *string
		for range v.depth {
			var p journalPage
			if err := gql.post(q1Query, map[string]any{"w": v.Where, "after": after}, &p); err != nil {
				return err
			}
			after = p.Data.Journal.PageInfo.EndCursor
			if after == nil {
				return fmt.Errorf("camera has fewer than %d pages", v.depth+1)
			}
		}
		v.gqlAfter = after
		c, err := journal.DecodeCursor(*after, "after")
		if err != nil {
			return err
		}
		v.After = &c
		if peer != nil {
			var pa *string
			for range v.depth {
				var p peerPage
				if err := peer.post(peerQuery, map[string]any{"c": v.peerCond, "after": pa}, &p); err != nil {
					return fmt.Errorf("peer: %w", err)
				}
				pa = p.Data.All.PageInfo.EndCursor
			}
			v.peerAfter = pa
		}
	}
	if err := v.capture(ctx, db); err != nil {
		return err
	}
	ids, err := v.raw(ctx, db)
	if err != nil {
		return err
	}
	var p journalPage
	if err := gql.post(q1Query, v.vars(), &p); err != nil {
		return err
	}
	edges := p.Data.Journal.Edges
	if len(edges) == 0 || len(ids) < len(edges) {
		return fmt.Errorf("%s: graphql returned %d entries, raw SQL %d", v.Name, len(edges), len(ids))
	}
	for i, e := range edges {
		if e.Node.ID != ids[i] {
			return fmt.Errorf("%s: entry %d is %s over GraphQL, %s in raw SQL", v.Name, i, e.Node.ID, ids[i])
		}
	}
	return nil
}

func (v *q1Variant) vars() map[string]any {
	return map[string]any{"w": v.Where, "after": v.gqlAfter}
}

func (v *q1Variant) peerVars() map[string]any {
	return map[string]any{"c": v.peerCond, "after": v.peerAfter}
}
