package oplimit_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/server/oplimit"
)

// respond runs one response through the extension: fields resolve to
// values (through InterceptField), then the response is built from what
// they returned.
func respond(ext *oplimit.Extension, values []any, resolved *atomic.Int64) *graphql.Response {
	return ext.InterceptResponse(context.Background(), func(ctx context.Context) *graphql.Response {
		var data []any
		var errs gqlerror.List
		for _, v := range values {
			res, err := ext.InterceptField(ctx, func(context.Context) (any, error) {
				resolved.Add(1)
				return v, nil
			})
			if err != nil {
				errs = append(errs, err.(*gqlerror.Error))
			}
			data = append(data, res)
		}
		b, _ := json.Marshal(data)
		return &graphql.Response{Data: b, Errors: errs}
	})
}

func TestResponseLimit(t *testing.T) {
	ext := oplimit.New(oplimit.Limits{MaxResponseBytes: 10 << 10})
	var n atomic.Int64
	small := make([]any, 50)
	for i := range small {
		small[i] = "receipt"
	}
	if resp := respond(ext, small, &n); resp.Errors != nil || len(resp.Data) == 0 {
		t.Fatalf("small response: %+v", resp)
	}

	// Twenty 2 KiB pictures: the budget runs out at the fifth, the rest
	// are dropped as they come, and the answer is one error, no data.
	pic := strings.Repeat("A", 2<<10)
	pics := make([]any, 20)
	for i := range pics {
		pics[i] = &pic
	}
	resp := respond(ext, pics, &n)
	if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != oplimit.CodeResponseTooLarge || resp.Data != nil {
		t.Fatalf("large response: %s %+v", resp.Data, resp.Errors)
	}
	if !strings.Contains(resp.Errors[0].Message, "10240") {
		t.Fatalf("message without the limit: %s", resp.Errors[0].Message)
	}

	// Many small values that add up: caught on the finished JSON.
	many := make([]any, 2000)
	for i := range many {
		many[i] = "0123456789"
	}
	if resp := respond(ext, many, &n); len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != oplimit.CodeResponseTooLarge {
		t.Fatalf("many small values: %+v", resp.Errors)
	}

	// Each response (each subscription event) has its own budget.
	if resp := respond(ext, pics[:3], &n); resp.Errors != nil {
		t.Fatalf("next response: %+v", resp.Errors)
	}
}
