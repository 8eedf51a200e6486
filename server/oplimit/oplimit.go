// Package oplimit bounds what one GraphQL request may cost the server,
// before and while it runs:
//
//   - the document's size in bytes, checked before it is parsed;
//   - its shape, checked after a cheap parse and before gqlgen's validator
//     runs: fields after expanding fragments, nesting depth and fragment
//     cycles, computed once per fragment so the walk is linear in the
//     document's size however often fragments spread each other; then,
//     the expansion known to be small, the pairs of same-named fields
//     and of fragment spreads that meet at one level, which the
//     validator's overlapping-fields rule compares one by one;
//   - its cost, checked after validation with the request's variables:
//     every field costs 1 (some more, Weights), and a connection's edges
//     and nodes cost page size × one node, a list sized by a list argument
//     its length × one element, any other list of objects its typical
//     length (Lists, else DefaultListLength) × one element;
//   - the response's size, counted while fields resolve and checked
//     before the response is written.
//
// The limits hook into gqlgen as one handler extension (Extension) plus
// the validator's rule set (ValidationRules), which caps how many errors
// one document may produce.
package oplimit

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Error codes (extensions.code) of requests refused by a limit.
const (
	// CodeDocumentTooLarge: the query text is longer than MaxDocumentBytes.
	CodeDocumentTooLarge = "DOCUMENT_TOO_LARGE"
	// CodeFieldLimit: more than MaxFields fields once fragments are expanded.
	CodeFieldLimit = "FIELD_LIMIT_EXCEEDED"
	// CodeDepthLimit: selections nested deeper than MaxDepth.
	CodeDepthLimit = "DEPTH_LIMIT_EXCEEDED"
	// CodeComplexityLimit: the operation's cost is over MaxCost (the code
	// gqlgen's own complexity limit used).
	CodeComplexityLimit = "COMPLEXITY_LIMIT_EXCEEDED"
	// CodeResponseTooLarge: the result would be larger than
	// MaxResponseBytes; no data is returned.
	CodeResponseTooLarge = "RESPONSE_TOO_LARGE"
)

func init() {
	// Refused before execution, like a validation error (gqlgen's own
	// transports answer these with an HTTP error status).
	for _, code := range []string{CodeDocumentTooLarge, CodeFieldLimit, CodeDepthLimit, CodeComplexityLimit} {
		errcode.RegisterErrorType(code, errcode.KindProtocol)
	}
}

// Defaults of Limits; a zero field takes its default.
const (
	DefaultMaxDocumentBytes = 32 << 10
	DefaultMaxFields        = 1000
	DefaultMaxDepth         = 12
	DefaultMaxCost          = 20000
	DefaultMaxResponseBytes = 8 << 20
)

// Limits configures the extension. Zero means the package default.
type Limits struct {
	// MaxDocumentBytes caps the query text; longer documents are refused
	// before they are parsed.
	MaxDocumentBytes int
	// MaxFields caps the fields and fragment spreads of the document with
	// every spread expanded (one reached twice counts twice), summed over
	// its operations and fragment definitions: what gqlgen's validator
	// walks.
	MaxFields int
	// MaxPairs caps the pairs of same-named fields and of fragment spreads
	// that meet at one level (Shape.MaxPairs; DefaultMaxPairs when 0).
	MaxPairs int
	// MaxDepth caps nesting: { a } is 1, { a { b } } is 2.
	MaxDepth int
	// MaxCost caps the selected operation's cost (Costs).
	MaxCost int
	// MaxResponseBytes caps the JSON of one response (one event of a
	// subscription).
	MaxResponseBytes int
	// Costs prices fields; see Costs.
	Costs Costs
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxDocumentBytes, DefaultMaxDocumentBytes)
	def(&l.MaxFields, DefaultMaxFields)
	def(&l.MaxPairs, DefaultMaxPairs)
	def(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxCost, DefaultMaxCost)
	def(&l.MaxResponseBytes, DefaultMaxResponseBytes)
	def(&l.Costs.DefaultPage.Default, DefaultPageSize)
	return l
}

// Extension enforces Limits on a gqlgen handler: handler.Use(ext). It
// must be added after any extension that fills in the query text
// (AutomaticPersistedQuery), so that it sees the text that is parsed.
type Extension struct {
	limits Limits
	schema *ast.Schema

	// passed remembers documents whose shape was accepted, by hash of
	// the text, so the dashboard's few operations are parsed here once.
	passed graphql.Cache[struct{}]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
	graphql.FieldInterceptor
	graphql.ResponseInterceptor
} = (*Extension)(nil)

// New returns the extension for l.
func New(l Limits) *Extension {
	return &Extension{limits: l.withDefaults(), passed: lru.New[struct{}](1000)}
}

// Limits returns the limits in force (defaults filled in).
func (e *Extension) Limits() Limits { return e.limits }

func (e *Extension) ExtensionName() string { return "OperationLimits" }

func (e *Extension) Validate(es graphql.ExecutableSchema) error {
	e.schema = es.Schema()
	return nil
}

// MutateOperationParameters runs before gqlgen parses and validates the
// document: the validator's overlapping-fields rule is quadratic in
// fields that share a name, so its input must already be bounded.
func (e *Extension) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if n := len(p.Query); n > e.limits.MaxDocumentBytes {
		return limitError(CodeDocumentTooLarge,
			"クエリが長すぎます: %d バイト (上限 %d バイト) (document of %d bytes exceeds the limit of %d)",
			n, e.limits.MaxDocumentBytes, n, e.limits.MaxDocumentBytes)
	}
	if p.Query == "" {
		return nil // persisted-query misses and empty bodies fail later
	}
	key := documentKey(p.Query)
	if _, ok := e.passed.Get(ctx, key); ok {
		return nil
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: p.Query})
	if err != nil {
		return nil // gqlgen parses again and reports the syntax error
	}
	if gerr := CheckShape(ctx, doc, Shape{MaxFields: e.limits.MaxFields, MaxDepth: e.limits.MaxDepth, MaxPairs: e.limits.MaxPairs}); gerr != nil {
		return gerr
	}
	e.passed.Add(ctx, key, struct{}{})
	return nil
}

// MutateOperationContext prices the validated operation with its
// variables.
func (e *Extension) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || e.schema == nil {
		return nil
	}
	c, err := e.limits.Costs.Of(ctx, e.schema, oc.Doc, oc.Operation, oc.Variables)
	if err != nil {
		return canceled()
	}
	if c > int64(e.limits.MaxCost) {
		return limitError(CodeComplexityLimit,
			"クエリが重すぎます: コスト %s (上限 %d)。first を小さくするか、フィールドやエイリアスを減らしてください (operation cost %s exceeds the limit of %d)",
			costString(c), e.limits.MaxCost, costString(c), e.limits.MaxCost)
	}
	return nil
}

func costString(c int64) string {
	if c >= inf {
		return fmt.Sprintf("%d+", inf)
	}
	return fmt.Sprint(c)
}

func documentKey(q string) string {
	sum := sha256.Sum256([]byte(q))
	return string(sum[:])
}

func limitError(code, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": code}
	return err
}

func canceled() *gqlerror.Error {
	return limitError("CANCELED", "リクエストは取り消されました (request canceled)")
}
