package testenv

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Credential is who a test client is: a session cookie, an API key, or
// neither (anonymous).
type Credential struct {
	Cookie string // value of the session cookie
	APIKey string // rk_… sent as Authorization: Bearer
}

// Apply puts c into the headers of a request made by hand.
func (c Credential) Apply(h http.Header) {
	if c.APIKey != "" {
		h.Set("Authorization", "Bearer "+c.APIKey)
	}
	if c.Cookie != "" {
		h.Set("Cookie", (&http.Cookie{Name: auth.CookieName, Value: c.Cookie}).String())
	}
}

// Anonymous sends no credential.
var Anonymous = Credential{}

// Credential is what s's requests carry.
func (s *Server) Credential() Credential { return s.cred }

// As returns a client of the same server that sends c instead.
func (s *Server) As(c Credential) *Server {
	cp := *s
	cp.cred = c
	return &cp
}

// system is a context trusted with every row (test set-up).
func system() context.Context { return viewer.System(context.Background()) }

// Identities makes the users, tenants and API keys tests act as, for any
// kind of client C: the started server (Server's methods below) and the
// in-process schema of graph's tests both use it, so a caller is made the
// same way whichever way its requests travel.
type Identities[C any] struct {
	Client *ent.Client
	Auth   *auth.Service
	// As turns a credential into a client whose caller it names.
	As func(Credential) C
	// IP and Agent are what new sessions record as their client address
	// and user agent; Agent also names new API keys.
	IP, Agent string
}

// NewUser adds a user with role to account (shops: STAFF assignments) and
// returns a client signed in as that user with a new session. The user has
// no password; use CreateUser for password logins.
func (id Identities[C]) NewUser(t testing.TB, account pulid.ID, role viewer.Role, shops ...pulid.ID) (*ent.User, C) {
	t.Helper()
	u, err := id.Client.User.Create().SetAccountID(account).
		SetEmail(strings.ToLower(string(pulid.MustNew("us"))) + "@test.local").
		SetName(string(role)).SetRole(user.Role(role)).AddShopIDs(shops...).Save(system())
	if err != nil {
		t.Fatalf("create %s user: %v", role, err)
	}
	token, err := id.Auth.NewSession(system(), u, id.IP, id.Agent)
	if err != nil {
		t.Fatalf("session for %s: %v", u.Email, err)
	}
	return u, id.As(Credential{Cookie: Secret(token)})
}

// CreateUser adds a user that signs in with email and password.
func (id Identities[C]) CreateUser(t testing.TB, account pulid.ID, email, password string, role viewer.Role, shops ...pulid.ID) *ent.User {
	t.Helper()
	Secret(password)
	u, err := id.Auth.CreateUser(system(), auth.NewUser{AccountID: account, Email: email, Password: password,
		Role: role, ShopIDs: shops})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// NewAccount creates another tenant and returns its id and a client signed
// in as its OWNER.
func (id Identities[C]) NewAccount(t testing.TB, name string) (pulid.ID, C) {
	t.Helper()
	acc, err := id.Client.Account.Create().SetName(name).Save(system())
	if err != nil {
		t.Fatalf("create account: %v", err)
	}
	_, owner := id.NewUser(t, acc.ID, viewer.RoleOwner)
	return acc.ID, owner
}

// NewAPIKey creates a key of account with scopes and returns it and a
// client that sends it.
func (id Identities[C]) NewAPIKey(t testing.TB, account pulid.ID, scopes ...viewer.Scope) (string, C) {
	t.Helper()
	ctx := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: account,
		Scopes: auth.ScopesOf(viewer.RoleOwner), Role: viewer.RoleOwner})
	_, key, err := id.Auth.CreateAPIKey(ctx, id.Agent, scopes, nil)
	if err != nil {
		t.Fatalf("create API key: %v", err)
	}
	return Secret(key), id.As(Credential{APIKey: key})
}

// identities are s's: sessions with no address, agent "testenv".
func (s *Server) identities() Identities[*Server] {
	return Identities[*Server]{Client: s.DB.Client, Auth: s.Auth, As: s.As, Agent: "testenv"}
}

// NewUser adds a user with role to account (shops: STAFF assignments) and
// returns a client signed in as that user. The user has no password; use
// CreateUser for password logins.
func (s *Server) NewUser(t testing.TB, account pulid.ID, role viewer.Role, shops ...pulid.ID) (*ent.User, *Server) {
	t.Helper()
	return s.identities().NewUser(t, account, role, shops...)
}

// CreateUser adds a user that signs in with email and password.
func (s *Server) CreateUser(t testing.TB, account pulid.ID, email, password string, role viewer.Role, shops ...pulid.ID) *ent.User {
	t.Helper()
	return s.identities().CreateUser(t, account, email, password, role, shops...)
}

// NewAccount creates another tenant and returns its id and a client signed
// in as its OWNER.
func (s *Server) NewAccount(t testing.TB, name string) (pulid.ID, *Server) {
	t.Helper()
	return s.identities().NewAccount(t, name)
}

// NewAPIKey creates a key of account with scopes and returns it and a
// client that sends it.
func (s *Server) NewAPIKey(t testing.TB, account pulid.ID, scopes ...viewer.Scope) (string, *Server) {
	t.Helper()
	return s.identities().NewAPIKey(t, account, scopes...)
}

// LoginAs signs in through the login mutation and returns a client with
// the session cookie it set.
func (s *Server) LoginAs(t testing.TB, email, password string) *Server {
	t.Helper()
	Secret(password)
	r, resp := s.As(Anonymous).QueryHTTP(t, `mutation($e:String!,$p:String!){login(email:$e,password:$p){user{id}}}`,
		map[string]any{"e": email, "p": password})
	if len(r.Errors) > 0 {
		t.Fatalf("login %s: %+v", email, r.Errors)
	}
	for _, c := range resp.Cookies() {
		if c.Name == auth.CookieName && c.Value != "" {
			return s.As(Credential{Cookie: Secret(c.Value)})
		}
	}
	t.Fatalf("login %s set no session cookie", email)
	return nil
}
