package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// eachError reports every error joined in err (errors.Join) as its own
// GraphQL error, so each carries its own code and field (ids[1], ids[3]).
func eachError(ctx context.Context, err error) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	errs := joined.Unwrap()
	if len(errs) == 0 {
		return err
	}
	for _, e := range errs[:len(errs)-1] {
		graphql.AddError(ctx, e)
	}
	return errs[len(errs)-1]
}
