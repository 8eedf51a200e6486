package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/regicam/regicam/internal/testenv"
)

// levelCounter remembers the messages logged at ERROR or above.
type levelCounter struct {
	mu     *sync.Mutex
	errors *[]string
}

func newLevelCounter() levelCounter { return levelCounter{mu: &sync.Mutex{}, errors: new([]string)} }

func (c levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c levelCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		c.mu.Lock()
		*c.errors = append(*c.errors, r.Message)
		c.mu.Unlock()
	}
	return nil
}
func (c levelCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c levelCounter) WithGroup(string) slog.Handler      { return c }
func (c levelCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := *c.errors
	*c.errors = nil
	return out
}

// rawAnswer is an HTTP answer of /graphql with its body decoded loosely.
type rawAnswer struct {
	status      int
	contentType string
	retryAfter  string
	body        map[string]json.RawMessage
	errors      []testenv.GQLError
}

func (a rawAnswer) code() string {
	if len(a.errors) == 0 {
		return ""
	}
	return a.errors[0].Code()
}

// send makes one request to srv's /graphql with the owner's credential.
func send(t *testing.T, srv *testenv.Server, method, contentType, accept, body string) rawAnswer {
	t.Helper()
	u := srv.URL + "/graphql"
	var rd io.Reader
	if method == http.MethodGet {
		u += "?" + body
	} else {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	srv.Credential().Apply(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s /graphql: %v", method, err)
	}
	defer resp.Body.Close()
	a := rawAnswer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), retryAfter: resp.Header.Get("Retry-After")}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("%s /graphql answered %d %q, not a JSON object: %v", method, resp.StatusCode, raw, err)
	}
	if e, ok := a.body["errors"]; ok {
		_ = json.Unmarshal(e, &a.errors)
	}
	return a
}

const (
	jsonCT   = "application/json"
	gqlResp  = "application/graphql-response+json"
	anyMedia = ""
)

// TestGraphQLOverHTTP drives the client mistakes of issue 12 (class 8) and
// the GraphQL-over-HTTP spec's status rules: a request that is not one
// GraphQL request is 400/413/415 with code BAD_REQUEST; a parse,
// validation or variable failure is 200 under application/json and 400
// without data under application/graphql-response+json; none is INTERNAL
// and none writes an ERROR log line.
func TestGraphQLOverHTTP(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		errs := newLevelCounter()
		b.Log = slog.New(errs)
		srv := testenv.Start(t, b, "")
		_ = srv.Query(t, `{ __typename }`, nil) // start-up logs are not under test
		errs.take()

		cases := []struct {
			name, method, ct, accept, body string
			status                         int
			code, field                    string
			data                           bool   // a data entry is present
			media                          string // response media type
		}{
			{"malformed JSON", "POST", jsonCT, jsonCT, `{"query": "{ __typename }"`, 400, "BAD_REQUEST", "", false, jsonCT},
			{"malformed JSON, graphql-response", "POST", jsonCT, gqlResp, `{ "not a JSON`, 400, "BAD_REQUEST", "", false, gqlResp},
			{"not an object", "POST", jsonCT, jsonCT, `"{ __typename }"`, 400, "BAD_REQUEST", "", false, jsonCT},
			{"batch array", "POST", jsonCT, jsonCT, `[{"query":"{ __typename }"},{"query":"{ __typename }"}]`, 400, "BAD_REQUEST", "", false, jsonCT},
			{"query a number", "POST", jsonCT, jsonCT, `{"query": 123}`, 400, "BAD_REQUEST", "query", false, jsonCT},
			{"query an object", "POST", jsonCT, gqlResp, `{"query": {"obj": "ect"}}`, 400, "BAD_REQUEST", "query", false, gqlResp},
			{"variables a string", "POST", jsonCT, jsonCT, `{"query": "{ __typename }", "variables": "x"}`, 400, "BAD_REQUEST", "variables", false, jsonCT},
			{"variables an array", "POST", jsonCT, gqlResp, `{"query": "{ __typename }", "variables": [7]}`, 400, "BAD_REQUEST", "variables", false, gqlResp},
			{"operationName a number", "POST", jsonCT, jsonCT, `{"query": "{ __typename }", "operationName": 5}`, 400, "BAD_REQUEST", "operationName", false, jsonCT},
			{"extensions a string", "POST", jsonCT, jsonCT, `{"query": "{ __typename }", "extensions": "x"}`, 400, "BAD_REQUEST", "extensions", false, jsonCT},
			{"no query (a typo)", "POST", jsonCT, jsonCT, `{"qeury": "{ __typename }"}`, 400, "BAD_REQUEST", "query", false, jsonCT},
			{"GET without query", "GET", "", gqlResp, "operationName=Q", 400, "BAD_REQUEST", "query", false, gqlResp},
			{"persisted query hash mismatch", "POST", jsonCT, jsonCT, `{"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "00"}}}`, 200, "BAD_REQUEST", "", false, jsonCT},
			{"persisted query unknown", "POST", jsonCT, jsonCT, `{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "00"}}}`, 200, "PERSISTED_QUERY_NOT_FOUND", "", false, jsonCT},
			{"trailing data", "POST", jsonCT, jsonCT, `{"query": "{ __typename }"} {}`, 400, "BAD_REQUEST", "", false, jsonCT},
			{"empty body", "POST", jsonCT, jsonCT, ``, 400, "BAD_REQUEST", "", false, jsonCT},
			{"no content type", "POST", "", jsonCT, `{"query": "{ __typename }"}`, 415, "BAD_REQUEST", "", false, jsonCT},
			{"text/plain", "POST", "text/plain", jsonCT, `{"query": "{ __typename }"}`, 415, "BAD_REQUEST", "", false, jsonCT},
			{"not utf-8", "POST", "application/json; charset=latin1", jsonCT, `{"query": "{ __typename }"}`, 415, "BAD_REQUEST", "", false, jsonCT},
			{"parse failure", "POST", jsonCT, jsonCT, `{"query": "{"}`, 200, "GRAPHQL_PARSE_FAILED", "", false, jsonCT},
			{"parse failure, graphql-response", "POST", jsonCT, gqlResp, `{"query": "{"}`, 400, "GRAPHQL_PARSE_FAILED", "", false, gqlResp},
			{"validation failure", "POST", jsonCT, jsonCT, `{"query": "{ noSuchField }"}`, 200, "GRAPHQL_VALIDATION_FAILED", "", false, jsonCT},
			{"validation failure, graphql-response", "POST", jsonCT, gqlResp, `{"query": "{ noSuchField }"}`, 400, "GRAPHQL_VALIDATION_FAILED", "", false, gqlResp},
			{"variable coercion", "POST", jsonCT, jsonCT, `{"query": "query($n: Int) { cameras(first: $n) { totalCount } }", "variables": {"n": "many"}}`, 200, "BAD_USER_INPUT", "n", false, jsonCT},
			{"variable coercion, graphql-response", "POST", jsonCT, gqlResp, `{"query": "query($n: Int) { cameras(first: $n) { totalCount } }", "variables": {"n": "many"}}`, 400, "BAD_USER_INPUT", "n", false, gqlResp},
			{"unknown operation", "POST", jsonCT, gqlResp, `{"query": "query A { __typename }", "operationName": "B"}`, 400, "GRAPHQL_VALIDATION_FAILED", "", false, gqlResp},
			{"first and last", "POST", jsonCT, jsonCT, `{"query": "{ cameras(first: 1, last: 1) { totalCount } }"}`, 200, "BAD_USER_INPUT", "last", true, jsonCT},
			{"ok, application/json", "POST", jsonCT, jsonCT, `{"query": "{ __typename }", "variables": null, "operationName": null, "extensions": null}`, 200, "", "", true, jsonCT},
			{"ok, graphql-response", "POST", jsonCT, gqlResp, `{"query": "query Q { __typename }", "operationName": "Q", "extensions": {"some": "value"}}`, 200, "", "", true, gqlResp},
			{"ok, no Accept", "POST", "application/json; charset=utf-8", anyMedia, `{"query": "{ __typename }"}`, 200, "", "", true, jsonCT},
			{"ok, */*", "POST", jsonCT, "*/*", `{"query": "{ __typename }"}`, 200, "", "", true, jsonCT},
			{"not acceptable", "POST", jsonCT, "text/html", `{"query": "{ __typename }"}`, 406, "BAD_REQUEST", "", false, jsonCT},
			{"GET query", "GET", "", anyMedia, "query=" + url.QueryEscape("query($n: Int) { cameras(first: $n) { totalCount } }") + "&variables=" + url.QueryEscape(`{"n": 1}`), 200, "", "", true, jsonCT},
			{"GET variables not JSON", "GET", "", jsonCT, "query=" + url.QueryEscape("{ __typename }") + "&variables=x", 400, "BAD_REQUEST", "variables", false, jsonCT},
			{"GET mutation", "GET", "", gqlResp, "query=" + url.QueryEscape("mutation { logout }"), 405, "BAD_REQUEST", "", false, gqlResp},
		}
		for _, c := range cases {
			a := send(t, srv, c.method, c.ct, c.accept, c.body)
			if a.status != c.status || a.code() != c.code {
				t.Errorf("%s: status %d code %q (%+v), want %d %q", c.name, a.status, a.code(), a.errors, c.status, c.code)
			}
			if c.field != "" && (len(a.errors) == 0 || a.errors[0].Field() != c.field) {
				t.Errorf("%s: errors %+v, want field %q", c.name, a.errors, c.field)
			}
			if _, has := a.body["data"]; has != c.data {
				t.Errorf("%s: data entry present %v, want %v", c.name, has, c.data)
			}
			if !strings.HasPrefix(a.contentType, c.media) || !strings.Contains(a.contentType, "charset=utf-8") {
				t.Errorf("%s: Content-Type %q, want %s; charset=utf-8", c.name, a.contentType, c.media)
			}
			for _, e := range a.errors {
				if e.Code() == "INTERNAL" || strings.Contains(e.Message, "内部エラー") {
					t.Errorf("%s: a client's mistake answered as INTERNAL: %+v", c.name, e)
				}
			}
			if logged := errs.take(); len(logged) > 0 {
				t.Errorf("%s: logged at ERROR: %q", c.name, logged)
			}
		}
	})
}
