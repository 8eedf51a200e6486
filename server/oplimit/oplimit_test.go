package oplimit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/regicam/regicam/graph/generated"
	"github.com/regicam/regicam/server/oplimit"
)

var schema = generated.NewExecutableSchema(generated.Config{})

// testCosts prices like the server (server/operationlimits.go).
var testCosts = oplimit.Costs{
	Weights:     map[string]int{"Thumbnail.dataURL": 100},
	Pages:       map[string]oplimit.Page{"Query.journal": {Default: 50, Max: 200}},
	DefaultPage: oplimit.Page{Default: 100},
}

// pipeline is what a request goes through before it runs: the
// extension's checks, gqlgen's parse and validation (no cache), variable
// coercion and the cost.
func pipeline(l oplimit.Limits) *executor.Executor {
	if l.Costs.Weights == nil {
		l.Costs = testCosts
	}
	e := executor.New(schema)
	e.SetDefaultRulesFn(oplimit.ValidationRules)
	e.Use(oplimit.New(l))
	return e
}

func run(ctx context.Context, e *executor.Executor, query string, vars map[string]any) gqlerror.List {
	_, errs := e.CreateOperationContext(graphql.StartOperationTrace(ctx), &graphql.RawParams{Query: query, Variables: vars})
	return errs
}

func code(errs gqlerror.List) string {
	if len(errs) == 0 {
		return ""
	}
	c, _ := errs[0].Extensions["code"].(string)
	return c
}

// budget is what one document may take in these tests: microseconds to
// a few milliseconds on an idle machine, with room for the race detector
// and a loaded CI runner. What it catches takes seconds to minutes.
const budget = time.Second

// fanout is a document of about 40 bytes per level whose fragments
// spread the one below twice: it expands to 2^levels fields.
func fanout(levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "query Q { journal(first: 1) { edges { node { ...F%d } } } }\n", levels)
	b.WriteString("fragment F0 on JournalEntry { id }\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "fragment F%d on JournalEntry { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	return b.String()
}

// TestFanoutRefusedInLinearTime: time doubled per level before (minutes
// at 29 levels); now every level is refused in microseconds, far inside
// the budget even under the race detector.
func TestFanoutRefusedInLinearTime(t *testing.T) {
	e := pipeline(oplimit.Limits{})
	for _, levels := range []int{10, 20, 30, 60, 200} {
		q := fanout(levels)
		start := time.Now()
		errs := run(context.Background(), e, q, nil)
		took := time.Since(start)
		if code(errs) != oplimit.CodeFieldLimit {
			t.Fatalf("%d levels: got %v, want %s", levels, errs, oplimit.CodeFieldLimit)
		}
		t.Logf("%d levels (%d bytes): refused in %v: %s", levels, len(q), took, errs[0].Message)
		if took > budget {
			t.Errorf("%d levels took %v; a linear walk needs microseconds", levels, took)
		}
	}
}

// TestValidatorBounded: gqlparser's overlapping-fields rule is quadratic
// in fields and fragment spreads that meet at one level (a 32 KiB
// document of `id id id …` takes 6 s, of `a: id a: kind …` 22 s and 7
// million errors). Every such document, at every size, is either refused
// before validation or validated in milliseconds with few errors.
func TestValidatorBounded(t *testing.T) {
	e := pipeline(oplimit.Limits{})
	wrap := func(inner, frags string) string {
		return "query Q { journal(first: 1) { edges { node { " + inner + " } } } }\n" + frags
	}
	families := map[string]func(n int) string{
		"same field":          func(n int) string { return wrap(strings.Repeat("id ", n), "") },
		"conflicting aliases": func(n int) string { return wrap(strings.Repeat("a: id a: kind ", n/2), "") },
		"same object":         func(n int) string { return wrap(strings.Repeat("related { id } ", n/2), "") },
		"nested merge": func(n int) string {
			return wrap(strings.Repeat("related { "+strings.Repeat("id ", 30)+"} ", max(n/31, 1)), "")
		},
		"same spread": func(n int) string { return wrap(strings.Repeat("...F ", n), "fragment F on JournalEntry { id }") },
		"many fragments": func(n int) string {
			var defs, spreads strings.Builder
			for i := range n {
				fmt.Fprintf(&defs, "fragment G%d on JournalEntry { a%d: id }\n", i, i%7)
				fmt.Fprintf(&spreads, "...G%d ", i)
			}
			return wrap(spreads.String(), defs.String())
		},
		"fragment chain": func(n int) string {
			var defs strings.Builder
			defs.WriteString("fragment C0 on JournalEntry { id }\n")
			for i := 1; i < n; i++ {
				fmt.Fprintf(&defs, "fragment C%d on JournalEntry { id ...C%d }\n", i, i-1)
			}
			return wrap(fmt.Sprintf("...C%d", n-1), defs.String())
		},
		"fragment roots": func(n int) string {
			var defs strings.Builder
			defs.WriteString("fragment R0 on JournalEntry { " + strings.Repeat("kind ", 20) + "}\n")
			for i := 1; i < n; i++ {
				fmt.Fprintf(&defs, "fragment R%d on JournalEntry { ...R0 }\n", i)
			}
			return wrap("...R1", defs.String())
		},
	}
	for name, gen := range families {
		for _, n := range []int{10, 30, 44, 100, 300, 1000, 3000} {
			q := gen(n)
			if len(q) > oplimit.DefaultMaxDocumentBytes {
				continue
			}
			start := time.Now()
			errs := run(context.Background(), e, q, nil)
			took := time.Since(start)
			if len(errs) > oplimit.MaxValidationErrors {
				t.Errorf("%s, n=%d: %d errors", name, n, len(errs))
			}
			if took > budget {
				t.Errorf("%s, n=%d (%d bytes): %v (%s)", name, n, len(q), took, code(errs))
			}
		}
	}
}

func TestDocumentTooLarge(t *testing.T) {
	e := pipeline(oplimit.Limits{MaxDocumentBytes: 1000})
	q := "{ " + strings.Repeat("__typename ", 100) + "}"
	errs := run(context.Background(), e, q, nil)
	if code(errs) != oplimit.CodeDocumentTooLarge || !strings.Contains(errs[0].Message, "1000") {
		t.Fatalf("got %v", errs)
	}
	if errs := run(context.Background(), e, "{ __typename }", nil); errs != nil {
		t.Fatalf("small document: %v", errs)
	}
}

func TestDepthAndCycles(t *testing.T) {
	e := pipeline(oplimit.Limits{MaxDepth: 4})
	ok := `{ journal { edges { node { id } } } }`
	if errs := run(context.Background(), e, ok, nil); errs != nil {
		t.Fatalf("depth 4: %v", errs)
	}
	deep := `{ journal { edges { node { related { id } } } } }`
	if errs := run(context.Background(), e, deep, nil); code(errs) != oplimit.CodeDepthLimit {
		t.Fatalf("depth 5: %v", errs)
	}
	// The same depth reached through fragments.
	viaFrag := `{ journal { edges { ...E } } } fragment E on JournalEdge { node { ...N } } fragment N on JournalEntry { related { id } }`
	if errs := run(context.Background(), e, viaFrag, nil); code(errs) != oplimit.CodeDepthLimit {
		t.Fatalf("depth 5 via fragments: %v", errs)
	}
	// A cycle is refused before gqlgen's validator sees it.
	cycle := `{ journal { edges { node { ...A } } } } fragment A on JournalEntry { ...B } fragment B on JournalEntry { id ...A }`
	if errs := run(context.Background(), e, cycle, nil); code(errs) != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(errs[0].Message, "within itself") {
		t.Fatalf("cycle: %v", errs)
	}
}

// cost prices a valid query with testCosts.
func cost(t *testing.T, query string, vars map[string]any) int64 {
	t.Helper()
	c, _ := timedCost(t, query, vars)
	return c
}

// timedCost is cost with the time Costs.Of took.
func timedCost(t *testing.T, query string, vars map[string]any) (int64, time.Duration) {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		t.Fatal(err)
	}
	if errs := validator.Validate(schema.Schema(), doc); errs != nil {
		t.Fatalf("%s: %v", query, errs)
	}
	start := time.Now()
	c, err2 := testCosts.Of(context.Background(), schema.Schema(), doc, doc.Operations[0], vars)
	if err2 != nil {
		t.Fatal(err2)
	}
	return c, time.Since(start)
}

func TestCostModel(t *testing.T) {
	ids := []any{"a", "b", "c"}
	for _, tc := range []struct {
		name  string
		query string
		vars  map[string]any
		want  int64
	}{
		{"scalar", `{ me { id email } }`, nil, 3},
		// journal 1 + 10 × (edges 1 + node 1 + id 1) + pageInfo 2
		{"first", `{ journal(first: 10) { edges { node { id } } pageInfo { hasNextPage } } }`, nil, 1 + 10*3 + 2},
		{"first as a variable", `query($n: Int) { journal(first: $n) { edges { node { id } } } }`, map[string]any{"n": json.Number("7")}, 1 + 7*3},
		{"default page", `{ journal { edges { cursor node { id } } } }`, nil, 1 + 50*4},
		{"capped at the resolver's maximum", `{ journal(first: 100000) { edges { node { id } } } }`, nil, 1 + 200*3},
		{"last", `{ cameras(last: 5) { edges { node { id name } } totalCount } }`, nil, 1 + 1 + 5*4},
		{"connection without first", `{ cameras { edges { node { id } } } }`, nil, 1 + 100*3},
		{"nested connection", `{ journal(first: 2) { edges { node { camera { links { id } } } } } }`, nil, 1 + 2*(1+1+1+1+oplimit.DefaultListLength*1)},
		{"weight", `{ journal(first: 10) { edges { node { thumbnail { dataURL } } } } }`, nil, 1 + 10*(1+1+1+100)},
		{"list sized by its argument", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids}, 1 + 3*1},
		{"fragments and inline fragments", `{ journal(first: 4) { ...P } } fragment P on JournalConnection { edges { node { ... on JournalEntry { id kind } } } pageInfo { endCursor } }`, nil, 1 + 4*4 + 2},
		{"aliases add up", `{ a: journal(first: 200) { edges { node { id } } } b: journal(first: 200) { edges { node { id } } } }`, nil, 2 * (1 + 200*3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cost(t, tc.query, tc.vars); got != tc.want {
				t.Fatalf("cost %d, want %d", got, tc.want)
			}
		})
	}
}

// TestCostMemoised: fragments that spread each other twice per level are
// priced once each: the cost saturates instead of overflowing, at once.
func TestCostMemoised(t *testing.T) {
	for _, levels := range []int{10, 40, 100} {
		c, took := timedCost(t, fanout(levels), nil)
		if took > budget {
			t.Errorf("%d levels: %v", levels, took)
		}
		if want := int64(1) << min(levels, 29); c < want || c < 0 {
			t.Errorf("%d levels: cost %d, want at least %d", levels, c, want)
		}
	}
}

func TestComplexityLimit(t *testing.T) {
	e := pipeline(oplimit.Limits{})
	// The dashboard's page, at the largest page the resolver serves.
	page := `query($n: Int) { journal(first: $n) { edges { cursor node { id kind occurredAt receiptNo total thumbnail { id url } } } } }`
	if errs := run(context.Background(), e, page, map[string]any{"n": 200}); errs != nil {
		t.Fatalf("a page of 200: %v", errs)
	}
	// One page of 50 inline pictures passes; hundreds of pages do not,
	// nor do two pages of 200.
	pics := func(aliases, first int) string {
		var b strings.Builder
		b.WriteString("{ ")
		for i := range aliases {
			fmt.Fprintf(&b, "p%d: journal(first: %d) { edges { node { id thumbnail { dataURL } } } } ", i, first)
		}
		return b.String() + "}"
	}
	if errs := run(context.Background(), e, pics(1, 50), nil); errs != nil {
		t.Fatalf("50 pictures: %v", errs)
	}
	errs := run(context.Background(), e, pics(2, 200), nil)
	if code(errs) != oplimit.CodeComplexityLimit {
		t.Fatalf("2 × 200 pictures: %v", errs)
	}
	t.Logf("2 × 200 pictures: %s", errs[0].Message)
	for _, n := range []int{100, 300} {
		errs := run(context.Background(), e, pics(n, 200), nil)
		if c := code(errs); c != oplimit.CodeComplexityLimit && c != oplimit.CodeFieldLimit {
			t.Fatalf("%d × 200 pictures: %v", n, errs)
		}
	}
	// Without the field limit in the way, hundreds of aliases are priced
	// (not walked per alias: they are fields of one set).
	wide := pipeline(oplimit.Limits{MaxFields: 1 << 20})
	errs = run(context.Background(), wide, pics(300, 200), nil)
	if code(errs) != oplimit.CodeComplexityLimit || !strings.Contains(errs[0].Message, "6240300") {
		t.Fatalf("300 × 200 pictures: %v", errs)
	}
}

// countingCtx is a context whose Err turns non-nil after a number of
// calls: the client went away in the middle of the walk.
type countingCtx struct {
	context.Context
	calls, after int64
}

func (c *countingCtx) Err() error {
	if atomic.AddInt64(&c.calls, 1) > c.after {
		return context.Canceled
	}
	return nil
}

// TestWalksStopWhenTheClientGoesAway: both walks look at the request's
// context while they work and stop as soon as it ends.
func TestWalksStopWhenTheClientGoesAway(t *testing.T) {
	// Wide and flat, so the walks have thousands of selections to visit.
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "a%d: id ", i)
	}
	q := "{ journal { edges { node { " + b.String() + "} } } }"
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatal(err)
	}
	ctx := &countingCtx{Context: context.Background(), after: 2}
	gerr := oplimit.CheckShape(ctx, doc, oplimit.Shape{MaxFields: 1 << 20, MaxDepth: 100, MaxPairs: 1 << 30})
	if gerr == nil || gerr.Extensions["code"] != "CANCELED" {
		t.Fatalf("shape walk: %v", gerr)
	}
	if ctx.calls != 3 {
		t.Fatalf("shape walk looked at the context %d times after it ended", ctx.calls-3)
	}

	if errs := validator.Validate(schema.Schema(), doc); errs != nil {
		t.Fatal(errs)
	}
	ctx = &countingCtx{Context: context.Background(), after: 2}
	if _, err := testCosts.Of(ctx, schema.Schema(), doc, doc.Operations[0], nil); err == nil {
		t.Fatal("cost walk did not stop")
	}
	if ctx.calls != 3 {
		t.Fatalf("cost walk looked at the context %d times after it ended", ctx.calls-3)
	}

	// Through the extension: a request whose client has gone.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	e := pipeline(oplimit.Limits{MaxFields: 1 << 20, MaxDocumentBytes: 1 << 20})
	if errs := run(gone, e, q, nil); code(errs) != "CANCELED" {
		t.Fatalf("canceled request: %v", errs)
	}
}

func TestValidationErrorsCapped(t *testing.T) {
	q := "{ journal { edges { node { " + strings.Repeat("a: id a: kind ", 20) + "} } } }"
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatal(err)
	}
	if all := validator.Validate(schema.Schema(), doc); len(all) != 400 {
		t.Fatalf("uncapped: %d errors, want 400", len(all))
	}
	if got := validator.ValidateWithRules(schema.Schema(), doc, oplimit.ValidationRules()); len(got) != oplimit.MaxValidationErrors {
		t.Fatalf("capped: %d errors, want %d", len(got), oplimit.MaxValidationErrors)
	}
}

// TestCyclicListsRefused: lists whose length no argument states multiply
// their selection (DefaultListLength, or the server's smaller lengths for
// the shop list), so lists of objects nested in lists — shop groups and
// their shops, links and their cameras, introspection — are refused
// before they run, while one level passes.
func TestCyclicListsRefused(t *testing.T) {
	serverLike := testCosts
	serverLike.Lists = map[string]int{"Query.shopGroups": 10, "ShopGroup.shops": 20, "ShopGroup.members": 10, "Shop.businessHours": 7}
	for _, costs := range []oplimit.Costs{testCosts, serverLike} {
		e := pipeline(oplimit.Limits{Costs: costs})
		if errs := run(context.Background(), e, `{ shopGroups { id name shops { id name } members { id email } } }`, nil); errs != nil {
			t.Fatalf("one level of shop groups: %v", errs)
		}
		if errs := run(context.Background(), e, `{ __schema { types { name fields { name } } } }`, nil); errs != nil {
			t.Fatalf("a shallow introspection: %v", errs)
		}
		// The standard introspection query's deepest nesting (GraphiQL,
		// codegen): types { fields { args } }.
		if errs := run(context.Background(), e, `{ __schema { types { fields { args { name type { name ofType { name } } } } inputFields { name } enumValues { name } } directives { args { name } } } }`, nil); errs != nil {
			t.Fatalf("the standard introspection shape: %v", errs)
		}
		for _, q := range []string{
			`{ shopGroups { shops { groups { shops { groups { shops { id name } } } } } } }`,
			`{ shopGroups { shops { groups { shops { id } } } } }`,
			`{ journal(first: 1) { edges { node { camera { links { camera { links { camera { links { id } } } } } } } } } }`,
			`{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`,
			`{ __schema { types { fields { args { type { fields { args { name } } } } } } } }`,
		} {
			errs := run(context.Background(), e, q, nil)
			// gqlparser refuses deep introspection itself ("Maximum
			// introspection depth exceeded"); the cost is the second line.
			if code(errs) != oplimit.CodeComplexityLimit && !(strings.Contains(q, "__schema") && len(errs) > 0) {
				t.Fatalf("%s: %v", q, errs)
			}
			t.Logf("%s: %s", q, errs[0].Message)
		}
	}
}
