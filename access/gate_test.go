package access_test

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/access"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/viewer"
)

// TestGateRefusesBeforeTheResolver calls the root field interceptor the
// way gqlgen does: a refused field never reaches its resolver, and its
// error carries the code and the field's path.
func TestGateRefusesBeforeTheResolver(t *testing.T) {
	owner := viewer.Viewer{AccountID: "AC1", UserID: "US1", Role: viewer.RoleOwner}
	links := viewer.Viewer{AccountID: "AC1", APIKeyID: "AK1", Scopes: []viewer.Scope{viewer.ScopeLinksWrite}}
	cases := []struct {
		name     string
		v        *viewer.Viewer
		object   string
		field    string
		wantCode string
	}{
		{"a links:write key creating an alert rule", &links, "Mutation", "createAlertRule", apperr.Forbidden},
		{"an OWNER creating an alert rule", &owner, "Mutation", "createAlertRule", ""},
		{"a mutation missing from the table, even for an OWNER", &owner, "Mutation", "dropEverything", apperr.Forbidden},
		{"a query missing from the table", &owner, "Query", "everything", apperr.Forbidden},
		{"nobody signed in reading users", nil, "Query", "users", apperr.Unauthenticated},
		{"introspection is left to its own switch", nil, "Query", "__schema", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var errs gqlerror.List
			ctx := graphql.WithResponseContext(context.Background(),
				func(ctx context.Context, err error) *gqlerror.Error {
					e := graphql.DefaultErrorPresenter(ctx, err)
					if ae, ok := apperr.As(err); ok {
						e.Extensions = map[string]any{"code": ae.Code}
					}
					errs = append(errs, e)
					return e
				}, graphql.DefaultRecover)
			if c.v != nil {
				ctx = viewer.NewContext(ctx, *c.v)
			}
			field := &ast.Field{Alias: "f", Name: c.field, ObjectDefinition: &ast.Definition{Name: c.object}}
			ctx = graphql.WithRootFieldContext(ctx, &graphql.RootFieldContext{Object: c.field, Field: graphql.CollectedField{Field: field}})
			called := false
			out := access.Gate{}.InterceptRootField(ctx, func(context.Context) graphql.Marshaler {
				called = true
				return graphql.MarshalString("ran")
			})
			if c.wantCode == "" {
				if !called || len(errs) > 0 {
					t.Fatalf("refused: called %v errors %v", called, errs)
				}
				return
			}
			if called || out != graphql.Null {
				t.Fatal("the resolver ran")
			}
			if len(errs) != 1 || errs[0].Extensions["code"] != c.wantCode || errs[0].Path.String() != "f" {
				t.Fatalf("errors %+v, want one %s at f", errs, c.wantCode)
			}
		})
	}
}

// BenchmarkInterceptField is what the gate adds to every field of every
// answer that is neither a subscription nor guarded (a journal page of
// 200 entries resolves a few thousand of them).
func BenchmarkInterceptField(b *testing.B) {
	ctx := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: "AC1", UserID: "US1", Role: viewer.RoleStaff})
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "JournalEntry",
		Field: graphql.CollectedField{Field: &ast.Field{Name: "total"}}})
	next := func(context.Context) (any, error) { return 1, nil }
	g := access.Gate{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.InterceptField(ctx, next); err != nil {
			b.Fatal(err)
		}
	}
}
