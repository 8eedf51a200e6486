// Package rotation re-encrypts every sealed value in the database with the
// current key of a secrets.Box, in batches, so an old key can be retired.
//
// It works on the columns directly (SQL built for the database's dialect):
// a rotation is not a content change, so no hook runs and updated_at stays.
// Each value is replaced only if the row still holds the value read
// (compare and swap), so a server storing a new token meanwhile is never
// overwritten with the old one.
package rotation

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/ent/mailsettings"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
)

// Column is one database column holding sealed values, and how a value is
// bound to its row (the additional data it was sealed with).
type Column struct {
	Table, Column string
	AAD           func(id pulid.ID) []byte
}

func (c Column) String() string { return c.Table + "." + c.Column }

// Sealed lists every column that holds values sealed by secrets.Box. A new
// sealed column must be added here, or rotation leaves it on the old key.
func Sealed() []Column {
	// Bindings come from secrets/bindings.go, the same functions the
	// columns' owners seal with.
	return []Column{
		{Table: posconnection.Table, Column: posconnection.FieldSecrets, AAD: secrets.POSConnectionSecretsAAD},
		{Table: posconnection.Table, Column: posconnection.FieldWebhookSecret, AAD: secrets.POSWebhookSecretAAD},
		{Table: camera.Table, Column: camera.FieldSourceCredentials, AAD: secrets.CameraCredentialsAAD},
		{Table: alertrule.Table, Column: alertrule.FieldWebhookSecret, AAD: secrets.AlertWebhookSecretAAD},
		{Table: cameracloudconnection.Table, Column: cameracloudconnection.FieldSecrets, AAD: secrets.CameraCloudSecretsAAD},
		{Table: mailsettings.Table, Column: mailsettings.FieldPassword, AAD: secrets.MailPasswordAAD},
		{Table: camera.Table, Column: camera.FieldSnapshotCredentials, AAD: secrets.CameraSnapshotCredentialsAAD},
	}
}

// Progress is reported after every batch.
type Progress struct {
	Column   string
	Scanned  int // values read so far in this column
	Total    int // values in the column when it started
	Resealed int // values re-encrypted so far in this column
}

// Options tune a rotation.
type Options struct {
	BatchSize int            // values per read and per write transaction; default 200
	Progress  func(Progress) // optional
}

// Report says what one column holds.
type Report struct {
	Column   string
	Values   int
	Resealed int
	ByKey    map[string]int // values per key id, after the run
}

// DB is the database to work on.
type DB struct {
	SQL     *sql.DB
	Dialect string // entgo.io/ent/dialect name: sqlite3 or postgres
}

type row struct {
	id    string
	value []byte
}

// Rotate re-encrypts every value of cols that is not sealed with box's
// current key, then checks that every value opens and uses it. A value
// that does not open (an unknown key, a damaged value) stops the run with
// an error naming its row; values already re-encrypted stay so, and a new
// run continues where it stopped.
func Rotate(ctx context.Context, db DB, box *secrets.Box, cols []Column, opt Options) ([]Report, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 200
	}
	resealed := map[string]int{}
	for _, c := range cols {
		n, err := rotateColumn(ctx, db, box, c, opt)
		resealed[c.String()] = n
		if err != nil {
			return nil, err
		}
	}
	reports, err := Check(ctx, db, box, cols)
	for i := range reports {
		reports[i].Resealed = resealed[reports[i].Column]
	}
	return reports, err
}

func rotateColumn(ctx context.Context, db DB, box *secrets.Box, c Column, opt Options) (int, error) {
	total, err := count(ctx, db, c)
	if err != nil {
		return 0, err
	}
	p := Progress{Column: c.String(), Total: total}
	after := ""
	for {
		rows, err := batch(ctx, db, c, after, opt.BatchSize)
		if err != nil {
			return p.Resealed, err
		}
		if len(rows) == 0 {
			return p.Resealed, nil
		}
		n, err := resealBatch(ctx, db, box, c, rows)
		p.Resealed += n
		if err != nil {
			return p.Resealed, err
		}
		p.Scanned += len(rows)
		after = rows[len(rows)-1].id
		if opt.Progress != nil {
			opt.Progress(p)
		}
	}
}

// resealBatch writes the batch's stale values in one transaction. A row
// that changed since it was read is read again and retried.
func resealBatch(ctx context.Context, db DB, box *secrets.Box, c Column, rows []row) (int, error) {
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	n := 0
	for _, r := range rows {
		for attempt := 0; ; attempt++ {
			if len(r.value) == 0 || !box.Stale(r.value) {
				break
			}
			next, err := box.Reseal(r.value, c.AAD(pulid.ID(r.id)))
			if err != nil {
				return 0, fmt.Errorf("%s of row %s: %w", c, r.id, err)
			}
			q, args := entsql.Dialect(db.Dialect).Update(c.Table).Set(c.Column, next).
				Where(entsql.And(entsql.EQ("id", r.id), entsql.EQ(c.Column, r.value))).Query()
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return 0, fmt.Errorf("%s of row %s: %w", c, r.id, err)
			}
			if k, err := res.RowsAffected(); err == nil && k == 1 {
				n++
				break
			}
			if attempt == 5 {
				return 0, fmt.Errorf("%s of row %s keeps changing; run the rotation again", c, r.id)
			}
			// Changed meanwhile (a refreshed token): take the new value.
			q, args = entsql.Dialect(db.Dialect).Select(c.Column).From(entsql.Table(c.Table)).
				Where(entsql.EQ("id", r.id)).Query()
			var v []byte
			if err := tx.QueryRowContext(ctx, q, args...).Scan(&v); err != nil && err != sql.ErrNoRows {
				return 0, err
			}
			r.value = v
		}
	}
	return n, tx.Commit()
}

// Check opens every value of cols and counts them per key id. A value
// that does not open is an error naming its row.
func Check(ctx context.Context, db DB, box *secrets.Box, cols []Column) ([]Report, error) {
	var out []Report
	for _, c := range cols {
		rep := Report{Column: c.String(), ByKey: map[string]int{}}
		after := ""
		for {
			rows, err := batch(ctx, db, c, after, 500)
			if err != nil {
				return nil, err
			}
			if len(rows) == 0 {
				break
			}
			for _, r := range rows {
				if len(r.value) == 0 {
					continue
				}
				if _, err := box.Open(r.value, c.AAD(pulid.ID(r.id))); err != nil {
					return nil, fmt.Errorf("%s of row %s does not open: %w", c, r.id, err)
				}
				id, _ := secrets.KeyID(r.value)
				rep.ByKey[id]++
				rep.Values++
			}
			after = rows[len(rows)-1].id
		}
		out = append(out, rep)
	}
	return out, nil
}

// KeysInUse lists the key ids any value of reports uses, sorted.
func KeysInUse(reports []Report) []string {
	used := map[string]bool{}
	for _, r := range reports {
		for id, n := range r.ByKey {
			if n > 0 {
				used[id] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(used))
}

func count(ctx context.Context, db DB, c Column) (int, error) {
	q, args := entsql.Dialect(db.Dialect).Select(entsql.Count("*")).From(entsql.Table(c.Table)).
		Where(entsql.NotNull(c.Column)).Query()
	var n int
	if err := db.SQL.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", c, err)
	}
	return n, nil
}

func batch(ctx context.Context, db DB, c Column, after string, n int) ([]row, error) {
	q, args := entsql.Dialect(db.Dialect).Select("id", c.Column).From(entsql.Table(c.Table)).
		Where(entsql.And(entsql.NotNull(c.Column), entsql.GT("id", after))).
		OrderBy("id").Limit(n).Query()
	rs, err := db.SQL.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c, err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.value); err != nil {
			return nil, fmt.Errorf("read %s: %w", c, err)
		}
		out = append(out, r)
	}
	return out, rs.Err()
}
