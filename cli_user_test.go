package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/viewer"
)

// TestUserCreate: the CLI makes the first OWNER in a named account, reads
// the password from stdin on request, refuses weak passwords and
// duplicates, and never prints the password.
func TestUserCreate(t *testing.T) {
	dir := t.TempDir()
	env := func(name string) string {
		if name == "REGICAM_DATA_DIR" {
			return dir
		}
		return ""
	}
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := userCommand(context.Background(), args, env, strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("", "create", "--email", "Owner@Example.jp", "--password", "weakpass", "--account", "株式会社レジカム")
	if code != 1 || !strings.Contains(errs, "password") || !strings.Contains(errs, "数字") {
		t.Fatalf("weak password: code %d, stderr %q", code, errs)
	}
	code, out, errs = run("First2026Owner\n", "create", "--email", "Owner@Example.jp", "--password", "-", "--name", "山田", "--account", "株式会社レジカム")
	if code != 0 || !strings.Contains(out, "created OWNER owner@example.jp") || strings.Contains(out+errs, "First2026Owner") {
		t.Fatalf("create: code %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = run("", "create", "--email", "owner@example.jp", "--password", "Other2026pw")
	if code != 1 || !strings.Contains(errs, "email") {
		t.Fatalf("duplicate: code %d, stderr %q", code, errs)
	}
	if code, _, _ := run("", "delete"); code != 2 {
		t.Fatalf("unknown verb: code %d", code)
	}

	ctx := viewer.System(context.Background())
	db, err := db.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.Client.User.Query().Where(user.Email("owner@example.jp")).WithAccount().Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != user.RoleOWNER || u.Name != "山田" || u.Edges.Account.Name != "株式会社レジカム" ||
		!auth.VerifyPassword(u.PasswordHash, "First2026Owner") {
		t.Fatalf("stored user: role %s name %q account %q", u.Role, u.Name, u.Edges.Account.Name)
	}
}
