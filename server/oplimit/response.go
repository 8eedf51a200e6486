package oplimit

import (
	"context"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The response size limit works in two places, because gqlgen builds a
// whole response in memory before a transport writes it:
//
//   - InterceptField adds up the large strings fields resolve to (a
//     thumbnail's data URL, not the many small scalars the cost limit
//     already bounds). Past the limit each further large value is dropped
//     as soon as it is resolved, so the response being built stays near
//     the limit instead of growing to whatever the query asked for.
//   - InterceptResponse measures the finished JSON exactly and, when it is
//     over (or a value was dropped), answers with RESPONSE_TOO_LARGE and no
//     data instead. This is before any transport writes a byte, so an
//     HTTP client gets a well-formed GraphQL answer and a websocket event
//     is replaced, not cut off.

// bigValue is the string length from which InterceptField counts a value:
// shorter ones are bounded by the cost limit and only measured at the end,
// which keeps the per-field overhead to a type switch.
const bigValue = 1 << 10

type budgetKey struct{}

type budget struct {
	max  int64
	used atomic.Int64
	over atomic.Bool
}

// InterceptField accounts large resolved strings against the response's
// budget.
func (e *Extension) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	n := bigSize(res)
	if n < bigValue {
		return res, err
	}
	b, _ := ctx.Value(budgetKey{}).(*budget)
	if b == nil {
		return res, err
	}
	if b.over.Load() || b.used.Add(int64(n)) > b.max {
		b.over.Store(true)
		return nil, e.tooLarge()
	}
	return res, err
}

func bigSize(v any) int {
	switch s := v.(type) {
	case string:
		return len(s)
	case *string:
		if s != nil {
			return len(*s)
		}
	case []byte:
		return len(s)
	}
	return 0
}

// InterceptResponse gives each response (each subscription event) its
// own budget and replaces a response over MaxResponseBytes.
func (e *Extension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	b := &budget{max: int64(e.limits.MaxResponseBytes)}
	resp := next(context.WithValue(ctx, budgetKey{}, b))
	if resp == nil {
		return nil
	}
	if !b.over.Load() && responseSize(resp) <= b.max {
		return resp
	}
	return &graphql.Response{Errors: gqlerror.List{e.tooLarge()}, Extensions: resp.Extensions}
}

// responseSize is the JSON size of resp, errors estimated.
func responseSize(resp *graphql.Response) int64 {
	n := int64(len(resp.Data))
	for _, err := range resp.Errors {
		n += int64(len(err.Message)) + 64 + 16*int64(len(err.Path)+len(err.Locations))
	}
	return n
}

func (e *Extension) tooLarge() *gqlerror.Error {
	m := e.limits.MaxResponseBytes
	return limitError(CodeResponseTooLarge,
		"応答が大きすぎます (上限 %d バイト)。first を小さくするか、dataURL の代わりに url を使ってください (response exceeds the limit of %d bytes)",
		m, m)
}
