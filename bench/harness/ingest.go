package harness

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
	"github.com/oklog/ulid/v2"

	"github.com/regicam/regicam/ent/schema/schematype"
)

// I1Result compares partner ingest through GraphQL with writing the same
// rows straight into the table.
type I1Result struct {
	Entries    int     `json:"entries"`
	Batch      int     `json:"batch"`
	Clients    int     `json:"clients"`
	GraphQLPS  float64 `json:"ingestjournal_per_sec"`
	InsertPS   float64 `json:"raw_insert_per_sec"`
	CopyPS     float64 `json:"raw_copy_per_sec"`
	OfCopy     float64 `json:"share_of_copy"`
	Created    int     `json:"created"`
	FirstError string  `json:"first_error,omitempty"`
}

type i1Row struct {
	t     Terminal
	ext   string
	at    time.Time
	no    string
	staff string
	total int64
}

func (e *runEnv) i1Rows(tag string, n int) []i1Row {
	rows := make([]i1Row, n)
	base := time.Now().Add(-time.Hour)
	for i := range rows {
		t := e.ds.Terminals[i%len(e.ds.Terminals)]
		rows[i] = i1Row{t: t, ext: fmt.Sprintf("run-%s-%s-%08d", e.runID, tag, i), at: base.Add(time.Duration(i) * time.Millisecond),
			no: fmt.Sprintf("%06d", i), staff: staffNames[i%len(staffNames)], total: int64(450 + i%5000)}
	}
	return rows
}

var i1Items = []schematype.Item{{Name: "ブレンドコーヒー", Quantity: 1, Amount: 450}}

// i1 runs the three writers over n entries each, in batches from clients
// concurrent writers.
func (e *runEnv) i1(ctx context.Context, db *sql.DB, n, batch, clients int) (I1Result, error) {
	res := I1Result{Entries: n, Batch: batch, Clients: clients}
	run := func(rows []i1Row, write func([]i1Row) (int, error)) (float64, int, error) {
		work := make(chan []i1Row)
		var done atomic.Int64
		var firstErr atomic.Pointer[error]
		var wg sync.WaitGroup
		began := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range work {
					k, err := write(b)
					if err != nil {
						firstErr.CompareAndSwap(nil, &err)
					}
					done.Add(int64(k))
				}
			}()
		}
		for i := 0; i < len(rows); i += batch {
			work <- rows[i:min(i+batch, len(rows))]
		}
		close(work)
		wg.Wait()
		el := time.Since(began)
		if p := firstErr.Load(); p != nil {
			return 0, int(done.Load()), *p
		}
		return float64(done.Load()) / el.Seconds(), int(done.Load()), nil
	}

	gql := newGQLClient(e.httpURL, clients)
	gql.header = e.httpHeader
	var err error
	res.GraphQLPS, res.Created, err = run(e.i1Rows("i1g", n), func(rows []i1Row) (int, error) {
		input := make([]map[string]any, len(rows))
		for i, r := range rows {
			input[i] = map[string]any{"terminalID": r.t.ID, "externalID": r.ext, "kind": "PAYMENT",
				"occurredAt": r.at.Format(time.RFC3339Nano), "receiptNo": r.no, "registerNo": r.t.Register,
				"staffID": "101", "staffName": r.staff, "total": r.total, "deposit": r.total, "change": 0,
				"paymentMethod": "現金", "items": i1Items}
		}
		var out struct {
			Data struct {
				IngestJournal []struct {
					Status string
					Entry  *struct{ ID string }
					Error  *struct{ Message string }
				}
			}
		}
		if err := gql.post(`mutation I1($in: [JournalInput!]!) { ingestJournal(input: $in) { status entry { id } error { message } } }`,
			map[string]any{"in": input}, &out); err != nil {
			return 0, err
		}
		created := 0
		for _, r := range out.Data.IngestJournal {
			if r.Status == "CREATED" && r.Entry != nil {
				created++
				e.remember(r.Entry.ID)
			} else if r.Error != nil {
				return created, fmt.Errorf("ingestJournal item: %s %s", r.Status, r.Error.Message)
			}
		}
		return created, nil
	})
	if err != nil {
		res.FirstError = err.Error()
		return res, err
	}

	res.InsertPS, _, err = run(e.i1Rows("i1i", n), func(rows []i1Row) (int, error) {
		var sb strings.Builder
		sb.WriteString(`INSERT INTO journal_entries (` + strings.Join(i1Columns, ", ") + `) VALUES `)
		args := make([]any, 0, len(rows)*len(i1Columns))
		for i, r := range rows {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			vals := e.i1Values(r)
			for j := range vals {
				if j > 0 {
					sb.WriteString(", ")
				}
				fmt.Fprintf(&sb, "$%d", len(args)+j+1)
			}
			sb.WriteByte(')')
			args = append(args, vals...)
		}
		if _, err := db.ExecContext(ctx, sb.String(), args...); err != nil {
			return 0, err
		}
		return len(rows), nil
	})
	if err != nil {
		return res, fmt.Errorf("raw insert: %w", err)
	}

	res.CopyPS, _, err = run(e.i1Rows("i1c", n), func(rows []i1Row) (int, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		defer func() { _ = tx.Rollback() }()
		stmt, err := tx.PrepareContext(ctx, pq.CopyIn("journal_entries", i1Columns...))
		if err != nil {
			return 0, err
		}
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, e.i1Values(r)...); err != nil {
				return 0, err
			}
		}
		if _, err := stmt.ExecContext(ctx); err != nil {
			return 0, err
		}
		if err := stmt.Close(); err != nil {
			return 0, err
		}
		return len(rows), tx.Commit()
	})
	if err != nil {
		return res, fmt.Errorf("raw copy: %w", err)
	}
	if res.CopyPS > 0 {
		res.OfCopy = res.GraphQLPS / res.CopyPS
	}
	return res, nil
}

var i1Columns = []string{
	"id", "account_id", "connection_id", "terminal_id", "shop_id", "camera_id", "kind",
	"occurred_at", "received_at", "external_id", "revision", "receipt_no", "register_no",
	"staff_id", "staff_name", "total", "deposit", "change", "payment_method", "items", "masked_card",
	"thumbnail_reason", "fingerprint",
}

func (e *runEnv) i1Values(r i1Row) []any {
	id := "JE" + ulid.Make().String()
	e.remember(id)
	items, _ := json.Marshal(i1Items)
	return []any{id, string(e.ds.AccountID), string(r.t.ConnectionID), string(r.t.ID), string(r.t.ShopID), string(r.t.CameraID),
		"PAYMENT", r.at, time.Now(), r.ext, "", r.no, r.t.Register, "101", r.staff, r.total, r.total, int64(0),
		"現金", string(items), "", "", "raw"}
}
