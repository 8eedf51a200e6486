package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// lgServer trusts the test client as a reverse proxy, so each request's
// X-Forwarded-For is its source address: tests play callers from several
// addresses.
func lgServer(t testing.TB, b testenv.Backend, clock *auClock) *testenv.Server {
	return testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
		cfg.AuthNow = clock.Now
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
}

// lgAnswer is what a login attempt tells its caller.
type lgAnswer struct {
	status            int
	code, field, msg  string
	retryAfter, token string
	errors            int
}

// lgLogin posts login(email, password) from ip without a credential.
func lgLogin(t testing.TB, srv *testenv.Server, ip, email, pw string) lgAnswer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": auLogin, "variables": map[string]any{"e": email, "p": pw}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer resp.Body.Close()
	var r testenv.Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode login answer: %v", err)
	}
	a := lgAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), errors: len(r.Errors)}
	if len(r.Errors) > 0 {
		a.code, a.field, a.msg = r.Errors[0].Code(), r.Errors[0].Field(), r.Errors[0].Message
	}
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			a.token = c.Value
		}
	}
	return a
}

func (a lgAnswer) ok() bool { return a.errors == 0 && a.token != "" }

const (
	lgOwnerIP    = "203.0.113.10"
	lgAttackerIP = "198.51.100.66"
)

// TestLoginFailuresFromElsewhereDoNotLockTheOwner: an outsider's wrong
// passwords, however many, neither stop the owner signing in from their
// own address nor end the owner's open session; from the outsider's
// address even the right password waits.
func TestLoginFailuresFromElsewhereDoNotLockTheOwner(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		clock := &auClock{now: time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)}
		srv := lgServer(t, b, clock)
		srv.CreateUser(t, srv.AccountID, "owner@example.jp", "Kasse2026go", viewer.RoleOwner)
		first := lgLogin(t, srv, lgOwnerIP, "owner@example.jp", "Kasse2026go")
		if !first.ok() {
			t.Fatalf("owner login: %+v", first)
		}
		open := srv.As(testenv.Credential{Cookie: first.token})

		for range 12 {
			if a := lgLogin(t, srv, lgAttackerIP, "owner@example.jp", "Guess2026x"); a.ok() {
				t.Fatal("a wrong password signed in")
			}
		}
		if a := lgLogin(t, srv, lgAttackerIP, "owner@example.jp", "Kasse2026go"); a.ok() || a.code != "UNAUTHENTICATED" {
			t.Fatalf("the attacker's address is not throttled: %+v", a)
		}
		if a := lgLogin(t, srv, lgOwnerIP, "owner@example.jp", "Kasse2026go"); !a.ok() {
			t.Fatalf("owner locked out by another address's failures: %+v", a)
		}
		if r := open.Query(t, `{ me { email } }`, nil); len(r.Errors) > 0 {
			t.Fatalf("failed logins ended the owner's session: %+v", r.Errors)
		}
		// The wait runs out: the throttle delays, it does not lock.
		clock.Add(16 * time.Minute)
		if a := lgLogin(t, srv, lgAttackerIP, "owner@example.jp", "Kasse2026go"); !a.ok() {
			t.Fatalf("after the longest wait: %+v", a)
		}
	})
}

// TestLoginAnswersAlike: an unknown email, a wrong password, a throttled
// attempt (for a known and an unknown email) and a wrong password from
// outside the user's allowlist get one answer: same status, code, field
// and message, no Retry-After. A caller learns nothing about which emails
// exist.
func TestLoginAnswersAlike(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		clock := &auClock{now: time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)}
		srv := lgServer(t, b, clock)
		srv.CreateUser(t, srv.AccountID, "known@example.jp", "Kasse2026go", viewer.RoleStaff)
		u := srv.CreateUser(t, srv.AccountID, "office@example.jp", "Kasse2026go", viewer.RoleStaff)
		if err := u.Update().SetIPAllowlist([]string{"192.0.2.0/24"}).Exec(t.Context()); err != nil {
			t.Fatal(err)
		}

		want := lgLogin(t, srv, "198.51.100.1", "nobody@example.jp", "Guess2026x")
		if want.code != "UNAUTHENTICATED" || want.field != "password" || want.retryAfter != "" {
			t.Fatalf("unknown email: %+v", want)
		}
		same := func(what string, got lgAnswer) {
			t.Helper()
			if got != want {
				t.Errorf("%s answers\n %+v\nunknown email answers\n %+v", what, got, want)
			}
		}
		same("wrong password", lgLogin(t, srv, "198.51.100.2", "known@example.jp", "Guess2026x"))
		same("wrong password from outside the allowlist", lgLogin(t, srv, "198.51.100.3", "office@example.jp", "Guess2026x"))
		for _, email := range []string{"known@example.jp", "nobody@example.jp"} {
			var last lgAnswer
			for range 8 {
				last = lgLogin(t, srv, "198.51.100.4", email, "Guess2026x")
			}
			same("throttled attempt for "+email, last)
		}
		// Only the right password learns about the allowlist.
		if a := lgLogin(t, srv, "198.51.100.3", "office@example.jp", "Kasse2026go"); a.code != "FORBIDDEN" {
			t.Errorf("right password from outside the allowlist: %+v", a)
		}
		if a := lgLogin(t, srv, "192.0.2.8", "office@example.jp", "Kasse2026go"); !a.ok() {
			t.Errorf("right password from inside the allowlist: %+v", a)
		}
	})
}

// TestLoginSourceBudget: 30 rapid attempts from one address at 30
// different emails spend the address's budget (20). A shared (NAT)
// address must not let one client lock out the others: the right password
// of an email that has not failed from there still signs in, but an email
// that has failed from there is refused early, even with the right
// password, and works from elsewhere.
func TestLoginSourceBudget(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		clock := &auClock{now: time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)}
		srv := lgServer(t, b, clock)
		srv.CreateUser(t, srv.AccountID, "target@example.jp", "Kasse2026go", viewer.RoleStaff)
		srv.CreateUser(t, srv.AccountID, "spray29@example.jp", "Spray2026ok", viewer.RoleStaff)
		for i := range 30 {
			lgLogin(t, srv, lgAttackerIP, fmt.Sprintf("spray%02d@example.jp", i), "Guess2026x")
		}
		if a := lgLogin(t, srv, lgAttackerIP, "target@example.jp", "Kasse2026go"); !a.ok() {
			t.Fatalf("the owner's right password from an address others exhausted: %+v", a)
		}
		if a := lgLogin(t, srv, lgAttackerIP, "spray29@example.jp", "Spray2026ok"); a.ok() {
			t.Fatal("an email that failed from an exhausted address is still checked there")
		}
		if a := lgLogin(t, srv, lgOwnerIP, "spray29@example.jp", "Spray2026ok"); !a.ok() {
			t.Fatalf("another address is throttled too: %+v", a)
		}
	})
}

// TestChangePasswordThrottled: wrong current passwords sent with a
// session go through the login throttle of (email, address): after the
// free failures even the right one is refused, with the same answer,
// until the wait runs out.
func TestChangePasswordThrottled(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		clock := &auClock{now: time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)}
		srv := lgServer(t, b, clock)
		srv.CreateUser(t, srv.AccountID, "sato@example.jp", "Start2026pw", viewer.RoleStaff)
		me := srv.LoginAs(t, "sato@example.jp", "Start2026pw")
		change := func(cur string) []testenv.GQLError {
			return me.Query(t, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
				map[string]any{"c": cur, "n": "Fresh2026pw"}).Errors
		}
		var wrong testenv.GQLError
		for i := range 5 {
			errs := change(fmt.Sprintf("Guess2026x%d", i))
			if len(errs) != 1 || errs[0].Code() != "BAD_USER_INPUT" {
				t.Fatalf("wrong current password %d: %+v", i+1, errs)
			}
			wrong = errs[0]
		}
		errs := change("Start2026pw")
		if len(errs) != 1 || errs[0].Message != wrong.Message || errs[0].Code() != wrong.Code() {
			t.Fatalf("right current password after 5 wrong at once: %+v, want the wrong-password answer %+v", errs, wrong)
		}
		clock.Add(16 * time.Minute)
		if errs := change("Start2026pw"); len(errs) > 0 {
			t.Fatalf("after the wait: %+v", errs)
		}
	})
}

// TestUnlockUserClearsTheThrottle: a user who mistyped too often from
// their own address waits; unlockUser (OWNER) lets them in at once. The
// audit log shows the failures, the start of the throttle and the unlock.
func TestUnlockUserClearsTheThrottle(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		clock := &auClock{now: time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)}
		srv := lgServer(t, b, clock)
		u := srv.CreateUser(t, srv.AccountID, "tanaka@example.jp", "Kasse2026go", viewer.RoleAdmin)
		for range 9 {
			lgLogin(t, srv, lgOwnerIP, "Tanaka@Example.jp", "Guess2026x")
		}
		if a := lgLogin(t, srv, lgOwnerIP, "tanaka@example.jp", "Kasse2026go"); a.ok() {
			t.Fatal("not throttled after 9 wrong passwords")
		}
		srv.MustQuery(t, `mutation($id: ID!) { unlockUser(id: $id) { id } }`, map[string]any{"id": u.ID}, nil)
		if a := lgLogin(t, srv, lgOwnerIP, "tanaka@example.jp", "Kasse2026go"); !a.ok() {
			t.Fatalf("after unlockUser: %+v", a)
		}

		var log struct {
			AuditLog struct {
				Edges []struct {
					Node struct{ Action, TargetID string }
				}
			}
		}
		srv.MustQuery(t, `{ auditLog(first: 100) { edges { node { action targetID } } } }`, nil, &log)
		got := map[string]int{}
		for _, e := range log.AuditLog.Edges {
			if e.Node.TargetID == string(u.ID) {
				got[e.Node.Action]++
			}
		}
		// 9 attempts with the clock standing still: 5 free ones were
		// checked, the rest had to wait.
		for action, n := range map[string]int{"login.failure": 5, "login.throttled": 1, "user.unlocked": 1, "login.success": 1} {
			if got[action] != n {
				t.Errorf("audit %s: %d rows, want %d (all: %v)", action, got[action], n, got)
			}
		}
	})
}

// BenchmarkLoginFailureAnswers measures, on PostgreSQL, how long each kind
// of failed login takes to answer: a wrong password (argon2id plus an
// audit row), an unknown email (a dummy hash, then a wait up to the wrong
// password's average) and a throttled attempt (no hash, the same wait).
// Equal figures mean response times do not tell them apart.
func BenchmarkLoginFailureAnswers(b *testing.B) {
	clock := &auClock{now: time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)}
	srv := lgServer(b, testenv.Postgres(b), clock)
	srv.CreateUser(b, srv.AccountID, "known@example.jp", "Kasse2026go", viewer.RoleStaff)
	n := 0
	fresh := func() string { n++; return fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255) }
	// Warm up: the average a wrong password takes.
	for range 20 {
		lgLogin(b, srv, fresh(), "known@example.jp", "Guess2026x")
	}
	b.Run("wrong_password", func(b *testing.B) {
		for b.Loop() {
			lgLogin(b, srv, fresh(), "known@example.jp", "Guess2026x")
		}
	})
	b.Run("unknown_email", func(b *testing.B) {
		for b.Loop() {
			lgLogin(b, srv, fresh(), "nobody@example.jp", "Guess2026x")
		}
	})
	ip := fresh()
	for range 30 {
		lgLogin(b, srv, ip, fmt.Sprintf("spray%d@example.jp", n), "Guess2026x")
		n++
	}
	b.Run("throttled", func(b *testing.B) {
		for b.Loop() {
			lgLogin(b, srv, ip, "known@example.jp", "Guess2026x")
		}
	})
}
