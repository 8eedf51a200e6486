package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/regicam/regicam/apperr"
)

// Response media types of GraphQL over HTTP.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// retryAfterSeconds is what an UNAVAILABLE answer asks clients to wait: a
// PostgreSQL restart or failover takes seconds.
const retryAfterSeconds = "5"

// graphQLHTTP is the POST and GET transport of /graphql, in place of
// gqlgen's transport.POST and transport.GET, following the GraphQL over
// HTTP spec where those do not:
//   - a body that is not one GraphQL request (not JSON, a batch array,
//     "query" not a string, "variables" not an object) is the client's
//     mistake: 400 with code BAD_REQUEST and a message that never quotes
//     the body (gqlgen's quotes it whole, and the presenter logged it);
//   - with Accept: application/json (or none) a parse, validation or
//     variable-coercion failure is 200 with errors; with
//     application/graphql-response+json it is 400 without a data entry;
//   - a body over the limit is 413, a content type other than JSON 415,
//     a mutation over GET 405;
//   - a result carrying UNAVAILABLE gets Retry-After.
type graphQLHTTP struct {
	log *slog.Logger
}

var _ graphql.Transport = graphQLHTTP{}

func (graphQLHTTP) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && (r.Method == http.MethodPost || r.Method == http.MethodGet)
}

// requestError is a request refused before execution, with its status.
type requestError struct {
	status int
	err    *gqlerror.Error
}

func badRequest(status int, field, msg string) *requestError {
	e := &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": apperr.BadRequest}}
	if field != "" {
		e.Extensions["field"] = field
	}
	return &requestError{status: status, err: e}
}

func (t graphQLHTTP) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	w.Header().Add("Vary", "Accept")
	media, ok := responseMedia(r.Header.Get("Accept"))
	if !ok {
		// Nothing we can answer in; say so in the most common one.
		media = mediaJSON
		w.Header().Set("Content-Type", media+"; charset=utf-8")
		t.refuse(w, r, exec, media, badRequest(http.StatusNotAcceptable, "",
			"Accept には application/json か application/graphql-response+json を含めてください (not acceptable)"))
		return
	}
	w.Header().Set("Content-Type", media+"; charset=utf-8")

	start := graphql.Now()
	var params *graphql.RawParams
	var rerr *requestError
	if r.Method == http.MethodGet {
		params, rerr = paramsFromQuery(r.URL.RawQuery)
	} else {
		params, rerr = paramsFromBody(r)
	}
	if rerr != nil {
		t.refuse(w, r, exec, media, rerr)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		// Parse, validation and variable errors of a well-formed request.
		for _, e := range errs {
			if c, _ := e.Extensions["code"].(string); c == "" && e.Err == nil {
				// A plain message from an extension about the request
				// (APQ: "provided APQ hash does not match query"): the
				// client's mistake, not an INTERNAL one to log.
				if e.Extensions == nil {
					e.Extensions = map[string]any{}
				}
				e.Extensions["code"] = apperr.BadRequest
			}
		}
		status := http.StatusOK
		if media == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		t.writeErrors(w, status, exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs))
		return
	}
	if r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		// GET must not change anything (and skips CORS preflight).
		w.Header().Set("Allow", "POST")
		t.refuse(w, r, exec, media, badRequest(http.StatusMethodNotAllowed, "",
			"GET で実行できるのはクエリだけです; mutation は POST で送ってください (mutations need POST)"))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	resp := responses(ctx)
	if hasCode(resp.Errors, apperr.Unavailable) {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	t.write(w, http.StatusOK, resp)
}

// refuse answers a request that never reached execution. Its errors go
// through the presenter like any other, so extensions stay uniform.
func (t graphQLHTTP) refuse(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, media string, e *requestError) {
	if e.status == http.StatusRequestEntityTooLarge {
		// The rest of the body is not read; do not reuse the connection.
		w.Header().Set("Connection", "close")
	}
	resp := exec.DispatchError(r.Context(), gqlerror.List{e.err})
	t.writeErrors(w, e.status, resp)
}

// writeErrors writes a response without a data entry: the request was not
// executed, and application/graphql-response+json clients tell that from
// the absent key.
func (t graphQLHTTP) writeErrors(w http.ResponseWriter, status int, resp *graphql.Response) {
	t.write(w, status, struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{resp.Errors, resp.Extensions})
}

func (t graphQLHTTP) write(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.log.Error("encode graphql response", "err", err)
		status = http.StatusInternalServerError
		b = []byte(`{"errors":[{"message":"内部エラーが発生しました (internal error)","extensions":{"code":"INTERNAL","reason":"INTERNAL"}}]}`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func hasCode(errs gqlerror.List, code string) bool {
	for _, e := range errs {
		if c, _ := e.Extensions["code"].(string); c == code {
			return true
		}
	}
	return false
}

// responseMedia picks the response type from Accept: the first of ours it
// lists, application/json for none, */* or application/*.
func responseMedia(accept string) (string, bool) {
	if strings.TrimSpace(accept) == "" {
		return mediaJSON, true
	}
	wildcard := false
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case mediaGraphQLResponse:
			return mediaGraphQLResponse, true
		case mediaJSON:
			return mediaJSON, true
		case "*/*", "application/*":
			wildcard = true
		}
	}
	return mediaJSON, wildcard
}

// paramsFromBody reads one GraphQL request from a JSON POST body. Errors
// name the offending parameter and a byte offset, never the content: the
// body may hold passwords.
func paramsFromBody(r *http.Request) (*graphql.RawParams, *requestError) {
	ct := r.Header.Get("Content-Type")
	mt, mtParams, err := mime.ParseMediaType(ct)
	if err != nil || mt != mediaJSON {
		return nil, badRequest(http.StatusUnsupportedMediaType, "",
			"Content-Type: application/json で送ってください (unsupported media type)")
	}
	if cs := mtParams["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") {
		return nil, badRequest(http.StatusUnsupportedMediaType, "",
			"文字コードは UTF-8 にしてください (only utf-8 is accepted)")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tooLarge(tooBig.Limit)
		}
		return nil, badRequest(http.StatusBadRequest, "", "リクエスト本文を読めませんでした (could not read the request body)")
	}
	return decodeParams(body)
}

func tooLarge(limit int64) *requestError {
	return badRequest(http.StatusRequestEntityTooLarge, "",
		fmt.Sprintf("リクエストが大きすぎます (request body over %d bytes)", limit))
}

func decodeParams(body []byte) (*graphql.RawParams, *requestError) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return nil, badRequest(http.StatusBadRequest, "", "リクエスト本文が空です (request body is empty)")
	case trimmed[0] == '[':
		return nil, badRequest(http.StatusBadRequest, "",
			"バッチ (配列) のリクエストには対応していません; 1 件ずつ送ってください (batched requests are not supported)")
	case trimmed[0] != '{':
		return nil, badRequest(http.StatusBadRequest, "",
			"リクエスト本文は JSON オブジェクトにしてください (request body must be a JSON object)")
	}
	var raw struct {
		Query         json.RawMessage `json:"query"`
		OperationName json.RawMessage `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest(http.StatusBadRequest, "",
			fmt.Sprintf("JSON オブジェクトの後に余分なデータがあります (unexpected data after the JSON object, at byte %d)", dec.InputOffset()))
	}
	p := &graphql.RawParams{}
	if rerr := decodeString(raw.Query, "query", &p.Query); rerr != nil {
		return nil, rerr
	}
	if rerr := decodeString(raw.OperationName, "operationName", &p.OperationName); rerr != nil {
		return nil, rerr
	}
	if rerr := decodeObject(raw.Variables, "variables", &p.Variables); rerr != nil {
		return nil, rerr
	}
	if rerr := decodeObject(raw.Extensions, "extensions", &p.Extensions); rerr != nil {
		return nil, rerr
	}
	return p, missingQuery(p)
}

// missingQuery refuses a request without a query, unless it names a
// persisted one (extensions.persistedQuery) for gqlgen's APQ to fill in.
func missingQuery(p *graphql.RawParams) *requestError {
	if p.Query != "" || p.Extensions["persistedQuery"] != nil {
		return nil
	}
	return badRequest(http.StatusBadRequest, "query", "query を指定してください (query is required)")
}

func malformed(err error) *requestError {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return badRequest(http.StatusBadRequest, "",
			fmt.Sprintf("リクエストの JSON が読めません (malformed JSON at byte %d)", syn.Offset))
	}
	return badRequest(http.StatusBadRequest, "", "リクエストの JSON が読めません (malformed JSON)")
}

// decodeString accepts a JSON string or null (absent) for a parameter.
func decodeString(v json.RawMessage, field string, out *string) *requestError {
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	if v[0] != '"' || json.Unmarshal(v, out) != nil {
		return badRequest(http.StatusBadRequest, field, field+" は文字列にしてください ("+field+" must be a string)")
	}
	return nil
}

// decodeObject accepts a JSON object or null (absent) for a parameter;
// numbers stay json.Number so large ids keep their digits.
func decodeObject(v json.RawMessage, field string, out *map[string]any) *requestError {
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if v[0] != '{' || dec.Decode(out) != nil {
		return badRequest(http.StatusBadRequest, field, field+" は JSON オブジェクトにしてください ("+field+" must be an object)")
	}
	return nil
}

// paramsFromQuery reads a GET request: query, operationName, and variables
// and extensions as URL-encoded JSON objects.
func paramsFromQuery(rawQuery string) (*graphql.RawParams, *requestError) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest(http.StatusBadRequest, "", "URL のクエリ文字列が読めません (malformed query string)")
	}
	p := &graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName")}
	if v := q.Get("variables"); v != "" {
		if rerr := decodeObject(json.RawMessage(v), "variables", &p.Variables); rerr != nil {
			return nil, rerr
		}
	}
	if v := q.Get("extensions"); v != "" {
		if rerr := decodeObject(json.RawMessage(v), "extensions", &p.Extensions); rerr != nil {
			return nil, rerr
		}
	}
	return p, missingQuery(p)
}
