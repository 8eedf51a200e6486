package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"entgo.io/ent/privacy"
	"github.com/99designs/gqlgen/graphql"
	"github.com/lib/pq"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/store"
	"github.com/regicam/regicam/viewer"
)

// ErrorPresenter gives every error a stable extensions.code; a caller's
// mistake keeps its message and field, anything else is logged with the
// request id and shown as INTERNAL without details.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
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
			}
			return gerr
		}
		if e, ok := apperr.As(err); ok {
			gerr.Message = e.Message
			gerr.Extensions["code"] = e.Code
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
			return gerr
		}
		if errors.Is(err, privacy.Deny) {
			// ent privacy refused: no viewer, or one that may not write.
			gerr.Message = "この操作の権限がありません (forbidden)"
			gerr.Extensions["code"] = apperr.Forbidden
			if _, ok := viewer.FromContext(ctx); !ok {
				gerr.Message = "ログインしてください (not signed in)"
				gerr.Extensions["code"] = apperr.Unauthenticated
			}
			return gerr
		}
		if ent.IsNotFound(err) {
			gerr.Message = "見つかりません (not found)"
			gerr.Extensions["code"] = apperr.NotFound
			return gerr
		}
		var gq *gqlerror.Error
		if errors.As(err, &gq) && gq.Rule != "" {
			gerr.Extensions["code"] = apperr.BadUserInput
			return gerr
		}
		if errors.As(err, &gq) && strings.Contains(gq.Message, "`first` and `last`") {
			// ent's Paginate refuses first and last together without a code.
			gerr.Message = "first と last は同時に指定できません (passing both first and last is not supported)"
			gerr.Extensions["code"] = apperr.BadUserInput
			gerr.Extensions["field"] = "last"
			return gerr
		}
		if store.Unavailable(err) {
			// An outage, not a bug: the client retries (Retry-After, set
			// by the transport on this code), operators see a warning.
			log.WarnContext(ctx, "database unavailable", "request_id", RequestID(ctx), "path", gerr.Path.String(), "err", loggable(err))
			gerr.Message = unavailableMessage
			gerr.Extensions["code"] = apperr.Unavailable
			return gerr
		}
		if errors.Is(err, context.Canceled) {
			gerr.Message = "canceled"
			gerr.Extensions["code"] = apperr.Internal
			return gerr
		}
		log.ErrorContext(ctx, "request failed", "request_id", RequestID(ctx), "path", gerr.Path.String(), "err", loggable(err))
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
		if store.Unavailable(err) {
			// The partner sends the item again; one that did land meanwhile
			// comes back DUPLICATE.
			return &model.IngestError{Code: apperr.Unavailable, Message: unavailableMessage}
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

const unavailableMessage = "データベースに一時的に接続できません。しばらくしてから再試行してください (database unavailable; retry later)"

// loggable is err as a log line may show it. PostgreSQL's messages can
// quote the value a statement was given ("invalid input syntax for type
// …: \"…\"") — a client's input, perhaps a secret — so a *pq.Error is
// logged by its code and the names it carries, never its message.
func loggable(err error) string {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return err.Error()
	}
	return fmt.Sprintf("postgres %s (%s) table=%q column=%q constraint=%q in %T",
		pe.Code, pe.Code.Name(), pe.Table, pe.Column, pe.Constraint, err)
}

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
		return apperr.Missing(field, "見つかりません (not found)")
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
