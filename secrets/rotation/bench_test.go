package rotation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/secrets/rotation"
)

// BenchmarkRotate re-encrypts 5,000 connections' credentials (plus their
// webhook secrets) and reports the time per value next to a baseline
// measured in the same run: rewriting the same rows with their own bytes
// in the same batches, i.e. the database's share of the work.
func BenchmarkRotate(b *testing.B) {
	dbtest.EachB(b, func(b *testing.B, db *db.DB) {
		keys := []secrets.Key{secrets.NewKey("k1")}
		box, _ := secrets.New(keys...)
		rows := seed(b, db.Client, box, 5000)
		rdb := rotation.DB{SQL: db.SQL, Dialect: db.Dialect}
		ctx := context.Background()
		var rotate, baseline time.Duration
		b.ResetTimer()
		for range b.N {
			keys = append([]secrets.Key{secrets.NewKey(secrets.NextKeyID(keys))}, keys...)
			box, _ = secrets.New(keys...)
			start := time.Now()
			if _, err := rotation.Rotate(ctx, rdb, box, rotation.Sealed(), rotation.Options{}); err != nil {
				b.Fatal(err)
			}
			rotate += time.Since(start)
			start = time.Now()
			rewrite(b, db, 200)
			baseline += time.Since(start)
		}
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N*len(rows)) }
		b.ReportMetric(per(rotate), "µs/value")
		b.ReportMetric(per(baseline), "baseline-µs/value")
		b.ReportMetric(float64(rotate)/float64(baseline), "ratio")
	})
}

// rewrite stores every sealed value again unchanged, batch by batch, the
// way Rotate does minus the cryptography and the final check.
func rewrite(b *testing.B, db *db.DB, batch int) {
	ctx := context.Background()
	for _, c := range rotation.Sealed() {
		after := ""
		for {
			q, args := entsql.Dialect(db.Dialect).Select("id", c.Column).From(entsql.Table(c.Table)).
				Where(entsql.And(entsql.NotNull(c.Column), entsql.GT("id", after))).OrderBy("id").Limit(batch).Query()
			rs, err := db.SQL.QueryContext(ctx, q, args...)
			if err != nil {
				b.Fatal(err)
			}
			type rv struct {
				id string
				v  []byte
			}
			var page []rv
			for rs.Next() {
				var r rv
				if err := rs.Scan(&r.id, &r.v); err != nil {
					b.Fatal(err)
				}
				page = append(page, r)
			}
			rs.Close()
			if len(page) == 0 {
				break
			}
			tx, err := db.SQL.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range page {
				q, args := entsql.Dialect(db.Dialect).Update(c.Table).Set(c.Column, r.v).
					Where(entsql.And(entsql.EQ("id", r.id), entsql.EQ(c.Column, r.v))).Query()
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					b.Fatal(fmt.Errorf("rewrite: %w", err))
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			after = page[len(page)-1].id
		}
	}
}
