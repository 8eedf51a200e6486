package apperr_test

import (
	"fmt"
	"testing"

	"github.com/regicam/regicam/apperr"
)

func TestConstructorsSetCodeFieldAndMessage(t *testing.T) {
	for _, c := range []struct {
		got               *apperr.Error
		code, field, text string
	}{
		{apperr.Invalid("total", "bad %d", 1), apperr.BadUserInput, "total", "bad 1"},
		{apperr.Missing("id", "no %s", "x"), apperr.NotFound, "id", "no x"},
		{apperr.Unauthenticatedf("sign in"), apperr.Unauthenticated, "", "sign in"},
		{apperr.Forbiddenf("needs %s", "admin"), apperr.Forbidden, "", "needs admin"},
		{apperr.Conflictf("input.name", "%q exists", "a"), apperr.Conflict, "input.name", `"a" exists`},
		{apperr.RateLimitedf("retry after %ds", 3), apperr.RateLimited, "", "retry after 3s"},
		{apperr.Internalf("internal error"), apperr.Internal, "", "internal error"},
		{apperr.BadRequestf("not JSON"), apperr.BadRequest, "", "not JSON"},
		{apperr.Unavailablef("retry later"), apperr.Unavailable, "", "retry later"},
		{apperr.Forbiddenf("owners only").At("role"), apperr.Forbidden, "role", "owners only"},
	} {
		if c.got.Code != c.code || c.got.Field != c.field || c.got.Message != c.text {
			t.Errorf("got %+v, want code %s field %q message %q", *c.got, c.code, c.field, c.text)
		}
	}
}

func TestAtCopies(t *testing.T) {
	base := apperr.Unauthenticatedf("wrong password")
	at := base.At("password")
	if base.Field != "" || at.Field != "password" || at.Error() != "password: wrong password" {
		t.Fatalf("At changed its receiver or lost the field: base %+v, at %+v", *base, *at)
	}
	if e, ok := apperr.As(fmt.Errorf("login: %w", at)); !ok || e != at {
		t.Fatal("As does not find the wrapped *Error")
	}
}
