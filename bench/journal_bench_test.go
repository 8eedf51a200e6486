package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/server"
)

const firstPageQuery = `query FirstPage($cam: ID!) {
  journal(where: {cameraIDs: [$cam], kinds: [PAYMENT]}, first: 50) {
    edges { cursor node { id kind occurredAt receiptNo registerNo staffName total deposit change paymentMethod } }
    pageInfo { hasNextPage endCursor }
  }
}`

// BenchmarkJournalFirstPage measures Query.journal's first page (50
// entries, one camera, one kind) over HTTP against the SQL it runs, executed
// directly through database/sql + lib/pq, on a table of REGICAM_BENCH_ROWS
// entries.
func BenchmarkJournalFirstPage(b *testing.B) {
	admin := adminURL()
	requirePostgres(b, admin)
	env := seedBenchDB(b, admin)
	b.Logf("database %s: %d entries in account %s (inserted %d now; setup %v)",
		benchDBName(), env.Rows, env.AccountID, env.Inserted, env.Took.Round(time.Millisecond))

	ctx := context.Background()
	app, err := server.Start(ctx, server.Config{DataDir: b.TempDir(), DatabaseURL: env.DSN, Demo: "false"},
		slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatalf("start server: %v", err)
	}
	hs := httptest.NewServer(app.Handler)
	b.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		app.Close()
	})
	if app.AccountID != env.AccountID {
		b.Fatalf("server acts as account %s, entries are in %s: the seeded account must be the oldest", app.AccountID, env.AccountID)
	}

	db, err := sql.Open("postgres", env.DSN)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	b.Cleanup(func() { _ = db.Close() })

	page, stmts, main := captureListSQL(b, db, journal.Filter{AccountID: env.AccountID,
		CameraIDs: []pulid.ID{env.CameraID}, Kinds: []journalentry.Kind{journalentry.KindPAYMENT}})
	if len(page.Edges) != journal.DefaultPageSize || !page.HasNext {
		b.Fatalf("journal.List returned %d entries (hasNext %v); camera %s has too few PAYMENT entries",
			len(page.Edges), page.HasNext, env.CameraID)
	}
	for i, q := range stmts {
		role := "check"
		if i == main {
			role = "page"
		}
		b.Logf("statement %d/%d of journal.List (%s), captured through ent:\n%s\nargs: %v", i+1, len(stmts), role, q.SQL, q.Args)
	}
	plan := explain(b, db, stmts[main].SQL, stmts[main].Args)
	b.Logf("EXPLAIN (ANALYZE, BUFFERS):\n%s", plan)
	if strings.Contains(plan, "Sort") || strings.Contains(plan, "Seq Scan") {
		b.Errorf("the first page is not a plain index range scan (see plan above)")
	}

	// raw is the page query alone; rawAll is every statement the request
	// sends, in order (the same as raw when List sends one).
	raw := newRawQuery(db, stmts[main:main+1], 0)
	rawAll := newRawQuery(db, stmts, main)
	gql := newGraphQLPage(hs.URL, env.CameraID)
	checkSameRows(b, raw, gql)

	// Warm both paths (connections, plans, caches) outside the timings.
	for range 200 {
		if _, err := raw.run(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := gql.run(); err != nil {
			b.Fatal(err)
		}
		if _, err := rawAll.run(ctx); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("raw-sql", func(b *testing.B) {
		s := newSamples(b.N)
		b.ResetTimer()
		for range b.N {
			d, err := raw.run(ctx)
			if err != nil {
				b.Fatal(err)
			}
			s.add(d)
		}
		b.StopTimer()
		reportLatency(b, "", s)
	})

	// journal.List through ent without HTTP and GraphQL, beside the same
	// statements through lib/pq: what the ORM layer alone adds.
	entClient := ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, db)))
	filter := journal.Filter{AccountID: env.AccountID, CameraIDs: []pulid.ID{env.CameraID},
		Kinds: []journalentry.Kind{journalentry.KindPAYMENT}}
	entList := func() (time.Duration, error) {
		began := time.Now()
		p, err := journal.List(ctx, entClient, filter, journal.DefaultPageSize, nil, nil)
		if err == nil && len(p.Edges) != journal.DefaultPageSize {
			err = fmt.Errorf("journal.List returned %d entries", len(p.Edges))
		}
		return time.Since(began), err
	}
	b.Run("ent", func(b *testing.B) {
		e, a := newSamples(b.N), newSamples(b.N)
		b.ResetTimer()
		for i := range b.N {
			for k := range 2 {
				var d time.Duration
				var err error
				if (i+k)%2 == 0 {
					d, err = entList()
					e.add(d)
				} else {
					d, err = rawAll.run(ctx)
					a.add(d)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		reportLatency(b, "", e)
		reportLatency(b, "rawall_", a)
		b.ReportMetric(float64(e.pct(0.50))/float64(a.pct(0.50)), "p50_ratio_all")
		b.ReportMetric(float64(e.pct(0.99))/float64(a.pct(0.99)), "p99_ratio_all")
		b.ReportMetric(float64(e.mean()), "ns/op")
	})

	b.Run("graphql", func(b *testing.B) {
		// Each iteration runs all three, rotating which goes first, so the
		// distributions see the same noise.
		g, r, a := newSamples(b.N), newSamples(b.N), newSamples(b.N)
		b.ResetTimer()
		for i := range b.N {
			for k := range 3 {
				var d time.Duration
				var err error
				switch (i + k) % 3 {
				case 0:
					d, err = gql.run()
					g.add(d)
				case 1:
					d, err = raw.run(ctx)
					r.add(d)
				case 2:
					d, err = rawAll.run(ctx)
					a.add(d)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		reportLatency(b, "", g)
		reportLatency(b, "raw_", r)
		b.ReportMetric(float64(g.pct(0.99))/float64(r.pct(0.99)), "p99_ratio")
		b.ReportMetric(float64(g.pct(0.50))/float64(r.pct(0.50)), "p50_ratio")
		if len(stmts) > 1 {
			reportLatency(b, "rawall_", a)
			b.ReportMetric(float64(g.pct(0.99))/float64(a.pct(0.99)), "p99_ratio_all")
		}
		b.ReportMetric(float64(g.mean()), "ns/op") // the GraphQL request alone
	})
}

// captureDriver records the statements an ent client sends.
type captureDriver struct {
	dialect.Driver
	mu      sync.Mutex
	queries []capturedQuery
}

type capturedQuery struct {
	SQL  string
	Args []any
}

func (d *captureDriver) Query(ctx context.Context, query string, args, v any) error {
	a, _ := args.([]any)
	d.mu.Lock()
	d.queries = append(d.queries, capturedQuery{SQL: query, Args: append([]any(nil), a...)})
	d.mu.Unlock()
	return d.Driver.Query(ctx, query, args, v)
}

// captureListSQL runs journal.List, the function behind Query.journal, with
// filter f, and returns the page and every statement it sent, with the
// index of the page query among them.
func captureListSQL(tb testing.TB, db *sql.DB, f journal.Filter) (*journal.Page, []capturedQuery, int) {
	tb.Helper()
	cd := &captureDriver{Driver: entsql.OpenDB(dialect.Postgres, db)}
	client := ent.NewClient(ent.Driver(cd))
	if err := f.Validate("where"); err != nil {
		tb.Fatal(err)
	}
	page, err := journal.List(context.Background(), client, f, journal.DefaultPageSize, nil, nil)
	if err != nil {
		tb.Fatalf("journal.List: %v", err)
	}
	main := -1
	for i, q := range cd.queries {
		if strings.Contains(q.SQL, `FROM "journal_entries"`) && strings.Contains(q.SQL, "ORDER BY") {
			main = i
		}
	}
	if main < 0 {
		tb.Fatalf("no page query among the statements of journal.List: %+v", cd.queries)
	}
	return page, cd.queries, main
}

// explain returns EXPLAIN (ANALYZE, BUFFERS) of query.
func explain(tb testing.TB, db *sql.DB, query string, args []any) string {
	tb.Helper()
	rows, err := db.Query("EXPLAIN (ANALYZE, BUFFERS) "+query, args...)
	if err != nil {
		tb.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			tb.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// rawQuery runs statements through database/sql, each row scanned into Go
// values the way a hand-written repository would; page is the index of the
// journal page among them.
type rawQuery struct {
	db    *sql.DB
	stmts []capturedQuery
	page  int
}

func newRawQuery(db *sql.DB, stmts []capturedQuery, page int) *rawQuery {
	return &rawQuery{db: db, stmts: stmts, page: page}
}

// run executes the statements once and returns how long they took.
func (q *rawQuery) run(ctx context.Context) (time.Duration, error) {
	began := time.Now()
	_, err := q.rows(ctx)
	return time.Since(began), err
}

// rows returns the first column of every row of the page statement.
func (q *rawQuery) rows(ctx context.Context) ([]string, error) {
	var ids []string
	for i, st := range q.stmts {
		got, err := scanAll(ctx, q.db, st)
		if err != nil {
			return nil, err
		}
		if i == q.page {
			ids = got
		}
	}
	if len(ids) != journal.DefaultPageSize+1 {
		return nil, fmt.Errorf("raw query returned %d rows, want %d", len(ids), journal.DefaultPageSize+1)
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
	for rows.Next() {
		dest := make([]any, len(types))
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

// graphQLPage posts the first-page query to a running server.
type graphQLPage struct {
	url    string
	body   []byte
	client *http.Client
}

func newGraphQLPage(base string, cam pulid.ID) *graphQLPage {
	body, _ := json.Marshal(map[string]any{"query": firstPageQuery, "variables": map[string]any{"cam": cam}})
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	return &graphQLPage{url: base + "/graphql", body: body, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// fetch posts the query and returns the whole response body.
func (g *graphQLPage) fetch() ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, g.url, bytes.NewReader(g.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
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
	return data, nil
}

func (g *graphQLPage) run() (time.Duration, error) {
	began := time.Now()
	data, err := g.fetch()
	d := time.Since(began)
	if err == nil && bytes.Contains(data, []byte(`"errors"`)) {
		err = fmt.Errorf("graphql errors: %.500s", data)
	}
	return d, err
}

// checkSameRows makes sure both paths return the same page before timing.
func checkSameRows(b *testing.B, raw *rawQuery, gql *graphQLPage) {
	b.Helper()
	ids, err := raw.rows(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	data, err := gql.fetch()
	if err != nil {
		b.Fatal(err)
	}
	var resp struct {
		Data struct {
			Journal struct {
				Edges []struct {
					Node struct {
						ID   string
						Kind string
					}
				}
				PageInfo struct{ HasNextPage bool }
			}
		}
		Errors []json.RawMessage
	}
	if err := json.Unmarshal(data, &resp); err != nil || len(resp.Errors) > 0 {
		b.Fatalf("graphql response %.500s: %v", data, err)
	}
	edges := resp.Data.Journal.Edges
	if len(edges) != journal.DefaultPageSize || !resp.Data.Journal.PageInfo.HasNextPage {
		b.Fatalf("graphql page has %d edges (hasNextPage %v)", len(edges), resp.Data.Journal.PageInfo.HasNextPage)
	}
	for i, e := range edges {
		if e.Node.ID != ids[i] || e.Node.Kind != "PAYMENT" {
			b.Fatalf("edge %d is %s %s, raw SQL row is %s", i, e.Node.ID, e.Node.Kind, ids[i])
		}
	}
	b.Logf("graphql response: %d bytes", len(data))
}
