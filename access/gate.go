package access

import (
	"context"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/viewer"
)

// Gate is the gqlgen extension that enforces Table and Guards: register
// it once on the handler (srv.Use(access.Gate{})).
//
// Query and mutation fields are checked by the root field interceptor,
// before their arguments are decoded or their resolver runs.
// Subscriptions do not pass through root field interceptors in gqlgen,
// so their one field is checked by the field interceptor, which also
// applies the guards.
type Gate struct{}

var (
	_ graphql.HandlerExtension     = Gate{}
	_ graphql.RootFieldInterceptor = Gate{}
	_ graphql.FieldInterceptor     = Gate{}
)

// ExtensionName names the extension in gqlgen's list.
func (Gate) ExtensionName() string { return "AccessGate" }

// Validate accepts every schema: an operation missing from the table is
// refused at run time, and TestEveryOperationHasARule fails.
func (Gate) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptRootField refuses a query or mutation field the caller may not
// call.
func (Gate) InterceptRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	rc := graphql.GetRootFieldContext(ctx)
	if rc == nil || rc.Field.Field == nil || strings.HasPrefix(rc.Field.Name, "__") {
		// Introspection (__schema, __type) has its own switch.
		return next(ctx)
	}
	object := "Query"
	if d := rc.Field.ObjectDefinition; d != nil {
		object = d.Name
	}
	v, ok := viewer.FromContext(ctx)
	if err := Check(v, ok, object+"."+rc.Field.Name); err != nil {
		e := gqlerror.WrapPath(ast.Path{ast.PathName(rc.Field.Alias)}, err)
		if p := rc.Field.Position; p != nil {
			e.Locations = []gqlerror.Location{{Line: p.Line, Column: p.Column}}
		}
		graphql.AddError(ctx, e)
		return graphql.Null
	}
	return next(ctx)
}

// InterceptField checks subscription fields and guarded fields. It runs
// for every field of every answer, so it returns at once for the others.
func (Gate) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil {
		return next(ctx)
	}
	if fc.Object == "Subscription" {
		v, ok := viewer.FromContext(ctx)
		if err := Check(v, ok, "Subscription."+fc.Field.Name); err != nil {
			return nil, err
		}
		return next(ctx)
	}
	byField, ok := guards[fc.Object]
	if !ok {
		return next(ctx)
	}
	g := byField[fc.Field.Name]
	if g == nil {
		return next(ctx)
	}
	if v, _ := viewer.FromContext(ctx); !v.Allows(g.Scope) && selectsBeyond(graphql.GetOperationContext(ctx), fc.Field.Selections, g.Free) {
		return nil, apperr.Forbiddenf("この項目を読む権限がありません (%s: without %s select only %s)",
			fc.Field.Name, string(g.Scope), strings.Join(g.Free, ", ")).Because(apperr.FORBIDDEN)
	}
	return next(ctx)
}

// selectsBeyond reports whether sel (fragments included, whatever their
// type condition or @skip) asks for a field outside free. Fragment cycles
// never reach here: validation refuses them.
func selectsBeyond(oc *graphql.OperationContext, sel ast.SelectionSet, free []string) bool {
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if !slices.Contains(free, s.Name) {
				return true
			}
		case *ast.InlineFragment:
			if selectsBeyond(oc, s.SelectionSet, free) {
				return true
			}
		case *ast.FragmentSpread:
			def := s.Definition
			if def == nil && oc != nil && oc.Doc != nil {
				def = oc.Doc.Fragments.ForName(s.Name)
			}
			if def == nil || selectsBeyond(oc, def.SelectionSet, free) {
				return true
			}
		}
	}
	return false
}
