// Package apperr is the one place where failures become the error codes the
// API promises (extensions.code / extensions.field / extensions.reason).
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
	// Reason says which failure this is among those of Code, one of
	// Reasons (see reasons.go): the dashboard words it for the owner, so
	// the message can stay as partners read it. Empty reads as the
	// generic reason of Code (ReasonOf).
	Reason string
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

// The constructors below are named after their code with an f suffix
// (the constants take the plain names); Invalid and Missing predate them.
// Each formats like fmt.Sprintf, so a message built from a value passes it
// as an argument rather than concatenating it into the format.

// Unauthenticatedf reports a caller who is not signed in or whose
// credentials do not check out.
func Unauthenticatedf(format string, args ...any) *Error {
	return &Error{Code: Unauthenticated, Message: fmt.Sprintf(format, args...)}
}

// Forbiddenf reports a signed-in caller who may not do this.
func Forbiddenf(format string, args ...any) *Error {
	return &Error{Code: Forbidden, Message: fmt.Sprintf(format, args...)}
}

// Conflictf reports a request that clashes with stored state (a name or id
// already taken, a change made concurrently, a run already going) in one
// field.
func Conflictf(field, format string, args ...any) *Error {
	return &Error{Code: Conflict, Field: field, Message: fmt.Sprintf(format, args...)}
}

// RateLimitedf reports a caller over its budget; the same request may
// succeed later.
func RateLimitedf(format string, args ...any) *Error {
	return &Error{Code: RateLimited, Message: fmt.Sprintf(format, args...)}
}

// Internalf reports a failure that is ours, not the caller's. The message
// is shown to the caller, so it never carries the underlying error's text.
func Internalf(format string, args ...any) *Error {
	return &Error{Code: Internal, Message: fmt.Sprintf(format, args...)}
}

// BadRequestf reports an HTTP request that is malformed before any field
// can be at fault.
func BadRequestf(format string, args ...any) *Error {
	return &Error{Code: BadRequest, Message: fmt.Sprintf(format, args...)}
}

// Unavailablef reports that a dependency (the database) could not be
// reached; nothing was stored and the request may be retried.
func Unavailablef(format string, args ...any) *Error {
	return &Error{Code: Unavailable, Message: fmt.Sprintf(format, args...)}
}

// At returns a copy of e that names field as the one at fault, for the
// codes whose constructors take no field because they rarely have one
// (e.g. Forbiddenf(...).At("role")).
func (e *Error) At(field string) *Error {
	c := *e
	c.Field = field
	return &c
}

// Because returns a copy of e that carries reason, one of the constants
// in reasons.go.
func (e *Error) Because(reason string) *Error {
	c := *e
	c.Reason = reason
	return &c
}

// ReasonOf is the reason e answers with: its own, or the generic one of its
// code, so no answer goes without one.
func ReasonOf(e *Error) string {
	if e.Reason != "" {
		return e.Reason
	}
	return GenericReason(e.Code)
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
