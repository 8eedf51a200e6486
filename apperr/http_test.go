package apperr_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/regicam/regicam/apperr"
)

type httpBody struct {
	Errors []struct {
		Message    string
		Extensions map[string]string
	}
}

func writeHTTP(t *testing.T, err error, preset http.Header) (*httptest.ResponseRecorder, httpBody) {
	t.Helper()
	w := httptest.NewRecorder()
	for k, v := range preset {
		w.Header()[k] = v
	}
	apperr.WriteHTTP(w, err)
	var b httpBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q is not JSON: %v", w.Body.String(), err)
	}
	if len(b.Errors) != 1 {
		t.Fatalf("body %q: want one error", w.Body.String())
	}
	return w, b
}

// TestWriteHTTPStatusAndBody: every code has its status and the body says
// code, field and message as the GraphQL presenter does.
func TestWriteHTTPStatusAndBody(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		field  string
	}{
		{apperr.Invalid("where.kinds", "bad kind"), 400, "where.kinds"},
		{apperr.BadRequestf("not JSON"), 400, ""},
		{apperr.Unauthenticatedf("sign in"), 401, ""},
		{apperr.Forbiddenf("needs journal:read"), 403, ""},
		{apperr.Missing("id", "not found"), 404, "id"},
		{apperr.Conflictf("input.name", "exists"), 409, "input.name"},
		{apperr.RateLimitedf("slow down"), 429, ""},
		{apperr.Unavailablef("retry later"), 503, ""},
		{apperr.Internalf("internal error"), 500, ""},
		{fmt.Errorf("export: %w", apperr.Invalid("exportID", "too long")), 400, "exportID"},
	} {
		e, _ := apperr.As(c.err)
		w, b := writeHTTP(t, c.err, nil)
		if w.Code != c.status {
			t.Errorf("%v: status %d, want %d", c.err, w.Code, c.status)
		}
		got := b.Errors[0]
		if got.Extensions["code"] != e.Code || got.Extensions["field"] != c.field || got.Message != e.Message {
			t.Errorf("%v: body %+v, want code %s field %q message %q", c.err, got, e.Code, c.field, e.Message)
		}
		if _, has := got.Extensions["field"]; c.field == "" && has {
			t.Errorf("%v: an empty field is sent: %s", c.err, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%v: Content-Type %q", c.err, ct)
		}
		if s := apperr.HTTPStatus(e.Code); s != c.status {
			t.Errorf("HTTPStatus(%s) = %d, want %d", e.Code, s, c.status)
		}
	}
}

// TestWriteHTTPHidesOtherErrors: an error that is not an *apperr.Error is
// 500 INTERNAL with the generic message, never the error's own text.
func TestWriteHTTPHidesOtherErrors(t *testing.T) {
	const secret = `pq: invalid input syntax for type uuid: "Hunter2"`
	w, b := writeHTTP(t, fmt.Errorf("thumbnail lookup: %w", errors.New(secret)), nil)
	if w.Code != 500 || b.Errors[0].Extensions["code"] != apperr.Internal || b.Errors[0].Message != apperr.InternalMessage {
		t.Errorf("status %d body %s, want 500 INTERNAL with the generic message", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "Hunter2") || strings.Contains(w.Body.String(), "thumbnail lookup") {
		t.Errorf("the wrapped error's text reached the answer: %s", w.Body)
	}
}

// TestWriteHTTPRetryAfter: RATE_LIMITED and UNAVAILABLE always carry
// Retry-After, keeping one the handler set; other codes get none.
func TestWriteHTTPRetryAfter(t *testing.T) {
	for _, c := range []struct {
		err    error
		preset string
		want   string
	}{
		{apperr.RateLimitedf("slow down"), "", "1"},
		{apperr.RateLimitedf("slow down"), "7", "7"},
		{apperr.Unavailablef("retry later"), "", "5"},
		{apperr.Unavailablef("no picture yet"), "1", "1"},
		{apperr.Forbiddenf("no"), "", ""},
	} {
		preset := http.Header{}
		if c.preset != "" {
			preset.Set("Retry-After", c.preset)
		}
		w, _ := writeHTTP(t, c.err, preset)
		if got := w.Header().Get("Retry-After"); got != c.want {
			t.Errorf("%v with Retry-After %q preset: got %q, want %q", c.err, c.preset, got, c.want)
		}
	}
}

// TestWriteHTTPDropsSuccessHeaders: a handler that set caching headers for
// the picture before failing does not get its error cached as the picture.
func TestWriteHTTPDropsSuccessHeaders(t *testing.T) {
	preset := http.Header{}
	preset.Set("ETag", `"abc"`)
	preset.Set("Cache-Control", "private, max-age=31536000, immutable")
	preset.Set("Content-Length", "1234")
	w, _ := writeHTTP(t, apperr.Missing("id", "not found"), preset)
	h := w.Header()
	if h.Get("ETag") != "" || h.Get("Cache-Control") != "no-store" || h.Get("Content-Length") != "" {
		t.Errorf("headers after an error: %v", h)
	}
}
