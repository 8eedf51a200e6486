package oplimit

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// DefaultPageSize is what a connection without first or last is priced
// at when Costs names no page for it.
const DefaultPageSize = 100

// DefaultListLength is what a list of objects whose length no argument
// states (Shop.groups, ShopGroup.shops, __Type.fields) is priced at when
// Costs names no length for it: each such list multiplies its selection,
// so lists nested in lists (shopGroups { shops { groups { shops … } } },
// introspection's types { fields { type { fields … } } }) cost what
// their responses can weigh.
const DefaultListLength = 50

// Page is a connection's page size when first/last is absent (Default)
// and the most its resolver returns (Max; 0 when it has no cap).
type Page struct {
	Default, Max int
}

// Costs prices an operation. Every field costs 1, or its weight. A
// connection — a field with a first or last argument whose type has an
// edges field — costs its own weight plus its other fields plus page size
// × (its edges and nodes fields). A list field sized by a list argument
// (nodes(ids:), ingestJournal(input:)) costs its weight plus that
// argument's length × its selection; one named in Lists its weight plus
// that length × its selection. Other lists of objects cost their weight
// plus DefaultList × their selection: their length is data (a user's
// shops, a receipt's lines), and a list in a list multiplies. Lists of
// scalars and enums have no selection and cost their weight.
type Costs struct {
	// Weights of single fields by "Type.field", e.g. a field that carries
	// a picture inline.
	Weights map[string]int
	// Lists are typical lengths, by "Type.field", of lists whose length
	// no argument states.
	Lists map[string]int
	// Pages by "Type.field" of connections whose resolver has its own
	// default or maximum page size.
	Pages map[string]Page
	// DefaultPage applies to the other connections (Default 0:
	// DefaultPageSize).
	DefaultPage Page
	// DefaultList is the length of the other lists of objects (0:
	// DefaultListLength).
	DefaultList int
}

// cost of a selection set: flat is what it costs once, paged the part in
// edges and nodes fields, which a connection multiplies by its page size;
// intro is the deepest nesting of introspection lists inside it.
type cost struct {
	flat, paged int64
	intro       int
}

// MaxIntrospectionLists is how deep introspection lists may nest. The
// standard introspection query (GraphiQL, codegen) nests three:
// types { fields { args } }. Introspection lists count once — the schema
// is the server's own and fixed — so that query stays cheap, and a deeper
// nesting (types { fields { type { fields … } } }), which multiplies the
// schema by itself, is priced out of reach instead.
const MaxIntrospectionLists = 3

// priceless saturates any sum it joins: far above every limit.
const priceless = math.MaxInt64 / 4

func (c cost) total() int64 { return add(c.flat, c.paged) }

type costWalk struct {
	ctx    context.Context
	costs  *Costs
	schema *ast.Schema
	vars   map[string]any
	frags  ast.FragmentDefinitionList
	memo   map[string]cost
	steps  int
	err    error
}

var errCanceled = errors.New("oplimit: canceled")

// Of returns the cost of op, a validated operation of doc (gqlparser's
// validator has attached field definitions) with vars, saturating far
// above any limit. Each fragment is priced once, so the time is linear in
// the document's size. It fails only when ctx ends.
func (c *Costs) Of(ctx context.Context, schema *ast.Schema, doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any) (int64, error) {
	w := &costWalk{ctx: ctx, costs: c, schema: schema, vars: vars, frags: doc.Fragments, memo: map[string]cost{}}
	total := w.set(op.SelectionSet).total()
	if w.err != nil {
		return 0, w.err
	}
	return total, nil
}

func (w *costWalk) set(set ast.SelectionSet) cost {
	var out cost
	for _, sel := range set {
		if w.err != nil {
			return out
		}
		if w.steps++; w.steps%checkEvery == 0 && w.ctx.Err() != nil {
			w.err = errCanceled
			return out
		}
		switch sel := sel.(type) {
		case *ast.Field:
			c, intro := w.field(sel)
			out.intro = max(out.intro, intro)
			if sel.Name == "edges" || sel.Name == "nodes" {
				out.paged = add(out.paged, c)
			} else {
				out.flat = add(out.flat, c)
			}
		case *ast.InlineFragment:
			c := w.set(sel.SelectionSet)
			out.flat, out.paged = add(out.flat, c.flat), add(out.paged, c.paged)
			out.intro = max(out.intro, c.intro)
		case *ast.FragmentSpread:
			c := w.spread(sel.Name)
			out.flat, out.paged = add(out.flat, c.flat), add(out.paged, c.paged)
			out.intro = max(out.intro, c.intro)
		}
	}
	return out
}

func (w *costWalk) spread(name string) cost {
	if c, ok := w.memo[name]; ok {
		return c
	}
	f := w.frags.ForName(name)
	if f == nil {
		return cost{}
	}
	w.memo[name] = cost{} // validated documents have no cycles; stay finite anyway
	c := w.set(f.SelectionSet)
	w.memo[name] = c
	return c
}

func (w *costWalk) field(f *ast.Field) (int64, int) {
	weight := int64(1)
	key := ""
	if f.ObjectDefinition != nil {
		key = f.ObjectDefinition.Name + "." + f.Name
		if v, ok := w.costs.Weights[key]; ok {
			weight = int64(v)
		}
	}
	sub := w.set(f.SelectionSet)
	def := f.Definition
	if def == nil {
		return add(weight, sub.total()), sub.intro
	}
	if w.isConnection(def) {
		n := w.pageSize(f, key)
		return add(add(weight, sub.flat), mul(n, sub.paged)), sub.intro
	}
	if def.Type.Elem != nil {
		if n, ok := w.listArgLen(f); ok {
			return add(weight, mul(n, sub.total())), sub.intro
		}
		if len(f.SelectionSet) > 0 && f.ObjectDefinition != nil && strings.HasPrefix(f.ObjectDefinition.Name, "__") {
			nest := sub.intro + 1
			if nest > MaxIntrospectionLists {
				return priceless, nest
			}
			return add(weight, sub.total()), nest
		}
		if n, ok := w.costs.Lists[key]; ok {
			return add(weight, mul(int64(n), sub.total())), sub.intro
		}
		if len(f.SelectionSet) > 0 && !w.pagedList(f) {
			n := w.costs.DefaultList
			if n <= 0 {
				n = DefaultListLength
			}
			return add(weight, mul(int64(n), sub.total())), sub.intro
		}
	}
	return add(weight, sub.total()), sub.intro
}

// pagedList: a connection's edges or nodes, which the connection already
// multiplies by its page size.
func (w *costWalk) pagedList(f *ast.Field) bool {
	return (f.Name == "edges" || f.Name == "nodes") && f.ObjectDefinition != nil &&
		f.ObjectDefinition.Fields.ForName("edges") != nil
}

// isConnection: a field paged with first or last whose type has edges.
func (w *costWalk) isConnection(def *ast.FieldDefinition) bool {
	if def.Arguments.ForName("first") == nil && def.Arguments.ForName("last") == nil {
		return false
	}
	t := w.schema.Types[def.Type.Name()]
	return t != nil && t.Fields.ForName("edges") != nil
}

// pageSize is the larger of first and last, else the connection's
// default, capped at its resolver's maximum (a larger request is refused
// by the resolver with its own message).
func (w *costWalk) pageSize(f *ast.Field, key string) int64 {
	page, ok := w.costs.Pages[key]
	if !ok {
		page = w.costs.DefaultPage
	}
	if page.Default <= 0 {
		page.Default = DefaultPageSize
	}
	n, given := int64(0), false
	for _, name := range [...]string{"first", "last"} {
		if v, ok := w.intArg(f, name); ok && v >= 0 {
			n, given = max(n, v), true
		}
	}
	if !given {
		n = int64(page.Default)
	}
	if page.Max > 0 && n > int64(page.Max) {
		n = int64(page.Max)
	}
	return n
}

// listArgLen is the length of the field's first list argument that has a
// list value.
func (w *costWalk) listArgLen(f *ast.Field) (int64, bool) {
	for _, a := range f.Arguments {
		v := w.argValue(a)
		if l, ok := v.([]any); ok {
			return int64(len(l)), true
		}
	}
	return 0, false
}

func (w *costWalk) intArg(f *ast.Field, name string) (int64, bool) {
	a := f.Arguments.ForName(name)
	if a == nil {
		return 0, false
	}
	return toInt(w.argValue(a))
}

func (w *costWalk) argValue(a *ast.Argument) any {
	if a.Value == nil {
		return nil
	}
	if a.Value.Kind == ast.Variable {
		return w.vars[a.Value.Raw]
	}
	v, err := a.Value.Value(w.vars)
	if err != nil {
		return nil
	}
	return v
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n != math.Trunc(n) || math.IsInf(n, 0) {
			return 0, false
		}
		if n > float64(inf) {
			return inf, true
		}
		return int64(n), true
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		if f, err := n.Float64(); err == nil {
			return toInt(f)
		}
	}
	return 0, false
}
