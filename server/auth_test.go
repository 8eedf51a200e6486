package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// auInit dials /graphql with header, sends connection_init with payload and
// returns the first message type, or the close code the server ended with.
func auInit(t *testing.T, srv *testenv.Server, header http.Header, payload map[string]any) (string, int) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", header)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		return "handshake", code
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": payload}); err != nil {
		t.Fatal(err)
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var msg struct{ Type string }
		if err := conn.ReadJSON(&msg); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return "close", ce.Code
			}
			t.Fatalf("read: %v", err)
		}
		if msg.Type != "ping" {
			return msg.Type, 0
		}
	}
}

// TestWebsocketAuthentication: connection_init without valid credentials
// closes 4401, a credential without journal:read 4403; the session cookie
// of the handshake or a key in the payload is accepted; a handshake from
// an origin not on the allowlist is refused with 403.
func TestWebsocketAuthentication(t *testing.T) {
	srv := testenv.Start(t, testenv.Postgres(t), "")
	key, _ := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
	linksOnly, _ := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeLinksWrite)
	cookie := http.Header{}
	srv.Credential().Apply(cookie)
	bearer := func(k string) map[string]any { return map[string]any{"Authorization": "Bearer " + k} }

	for _, tc := range []struct {
		name     string
		header   http.Header
		payload  map[string]any
		wantType string
		wantCode int
	}{
		{"no credential", nil, map[string]any{}, "close", 4401},
		{"made-up key", nil, bearer("rk_abcdefgh_" + strings.Repeat("x", 43)), "close", 4401},
		{"not a bearer key", nil, map[string]any{"Authorization": "Basic dXNlcjpwYXNz"}, "close", 4401},
		{"stale cookie", http.Header{"Cookie": {"regicam_session=nope"}}, map[string]any{}, "close", 4401},
		{"links:write only", nil, bearer(linksOnly), "close", 4403},
		{"key in payload", nil, bearer(key), "connection_ack", 0},
		{"cookie with the handshake", cookie, map[string]any{}, "connection_ack", 0},
		{"allowed origin", http.Header{"Origin": {"http://allowed.example"}, "Cookie": cookie["Cookie"]}, map[string]any{}, "connection_ack", 0},
		{"foreign origin", http.Header{"Origin": {"https://evil.example"}, "Cookie": cookie["Cookie"]}, map[string]any{}, "handshake", http.StatusForbidden},
	} {
		typ, code := auInit(t, srv, tc.header, tc.payload)
		if typ != tc.wantType || code != tc.wantCode {
			t.Errorf("%s: got %s %d, want %s %d", tc.name, typ, code, tc.wantType, tc.wantCode)
		}
	}
}

// TestRevocationEndsOpenSubscriptions opens real subscriptions and ends
// their credential: a revoked key, a logout, a deleted user.
// Each socket must close within the watcher's bound (2 s by default) plus
// slack, also when the revocation happens on another replica.
func TestRevocationEndsOpenSubscriptions(t *testing.T) {
	b := testenv.Postgres(t)
	srv := testenv.Start(t, b, "")
	replica := testenv.Start(t, b, "") // same database, its own watcher
	const bound = 10 * time.Second
	q := `subscription { journal { type entry { id } } }`
	open := func(c *testenv.Server) *testenv.Subscription {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sub, err := c.Subscribe(ctx, q, nil)
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		t.Cleanup(sub.Close)
		return sub
	}
	ended := func(name string, sub *testenv.Subscription) {
		t.Helper()
		deadline := time.Now().Add(bound)
		for time.Now().Before(deadline) {
			if _, _, err := sub.Next(time.Until(deadline)); err != nil {
				if strings.Contains(err.Error(), "timeout") {
					break
				}
				return // closed (or completed) by the server
			}
		}
		t.Errorf("%s: subscription still open after %v", name, bound)
	}

	// A key revoked through the API of the other replica.
	key, _ := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
	keySub := open(replica.As(testenv.Credential{APIKey: key}))
	var keys struct{ ApiKeys []struct{ ID, Prefix string } }
	srv.MustQuery(t, `{ apiKeys { id prefix } }`, nil, &keys)
	for _, k := range keys.ApiKeys {
		if strings.HasPrefix(key, "rk_"+k.Prefix+"_") {
			srv.MustQuery(t, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, map[string]any{"id": k.ID}, nil)
		}
	}
	ended("revoked key", keySub)

	// A logout of the same session from another tab.
	srv.CreateUser(t, srv.AccountID, "ws@example.jp", "Socket2026x", viewer.RoleStaff)
	me := srv.LoginAs(t, "ws@example.jp", "Socket2026x")
	logoutSub := open(me)
	me.MustQuery(t, `mutation { logout }`, nil, nil)
	ended("logout", logoutSub)

	// A user deleted by an OWNER.
	u, gone := srv.NewUser(t, srv.AccountID, viewer.RoleAdmin)
	deleteSub := open(gone)
	srv.MustQuery(t, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": u.ID}, nil)
	ended("deleted user", deleteSub)

	// Subscriptions whose credential stays valid stay open: an untouched
	// one, and one whose user is the target of wrong passwords (failed
	// logins are throttled, they never end sessions: an outsider must not
	// be able to sign anyone out).
	srv.CreateUser(t, srv.AccountID, "target@example.jp", "Target2026x", viewer.RoleStaff)
	targetSub := open(srv.LoginAs(t, "target@example.jp", "Target2026x"))
	for range 8 {
		srv.As(testenv.Anonymous).Query(t, `mutation { login(email: "target@example.jp", password: "Wrong2026x") { expiresAt } }`, nil)
	}
	stay := open(srv)
	for name, sub := range map[string]*testenv.Subscription{"untouched": stay, "target of wrong passwords": targetSub} {
		if _, _, err := sub.Next(3 * time.Second); err == nil || !strings.Contains(err.Error(), "timeout") {
			t.Errorf("%s subscription ended: %v", name, err)
		}
	}
}

// TestThumbnailRouteAuth: /thumbnails/{id} is 401 without a credential, 403
// without journal:read, and 404 for an id the viewer cannot see.
func TestThumbnailRouteAuth(t *testing.T) {
	srv := testenv.Start(t, testenv.Backend{Name: "sqlite"}, "")
	_, links := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeLinksWrite)
	_, reader := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
	path := "/thumbnails/TH01M8000000000000000000000"
	for _, tc := range []struct {
		name string
		c    *testenv.Server
		want int
	}{
		{"anonymous", srv.As(testenv.Anonymous), http.StatusUnauthorized},
		{"links:write key", links, http.StatusForbidden},
		{"journal:read key", reader, http.StatusNotFound},
		{"owner session", srv, http.StatusNotFound},
		{"revoked-looking key", srv.As(testenv.Credential{APIKey: "rk_zzzzzzzz_" + strings.Repeat("x", 43)}), http.StatusUnauthorized},
	} {
		resp := tc.c.Get(t, path)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

// TestWebsocketRateLimit: each connection_init of a key costs a request;
// over the limit the socket closes with 4429.
func TestWebsocketRateLimit(t *testing.T) {
	srv := testenv.StartWith(t, testenv.Backend{Name: "sqlite"}, "", func(cfg *app.Config, _ string) {
		cfg.APIKeyRate, cfg.APIKeyBurst = 0.001, 1
	})
	key, _ := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
	payload := map[string]any{"Authorization": "Bearer " + key}
	if typ, code := auInit(t, srv, nil, payload); typ != "connection_ack" {
		t.Fatalf("first connection: %s %d", typ, code)
	}
	if typ, code := auInit(t, srv, nil, payload); typ != "close" || code != 4429 {
		t.Fatalf("over the limit: %s %d, want close 4429", typ, code)
	}
}

// TestWebsocketOperationRateLimit: every subscribe over a key's socket
// costs a request; over the limit that operation gets an error carrying
// RATE_LIMITED and the connection stays open.
func TestWebsocketOperationRateLimit(t *testing.T) {
	srv := testenv.StartWith(t, testenv.Backend{Name: "sqlite"}, "", func(cfg *app.Config, _ string) {
		cfg.APIKeyRate, cfg.APIKeyBurst = 0.001, 2 // connection_init + one operation
	})
	key, _ := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	type wsMsg struct {
		ID      string
		Type    string
		Payload json.RawMessage
	}
	next := func() wsMsg {
		t.Helper()
		for {
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			var m wsMsg
			if err := conn.ReadJSON(&m); err != nil {
				t.Fatalf("read: %v", err)
			}
			if m.Type != "ping" {
				return m
			}
		}
	}
	write := func(v any) {
		t.Helper()
		if err := conn.WriteJSON(v); err != nil {
			t.Fatal(err)
		}
	}
	write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + key}})
	if m := next(); m.Type != "connection_ack" {
		t.Fatalf("handshake: %+v", m)
	}
	op := func(id string) {
		write(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": "{ __typename }"}})
	}
	op("1")
	if m := next(); m.Type != "next" || m.ID != "1" {
		t.Fatalf("first operation: %+v %s", m, m.Payload)
	}
	if m := next(); m.Type != "complete" || m.ID != "1" {
		t.Fatalf("first operation: %+v", m)
	}
	op("2")
	m := next()
	if m.Type != "error" || m.ID != "2" || !strings.Contains(string(m.Payload), "RATE_LIMITED") {
		t.Fatalf("operation over the limit: %+v %s, want error RATE_LIMITED", m, m.Payload)
	}
	write(map[string]any{"type": "ping"})
	if m := next(); m.Type != "pong" {
		t.Fatalf("connection after a refused operation: %+v", m)
	}
}
