package oplimit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/regicam/regicam/server/oplimit"
)

// journalDocument is the dashboard's receipt list query as it sends it.
func journalDocument(b *testing.B) string {
	src, err := os.ReadFile("../../frontend/src/gql/ops.ts")
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^export const Journal = ("(?:[^"\\]|\\.)*") as Op<`).FindSubmatch(src)
	if m == nil {
		b.Fatal("no Journal in ops.ts")
	}
	var doc string
	if err := json.Unmarshal(m[1], &doc); err != nil {
		b.Fatal(err)
	}
	return doc
}

// BenchmarkValidation is the time a document takes from the request to
// the point where it would run (the extension's checks, gqlgen's parse
// and validation, variable coercion and pricing), for the fan-out
// document at 10, 20 and 30 levels against the dashboard's journal query
// measured in the same run (x_journal: the ratio). The fan-out document
// is refused by the field limit at every level, in time that grows only
// with its length (47 bytes per level, mostly parsing): ns/byte stays
// flat where 2^levels doubles.
// gqlgen's complexity walk, which this replaces, is measured beside it
// up to 20 levels (at 30 it takes minutes).
func BenchmarkValidation(b *testing.B) {
	e := pipeline(oplimit.Limits{})
	ctx := context.Background()
	journal := journalDocument(b)
	vars := map[string]any{"first": json.Number("30")}
	var baseline float64 // ns per journal query

	b.Run("journal", func(b *testing.B) {
		i := 0
		for b.Loop() {
			// A new comment each time: nothing is served from a cache.
			if errs := run(ctx, e, journal+"\n# "+strconv.Itoa(i), vars); errs != nil {
				b.Fatal(errs)
			}
			i++
		}
		baseline = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	for _, levels := range []int{10, 20, 30} {
		doc := fanout(levels)
		b.Run(fmt.Sprintf("fanout=%d", levels), func(b *testing.B) {
			for b.Loop() {
				if errs := run(ctx, e, doc, nil); code(errs) != oplimit.CodeFieldLimit {
					b.Fatal(errs)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(ns/baseline, "x_journal")
			b.ReportMetric(ns/float64(len(doc)), "ns/byte")
		})
	}
	for _, levels := range []int{10, 15, 20} {
		doc, err := parser.ParseQuery(&ast.Source{Input: fanout(levels)})
		if err != nil {
			b.Fatal(err)
		}
		if errs := validator.Validate(schema.Schema(), doc); errs != nil {
			b.Fatal(errs) // the walk follows the spreads validation resolved
		}
		b.Run(fmt.Sprintf("gqlgen-complexity/fanout=%d", levels), func(b *testing.B) {
			for b.Loop() {
				complexity.Calculate(ctx, schema, doc.Operations[0], nil)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/baseline, "x_journal")
		})
	}
}
