package oplimit

import (
	"context"

	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// inf is where counts saturate: far above any limit, and small enough
// that a product of two saturated counts still fits an int64.
const inf int64 = 1 << 30

func add(a, b int64) int64 {
	if a+b >= inf {
		return inf
	}
	return a + b
}

func mul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a >= inf || b >= inf || a*b >= inf {
		return inf
	}
	return a * b
}

// Shape limits what a document may expand to before gqlgen validates it.
// gqlparser's validator walks every operation and every fragment
// definition with the fragments it spreads, and its overlapping-fields
// rule compares, at each level, every pair of fields that share a
// response name and every pair of fragment spreads: those are the
// quantities bounded here.
type Shape struct {
	// MaxFields caps the fields and fragment spreads of the document with
	// every spread expanded, summed over its operations and fragment
	// definitions.
	MaxFields int
	// MaxDepth caps nesting in any operation or fragment: { a } is 1.
	MaxDepth int
	// MaxPairs caps, summed over all levels of the expansion, the pairs
	// of fields with the same response name and the pairs of fragment
	// spreads at one level (DefaultMaxPairs when 0).
	MaxPairs int
}

// DefaultMaxPairs keeps the overlapping-fields rule to a few milliseconds
// (README, Limits): real operations have next to no such pairs, a document
// built to be slow has them by the hundred thousand.
const DefaultMaxPairs = 1000

// shape is what one selection set amounts to with its spreads expanded.
type shape struct {
	items int64 // fields and fragment spreads, each counted as often as it is reached
	depth int64 // { a } is 1
}

// shapeWalk computes shapes, each fragment once: a document whose
// fragments spread each other twice per level expands to 2^levels fields,
// but the walk visits each selection of the document once.
type shapeWalk struct {
	ctx   context.Context
	frags map[string]*ast.FragmentDefinition
	memo  map[string]shape
	busy  map[string]bool // fragments being walked: spreading one is a cycle
	steps int
	err   *gqlerror.Error
}

// checkEvery is how many selections the walks visit between looks at the
// request's context.
const checkEvery = 256

func (w *shapeWalk) tick() bool {
	if w.steps++; w.steps%checkEvery == 0 && w.ctx.Err() != nil {
		w.err = canceled()
	}
	return w.err == nil
}

// CheckShape refuses a parsed, not yet validated document that has a
// fragment cycle or exceeds lim. It takes time linear in the document's
// size plus MaxFields, and stops when ctx ends.
func CheckShape(ctx context.Context, doc *ast.QueryDocument, lim Shape) *gqlerror.Error {
	if lim.MaxPairs <= 0 {
		lim.MaxPairs = DefaultMaxPairs
	}
	w := &shapeWalk{
		ctx:   ctx,
		frags: make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		memo:  make(map[string]shape, len(doc.Fragments)),
		busy:  map[string]bool{},
	}
	for _, f := range doc.Fragments {
		if _, dup := w.frags[f.Name]; !dup {
			w.frags[f.Name] = f // as gqlparser: the first of a name wins
		}
	}
	roots := make([]ast.SelectionSet, 0, len(doc.Operations)+len(doc.Fragments))
	for _, op := range doc.Operations {
		roots = append(roots, op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		roots = append(roots, f.SelectionSet)
	}

	var total shape
	for _, root := range roots {
		s := w.set(root)
		if w.err != nil {
			return w.err
		}
		total.items = add(total.items, s.items)
		total.depth = max(total.depth, s.depth)
	}
	if total.items > int64(lim.MaxFields) {
		return limitError(CodeFieldLimit,
			"クエリのフィールドが多すぎます: フラグメント展開後 %s 個 (上限 %d) (%s fields and fragment spreads after expanding fragments exceed the limit of %d)",
			costString(total.items), lim.MaxFields, costString(total.items), lim.MaxFields)
	}
	if total.depth > int64(lim.MaxDepth) {
		return limitError(CodeDepthLimit,
			"クエリの入れ子が深すぎます: 深さ %s (上限 %d) (query depth %s exceeds the limit of %d)",
			costString(total.depth), lim.MaxDepth, costString(total.depth), lim.MaxDepth)
	}

	// The expansion is now known to be small: merge it level by level
	// and count the pairs the validator will compare.
	var pairs int64
	for _, root := range roots {
		m := &merged{}
		w.merge(m, root)
		if w.err != nil {
			return w.err
		}
		pairs = add(pairs, m.pairs())
	}
	if pairs > int64(lim.MaxPairs) {
		return limitError(CodeFieldLimit,
			"同じ名前のフィールドやフラグメントが同じ階層に多すぎます: %s 組 (上限 %d) (%s pairs of same-named fields or fragment spreads at one level exceed the limit of %d)",
			costString(pairs), lim.MaxPairs, costString(pairs), lim.MaxPairs)
	}
	return nil
}

func (w *shapeWalk) set(set ast.SelectionSet) shape {
	var out shape
	for _, sel := range set {
		if !w.tick() {
			return out
		}
		var s shape
		switch sel := sel.(type) {
		case *ast.Field:
			s = w.set(sel.SelectionSet)
			s.items = add(s.items, 1)
			s.depth = add(s.depth, 1)
		case *ast.InlineFragment:
			s = w.set(sel.SelectionSet)
		case *ast.FragmentSpread:
			s = w.spread(sel)
			s.items = add(s.items, 1)
		}
		out.items = add(out.items, s.items)
		out.depth = max(out.depth, s.depth)
	}
	return out
}

func (w *shapeWalk) spread(sp *ast.FragmentSpread) shape {
	if s, ok := w.memo[sp.Name]; ok {
		return s
	}
	f := w.frags[sp.Name]
	if f == nil {
		return shape{} // unknown: the validator names it
	}
	if w.busy[sp.Name] {
		w.err = gqlerror.ErrorPosf(sp.Position,
			"フラグメント %q が自分自身を展開しています (cannot spread fragment %q within itself)", sp.Name, sp.Name)
		errcode.Set(w.err, errcode.ValidationFailed)
		return shape{}
	}
	w.busy[sp.Name] = true
	s := w.set(f.SelectionSet)
	delete(w.busy, sp.Name)
	if w.err == nil {
		w.memo[sp.Name] = s
	}
	return s
}

// merged is one level of an expanded selection: fields by response name
// (their selections merged), and how many fragment spreads were expanded
// into it.
type merged struct {
	fields  map[string]*mergedField
	spreads int64
}

type mergedField struct {
	n     int64
	child *merged
}

// merge expands set into m. Only called once the expansion is known to
// be at most MaxFields, and cycle-free.
func (w *shapeWalk) merge(m *merged, set ast.SelectionSet) {
	for _, sel := range set {
		if !w.tick() {
			return
		}
		switch sel := sel.(type) {
		case *ast.Field:
			name := sel.Alias
			if name == "" {
				name = sel.Name
			}
			if m.fields == nil {
				m.fields = map[string]*mergedField{}
			}
			f := m.fields[name]
			if f == nil {
				f = &mergedField{}
				m.fields[name] = f
			}
			f.n++
			if len(sel.SelectionSet) > 0 {
				if f.child == nil {
					f.child = &merged{}
				}
				w.merge(f.child, sel.SelectionSet)
			}
		case *ast.InlineFragment:
			w.merge(m, sel.SelectionSet)
		case *ast.FragmentSpread:
			m.spreads++
			if f := w.frags[sel.Name]; f != nil {
				w.merge(m, f.SelectionSet)
			}
		}
	}
}

func (m *merged) pairs() int64 {
	p := m.spreads * (m.spreads - 1) / 2
	for _, f := range m.fields {
		p = add(p, f.n*(f.n-1)/2)
		if f.child != nil {
			p = add(p, f.child.pairs())
		}
	}
	return p
}
