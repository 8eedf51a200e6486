package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	"entgo.io/ent/privacy"
	"github.com/lib/pq"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/viewer"
)

// TestPresenterAlwaysGivesAReason: every branch of the presenter answers
// with extensions.reason, one of apperr.Reasons, so the dashboard always
// has a sentence to show.
func TestPresenterAlwaysGivesAReason(t *testing.T) {
	signedIn := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: "AC1", UserID: "US1"})
	withCode := func(code string) error {
		e := gqlerror.Errorf("x")
		e.Extensions = map[string]any{"code": code}
		return e
	}
	for _, c := range []struct {
		name         string
		ctx          context.Context
		err          error
		code, reason string
	}{
		{"apperr with its reason", nil, fmt.Errorf("wrap: %w", apperr.Invalid("password", "x").Because(apperr.PASSWORD_NEEDS_DIGIT)), apperr.BadUserInput, apperr.PASSWORD_NEEDS_DIGIT},
		{"apperr without one", nil, apperr.Conflictf("name", "x"), apperr.Conflict, apperr.CONFLICT},
		{"privacy deny, signed in", signedIn, privacy.Deny, apperr.Forbidden, apperr.FORBIDDEN},
		{"privacy deny, no viewer", nil, privacy.Deny, apperr.Unauthenticated, apperr.NOT_SIGNED_IN},
		{"ent not found", nil, &ent.NotFoundError{}, apperr.NotFound, apperr.NOT_FOUND},
		{"database outage", nil, &pq.Error{Code: "57P01"}, apperr.Unavailable, apperr.UNAVAILABLE},
		{"gqlgen validation", nil, withCode("GRAPHQL_VALIDATION_FAILED"), "GRAPHQL_VALIDATION_FAILED", apperr.QUERY_INVALID},
		{"oplimit's limit", nil, withCode("COMPLEXITY_LIMIT_EXCEEDED"), "COMPLEXITY_LIMIT_EXCEEDED", apperr.QUERY_INVALID},
		{"transport's bad request", nil, withCode(apperr.BadRequest), apperr.BadRequest, apperr.BAD_REQUEST},
		{"canceled", nil, context.Canceled, apperr.Internal, apperr.INTERNAL},
		{"a bug", nil, errors.New("boom"), apperr.Internal, apperr.INTERNAL},
	} {
		ctx := c.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		gerr := ErrorPresenter(slog.New(slog.NewTextHandler(io.Discard, nil)))(ctx, c.err)
		if gerr.Extensions["code"] != c.code || gerr.Extensions["reason"] != c.reason {
			t.Errorf("%s: code %v reason %v, want %s %s", c.name, gerr.Extensions["code"], gerr.Extensions["reason"], c.code, c.reason)
		}
		if r, _ := gerr.Extensions["reason"].(string); !slices.Contains(apperr.Reasons(), r) {
			t.Errorf("%s: reason %q is not in apperr.Reasons (reasons.json)", c.name, r)
		}
	}
}
