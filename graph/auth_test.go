package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// auClock is a clock the test moves.
type auClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *auClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *auClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const auLogin = `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { user { id email role } expiresAt } }`

func auWant(t *testing.T, errs []testenv.GQLError, code, field string) testenv.GQLError {
	t.Helper()
	for _, e := range errs {
		if e.Code() == code && (field == "" || e.Field() == field) {
			return e
		}
	}
	t.Fatalf("want %s on %q, got %+v", code, field, errs)
	return testenv.GQLError{}
}

// TestPasswordRulesAndHistory: each rule names itself on newPassword, a
// wrong current password is BAD_USER_INPUT on currentPassword, and none
// of the last four passwords comes back.
func TestPasswordRulesAndHistory(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		srv.CreateUser(t, srv.AccountID, "sato@example.jp", "Start2026pw", viewer.RoleStaff)
		me := srv.LoginAs(t, "sato@example.jp", "Start2026pw")
		change := func(cur, next string) []testenv.GQLError {
			return me.Query(t, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
				map[string]any{"c": cur, "n": next}).Errors
		}
		for _, tc := range []struct{ pw, says string }{
			{"Ab1", "8文字以上"},
			{"abcdefgH", "数字"},
			{"abcdefg1", "英大文字"},
			{"ABCDEFG1", "英小文字"},
		} {
			e := auWant(t, change("Start2026pw", tc.pw), "BAD_USER_INPUT", "newPassword")
			if !strings.Contains(e.Message, tc.says) {
				t.Errorf("%q: message %q does not say %s", tc.pw, e.Message, tc.says)
			}
		}
		auWant(t, change("Wrong2026pw", "Fresh2026pw"), "BAD_USER_INPUT", "currentPassword")

		cur := "Start2026pw"
		for _, next := range []string{"Second2026a", "Third2026ab", "Fourth2026a", "Fifth2026ab"} {
			if errs := change(cur, next); len(errs) > 0 {
				t.Fatalf("change to %s: %+v", next, errs)
			}
			cur = next
		}
		// The last four: Fifth (current), Fourth, Third, Second.
		for _, old := range []string{"Fifth2026ab", "Fourth2026a", "Third2026ab", "Second2026a"} {
			e := auWant(t, change(cur, old), "BAD_USER_INPUT", "newPassword")
			if !strings.Contains(e.Message, "最近使ったパスワード") {
				t.Errorf("reuse of %s: %q", old, e.Message)
			}
		}
		// The fifth back is allowed again.
		if errs := change(cur, "Start2026pw"); len(errs) > 0 {
			t.Fatalf("reuse of the fifth-last password: %+v", errs)
		}
		srv.As(testenv.Anonymous).LoginAs(t, "sato@example.jp", "Start2026pw")
		if r := srv.As(testenv.Anonymous).Query(t, auLogin, map[string]any{"e": "sato@example.jp", "p": "Fifth2026ab"}); len(r.Errors) == 0 {
			t.Fatal("the old password still signs in")
		}
	})
}

// TestSessionCookieAndLogout checks the cookie's attributes and that
// logout ends the session on the server, not just in the browser.
func TestSessionCookieAndLogout(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		srv.CreateUser(t, srv.AccountID, "suzuki@example.jp", "Cookie2026x", viewer.RoleOwner)
		vars := map[string]any{"e": "SUZUKI@example.jp", "p": "Cookie2026x"}
		for _, tls := range []bool{false, true} {
			body, _ := json.Marshal(map[string]any{"query": auLogin, "variables": vars})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tls {
				req.Header.Set("X-Forwarded-Proto", "https")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var c *http.Cookie
			for _, x := range resp.Cookies() {
				if x.Name == "regicam_session" {
					c = x
				}
			}
			if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tls || c.Path != "/" {
				t.Fatalf("tls=%v: cookie %+v", tls, c)
			}
		}

		me := srv.LoginAs(t, "suzuki@example.jp", "Cookie2026x")
		var out struct{ Me struct{ Email string } }
		me.MustQuery(t, `{ me { email } }`, nil, &out)
		if out.Me.Email != "suzuki@example.jp" {
			t.Fatalf("me: %+v", out)
		}
		_, resp := me.QueryHTTP(t, `mutation { logout }`, nil)
		cleared := false
		for _, c := range resp.Cookies() {
			cleared = cleared || c.Name == "regicam_session" && c.MaxAge < 0
		}
		if !cleared {
			t.Error("logout does not clear the cookie")
		}
		// The old cookie, replayed, is anonymous now.
		auWant(t, me.Query(t, `{ me { email } }`, nil).Errors, "UNAUTHENTICATED", "")
		auWant(t, me.Query(t, `{ cameras { totalCount } }`, nil).Errors, "UNAUTHENTICATED", "")
		if r := srv.As(testenv.Anonymous).Query(t, `{ journal(first: 1) { edges { cursor } } }`, nil); len(r.Errors) == 0 ||
			r.Errors[0].Code() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous journal: %+v", r.Errors)
		}
	})
}

// TestUserManagement: duplicate emails (any case) conflict, only OWNER and
// ADMIN manage users, and an IP allowlist keeps a user to its addresses.
func TestUserManagement(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		create := `mutation($in: CreateUserInput!) { createUser(input: $in) { id email role ipAllowlist } }`
		in := func(email, role string, allow ...string) map[string]any {
			return map[string]any{"in": map[string]any{"email": email, "password": "Member2026x", "role": role, "ipAllowlist": allow}}
		}
		srv.MustQuery(t, create, in("Kato@Example.jp", "STAFF"), nil)
		auWant(t, srv.Query(t, create, in("kato@example.JP", "ADMIN")).Errors, "CONFLICT", "email")
		weak := in("ito@example.jp", "STAFF")
		weak["in"].(map[string]any)["password"] = "short"
		auWant(t, srv.Query(t, create, weak).Errors, "BAD_USER_INPUT", "password")

		staff := srv.LoginAs(t, "kato@example.jp", "Member2026x")
		for _, q := range []string{`{ users { id } }`, `{ apiKeys { id } }`, `{ auditLog { edges { cursor } } }`,
			`mutation { createApiKey(name: "x", scopes: ["journal:read"]) { key } }`} {
			auWant(t, staff.Query(t, q, nil).Errors, "FORBIDDEN", "")
		}
		auWant(t, staff.Query(t, create, in("new@example.jp", "OWNER")).Errors, "FORBIDDEN", "")

		// An ADMIN may not make owners.
		srv.MustQuery(t, create, in("admin@example.jp", "ADMIN"), nil)
		admin := srv.LoginAs(t, "admin@example.jp", "Member2026x")
		auWant(t, admin.Query(t, create, in("boss@example.jp", "OWNER")).Errors, "FORBIDDEN", "role")

		// Allowlist: the test client comes from 127.0.0.1.
		srv.MustQuery(t, create, in("far@example.jp", "STAFF", "10.0.0.0/8"), nil)
		r := srv.As(testenv.Anonymous).Query(t, auLogin, map[string]any{"e": "far@example.jp", "p": "Member2026x"})
		auWant(t, r.Errors, "FORBIDDEN", "")
		srv.MustQuery(t, create, in("near@example.jp", "STAFF", "127.0.0.1/32", "::1"), nil)
		srv.LoginAs(t, "near@example.jp", "Member2026x")
		auWant(t, srv.Query(t, create, in("bad@example.jp", "STAFF", "not-an-ip")).Errors, "BAD_USER_INPUT", "ipAllowlist[0]")
	})
}

// TestStaffSeesOnlyItsShops: a STAFF user assigned one shop directly and
// one through a ShopGroup sees those two, not the third, in lists, node(id),
// the journal, timeline buckets and the live stream.
func TestStaffSeesOnlyItsShops(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		direct := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		grouped := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		hidden := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		ctx := viewer.System(context.Background())
		group, err := srv.DB.Client.ShopGroup.Create().SetAccountID(srv.AccountID).SetName("関東").
			AddShopIDs(grouped.ShopID).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		u, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, direct.ShopID)
		if err := group.Update().AddUserIDs(u.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		base := time.Now().Add(-time.Hour).UTC()
		res := tjMustIngest(t, srv,
			tjReceipt(direct.TerminalIDs[0], "D1", "PAYMENT", base, nil),
			tjReceipt(grouped.TerminalIDs[0], "G1", "PAYMENT", base.Add(time.Minute), nil),
			tjReceipt(hidden.TerminalIDs[0], "H1", "PAYMENT", base.Add(2*time.Minute), nil))
		hiddenEntry := res[2].Entry.ID

		var shops struct {
			Shops struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		staff.MustQuery(t, `{ shops { edges { node { id } } } }`, nil, &shops)
		got := map[string]bool{}
		for _, e := range shops.Shops.Edges {
			got[e.Node.ID] = true
		}
		if len(got) != 2 || !got[string(direct.ShopID)] || !got[string(grouped.ShopID)] {
			t.Fatalf("staff shops: %v", got)
		}
		page, errs := tjJournalRaw(t, staff, nil, 50, "")
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if len(page.Edges) != 2 {
			t.Fatalf("staff journal: %d entries, want 2", len(page.Edges))
		}
		for _, id := range []string{string(hidden.ShopID), string(hidden.CameraIDs[1]), string(hidden.TerminalIDs[0]), hiddenEntry} {
			auWant(t, staff.Query(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}).Errors, "NOT_FOUND", "id")
		}
		_, errs = tjJournalRaw(t, staff, map[string]any{"shopIDs": []string{string(hidden.ShopID)}}, 10, "")
		auWant(t, errs, "NOT_FOUND", "where.shopIDs")
		r := staff.Query(t, `query($c: ID!, $f: Time!, $to: Time!) { timelineBuckets(cameraID: $c, from: $f, to: $to) { total } }`,
			map[string]any{"c": hidden.CameraIDs[1], "f": base.Add(-time.Hour), "to": base.Add(time.Hour)})
		auWant(t, r.Errors, "NOT_FOUND", "")
		var cams struct{ Cameras struct{ TotalCount int } }
		staff.MustQuery(t, `{ cameras { totalCount } }`, nil, &cams)
		if cams.Cameras.TotalCount != 4 {
			t.Errorf("staff cameras: %d, want the 4 of its two shops", cams.Cameras.TotalCount)
		}
		// Read-only: no ingest, no admin.
		_, errs = tjIngest(t, staff, tjReceipt(direct.TerminalIDs[0], "S1", "PAYMENT", base, nil))
		auWant(t, errs, "FORBIDDEN", "")

		// Live: of two new receipts only the visible shop's arrives.
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		sub, err := staff.Subscribe(sctx, `subscription { journal { type entry { id shop { id } } } }`, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		time.Sleep(200 * time.Millisecond) // let the subscription register before the receipts
		tjMustIngest(t, srv, tjReceipt(hidden.TerminalIDs[1], "H2", "PAYMENT", base, nil))
		tjMustIngest(t, srv, tjReceipt(direct.TerminalIDs[1], "D2", "PAYMENT", base, nil))
		data, gerrs, err := sub.Next(10 * time.Second)
		if err != nil || len(gerrs) > 0 {
			t.Fatalf("next: %v %+v", err, gerrs)
		}
		if !strings.Contains(string(data), string(direct.ShopID)) {
			t.Fatalf("staff stream got %s, want the entry of its shop %s", data, direct.ShopID)
		}
	})
}

// TestAPIKeyScopes: each scope allows its operations and nothing else;
// keys never manage users or keys; revoked and expired keys are
// UNAUTHENTICATED; the clear key appears once.
func TestAPIKeyScopes(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		clock := &auClock{now: time.Now()}
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) { cfg.AuthNow = clock.Now })
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		now := time.Now().UTC()
		read := `{ journal(first: 1) { edges { cursor } } }`
		list := `{ cameras { totalCount } }`
		ingest := func(c *testenv.Server, ext string) []testenv.GQLError {
			_, errs := tjIngest(t, c, tjReceipt(fx.TerminalIDs[0], ext, "PAYMENT", now, nil))
			return errs
		}
		admin := []string{`{ users { id } }`, `{ apiKeys { id } }`, `{ auditLog { edges { cursor } } }`,
			`mutation { createApiKey(name: "x", scopes: ["journal:read"]) { key } }`}

		_, reader := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
		_, writer := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalWrite)
		_, linker := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeLinksWrite)
		ok := func(c *testenv.Server, q string) {
			t.Helper()
			if r := c.Query(t, q, nil); len(r.Errors) > 0 {
				t.Errorf("%s: %+v", q, r.Errors)
			}
		}
		ok(reader, read)
		ok(reader, list)
		auWant(t, ingest(reader, "R1"), "FORBIDDEN", "")
		// Without journal:read the key reads back only the entry's id
		// (TestIngestResultEntryNeedsJournalRead).
		if r := writer.Query(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status entry { id } } }`,
			map[string]any{"in": []any{tjReceipt(fx.TerminalIDs[0], "W1", "PAYMENT", now, nil)}}); len(r.Errors) > 0 {
			t.Errorf("journal:write ingest: %+v", r.Errors)
		}
		auWant(t, writer.Query(t, read, nil).Errors, "FORBIDDEN", "")
		ok(linker, list)
		auWant(t, linker.Query(t, read, nil).Errors, "FORBIDDEN", "")
		auWant(t, ingest(linker, "L1"), "FORBIDDEN", "")
		for _, c := range []*testenv.Server{reader, writer, linker} {
			for _, q := range admin {
				auWant(t, c.Query(t, q, nil).Errors, "FORBIDDEN", "")
			}
		}
		// me is null for a key.
		var me struct{ Me *struct{ ID string } }
		reader.MustQuery(t, `{ me { id } }`, nil, &me)
		if me.Me != nil {
			t.Errorf("me for a key: %+v", me.Me)
		}

		// Created through the API: shown once, listed without the secret.
		var created struct {
			CreateApiKey struct {
				Key    string
				ApiKey struct{ ID, Prefix string }
			}
		}
		exp := clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		srv.MustQuery(t, `mutation($e: Time) { createApiKey(name: "POS連携", scopes: ["journal:read", "links:write"], expiresAt: $e) { key apiKey { id prefix } } }`,
			map[string]any{"e": exp}, &created)
		key := created.CreateApiKey.Key
		if !regexp.MustCompile(`^rk_[a-z0-9]{8}_[A-Za-z0-9_-]{40,}$`).MatchString(key) || !strings.HasPrefix(key, "rk_"+created.CreateApiKey.ApiKey.Prefix+"_") {
			t.Fatalf("key %q", key)
		}
		secret := key[len("rk_"+created.CreateApiKey.ApiKey.Prefix+"_"):]
		r := srv.Query(t, `{ apiKeys { id name prefix scopes lastUsedAt expiresAt revokedAt } }`, nil)
		if len(r.Errors) > 0 || strings.Contains(string(r.Data), secret) || !strings.Contains(string(r.Data), "POS連携") {
			t.Fatalf("apiKeys: %s %+v", r.Data, r.Errors)
		}
		partner := srv.As(testenv.Credential{APIKey: key})
		ok(partner, read)
		var keys struct {
			ApiKeys []struct {
				ID         string
				LastUsedAt *time.Time
			}
		}
		srv.MustQuery(t, `{ apiKeys { id lastUsedAt } }`, nil, &keys)
		for _, k := range keys.ApiKeys {
			if k.ID == created.CreateApiKey.ApiKey.ID && k.LastUsedAt == nil {
				t.Error("lastUsedAt not set after use")
			}
		}

		// Expired.
		clock.Add(2 * time.Hour)
		e := auWant(t, partner.Query(t, read, nil).Errors, "UNAUTHENTICATED", "")
		if !strings.Contains(e.Message, "有効期限") {
			t.Errorf("expired message %q", e.Message)
		}
		// Revoked.
		k2, second := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
		ok(second, read)
		prefix := strings.Split(k2, "_")[1]
		var all struct{ ApiKeys []struct{ ID, Prefix string } }
		srv.MustQuery(t, `{ apiKeys { id prefix } }`, nil, &all)
		for _, k := range all.ApiKeys {
			if k.Prefix == prefix {
				srv.MustQuery(t, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, map[string]any{"id": k.ID}, nil)
			}
		}
		e = auWant(t, second.Query(t, read, nil).Errors, "UNAUTHENTICATED", "")
		if !strings.Contains(e.Message, "失効") {
			t.Errorf("revoked message %q", e.Message)
		}
		// A made-up key and a wrong scheme.
		auWant(t, srv.As(testenv.Credential{APIKey: "rk_abcdefgh_" + strings.Repeat("x", 43)}).Query(t, read, nil).Errors, "UNAUTHENTICATED", "")
		// Unknown scope.
		auWant(t, srv.Query(t, `mutation { createApiKey(name: "x", scopes: ["admin"]) { key } }`, nil).Errors, "BAD_USER_INPUT", "scopes[0]")
	})
}

// TestAPIKeyRateLimit: a key over its bucket gets RATE_LIMITED with
// Retry-After on GraphQL and 429 on other routes; other keys are not held.
func TestAPIKeyRateLimit(t *testing.T) {
	clock := &auClock{now: time.Now()}
	srv := testenv.StartWith(t, testenv.Postgres(t), "", func(cfg *app.Config, _ string) {
		cfg.AuthNow = clock.Now
		cfg.APIKeyRate, cfg.APIKeyBurst = 1, 3
	})
	_, key := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
	_, other := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
	q := `{ cameras { totalCount } }`
	for i := range 3 {
		if r := key.Query(t, q, nil); len(r.Errors) > 0 {
			t.Fatalf("request %d: %+v", i, r.Errors)
		}
	}
	r, resp := key.QueryHTTP(t, q, nil)
	auWant(t, r.Errors, "RATE_LIMITED", "")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("/graphql over the limit: HTTP %d, want 429", resp.StatusCode)
	}
	if resp.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	th := key.Get(t, "/thumbnails/"+string(pulid.MustNew("TH")))
	th.Body.Close()
	if th.StatusCode != http.StatusTooManyRequests || th.Header.Get("Retry-After") == "" {
		t.Errorf("thumbnail over the limit: %d Retry-After %q", th.StatusCode, th.Header.Get("Retry-After"))
	}
	if r := other.Query(t, q, nil); len(r.Errors) > 0 {
		t.Fatalf("another key is held back: %+v", r.Errors)
	}
	clock.Add(time.Second)
	if r := key.Query(t, q, nil); len(r.Errors) > 0 {
		t.Fatalf("after a second: %+v", r.Errors)
	}
}

// auCapture is a slog handler that keeps every record as text.
type auCapture struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
	h   slog.Handler
}

func newAUCapture() *auCapture {
	c := &auCapture{mu: &sync.Mutex{}, buf: &bytes.Buffer{}}
	c.h = slog.NewTextHandler(c.buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	return c
}

func (c *auCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *auCapture) Handle(ctx context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.h.Handle(ctx, r)
}
func (c *auCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &auCapture{mu: c.mu, buf: c.buf, h: c.h.WithAttrs(as)}
}
func (c *auCapture) WithGroup(name string) slog.Handler {
	return &auCapture{mu: c.mu, buf: c.buf, h: c.h.WithGroup(name)}
}
func (c *auCapture) String() string { c.mu.Lock(); defer c.mu.Unlock(); return c.buf.String() }

// TestNoSecretInLogsOrResponses runs login (right and wrong), createApiKey,
// changePassword, createUser and the key's use with every log line
// captured, and greps logs, GraphQL responses and the audit log for the
// clear passwords and key secret.
func TestNoSecretInLogsOrResponses(t *testing.T) {
	capture := newAUCapture()
	b := testenv.Postgres(t)
	b.Log = slog.New(capture)
	srv := testenv.Start(t, b, "")
	var answers strings.Builder
	record := func(r testenv.Response) testenv.Response {
		answers.Write(r.Data)
		for _, e := range r.Errors {
			answers.WriteString(e.Message)
		}
		return r
	}
	const pw, wrong, next, staffPw = "Secret2026Pw", "Wrong2026Secret", "Next2026Secret", "Staff2026Secret"
	srv.CreateUser(t, srv.AccountID, "yamada@example.jp", pw, viewer.RoleOwner)
	anon := srv.As(testenv.Anonymous)
	record(anon.Query(t, auLogin, map[string]any{"e": "yamada@example.jp", "p": wrong}))
	owner := srv.LoginAs(t, "yamada@example.jp", pw)
	r := record(owner.Query(t, `mutation { createApiKey(name: "連携", scopes: ["journal:read"]) { key apiKey { prefix } } }`, nil))
	var created struct {
		CreateApiKey struct {
			Key    string
			ApiKey struct{ Prefix string }
		}
	}
	if err := json.Unmarshal(r.Data, &created); err != nil || created.CreateApiKey.Key == "" {
		t.Fatalf("createApiKey: %s %+v", r.Data, r.Errors)
	}
	key := created.CreateApiKey.Key
	keySecret := key[len("rk_"+created.CreateApiKey.ApiKey.Prefix+"_"):]
	record(owner.Query(t, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
		map[string]any{"c": wrong, "n": next}))
	record(owner.Query(t, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
		map[string]any{"c": pw, "n": next}))
	record(owner.Query(t, `mutation($in: CreateUserInput!) { createUser(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"email": "x@example.jp", "password": staffPw, "role": "STAFF"}}))
	record(srv.As(testenv.Credential{APIKey: key}).Query(t, `{ cameras { totalCount } }`, nil))
	record(srv.As(testenv.Credential{APIKey: key + "x"}).Query(t, `{ cameras { totalCount } }`, nil))
	record(owner.Query(t, `{ auditLog(first: 100) { edges { node { action detail ip } } } apiKeys { name prefix } }`, nil))

	logs := capture.String()
	if !strings.Contains(logs, "regicam") && len(logs) == 0 {
		t.Log("no log lines captured")
	}
	for name, secret := range map[string]string{"password": pw, "wrong password": wrong, "new password": next,
		"staff password": staffPw, "API key secret": keySecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the logs", name)
		}
		if strings.Contains(answers.String(), secret) && name != "API key secret" {
			t.Errorf("the %s appears in a GraphQL answer", name)
		}
	}
	// The key is in exactly one answer: createApiKey's.
	if n := strings.Count(answers.String(), keySecret); n != 1 {
		t.Errorf("the key secret appears in %d answers, want only createApiKey's", n)
	}
}
