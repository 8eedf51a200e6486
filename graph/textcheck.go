package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/textcheck"
)

// TextCheck refuses an operation whose string arguments (inline literals
// or variables, at any depth) hold a NUL byte or invalid UTF-8, before any
// resolver runs: PostgreSQL cannot store such text, and a resolver that
// passed it on would answer INTERNAL there and something else on SQLite.
// The error is BAD_USER_INPUT naming the argument path, e.g.
// "where.search" or "input[0].staffName".
type TextCheck struct{}

// perItemText lists arguments whose resolver checks text per list item,
// so one bad item is that item's BAD_USER_INPUT and not the batch's:
// ingestJournal's receipts (ingest.Receipt.Validate).
var perItemText = map[string]bool{"Mutation.ingestJournal.input": true}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = TextCheck{}

func (TextCheck) ExtensionName() string                   { return "TextCheck" }
func (TextCheck) Validate(graphql.ExecutableSchema) error { return nil }

func (TextCheck) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	w := textWalk{vars: oc.Variables, frags: oc.Doc.Fragments, seen: map[string]bool{}}
	if err := w.selections(oc.Operation.SelectionSet); err != nil {
		e, _ := apperr.As(err)
		gerr := gqlerror.Errorf("%s", e.Message)
		gerr.Extensions = map[string]any{"code": e.Code, "field": e.Field, "reason": apperr.ReasonOf(e)}
		return gerr
	}
	return nil
}

// textWalk visits each selection of the operation and each fragment it
// reaches once: a fragment spread many times is checked once, so the walk
// is linear in the document's size.
type textWalk struct {
	vars  map[string]any
	frags ast.FragmentDefinitionList
	seen  map[string]bool
}

func (w *textWalk) selections(set ast.SelectionSet) error {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			parent := ""
			if s.ObjectDefinition != nil {
				parent = s.ObjectDefinition.Name
			}
			for _, a := range s.Arguments {
				if perItemText[parent+"."+s.Name+"."+a.Name] {
					continue
				}
				if err := w.value(a.Name, a.Value); err != nil {
					return err
				}
			}
			if err := w.directives(s.Directives); err != nil {
				return err
			}
			if err := w.selections(s.SelectionSet); err != nil {
				return err
			}
		case *ast.InlineFragment:
			if err := w.directives(s.Directives); err != nil {
				return err
			}
			if err := w.selections(s.SelectionSet); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			if err := w.directives(s.Directives); err != nil {
				return err
			}
			if w.seen[s.Name] {
				continue
			}
			w.seen[s.Name] = true
			if f := w.frags.ForName(s.Name); f != nil {
				if err := w.selections(f.SelectionSet); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (w *textWalk) directives(list ast.DirectiveList) error {
	for _, d := range list {
		for _, a := range d.Arguments {
			if err := w.value("@"+d.Name+"."+a.Name, a.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *textWalk) value(path string, v *ast.Value) error {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case ast.Variable:
		return textcheck.Value(path, w.vars[v.Raw])
	case ast.StringValue, ast.BlockValue:
		return textcheck.String(path, v.Raw)
	case ast.ListValue:
		for i, c := range v.Children {
			if err := w.value(fmt.Sprintf("%s[%d]", path, i), c.Value); err != nil {
				return err
			}
		}
	case ast.ObjectValue:
		for _, c := range v.Children {
			if err := w.value(path+"."+c.Name, c.Value); err != nil {
				return err
			}
		}
	}
	return nil
}
