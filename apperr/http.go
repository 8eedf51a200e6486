package apperr

import (
	"encoding/json"
	"net/http"
)

// InternalMessage is what a caller sees of a failure that is not an *Error:
// the cause goes to the log, never into the answer.
const InternalMessage = "内部エラーが発生しました (internal error)"

// Retry-After defaults, used when the handler has not set a better one
// (auth knows when a key's bucket refills; a camera's first frame is a
// second away). UNAVAILABLE matches the GraphQL transport's: a PostgreSQL
// restart or failover takes seconds.
const (
	rateLimitedRetryAfter = "1"
	unavailableRetryAfter = "5"
)

// HTTPStatus is the status an HTTP answer carrying code has.
func HTTPStatus(code string) int {
	switch code {
	case BadUserInput, BadRequest:
		return http.StatusBadRequest
	case Unauthenticated:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case RateLimited:
		return http.StatusTooManyRequests
	case Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// WriteHTTP answers a request that failed with err, for every route that
// is not GraphQL itself. The body has the shape of a GraphQL error
// ({"errors":[{"message":…,"extensions":{"code":…,"reason":…,"field":…}}]}) so a
// client reads one shape from /graphql and from the other routes; the
// status follows the code (HTTPStatus). An err without an *Error inside is
// INTERNAL with InternalMessage. The caller logs such an err and turns a
// database outage into Unavailablef first: apperr cannot tell one (db
// imports apperr). RATE_LIMITED and UNAVAILABLE carry Retry-After; a
// value the handler set before calling is kept.
func WriteHTTP(w http.ResponseWriter, err error) {
	e, ok := As(err)
	if !ok {
		e = &Error{Code: Internal, Message: InternalMessage, Reason: INTERNAL}
	}
	h := w.Header()
	switch e.Code {
	case RateLimited:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", rateLimitedRetryAfter)
		}
	case Unavailable:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", unavailableRetryAfter)
		}
	}
	// Headers set for the success answer must not describe the error.
	h.Del("Content-Length")
	h.Del("ETag")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(HTTPStatus(e.Code))
	_ = json.NewEncoder(w).Encode(Body(e))
}

// Body is the JSON body WriteHTTP sends for e: one GraphQL-shaped error.
func Body(e *Error) map[string]any {
	ext := map[string]any{"code": e.Code, "reason": ReasonOf(e)}
	if e.Field != "" {
		ext["field"] = e.Field
	}
	return map[string]any{"errors": []any{map[string]any{"message": e.Message, "extensions": ext}}}
}
