package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"entgo.io/ent/privacy"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/viewer"
)

// ErrorPresenter gives every error a stable extensions.code and
// extensions.reason (apperr/reasons.go); a caller's mistake keeps its
// message and field, anything else is logged with the request id and shown
// as INTERNAL without details.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	present := presenter(log)
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := present(ctx, err)
		if r, _ := gerr.Extensions["reason"].(string); r == "" {
			code, _ := gerr.Extensions["code"].(string)
			gerr.Extensions["reason"] = reasonOfCode(code)
		}
		return gerr
	}
}

// reasonOfCode is the reason of an error that came with a code and no
// reason: the generic one of apperr's codes; the others are gqlgen's
// (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED…) and server/oplimit's
// limits, all about the document itself, except a canceled request.
func reasonOfCode(code string) string {
	switch {
	case apperr.GenericReason(code) == code:
		return code
	case code == "CANCELED":
		return apperr.INTERNAL
	}
	return apperr.QUERY_INVALID
}

func presenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		if gerr.Extensions == nil {
			gerr.Extensions = map[string]any{}
		}
		if code, _ := gerr.Extensions["code"].(string); code != "" {
			// gqlgen's own validation and parse errors. A variable that does
			// not fit its type is the caller's input: say which one.
			if len(gerr.Path) > 1 && gerr.Path[0] == ast.PathName("variable") {
				gerr.Extensions["code"] = apperr.BadUserInput
				gerr.Extensions["field"] = pathField(gerr.Path[1:])
				gerr.Extensions["reason"] = apperr.INVALID_FORMAT
			}
			return gerr
		}
		if e, ok := apperr.As(err); ok {
			gerr.Message = e.Message
			gerr.Extensions["code"] = e.Code
			gerr.Extensions["reason"] = apperr.ReasonOf(e)
			field := e.Field
			if field == "" && len(gerr.Path) > 1 {
				// An argument that failed to decode: its path is field.arg….
				field = pathField(gerr.Path[1:])
			}
			if field != "" {
				gerr.Extensions["field"] = field
			}
			return gerr
		}
		if fc := graphql.GetFieldContext(ctx); fc != nil && len(gerr.Path) > len(fc.Path()) {
			// The error sits below the field: an argument that did not
			// decode (a bad Time, an enum in the wrong case).
			gerr.Extensions["code"] = apperr.BadUserInput
			gerr.Extensions["field"] = pathField(gerr.Path[len(fc.Path()):])
			gerr.Extensions["reason"] = apperr.INVALID_FORMAT
			return gerr
		}
		if errors.Is(err, privacy.Deny) {
			// ent privacy refused: no viewer, or one that may not write.
			gerr.Message = "この操作の権限がありません (forbidden)"
			gerr.Extensions["code"] = apperr.Forbidden
			gerr.Extensions["reason"] = apperr.FORBIDDEN
			if _, ok := viewer.FromContext(ctx); !ok {
				gerr.Message = "ログインしてください (not signed in)"
				gerr.Extensions["code"] = apperr.Unauthenticated
				gerr.Extensions["reason"] = apperr.NOT_SIGNED_IN
			}
			return gerr
		}
		if ent.IsNotFound(err) {
			gerr.Message = "見つかりません (not found)"
			gerr.Extensions["code"] = apperr.NotFound
			gerr.Extensions["reason"] = apperr.NOT_FOUND
			return gerr
		}
		if ent.IsConstraintError(err) {
			// A unique or foreign key the database enforces, met by a
			// concurrent request between a service's check and its write.
			// Services that can name the field and the row that won say so
			// themselves (camera/registry's device id, portal's terminals);
			// this is the fallback, so no such race is INTERNAL. The
			// driver's text names tables and may quote values: logged by
			// db.Loggable, never shown.
			log.InfoContext(ctx, "request conflicted", "request_id", RequestID(ctx), "path", gerr.Path.String(), "err", db.Loggable(err))
			gerr.Message = conflictMessage
			gerr.Extensions["code"] = apperr.Conflict
			gerr.Extensions["reason"] = apperr.CHANGED_CONCURRENTLY
			return gerr
		}
		var gq *gqlerror.Error
		if errors.As(err, &gq) && gq.Rule != "" {
			gerr.Extensions["code"] = apperr.BadUserInput
			gerr.Extensions["reason"] = apperr.QUERY_INVALID
			return gerr
		}
		if errors.As(err, &gq) && strings.Contains(gq.Message, "`first` and `last`") {
			// ent's Paginate refuses first and last together without a code.
			gerr.Message = "first と last は同時に指定できません (passing both first and last is not supported)"
			gerr.Extensions["code"] = apperr.BadUserInput
			gerr.Extensions["field"] = "last"
			gerr.Extensions["reason"] = apperr.MUTUALLY_EXCLUSIVE
			return gerr
		}
		if db.Unavailable(err) {
			// An outage, not a bug: the client retries (Retry-After, set
			// by the transport on this code), operators see a warning.
			log.WarnContext(ctx, "database unavailable", "request_id", RequestID(ctx), "path", gerr.Path.String(), "err", db.Loggable(err))
			gerr.Message = db.ErrUnavailable.Message
			gerr.Extensions["code"] = apperr.Unavailable
			gerr.Extensions["reason"] = apperr.UNAVAILABLE
			return gerr
		}
		if errors.Is(err, context.Canceled) {
			gerr.Message = "canceled"
			gerr.Extensions["code"] = apperr.Internal
			return gerr
		}
		log.ErrorContext(ctx, "request failed", "request_id", RequestID(ctx), "path", gerr.Path.String(), "err", db.Loggable(err))
		gerr.Message = "内部エラーが発生しました (internal error); request id " + RequestID(ctx)
		gerr.Extensions["code"] = apperr.Internal
		return gerr
	}
}

// itemError reports a failed batch item both in its result and as a
// GraphQL error pointing at it, so generic clients see it too.
func itemError(ctx context.Context, err error) *model.IngestError {
	e, ok := apperr.As(err)
	if !ok {
		graphql.AddError(ctx, err)
		if db.Unavailable(err) {
			// The partner sends the item again; one that did land meanwhile
			// comes back DUPLICATE.
			return &model.IngestError{Code: apperr.Unavailable, Message: db.ErrUnavailable.Message}
		}
		return &model.IngestError{Code: apperr.Internal, Message: "内部エラーが発生しました (internal error)"}
	}
	graphql.AddError(ctx, err)
	out := &model.IngestError{Code: e.Code, Message: e.Message}
	if e.Field != "" {
		f := e.Field
		out.Field = &f
	}
	return out
}

const conflictMessage = "ほかの変更と重なりました。最新の内容を読み込んでからもう一度お試しください (conflicts with a concurrent change; reload and retry)"

type requestIDKey struct{}

// WithRequestID stores the id the server gave this request.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the id of the request in ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// notFound turns a lookup miss (or an id of an unknown type) into NOT_FOUND.
func notFound(field string, err error) error {
	if ent.IsNotFound(err) {
		return apperr.Missing(field, "見つかりません (not found)").Because(apperr.NOT_FOUND)
	}
	return err
}

// pathField renders a path as the field notation used in errors:
// where.kinds[0].
func pathField(p ast.Path) string {
	var b strings.Builder
	for _, el := range p {
		switch el := el.(type) {
		case ast.PathIndex:
			fmt.Fprintf(&b, "[%d]", int(el))
		case ast.PathName:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(el))
		}
	}
	return b.String()
}
