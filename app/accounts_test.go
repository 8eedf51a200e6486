package app_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/internal/testenv"
)

// TestDemoOwnerLogin: demo mode prints one login line whose password
// works, and a restart prints a new one that replaces it.
func TestDemoOwnerLogin(t *testing.T) {
	dir := t.TempDir()
	demo := func(cfg *app.Config, _ string) { cfg.Demo, cfg.DemoPOS, cfg.DemoEvery = "true", false, time.Hour }
	line := regexp.MustCompile(`^demo login: (demo@regicam\.local) (\S+)$`)
	first := testenv.StartWith(t, testenv.Backend{Name: "sqlite"}, dir, demo)
	m := line.FindStringSubmatch(first.DemoLogin)
	if m == nil {
		t.Fatalf("demo line %q", first.DemoLogin)
	}
	first.LoginAs(t, m[1], m[2])

	second := testenv.StartWith(t, testenv.Backend{Name: "sqlite"}, dir, demo)
	m2 := line.FindStringSubmatch(second.DemoLogin)
	if m2 == nil || m2[2] == m[2] {
		t.Fatalf("restart line %q (first %q)", second.DemoLogin, first.DemoLogin)
	}
	owner := second.LoginAs(t, m2[1], m2[2])
	var me struct{ Me struct{ Role string } }
	owner.MustQuery(t, `{ me { role } }`, nil, &me)
	if me.Me.Role != "OWNER" {
		t.Fatalf("demo user role %q", me.Me.Role)
	}
	if r := second.As(testenv.Anonymous).Query(t, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { expiresAt } }`,
		map[string]any{"e": m[1], "p": m[2]}); len(r.Errors) == 0 {
		t.Fatal("the previous start's password still works")
	}
}
