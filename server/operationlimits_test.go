package server

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/regicam/regicam/graph/generated"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/server/oplimit"
)

// DashboardDocuments are the documents the dashboard sends, by name, as
// it sends them: frontend/src/gql/ops.ts, generated from frontend/src/ops.
// (Exported for the server_test package.)
func DashboardDocuments(t testing.TB) map[string]string {
	t.Helper()
	src, err := os.ReadFile("../frontend/src/gql/ops.ts")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^export const (\w+) = ("(?:[^"\\]|\\.)*") as Op<`)
	docs := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		var doc string
		if err := json.Unmarshal([]byte(m[2]), &doc); err != nil {
			t.Fatalf("%s: %v", m[1], err)
		}
		docs[m[1]] = doc
	}
	if len(docs) < 10 || docs["Journal"] == "" {
		t.Fatalf("found %d documents in ops.ts", len(docs))
	}
	return docs
}

// worstVariables gives every variable the value that costs most: page
// sizes at the resolver's maximum, lists of 100.
func worstVariables(op *ast.OperationDefinition) map[string]any {
	vars := map[string]any{}
	for _, v := range op.VariableDefinitions {
		switch {
		case v.Type.Elem != nil:
			vars[v.Variable] = make([]any, 100)
		case v.Variable == "first" || v.Variable == "last":
			vars[v.Variable] = journal.MaxPageSize
		}
	}
	return vars
}

// TestDashboardWithinLimits: every document the dashboard sends is well
// inside each default limit, priced with the largest pages its variables
// allow. The heaviest (the setup page: 200 cameras, 200 shops) costs about
// half the default.
func TestDashboardWithinLimits(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	lim := operationLimits(Config{}).Limits()
	var heaviest string
	var most int64
	for name, text := range DashboardDocuments(t) {
		if len(text)*8 > lim.MaxDocumentBytes {
			t.Errorf("%s: %d bytes, want at most an eighth of the %d-byte limit", name, len(text), lim.MaxDocumentBytes)
		}
		doc, err := parser.ParseQuery(&ast.Source{Input: text})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if gerr := oplimit.CheckShape(context.Background(), doc, oplimit.Shape{MaxFields: lim.MaxFields / 4, MaxDepth: lim.MaxDepth, MaxPairs: 10}); gerr != nil {
			t.Errorf("%s: %v", name, gerr)
		}
		if errs := validator.ValidateWithRules(schema, doc, oplimit.ValidationRules()); errs != nil {
			t.Fatalf("%s: %v", name, errs)
		}
		for _, op := range doc.Operations {
			c, err := operationCosts.Of(context.Background(), schema, doc, op, worstVariables(op))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%-20s %5d bytes, cost %5d", name, len(text), c)
			if c*3/2 > int64(lim.MaxCost) {
				t.Errorf("%s costs %d: want 50%% room under the limit of %d", name, c, lim.MaxCost)
			}
			if c > most {
				heaviest, most = name, c
			}
		}
	}
	t.Logf("heaviest: %s, cost %d of %d", heaviest, most, lim.MaxCost)
}

// TestInlinePicturesPriced: pages of inline pictures cost what they
// weigh. One page of 50 passes; a page of 200, or hundreds of aliased
// pages, is refused before it runs, so a 10 MB response is never built.
func TestInlinePicturesPriced(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	lim := operationLimits(Config{}).Limits()
	price := func(aliases, first int) int64 {
		var b strings.Builder
		b.WriteString("{ ")
		for i := range aliases {
			b.WriteString("p" + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
			b.WriteString(": journal(first: " + itoa(first) + ") { edges { node { id receiptNo thumbnail { dataURL } } } } ")
		}
		b.WriteString("}")
		doc, err := parser.ParseQuery(&ast.Source{Input: b.String()})
		if err != nil {
			t.Fatal(err)
		}
		if errs := validator.Validate(schema, doc); errs != nil {
			t.Fatal(errs)
		}
		c, err := operationCosts.Of(context.Background(), schema, doc, doc.Operations[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := price(1, 50); c > int64(lim.MaxCost) {
		t.Errorf("a page of 50 pictures costs %d, over %d", c, lim.MaxCost)
	}
	for _, tc := range []struct{ aliases, first int }{{1, 200}, {2, 100}, {300, 200}} {
		if c := price(tc.aliases, tc.first); c <= int64(lim.MaxCost) {
			t.Errorf("%d × journal(first: %d) with pictures costs %d, within %d", tc.aliases, tc.first, c, lim.MaxCost)
		}
	}
}

// TestPartnerIngestWithinLimits: a partner's largest ingest batch, with
// the result fields the README shows, passes.
func TestPartnerIngestWithinLimits(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	lim := operationLimits(Config{}).Limits()
	q := `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { index status entry { id } error { code field message } } }`
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatal(err)
	}
	if errs := validator.Validate(schema, doc); errs != nil {
		t.Fatal(errs)
	}
	c, err := operationCosts.Of(context.Background(), schema, doc, doc.Operations[0], map[string]any{"in": make([]any, 500)})
	if err != nil {
		t.Fatal(err)
	}
	if c != 4001 || c > int64(lim.MaxCost) {
		t.Fatalf("500 receipts cost %d (limit %d)", c, lim.MaxCost)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestCloudRecordingsPriced: Camera.recordings may ask the camera cloud
// once per day of its window, behind every other call of the connection,
// so a request holds a few dozen at most: hundreds of aliased recordings
// are refused before any runs.
func TestCloudRecordingsPriced(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	lim := operationLimits(Config{}).Limits()
	price := func(aliases int) int64 {
		var b strings.Builder
		b.WriteString(`{ node(id: "CA1") { ... on Camera { `)
		for i := range aliases {
			b.WriteString("r" + itoa(i) + `: recordings(from: "2026-01-01T00:30:00Z", to: "2026-01-04T00:30:00Z") { source gaps { from to } } `)
		}
		b.WriteString("} } }")
		doc, err := parser.ParseQuery(&ast.Source{Input: b.String()})
		if err != nil {
			t.Fatal(err)
		}
		if errs := validator.Validate(schema, doc); errs != nil {
			t.Fatal(errs)
		}
		c, err := operationCosts.Of(context.Background(), schema, doc, doc.Operations[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := price(1); c > int64(lim.MaxCost) {
		t.Errorf("one camera's recordings cost %d, over %d", c, lim.MaxCost)
	}
	for _, n := range []int{41, 990} {
		if c := price(n); c <= int64(lim.MaxCost) {
			t.Errorf("%d aliased recordings cost %d, within %d: up to %d cloud calls in one request", n, c, lim.MaxCost, 4*n)
		}
	}
}
