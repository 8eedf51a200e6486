package access_test

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/regicam/regicam/access"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/graph/generated"
	"github.com/regicam/regicam/viewer"
)

var update = flag.Bool("update", false, "rewrite the README's Permissions table from access.Table")

// TestEveryOperationHasARule reads the root fields from the executable
// schema, so a mutation added to schema/*.graphql fails here until the
// table says who may call it (until then the gate refuses it).
func TestEveryOperationHasARule(t *testing.T) {
	s := generated.NewExecutableSchema(generated.Config{}).Schema()
	inSchema := map[string]bool{}
	for _, root := range []string{"Query", "Mutation", "Subscription"} {
		def := s.Types[root]
		if def == nil {
			t.Fatalf("schema has no %s type", root)
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			op := root + "." + f.Name
			inSchema[op] = true
			if _, ok := access.Lookup(op); !ok {
				t.Errorf("%s is not in access.Table: say who may call it (it is refused for everyone until then)", op)
			}
		}
	}
	for _, r := range access.Table {
		if !inSchema[r.Op] {
			t.Errorf("access.Table has %s, which the schema does not", r.Op)
		}
		if !r.Public && len(r.Roles) == 0 && len(r.Scopes) == 0 {
			t.Errorf("%s admits nobody; remove it from the schema instead", r.Op)
		}
	}
	for _, g := range access.Guards {
		object, field, _ := strings.Cut(g.Field, ".")
		def := s.Types[object]
		if def == nil || def.Fields.ForName(field) == nil {
			t.Errorf("guard on %s: no such field in the schema", g.Field)
		}
	}
	if len(inSchema) < 60 {
		t.Fatalf("only %d root fields found; is the schema loaded?", len(inSchema))
	}
}

// TestKeyScopesAreTheTablesColumns keeps the README columns and the walk's
// keys in step with the scopes createApiKey accepts.
func TestKeyScopesAreTheTablesColumns(t *testing.T) {
	if !slices.Equal(access.KeyScopes, auth.KeyScopes) {
		t.Errorf("access.KeyScopes %v, auth.KeyScopes %v", access.KeyScopes, auth.KeyScopes)
	}
}

func TestCheck(t *testing.T) {
	session := func(r viewer.Role) viewer.Viewer {
		return viewer.Viewer{AccountID: "AC1", UserID: "US1", Role: r, Scopes: auth.ScopesOf(r)}
	}
	key := func(s ...viewer.Scope) viewer.Viewer {
		return viewer.Viewer{AccountID: "AC1", APIKeyID: "AK1", Scopes: s}
	}
	cases := []struct {
		name string
		v    viewer.Viewer
		ok   bool
		op   string
		want string // error code, "" for allowed
	}{
		{"anonymous may sign in", viewer.Viewer{}, false, "Mutation.login", ""},
		{"anonymous may not read the journal", viewer.Viewer{}, false, "Query.journal", apperr.Unauthenticated},
		{"a links:write key may not create alert rules", key(viewer.ScopeLinksWrite), true, "Mutation.createAlertRule", apperr.Forbidden},
		{"a links:write key may not rotate a webhook secret", key(viewer.ScopeLinksWrite), true, "Mutation.rotateAlertWebhookSecret", apperr.Forbidden},
		{"an ADMIN may create alert rules", session(viewer.RoleAdmin), true, "Mutation.createAlertRule", ""},
		{"STAFF may not read alert rules", session(viewer.RoleStaff), true, "Query.alertRules", apperr.Forbidden},
		{"STAFF may not create shops", session(viewer.RoleStaff), true, "Mutation.createShop", apperr.Forbidden},
		{"an OWNER may create cameras", session(viewer.RoleOwner), true, "Mutation.createCamera", ""},
		{"a links:write key may not create cameras", key(viewer.ScopeLinksWrite), true, "Mutation.createCamera", apperr.Forbidden},
		{"a links:write key may create a partner connection", key(viewer.ScopeLinksWrite), true, "Mutation.createPosConnection", ""},
		{"a links:write key may add a register", key(viewer.ScopeLinksWrite), true, "Mutation.createTerminal", ""},
		{"a journal:read key may not add a register", key(viewer.ScopeJournalRead), true, "Mutation.createTerminal", apperr.Forbidden},
		{"a key with every scope still may not manage users", key(access.KeyScopes...), true, "Mutation.createUser", apperr.Forbidden},
		{"a journal:read key may not acknowledge alerts", key(viewer.ScopeJournalRead), true, "Mutation.acknowledgeAlert", apperr.Forbidden},
		{"an ADMIN may connect a camera cloud", session(viewer.RoleAdmin), true, "Mutation.connectCameraCloud", ""},
		{"STAFF may not list camera-cloud connections", session(viewer.RoleStaff), true, "Query.cameraCloudConnections", apperr.Forbidden},
		{"STAFF may not sync a camera cloud", session(viewer.RoleStaff), true, "Mutation.syncCameraCloud", apperr.Forbidden},
		{"a links:write key may not connect a camera cloud", key(viewer.ScopeLinksWrite), true, "Mutation.connectCameraCloud", apperr.Forbidden},
		{"a key with every scope may not list camera-cloud connections", key(access.KeyScopes...), true, "Query.cameraCloudConnections", apperr.Forbidden},
		{"an operation missing from the table is refused to an OWNER", session(viewer.RoleOwner), true, "Mutation.dropEverything", apperr.Forbidden},
		{"an operation missing from the table is refused to anyone", viewer.Viewer{}, false, "Mutation.dropEverything", apperr.Forbidden},
	}
	for _, c := range cases {
		err := access.Check(c.v, c.ok, c.op)
		got := ""
		if err != nil {
			e, ok := apperr.As(err)
			if !ok {
				t.Errorf("%s: %v is not an apperr", c.name, err)
				continue
			}
			got = e.Code
		}
		if got != c.want {
			t.Errorf("%s: got %q (%v), want %q", c.name, got, err, c.want)
		}
	}
}

const (
	readmeBegin = "<!-- permissions table: generated from access.Table by `go test ./access -run TestPermissionTableREADME -update` -->\n"
	readmeEnd   = "<!-- end of permissions table -->"
)

// TestPermissionTableREADME keeps the README's Permissions table equal to
// access.Table; -update rewrites the section between the markers.
func TestPermissionTableREADME(t *testing.T) {
	const path = "../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start := strings.Index(readme, readmeBegin)
	end := strings.Index(readme, readmeEnd)
	if start < 0 || end < start {
		t.Fatalf("README has no permissions table between %q and %q", readmeBegin, readmeEnd)
	}
	start += len(readmeBegin)
	want := access.Markdown()
	if readme[start:end] == want {
		return
	}
	if !*update {
		t.Fatalf("README's permissions table differs from access.Table; run go test ./access -run TestPermissionTableREADME -update\nwant:\n%s", want)
	}
	if err := os.WriteFile(path, []byte(readme[:start]+want+readme[end:]), 0o644); err != nil {
		t.Fatal(err)
	}
}
