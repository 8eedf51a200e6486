package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/access"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// pwPrincipal is one kind of caller the walk tries: a session of a role,
// an API key of one scope, or nobody.
type pwPrincipal struct {
	role  viewer.Role
	scope viewer.Scope
}

func (p pwPrincipal) String() string {
	switch {
	case p.role != "":
		return string(p.role)
	case p.scope != "":
		return "key " + string(p.scope)
	}
	return "anonymous"
}

// viewer is how access.Check sees p.
func (p pwPrincipal) viewer() (viewer.Viewer, bool) {
	switch {
	case p.role != "":
		return viewer.Viewer{AccountID: "AC", UserID: "US", Role: p.role}, true
	case p.scope != "":
		return viewer.Viewer{AccountID: "AC", APIKeyID: "AK", Scopes: []viewer.Scope{p.scope}}, true
	}
	return viewer.Viewer{}, false
}

// TestPermissionWalk enumerates every query and mutation by introspection
// (so fields added later are walked too) and calls each as OWNER, ADMIN,
// STAFF, with an API key of each scope alone, and anonymously. The answer
// must be FORBIDDEN (UNAUTHENTICATED for anonymous) exactly when
// access.Table refuses that caller: any other answer — data, NOT_FOUND,
// BAD_USER_INPUT, even INTERNAL from a resolver not written yet — means
// the call got past every permission check. So the walk fails both when
// the server lets through what the table forbids and when a resolver
// refuses what the table allows.
func TestPermissionWalk(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		// Providers refuse at once: the walk sends made-up credentials.
		refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		}))
		t.Cleanup(refuse.Close)
		srv := startSchema(t, b, schemaOptions{ProviderURL: refuse.URL})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		// login is walked with a password that works, so that it is
		// judged on the gate and not on a wrong password.
		const email, password = "walk@test.local", "Walk-pass-2468"
		srv.CreateUser(t, srv.AccountID, email, password, viewer.RoleStaff, fx.ShopID)
		given := map[string]map[string]any{
			"Mutation.login": {"email": email, "password": password},
		}

		principals := pwPrincipals()
		// clientOf signs p in; mutations get a new identity each (logout
		// ends a session, a key's rate limit is per key).
		clientOf := func(p pwPrincipal) *gqlEnv {
			switch {
			case p.role == viewer.RoleStaff:
				_, c := srv.NewUser(t, srv.AccountID, p.role, fx.ShopID)
				return c
			case p.role != "":
				_, c := srv.NewUser(t, srv.AccountID, p.role)
				return c
			case p.scope != "":
				_, c := srv.NewAPIKey(t, srv.AccountID, p.scope)
				return c
			}
			return srv.As(testenv.Anonymous)
		}
		readers := map[pwPrincipal]*gqlEnv{}
		for _, p := range principals {
			readers[p] = clientOf(p)
		}

		schema := auIntrospect(t, srv)
		walked := map[string]int{}
		for _, op := range []string{"query", "mutation"} {
			root := schema.root(op)
			for _, f := range root.Fields {
				if strings.HasPrefix(f.Name, "__") {
					continue
				}
				name := root.Name + "." + f.Name
				doc, vars := pwOperation(schema, op, f, given[name])
				for _, p := range principals {
					c := readers[p]
					if op == "mutation" {
						c = clientOf(p)
					}
					r := c.Query(t, doc, vars)
					walked[op]++
					if want, got := pwWant(p, name), pwRefusal(r.Errors); got != want {
						t.Errorf("%s as %s: table says %s, server says %s\n%s %v\ndata %s errors %+v",
							name, p, pwVerdict(want), pwVerdict(got), doc, vars, r.Data, r.Errors)
					}
				}
			}
		}
		// Subscriptions: here the gate answers each (TestPermissionWalkWebsocket
		// walks them over the server's websocket, where connection_init
		// refuses first). No event is due: a live subscription ends with
		// its wait, a refused one answers at once.
		sub := schema.root("subscription")
		for _, f := range sub.Fields {
			name := sub.Name + "." + f.Name
			doc, vars := pwOperation(schema, "subscription", f, given[name])
			for _, p := range principals {
				walked["subscription"]++
				_, errs := readers[p].SubscribeFor(t, 300*time.Millisecond, doc, vars)
				if want, got := pwWant(p, name), pwRefusal(errs); got != want {
					t.Errorf("%s as %s: table says %s, server says %s", name, p, pwVerdict(want), pwVerdict(got))
				}
			}
		}
		// The schema has 40-odd mutations: a walk much shorter than that
		// found too little to prove anything.
		if walked["mutation"] < 40*len(principals) || walked["query"] < 20*len(principals) || walked["subscription"] < 2*len(principals) {
			t.Fatalf("walked only %v calls; introspection found too little", walked)
		}
		t.Logf("%v calls walked as %d principals", walked, len(principals))
	})
}

// TestPermissionWalkWebsocket calls every subscription over the server's
// websocket as each principal of TestPermissionWalk: a credential without
// journal:read is already closed at connection_init (4401 without one,
// 4403 without the scope); otherwise the gate answers. Either way the
// answer must be what access.Table says.
func TestPermissionWalkWebsocket(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		principals := pwPrincipals()
		readers := map[pwPrincipal]*testenv.Server{}
		for _, p := range principals {
			switch {
			case p.role == viewer.RoleStaff:
				_, readers[p] = srv.NewUser(t, srv.AccountID, p.role, fx.ShopID)
			case p.role != "":
				_, readers[p] = srv.NewUser(t, srv.AccountID, p.role)
			case p.scope != "":
				_, readers[p] = srv.NewAPIKey(t, srv.AccountID, p.scope)
			default:
				readers[p] = srv.As(testenv.Anonymous)
			}
		}
		schema := auIntrospect(t, srv)
		walked := 0
		sub := schema.root("subscription")
		for _, f := range sub.Fields {
			name := sub.Name + "." + f.Name
			doc, vars := pwOperation(schema, "subscription", f, nil)
			for _, p := range principals {
				walked++
				if want, got := pwWant(p, name), pwSubscribe(t, readers[p], doc, vars); got != want {
					t.Errorf("%s as %s: table says %s, server says %s", name, p, pwVerdict(want), pwVerdict(got))
				}
			}
		}
		if walked < 2*len(principals) {
			t.Fatalf("walked only %d subscriptions; introspection found too little", walked)
		}
		t.Logf("%d subscriptions walked as %d principals", walked, len(principals))
	})
}

// pwPrincipals is every kind of caller: anonymous, each role, a key of
// each scope alone.
func pwPrincipals() []pwPrincipal {
	principals := []pwPrincipal{{}}
	for _, r := range access.Roles {
		principals = append(principals, pwPrincipal{role: r})
	}
	for _, s := range access.KeyScopes {
		principals = append(principals, pwPrincipal{scope: s})
	}
	return principals
}

// pwWant is the refusal access.Table gives p calling op: FORBIDDEN,
// UNAUTHENTICATED, or "" when it allows the call.
func pwWant(p pwPrincipal, op string) string {
	v, signedIn := p.viewer()
	if err := access.Check(v, signedIn, op); err != nil {
		e, _ := apperr.As(err)
		return e.Code
	}
	return ""
}

// TestIngestResultEntryNeedsJournalRead: a key that may only write gets
// the id of each result's entry and nothing else of it (a DUPLICATE names
// an entry it may not have stored); the items are still stored and their
// status reported. With journal:read as well, the entry reads back.
func TestIngestResultEntryNeedsJournalRead(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		at := time.Now().Add(-time.Hour)
		// The owner's register sale: a partner re-sending its external id
		// gets DUPLICATE with the stored entry.
		stored := tjOne(t, srv, tjReceipt(fx.TerminalIDs[0], "P-1", "PAYMENT", at, map[string]any{"staffName": "ひみつ店長", "total": 123456}))

		_, writer := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalWrite)
		_, both := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalWrite, viewer.ScopeJournalRead)
		dup := tjReceipt(fx.TerminalIDs[0], "P-1", "PAYMENT", at, map[string]any{"staffName": "ひみつ店長", "total": 123456})
		fresh := tjReceipt(fx.TerminalIDs[0], "P-2", "PAYMENT", at, nil)
		vars := map[string]any{"in": []any{dup, fresh}}

		const idOnly = `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { index status entry { __typename id } } }`
		var out struct {
			IngestJournal []struct {
				Status string
				Entry  *struct{ ID string }
			}
		}
		writer.MustQuery(t, idOnly, vars, &out)
		if len(out.IngestJournal) != 2 || out.IngestJournal[0].Status != "DUPLICATE" || out.IngestJournal[0].Entry == nil ||
			out.IngestJournal[0].Entry.ID != stored.Entry.ID || out.IngestJournal[1].Entry == nil {
			t.Fatalf("entry { id } for a write-only key: %+v", out)
		}

		// Every way of asking for more: a field, an inline fragment, a
		// named fragment, an alias, a nested object.
		for _, sel := range []string{
			`entry { id total staffName }`,
			`entry { id ... on JournalEntry { staffName } }`,
			`entry { ...E }`,
			`entry { id secret: staffName }`,
			`entry { id related { id } }`,
		} {
			doc := `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { index status ` + sel + ` } }`
			if strings.Contains(sel, "...E") {
				doc += ` fragment E on JournalEntry { id total }`
			}
			r := writer.Query(t, doc, vars)
			if strings.Contains(string(r.Data), "ひみつ") || strings.Contains(string(r.Data), "123456") {
				t.Errorf("%s: a write-only key read the entry back: %s", sel, r.Data)
			}
			var got struct {
				IngestJournal []struct {
					Status string
					Entry  map[string]any
				}
			}
			if err := json.Unmarshal(r.Data, &got); err != nil || len(got.IngestJournal) != 2 {
				t.Fatalf("%s: data %s (%v)", sel, r.Data, err)
			}
			if got.IngestJournal[0].Status != "DUPLICATE" || got.IngestJournal[1].Status != "DUPLICATE" {
				t.Errorf("%s: statuses %+v, want both DUPLICATE (stored by the first call)", sel, got.IngestJournal)
			}
			for i, res := range got.IngestJournal {
				if res.Entry != nil {
					t.Errorf("%s: result %d entry %v, want null", sel, i, res.Entry)
				}
			}
			forbidden := 0
			for _, e := range r.Errors {
				if e.Code() == apperr.Forbidden && strings.Contains(e.Message, "journal:read") {
					forbidden++
				}
			}
			if forbidden != 2 {
				t.Errorf("%s: want a FORBIDDEN naming journal:read on each entry, got %+v", sel, r.Errors)
			}
		}

		// journal:read as well: the same call reads the entry back.
		r := both.Query(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status entry { id staffName total } } }`, vars)
		if len(r.Errors) > 0 || !strings.Contains(string(r.Data), "ひみつ店長") {
			t.Errorf("key with journal:read and journal:write: data %s errors %+v", r.Data, r.Errors)
		}
	})
}

// pwSubscribe starts doc over a websocket and reports its permission
// error: a connection closed at connection_init counts as
// UNAUTHENTICATED (4401) or FORBIDDEN (4403).
func pwSubscribe(t *testing.T, c *testenv.Server, doc string, vars map[string]any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, doc, vars)
	switch {
	case err != nil && strings.Contains(err.Error(), "4401"):
		return apperr.Unauthenticated
	case err != nil && strings.Contains(err.Error(), "4403"):
		return apperr.Forbidden
	case err != nil:
		t.Fatalf("subscribe %s: %v", doc, err)
	}
	defer sub.Close()
	// No event is due: a live subscription times out, a refused one
	// answers at once.
	_, errs, err := sub.Next(300 * time.Millisecond)
	if err != nil && !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("subscription %s: %v", doc, err)
	}
	return pwRefusal(errs)
}

// pwRefusal is the permission error of an answer: FORBIDDEN or
// UNAUTHENTICATED, "" when it has none.
func pwRefusal(errs []testenv.GQLError) string {
	for _, code := range []string{apperr.Forbidden, apperr.Unauthenticated} {
		if slices.ContainsFunc(errs, func(e testenv.GQLError) bool { return e.Code() == code }) {
			return code
		}
	}
	return ""
}

func pwVerdict(code string) string {
	if code == "" {
		return "allowed"
	}
	return code
}

// pwOperation writes a document calling f with minimal plausible
// arguments (given ones first) and selecting only __typename, so that
// what is judged is the call, not a field below it.
func pwOperation(s *auSchema, op string, f auField, given map[string]any) (string, map[string]any) {
	vars := map[string]any{}
	var decl, args []string
	for i, a := range f.Args {
		v, ok := given[a.Name]
		if !ok {
			v, ok = pwValue(s, a.Type, a.Type.Kind == "NON_NULL", 0)
		}
		if !ok {
			continue
		}
		name := fmt.Sprintf("a%d", i)
		vars[name] = v
		decl = append(decl, "$"+name+": "+a.Type.String())
		args = append(args, a.Name+": $"+name)
	}
	doc := op
	if len(decl) > 0 {
		doc += "(" + strings.Join(decl, ", ") + ")"
	}
	call := f.Name
	if len(args) > 0 {
		call += "(" + strings.Join(args, ", ") + ")"
	}
	if k := f.Type.named().Kind; k != "SCALAR" && k != "ENUM" {
		call += " { __typename }"
	}
	return doc + " { " + call + " }", vars
}

// pwValue is a minimal value of r: required fields only, a made-up id,
// and the last value of an enum (the least privileged of UserRole, so an
// ADMIN creating a user is not refused for granting OWNER).
func pwValue(s *auSchema, r *auTypeRef, required bool, depth int) (any, bool) {
	switch r.Kind {
	case "NON_NULL":
		return pwValue(s, r.OfType, true, depth)
	case "LIST":
		if !required {
			return nil, false
		}
		v, ok := pwValue(s, r.OfType, true, depth)
		if !ok {
			return []any{}, true
		}
		return []any{v}, true
	}
	if !required {
		return nil, false
	}
	switch r.Kind {
	case "SCALAR":
		switch r.Name {
		case "ID":
			return string(pulid.MustNew("XX")), true
		case "Int", "Float":
			return 1, true
		case "Boolean":
			return false, true
		case "Time":
			s.clock++
			return time.Now().UTC().Add(time.Duration(s.clock) * time.Minute).Format(time.RFC3339), true
		case "Map":
			return map[string]any{}, true
		}
		return "x", true
	case "ENUM":
		vs := s.byName[r.Name].EnumValues
		return vs[len(vs)-1].Name, true
	case "INPUT_OBJECT":
		if depth > 3 {
			return nil, false
		}
		obj := map[string]any{}
		for _, f := range s.byName[r.Name].InputFields {
			if v, ok := pwValue(s, f.Type, f.Type.Kind == "NON_NULL", depth+1); ok {
				obj[f.Name] = v
			}
		}
		return obj, true
	}
	return nil, false
}
