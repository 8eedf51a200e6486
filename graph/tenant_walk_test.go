package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// auDocumented lists fields that take ids but do not answer NOT_FOUND for
// another account's id, and why that is still safe.
var auDocumented = map[string]string{
	"Query.nodes": "answers null for each id the viewer cannot see, like a missing id",
}

// TestTenantWalk enumerates every query, mutation and subscription field by
// introspection (so fields added later are walked too) and calls each as
// the OWNER of account A with account B's ids in every id argument. Fields
// with id arguments must answer NOT_FOUND; no answer may contain any of B's
// ids or names; and B's rows must be unchanged afterwards.
func TestTenantWalk(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		// Providers refuse at once: the walk sends made-up credentials.
		refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		}))
		t.Cleanup(refuse.Close)
		// The walk selects every field of every type three levels deep
		// (node(id) over all types is 33 KB), far beyond what a client
		// sends: in-process there are no operation limits to lift. Ubiregi
		// is not configured, as on a server without its client id.
		srv := startSchema(t, b, schemaOptions{ProviderURL: refuse.URL})
		testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		other, owner := srv.NewAccount(t, "B社ひみつ商会")
		bfx := testenv.NewFixture(t, srv.DB.Client, other)
		reps, bIDs := auSeedForeign(t, srv, owner, other, bfx)
		before := auSnapshot(t, srv.DB.Client, other)

		schema := auIntrospect(t, srv)
		// The id a call sent may come back in its error; any other of B's
		// ids, or B's names, may not.
		leaks := func(data json.RawMessage, sent pulid.ID) string {
			s := string(data)
			for _, id := range bIDs {
				if id != sent && strings.Contains(s, string(id)) {
					return string(id)
				}
			}
			if strings.Contains(s, "ひみつ") {
				return "B's name"
			}
			return ""
		}
		walked := 0
		for _, op := range []string{"query", "mutation", "subscription"} {
			root := schema.root(op)
			if root == nil {
				continue
			}
			for _, f := range root.Fields {
				name := root.Name + "." + f.Name
				idArgs := f.directIDArgs()
				foreign := []pulid.ID{""}
				if len(idArgs) > 0 || f.takesIDInput(schema) {
					foreign = reps
				}
				for _, id := range foreign {
					doc, vars := schema.operation(op, f, string(id))
					// Mutations without ids act on the caller: give each a
					// throwaway OWNER of A (logout, changePassword…).
					client := srv
					if op == "mutation" && id == "" {
						_, client = srv.NewUser(t, srv.AccountID, viewer.RoleOwner)
					}
					data, errs := auCall(t, client, op, doc, vars)
					walked++
					if l := leaks(data, id); l != "" {
						t.Errorf("%s with %s: answer holds %s: %s", name, id, l, data)
					}
					for _, e := range errs {
						if strings.Contains(e.Message, "ひみつ") || slices.ContainsFunc(bIDs, func(b pulid.ID) bool { return b != id && strings.Contains(e.Message, string(b)) }) {
							t.Errorf("%s with %s: error message leaks: %s", name, id, e.Message)
						}
					}
					if len(idArgs) == 0 || auDocumented[name] != "" {
						continue
					}
					if !slices.ContainsFunc(errs, func(e testenv.GQLError) bool { return e.Code() == "NOT_FOUND" }) {
						t.Errorf("%s(%s) with B's %s: want NOT_FOUND, got data %s errors %+v", name, strings.Join(idArgs, ", "), id.Prefix(), data, errs)
					}
				}
			}
		}
		if walked < 50 {
			t.Fatalf("walked only %d calls; introspection found too little", walked)
		}
		t.Logf("%d calls walked", walked)
		if after := auSnapshot(t, srv.DB.Client, other); after != before {
			t.Errorf("B's rows changed during the walk:\nbefore %s\nafter  %s", before, after)
		}
		// B's owner still sees its own data: the ids were valid, just not A's.
		var out struct{ Node *struct{ ID string } }
		owner.MustQuery(t, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": bfx.CameraIDs[0]}, &out)
		if out.Node == nil {
			t.Fatal("B's owner cannot see its own camera")
		}
	})
}

// auSeedForeign gives account B one row of every kind it can have through
// the API and returns their ids.
func auSeedForeign(t *testing.T, srv *gqlEnv, owner *gqlEnv, acct pulid.ID, fx testenv.Fixture) (reps, all []pulid.ID) {
	t.Helper()
	ctx := viewer.System(context.Background())
	c := srv.DB.Client
	res := tjMustIngest(t, owner, tjReceipt(fx.TerminalIDs[0], "B-1", "PAYMENT", time.Now().Add(-time.Hour), nil))
	var entryID pulid.ID
	if res[0].Entry != nil {
		entryID = pulid.ID(res[0].Entry.ID)
	}
	group, err := c.ShopGroup.Create().SetAccountID(acct).SetName("ひみつグループ").AddShopIDs(fx.ShopID).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	staff, _ := srv.NewUser(t, acct, viewer.RoleStaff, fx.ShopID)
	_, _ = srv.NewAPIKey(t, acct, viewer.ScopeJournalRead)
	key, err := c.ApiKey.Query().Where().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := []pulid.ID{acct, fx.ShopID, group.ID, staff.ID, entryID}
	ids = append(ids, fx.CameraIDs...)
	ids = append(ids, fx.TerminalIDs...)
	for _, k := range key {
		if k.AccountID == acct {
			ids = append(ids, k.ID)
		}
	}
	links, err := c.Link.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.AccountID == acct {
			ids = append(ids, l.ID)
		}
	}
	conns, err := c.PosConnection.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, pc := range conns {
		if pc.AccountID == acct {
			ids = append(ids, pc.ID)
		}
	}
	// A camera-cloud connection of B and its CLOUD camera, as a sync
	// leaves them (the walk's cloud refuses every key, so not through
	// connectCameraCloud).
	cc, err := c.CameraCloudConnection.Create().SetAccountID(acct).SetName("ひみつSafie").
		SetAuthKind(cameracloudconnection.AuthKindAPI_KEY).SetSecretHint("••••ひみつ").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cloudCam, err := c.Camera.Create().SetAccountID(acct).SetName("ひみつクラウドカメラ (CC-2L_SF : 201000999)").
		SetModel("CC-2L_SF").SetDeviceID("201000999").SetPosOption(true).SetSourceKind(camera.SourceKindCLOUD).
		SetCloudConnectionID(cc.ID).SetStreaming(true).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, cc.ID, cloudCam.ID)
	// An audit row of B: its owner creates and revokes a key.
	var ck struct {
		CreateApiKey struct{ ApiKey struct{ ID string } }
	}
	owner.MustQuery(t, `mutation { createApiKey(name: "ひみつ", scopes: ["journal:read"]) { apiKey { id } } }`, nil, &ck)
	logs, err := c.AuditLog.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		if l.AccountID == acct {
			ids = append(ids, l.ID)
			break
		}
	}
	// Investigations: B's case with a receipt and a note, its mail settings
	// and digest rule, and its card matches.
	ids = append(ids, seedForeignCases(t, owner, acct, fx)...)
	ids = append(ids, seedForeignDigest(t, owner, acct)...)
	ids = append(ids, seedForeignCardMatch(t, srv, acct)...)
	ids = append(ids, seedForeignShareLinks(t, owner, acct, fx)...)
	// One id of each kind is enough to call with; all count as leaks.
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if !seen[id.Prefix()] {
			seen[id.Prefix()] = true
			reps = append(reps, id)
		}
		all = append(all, id)
	}
	return reps, all
}

// auSnapshot renders what A could have changed of B's rows.
func auSnapshot(t *testing.T, c *ent.Client, acct pulid.ID) string {
	t.Helper()
	ctx := viewer.System(context.Background())
	var b strings.Builder
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	users, err := c.User.Query().All(ctx)
	must(err)
	for _, u := range users {
		if u.AccountID == acct {
			fmt.Fprintf(&b, "user %s %s %s %v %v %d|", u.ID, u.Email, u.Role, u.LockedUntil, u.IPAllowlist, u.FailedLogins)
		}
	}
	keys, err := c.ApiKey.Query().All(ctx)
	must(err)
	for _, k := range keys {
		if k.AccountID == acct {
			fmt.Fprintf(&b, "key %s %v|", k.ID, k.RevokedAt != nil)
		}
	}
	links, err := c.Link.Query().All(ctx)
	must(err)
	for _, l := range links {
		if l.AccountID == acct {
			fmt.Fprintf(&b, "link %s %s %s %v|", l.ID, l.TerminalID, l.CameraID, l.EndedAt != nil)
		}
	}
	cams, err := c.Camera.Query().All(ctx)
	must(err)
	for _, x := range cams {
		if x.AccountID == acct {
			fmt.Fprintf(&b, "camera %s %s %v %v %v|", x.ID, x.Name, x.PosOption, x.RetiredAt != nil, x.CloudConnectionID != nil)
		}
	}
	terms, err := c.Terminal.Query().All(ctx)
	must(err)
	for _, x := range terms {
		if x.AccountID == acct {
			fmt.Fprintf(&b, "terminal %s %s %s|", x.ID, x.Name, x.ShopID)
		}
	}
	conns, err := c.PosConnection.Query().All(ctx)
	must(err)
	for _, x := range conns {
		if x.AccountID == acct {
			fmt.Fprintf(&b, "conn %s %s %s %d|", x.ID, x.Status, x.Memo, len(x.WebhookSecret))
		}
	}
	ccs, err := c.CameraCloudConnection.Query().All(ctx)
	must(err)
	for _, x := range ccs {
		if x.AccountID == acct {
			item := -1
			if x.OptionItemID != nil {
				item = *x.OptionItemID
			}
			fmt.Fprintf(&b, "cameracloud %s %s %s %s %d %d %d|", x.ID, x.Name, x.Status, x.SecretHint, item, x.RetentionDays, len(x.Secrets))
		}
	}
	n, err := c.JournalEntry.Query().Count(ctx)
	must(err)
	shops, err := c.Shop.Query().All(ctx)
	must(err)
	for _, x := range shops {
		if x.AccountID == acct {
			fmt.Fprintf(&b, "shop %s %s|", x.ID, x.Name)
		}
	}
	fmt.Fprintf(&b, "entries %d", n)
	return b.String()
}

func auCall(t *testing.T, srv *gqlEnv, op, doc string, vars map[string]any) (json.RawMessage, []testenv.GQLError) {
	t.Helper()
	if op != "subscription" {
		r := srv.Query(t, doc, vars)
		return r.Data, r.Errors
	}
	return srv.SubscribeFor(t, 500*time.Millisecond, doc, vars)
}

// Introspection.

type auTypeRef struct {
	Kind   string     `json:"kind"`
	Name   string     `json:"name"`
	OfType *auTypeRef `json:"ofType"`
}

func (r *auTypeRef) String() string {
	switch r.Kind {
	case "NON_NULL":
		return r.OfType.String() + "!"
	case "LIST":
		return "[" + r.OfType.String() + "]"
	}
	return r.Name
}

func (r *auTypeRef) named() *auTypeRef {
	for r.OfType != nil {
		r = r.OfType
	}
	return r
}

func (r *auTypeRef) isID() bool { n := r.named(); return n.Kind == "SCALAR" && n.Name == "ID" }

type auInput struct {
	Name string     `json:"name"`
	Type *auTypeRef `json:"type"`
}

type auField struct {
	Name string     `json:"name"`
	Args []auInput  `json:"args"`
	Type *auTypeRef `json:"type"`
}

type auType struct {
	Kind          string    `json:"kind"`
	Name          string    `json:"name"`
	Fields        []auField `json:"fields"`
	InputFields   []auInput `json:"inputFields"`
	EnumValues    []struct{ Name string }
	PossibleTypes []struct{ Name string }
}

type auSchema struct {
	QueryType, MutationType, SubscriptionType *struct{ Name string }
	Types                                     []auType
	byName                                    map[string]*auType
	clock                                     int
}

func (s *auSchema) root(op string) *auType {
	var r *struct{ Name string }
	switch op {
	case "query":
		r = s.QueryType
	case "mutation":
		r = s.MutationType
	default:
		r = s.SubscriptionType
	}
	if r == nil {
		return nil
	}
	return s.byName[r.Name]
}

const auIntrospection = `query {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types {
      kind name
      fields { name args { name type { ...T } } type { ...T } }
      inputFields { name type { ...T } }
      enumValues { name }
      possibleTypes { name }
    }
  }
}
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }`

func auIntrospect(t *testing.T, srv gqlClient) *auSchema {
	t.Helper()
	var out struct {
		Schema auSchema `json:"__schema"`
	}
	srv.MustQuery(t, auIntrospection, nil, &out)
	s := &out.Schema
	s.byName = map[string]*auType{}
	for i := range s.Types {
		s.byName[s.Types[i].Name] = &s.Types[i]
	}
	return s
}

func (f auField) directIDArgs() []string {
	var out []string
	for _, a := range f.Args {
		if a.Type.isID() {
			out = append(out, a.Name)
		}
	}
	return out
}

// takesIDInput reports an input object argument that holds an id field.
func (f auField) takesIDInput(s *auSchema) bool {
	for _, a := range f.Args {
		if n := a.Type.named(); n.Kind == "INPUT_OBJECT" && s.inputHasID(n.Name, 0) {
			return true
		}
	}
	return false
}

func (s *auSchema) inputHasID(name string, depth int) bool {
	t := s.byName[name]
	if t == nil || depth > 2 {
		return false
	}
	for _, f := range t.InputFields {
		if !auFillable(f.Name) {
			continue
		}
		if f.Type.isID() {
			return true
		}
		if n := f.Type.named(); n.Kind == "INPUT_OBJECT" && s.inputHasID(n.Name, depth+1) {
			return true
		}
	}
	return false
}

// auFillable leaves out the negations, ranges and nesting of where inputs:
// "id not equal to B's" would list A's own rows, which proves nothing.
func auFillable(name string) bool {
	if name == "not" || name == "and" || name == "or" || strings.HasPrefix(name, "has") {
		return false
	}
	for _, suf := range []string{"NEQ", "NotIn", "GT", "GTE", "LT", "LTE", "IsNil", "NotNil", "Contains", "ContainsFold", "HasPrefix", "HasSuffix", "EqualFold"} {
		if strings.HasSuffix(name, suf) {
			return false
		}
	}
	return true
}

// value makes a minimal valid value of r; ids become id. ok is false when
// an optional value is better left out.
func (s *auSchema) value(r *auTypeRef, id string, required bool, depth int) (any, bool) {
	switch r.Kind {
	case "NON_NULL":
		return s.value(r.OfType, id, true, depth)
	case "LIST":
		v, ok := s.value(r.OfType, id, required, depth)
		if !ok {
			if required {
				return []any{}, true
			}
			return nil, false
		}
		return []any{v}, true
	case "SCALAR":
		if r.Name == "ID" {
			if id == "" && !required {
				return nil, false
			}
			if id == "" {
				return string(pulid.MustNew("XX")), true
			}
			return id, true
		}
		if !required {
			return nil, false
		}
		switch r.Name {
		case "Int", "Float":
			return 1, true
		case "Boolean":
			return false, true
		case "Time":
			// Increasing, so that from < to.
			s.clock++
			return time.Now().UTC().Add(time.Duration(s.clock) * time.Minute).Format(time.RFC3339), true
		case "Map":
			return map[string]any{}, true
		}
		return "x", true
	case "ENUM":
		if !required {
			return nil, false
		}
		return s.byName[r.Name].EnumValues[0].Name, true
	case "INPUT_OBJECT":
		t := s.byName[r.Name]
		if depth > 2 || !required && (id == "" || !s.inputHasID(r.Name, depth)) {
			return nil, false
		}
		obj := map[string]any{}
		for _, f := range t.InputFields {
			req := f.Type.Kind == "NON_NULL"
			if !req && !auFillable(f.Name) {
				continue
			}
			if v, ok := s.value(f.Type, id, req, depth+1); ok {
				obj[f.Name] = v
			}
		}
		return obj, true
	}
	return nil, false
}

// selection picks the scalar fields of r (and of objects below it, a few
// levels deep) so an answer would show any foreign row.
func (s *auSchema) selection(r *auTypeRef, depth int) string { return s.aliased(r, depth, "") }

// aliased is selection with the fields of one concrete type behind an
// interface renamed (prefix_field), since two types may share a field name
// with different types.
func (s *auSchema) aliased(r *auTypeRef, depth int, prefix string) string {
	n := r.named()
	t := s.byName[n.Name]
	switch n.Kind {
	case "SCALAR", "ENUM":
		return ""
	case "INTERFACE", "UNION":
		var parts []string
		for _, p := range t.PossibleTypes {
			if sel := s.aliased(&auTypeRef{Kind: "OBJECT", Name: p.Name}, depth, p.Name+"_"); sel != "" {
				parts = append(parts, "... on "+p.Name+" "+sel)
			}
		}
		sort.Strings(parts)
		return "{ __typename " + strings.Join(parts, " ") + " }"
	}
	var parts []string
	for _, f := range t.Fields {
		required := slices.ContainsFunc(f.Args, func(a auInput) bool { return a.Type.Kind == "NON_NULL" })
		if required {
			continue
		}
		fn := f.Type.named()
		name := f.Name
		if prefix != "" {
			name = prefix + f.Name + ": " + f.Name
		}
		if fn.Kind == "SCALAR" || fn.Kind == "ENUM" {
			parts = append(parts, name)
		} else if depth < 3 {
			if sel := s.selection(f.Type, depth+1); sel != "" {
				parts = append(parts, name+" "+sel)
			}
		}
	}
	return "{ __typename " + strings.Join(parts, " ") + " }"
}

// operation writes a document calling f with every id argument set to id.
func (s *auSchema) operation(op string, f auField, id string) (string, map[string]any) {
	vars := map[string]any{}
	var decl, args []string
	for i, a := range f.Args {
		v, ok := s.value(a.Type, id, a.Type.Kind == "NON_NULL", 0)
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
	return doc + " { " + call + " " + s.selection(f.Type, 0) + " }", vars
}
