// Package apperr is the one place where failures become the error codes the
// API promises (extensions.code / extensions.field).
package apperr

import (
	"errors"
	"fmt"
)

// Codes a client can act on.
const (
	BadUserInput    = "BAD_USER_INPUT"
	Unauthenticated = "UNAUTHENTICATED"
	Forbidden       = "FORBIDDEN"
	NotFound        = "NOT_FOUND"
	Conflict        = "CONFLICT"
	RateLimited     = "RATE_LIMITED"
	Internal        = "INTERNAL"
	// BadRequest: the HTTP request itself is not a GraphQL request (not
	// JSON, a batch array, "query" not a string, body too large).
	BadRequest = "BAD_REQUEST"
	// Unavailable: the database could not be reached; nothing was stored
	// and the same request may be retried after Retry-After seconds.
	Unavailable = "UNAVAILABLE"
)

// Error is a failure the caller caused and can fix.
type Error struct {
	Code    string
	Field   string // the input field at fault, empty when no single field is
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Invalid reports bad input in one field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Missing reports an id that names nothing the caller can see.
func Missing(field, format string, args ...any) *Error {
	return &Error{Code: NotFound, Field: field, Message: fmt.Sprintf(format, args...)}
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// WithFieldPrefix places a field error inside a list element, e.g.
// "total" → "input[3].total".
func WithFieldPrefix(err error, prefix string) error {
	e, ok := As(err)
	if !ok {
		return err
	}
	c := *e
	if c.Field == "" {
		c.Field = prefix
	} else {
		c.Field = prefix + "." + c.Field
	}
	return &c
}
