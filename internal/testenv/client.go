package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/regicam/regicam/auth"
)

// GQLError is one GraphQL error as a client sees it.
type GQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is extensions.code.
func (e GQLError) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Field is extensions.field.
func (e GQLError) Field() string { s, _ := e.Extensions["field"].(string); return s }

// Response is a GraphQL response with data left raw.
type Response struct {
	Data   json.RawMessage `json:"data"`
	Errors []GQLError      `json:"errors"`
}

// Query posts a GraphQL operation as JSON, with the server's credential,
// and decodes the response.
func (s *Server) Query(t testing.TB, query string, vars map[string]any) Response {
	t.Helper()
	r, _ := s.QueryHTTP(t, query, vars)
	return r
}

// QueryHTTP is Query that also returns the HTTP response (its body already
// read), for status codes, Set-Cookie and Retry-After.
func (s *Server) QueryHTTP(t testing.TB, query string, vars map[string]any) (Response, *http.Response) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("graphql request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	s.cred.Apply(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post graphql: %v", err)
	}
	defer resp.Body.Close()
	var r Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode graphql response (status %d): %v", resp.StatusCode, err)
	}
	return r, resp
}

// Get fetches path (e.g. a thumbnail URL) with the server's credential.
func (s *Server) Get(t testing.TB, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatalf("request %s: %v", path, err)
	}
	s.cred.Apply(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	return resp
}

// Querier is a client that runs GraphQL operations: a Server, or graph's
// in-process schema.
type Querier interface {
	Query(t testing.TB, query string, vars map[string]any) Response
}

// MustQuery is Query that fails the test on any GraphQL error and decodes
// data into out.
func (s *Server) MustQuery(t testing.TB, query string, vars map[string]any, out any) {
	t.Helper()
	MustQuery(t, s, query, vars, out)
}

// MustQuery runs query through q, fails the test on any GraphQL error and
// decodes data into out (nil: data is not read).
func MustQuery(t testing.TB, q Querier, query string, vars map[string]any, out any) {
	t.Helper()
	r := q.Query(t, query, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("graphql errors: %+v", r.Errors)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("decode data: %v", err)
		}
	}
}

// Subscription is one graphql-transport-ws subscription.
type Subscription struct {
	conn *websocket.Conn
	// Next returns the next payload (data of a "next" message), or an
	// error for an "error"/"complete" message or a closed connection.
}

// Subscribe opens a websocket, completes the graphql-transport-ws
// handshake and starts one subscription.
func (s *Server) Subscribe(ctx context.Context, query string, vars map[string]any) (*Subscription, error) {
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	header := http.Header{}
	payload := map[string]any{}
	if s.cred.Cookie != "" {
		header.Set("Cookie", (&http.Cookie{Name: auth.CookieName, Value: s.cred.Cookie}).String())
	}
	if s.cred.APIKey != "" {
		payload["Authorization"] = "Bearer " + s.cred.APIKey
	}
	conn, _, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/graphql", header)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	sub := &Subscription{conn: conn}
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": payload}); err != nil {
		conn.Close()
		return nil, err
	}
	var ack struct{ Type string }
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		conn.Close()
		return nil, fmt.Errorf("handshake: %v %q", err, ack.Type)
	}
	_ = conn.SetReadDeadline(time.Time{})
	if err := conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": query, "variables": vars}}); err != nil {
		conn.Close()
		return nil, err
	}
	return sub, nil
}

// Next waits up to timeout for the next message and returns its payload.
func (s *Subscription) Next(timeout time.Duration) (json.RawMessage, []GQLError, error) {
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
		var msg struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := s.conn.ReadJSON(&msg); err != nil {
			return nil, nil, err
		}
		switch msg.Type {
		case "next":
			var r Response
			if err := json.Unmarshal(msg.Payload, &r); err != nil {
				return nil, nil, err
			}
			return r.Data, r.Errors, nil
		case "error":
			var errs []GQLError
			_ = json.Unmarshal(msg.Payload, &errs)
			return nil, errs, nil
		case "complete":
			return nil, nil, fmt.Errorf("subscription completed")
		case "ping":
			_ = s.conn.WriteJSON(map[string]any{"type": "pong"})
		}
	}
}

// Close drops the connection without a goodbye, like a network failure.
func (s *Subscription) Close() { _ = s.conn.Close() }
