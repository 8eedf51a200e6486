// Package fake is an in-process Smaregi Platform API for tests and the demo:
// the token endpoint (client credentials, scopes, expiry), GET
// /{contract}/pos/transactions with Smaregi's range parameters, 31-day
// limit, sorting and pagination (Link rel="next", or none), GET
// /pos/transactions/{id}, GET /pos/stores, per-contract rate limits (429
// with Retry-After), injectable faults, a test API that rings up, cancels,
// reverses (打消), returns, edits and deletes transactions, and the
// pos:transactions webhook.
package fake

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// The default contract: "fake_contract" / "fake_client" / "fake_secret".
	ContractID   string
	ClientID     string
	ClientSecret string
	// Scopes the app is granted; default pos.transactions:read pos.stores:read.
	Scopes []string
	Stores []Store // default {"1", "本店"}

	TokenTTL time.Duration // default 1h, as Smaregi
	// RatePerSecond is each contract's API budget per wall-clock second
	// (0 = unlimited). Requests over it get 429 with Retry-After: 1.
	RatePerSecond int
	// NoLink paginates without Link headers: clients must ask page+1 until
	// a short page.
	NoLink bool
	// Clock drives data times and token expiry (default time.Now). Rate
	// limiting always uses wall time.
	Clock func() time.Time
	// SlowDelay is how long FaultTimeout holds a request (default 5s, or
	// until the client gives up).
	SlowDelay time.Duration
}

// Fault is an injected failure of the next API (or token) requests.
type Fault int

const (
	Fault500             Fault = iota + 1 // 500 with a problem body
	Fault503                              // 503 with Retry-After: 1
	Fault429                              // 429 with Retry-After: 1, regardless of the rate
	FaultTimeout                          // hold the request for SlowDelay, then answer normally
	FaultTruncated                        // declare the full length, send half, drop the connection
	FaultMalformedJSON                    // 200 with a body that is not JSON
	FaultMalformedFields                  // 200 with junk values and unknown fields in every transaction
)

// Stats count what the server saw.
type Stats struct {
	TokenRequests int
	TokensIssued  int
	APIRequests   int
	RateLimited   int
	Faults        int
	BadRequests   int
	Unauthorized  int
}

// Server is the fake. Both base URLs are URL().
type Server struct {
	ts  *httptest.Server
	opt Options
	now func() time.Time

	mu          sync.Mutex
	contracts   map[string]*Contract
	first       *Contract
	tokens      map[string]token
	faults      []Fault
	tokenFaults []Fault
	stats       Stats
}

type token struct {
	contract string
	scopes   []string
	expires  time.Time
}

// Contract is one Smaregi contract on the fake: its app credentials, stores
// and transactions. Its methods are the test API.
type Contract struct {
	s        *Server
	ID       string
	clientID string
	secret   string
	scopes   []string
	stores   []Store
	txs      map[string]*Transaction
	seq      int
	termSeq  map[string]int
	second   int64 // rate-limit window (unix second)
	inSecond int
	clocks   registerClocks // skewed registers (clock.go)
}

// New starts a fake on 127.0.0.1. Close it when done.
func New(opt Options) *Server {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.TokenTTL <= 0 {
		opt.TokenTTL = time.Hour
	}
	if opt.SlowDelay <= 0 {
		opt.SlowDelay = 5 * time.Second
	}
	s := &Server{opt: opt, now: opt.Clock, contracts: map[string]*Contract{}, tokens: map[string]token{}}
	s.first = s.AddContract(orDefault(opt.ContractID, "fake_contract"), orDefault(opt.ClientID, "fake_client"),
		orDefault(opt.ClientSecret, "fake_secret"), opt.Scopes, opt.Stores)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /app/{contract}/token", s.handleToken)
	mux.HandleFunc("GET /{contract}/pos/transactions", s.api("pos.transactions:read", s.handleList))
	mux.HandleFunc("GET /{contract}/pos/transactions/{id}", s.api("pos.transactions:read", s.handleGet))
	mux.HandleFunc("GET /{contract}/pos/stores", s.api("pos.stores:read", s.handleStores))
	s.ts = httptest.NewServer(mux)
	return s
}

// AddContract adds another contract with its own app credentials.
func (s *Server) AddContract(id, clientID, secret string, scopes []string, stores []Store) *Contract {
	if len(scopes) == 0 {
		scopes = []string{"pos.transactions:read", "pos.stores:read"}
	}
	if len(stores) == 0 {
		stores = []Store{{ID: "1", Name: "本店", Code: "0001"}}
	}
	c := &Contract{s: s, ID: id, clientID: clientID, secret: secret, scopes: scopes,
		stores: append([]Store(nil), stores...), txs: map[string]*Transaction{}, termSeq: map[string]int{}}
	s.mu.Lock()
	s.contracts[id] = c
	s.mu.Unlock()
	return c
}

// URL is the base of both the token host and the API host.
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// Default is the contract of Options.
func (s *Server) Default() *Contract { return s.first }

// Contract returns a contract by id (nil if unknown).
func (s *Server) Contract(id string) *Contract {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.contracts[id]
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Inject makes the next n API requests fail with f (queued after faults
// already injected).
func (s *Server) Inject(f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// InjectToken makes the next n token requests fail with f.
func (s *Server) InjectToken(f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.tokenFaults = append(s.tokenFaults, f)
	}
}

// RevokeTokens invalidates every issued token, as a secret rotation would.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// SetSecret changes a contract's client secret (the owner re-issued it).
func (c *Contract) SetSecret(secret string) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.secret = secret
}

// SetScopes changes what the app is granted.
func (c *Contract) SetScopes(scopes ...string) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.scopes = append([]string(nil), scopes...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// problem is Smaregi's API error body (problem+json style).
func problem(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="smaregi"`)
	}
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.TokenRequests++
	var f Fault
	if len(s.tokenFaults) > 0 {
		f, s.tokenFaults = s.tokenFaults[0], s.tokenFaults[1:]
		s.stats.Faults++
	}
	s.mu.Unlock()
	if f != 0 && s.serveFault(w, r, f, nil) {
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
		return
	}
	id, secret, ok := r.BasicAuth()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.contracts[r.PathValue("contract")]
	if c == nil {
		// Smaregi's documentation does not say how an unknown contract id
		// is answered; the fake answers 404 so regicam's "契約IDがありません"
		// path is exercised. A real invalid_client for it reads as refused
		// client credentials, which is still true of that contract.
		s.stats.Unauthorized++
		problem(w, http.StatusNotFound, "契約が見つかりません")
		return
	}
	if !ok || id != c.clientID || secret != c.secret {
		s.stats.Unauthorized++
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	requested := strings.Fields(r.PostForm.Get("scope"))
	if len(requested) == 0 {
		requested = c.scopes
	}
	for _, sc := range requested {
		if !slices.Contains(c.scopes, sc) {
			oauthError(w, http.StatusBadRequest, "invalid_scope", "The requested scope is invalid, unknown, or malformed: "+sc)
			return
		}
	}
	tok := randomHex(24)
	s.tokens[tok] = token{contract: c.ID, scopes: append([]string(nil), requested...), expires: s.now().Add(s.opt.TokenTTL)}
	s.stats.TokensIssued++
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "Bearer",
		"expires_in": int(s.opt.TokenTTL / time.Second), "scope": strings.Join(requested, " "),
	})
}

// api wraps an API handler with, in order: injected faults, bearer token
// and scope checks, and the contract's rate limit.
func (s *Server) api(scope string, h func(http.ResponseWriter, *http.Request, *Contract, bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.stats.APIRequests++
		var f Fault
		if len(s.faults) > 0 {
			f, s.faults = s.faults[0], s.faults[1:]
			s.stats.Faults++
		}
		s.mu.Unlock()
		if f != 0 && s.serveFault(w, r, f, func(w http.ResponseWriter, malformed bool) {
			s.authorized(w, r, scope, func(c *Contract) { h(w, r, c, malformed) })
		}) {
			return
		}
		s.authorized(w, r, scope, func(c *Contract) { h(w, r, c, false) })
	}
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request, scope string, next func(*Contract)) {
	s.mu.Lock()
	c := s.contracts[r.PathValue("contract")]
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	t, known := s.tokens[tok]
	var status int
	var detail string
	switch {
	case !ok || tok == "":
		status, detail = http.StatusUnauthorized, "アクセストークンが指定されていません"
	case !known || !s.now().Before(t.expires):
		status, detail = http.StatusUnauthorized, "アクセストークンが無効です"
	case c == nil || t.contract != c.ID:
		status, detail = http.StatusUnauthorized, "契約IDとアクセストークンが一致しません"
	case !slices.Contains(t.scopes, scope):
		status, detail = http.StatusForbidden, "スコープが不足しています: "+scope
	}
	if status != 0 {
		s.stats.Unauthorized++
		s.mu.Unlock()
		problem(w, status, detail)
		return
	}
	if s.opt.RatePerSecond > 0 {
		sec := time.Now().Unix()
		if c.second != sec {
			c.second, c.inSecond = sec, 0
		}
		c.inSecond++
		if c.inSecond > s.opt.RatePerSecond {
			s.stats.RateLimited++
			s.mu.Unlock()
			w.Header().Set("Retry-After", "1")
			problem(w, http.StatusTooManyRequests, "リクエスト数が上限を超えました")
			return
		}
	}
	s.mu.Unlock()
	next(c)
}

// serveFault answers with f; it returns false when the request should go on
// (FaultTimeout after its delay, FaultMalformedFields through serve).
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f Fault, serve func(http.ResponseWriter, bool)) bool {
	switch f {
	case Fault500:
		problem(w, http.StatusInternalServerError, "Internal Server Error")
	case Fault503:
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusServiceUnavailable, "Service Unavailable")
	case Fault429:
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusTooManyRequests, "リクエスト数が上限を超えました")
	case FaultTimeout:
		t := time.NewTimer(s.opt.SlowDelay)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return true
		case <-t.C:
		}
		return false
	case FaultTruncated:
		rec := httptest.NewRecorder()
		if serve != nil {
			serve(rec, false)
		} else {
			writeJSON(rec, http.StatusOK, map[string]any{"access_token": "x", "token_type": "Bearer", "expires_in": 3600})
		}
		body := rec.Body.Bytes()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
		// Hijacking closes the connection under the client, as a proxy
		// timeout would.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
			}
		}
	case FaultMalformedJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`[{"transactionHeadId": "1", "total": "12`))
	case FaultMalformedFields:
		if serve == nil {
			return false
		}
		serve(w, true)
	default:
		return false
	}
	return true
}

// junk is what FaultMalformedFields writes into every transaction.
var junk = map[string]any{
	"total":             "１２０円",
	"depositCash":       "cash",
	"guestNumbers":      3,
	"memo":              map[string]any{"nested": true},
	"enterDateTime":     "yesterday",
	"unexpectedField":   []any{1, "two", nil},
	"depositOthers":     "none",
	"transactionUuid":   12345,
	"unknownDivisionXY": "99",
}

var (
	dateTimeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$`)
	dateRE     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

type rangeParam struct {
	name string
	date bool
	get  func(*Transaction) time.Time
}

var ranges = []rangeParam{
	{"transaction_date_time", false, func(t *Transaction) time.Time { return t.TransactionDateTime }},
	{"terminal_tran_date_time", false, func(t *Transaction) time.Time { return t.TerminalTranDateTime }},
	{"upd_date_time", false, func(t *Transaction) time.Time { return t.UpdDateTime }},
	{"sum_date", true, func(t *Transaction) time.Time {
		d := t.TransactionDateTime.In(jst)
		return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, jst)
	}},
}

// cmpID orders numeric ids numerically, as Smaregi's integer ids sort.
func cmpID(a, b string) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(a, b)
}

func cmpTime(a, b time.Time) int { return a.Compare(b) }

var sortKeys = map[string]func(a, b *Transaction) int{
	"transactionHeadId":       func(a, b *Transaction) int { return cmpID(a.TransactionHeadID, b.TransactionHeadID) },
	"transactionDateTime":     func(a, b *Transaction) int { return cmpTime(a.TransactionDateTime, b.TransactionDateTime) },
	"transactionHeadDivision": func(a, b *Transaction) int { return cmpID(a.TransactionHeadDivision, b.TransactionHeadDivision) },
	"storeId":                 func(a, b *Transaction) int { return cmpID(a.StoreID, b.StoreID) },
	"terminalId":              func(a, b *Transaction) int { return cmpID(a.TerminalID, b.TerminalID) },
	"customerId":              func(a, b *Transaction) int { return 0 },
	"terminalTranId":          func(a, b *Transaction) int { return cmpID(a.TerminalTranID, b.TerminalTranID) },
	"terminalTranDateTime":    func(a, b *Transaction) int { return cmpTime(a.TerminalTranDateTime, b.TerminalTranDateTime) },
	"sumDate": func(a, b *Transaction) int {
		return strings.Compare(a.TransactionDateTime.In(jst).Format("2006-01-02"), b.TransactionDateTime.In(jst).Format("2006-01-02"))
	},
	"updDateTime": func(a, b *Transaction) int { return cmpTime(a.UpdDateTime, b.UpdDateTime) },
}

type sortSpec struct {
	cmp  func(a, b *Transaction) int
	desc bool
}

func parseSort(v string) ([]sortSpec, error) {
	if v == "" {
		return []sortSpec{{cmp: sortKeys["transactionHeadId"]}}, nil
	}
	var out []sortSpec
	for _, part := range strings.Split(v, ",") {
		name, dir, _ := strings.Cut(strings.TrimSpace(part), ":")
		key, ok := sortKeys[name]
		if !ok {
			return nil, fmt.Errorf("sort: %q は指定できません", name)
		}
		switch dir {
		case "", "asc":
			out = append(out, sortSpec{cmp: key})
		case "desc":
			out = append(out, sortSpec{cmp: key, desc: true})
		default:
			return nil, fmt.Errorf("sort: %q は指定できません", part)
		}
	}
	return out, nil
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s は %d〜%d で指定してください", name, lo, hi)
	}
	return n, nil
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, c *Contract, malformed bool) {
	q := r.URL.Query()
	bad := func(msg string) {
		s.mu.Lock()
		s.stats.BadRequests++
		s.mu.Unlock()
		problem(w, http.StatusBadRequest, msg)
	}
	details := q.Get("with_details")
	switch details {
	case "", "none", "summary", "all":
	default:
		bad("with_details は all / summary / none で指定してください")
		return
	}
	others := q.Get("with_deposit_others")
	if others != "" && others != "all" && others != "none" {
		bad("with_deposit_others は all / none で指定してください")
		return
	}
	maxLimit := 1000
	if details == "summary" || details == "all" {
		maxLimit = 100
	}
	limit, err := intParam(q, "limit", 100, 1, maxLimit)
	if err != nil {
		bad(err.Error())
		return
	}
	page, err := intParam(q, "page", 1, 1, math.MaxInt32)
	if err != nil {
		bad(err.Error())
		return
	}
	order, err := parseSort(q.Get("sort"))
	if err != nil {
		bad(err.Error())
		return
	}
	type bound struct {
		rangeParam
		from, to time.Time
	}
	var bounds []bound
	for _, rp := range ranges {
		fv, tv := q.Get(rp.name+"-from"), q.Get(rp.name+"-to")
		if fv == "" && tv == "" {
			continue
		}
		if fv == "" || tv == "" {
			bad(rp.name + " は From と To の両方を指定してください")
			return
		}
		var from, to time.Time
		var e1, e2 error
		if rp.date {
			if !dateRE.MatchString(fv) || !dateRE.MatchString(tv) {
				bad(rp.name + " は YYYY-MM-DD 形式で指定してください")
				return
			}
			from, e1 = time.ParseInLocation("2006-01-02", fv, jst)
			to, e2 = time.ParseInLocation("2006-01-02", tv, jst)
		} else {
			if !dateTimeRE.MatchString(fv) || !dateTimeRE.MatchString(tv) {
				bad(rp.name + " は YYYY-MM-DDThh:mm:ssTZD 形式で指定してください")
				return
			}
			from, e1 = time.Parse(timeLayout, fv)
			to, e2 = time.Parse(timeLayout, tv)
		}
		if e1 != nil || e2 != nil {
			bad(rp.name + " の日時が不正です")
			return
		}
		if to.Before(from) {
			bad(rp.name + " の From が To より後になっています")
			return
		}
		if to.Sub(from) > 31*24*time.Hour {
			bad(rp.name + " の期間は最大31日までの指定でご利用ください")
			return
		}
		bounds = append(bounds, bound{rp, from, to})
	}
	if len(bounds) == 0 {
		bad("取引日時(From)(To)、端末取引日時(From)(To)、締め日(From)(To)、更新日時(From)(To)のうち1つ以上を必ず指定してご利用ください")
		return
	}
	storeID := q.Get("store_id")

	s.mu.Lock()
	var matched []*Transaction
	for _, t := range c.txs {
		if storeID != "" && t.StoreID != storeID {
			continue
		}
		in := true
		for _, b := range bounds {
			v := b.get(t)
			if v.IsZero() || v.Before(b.from) || v.After(b.to) {
				in = false
				break
			}
		}
		if in {
			matched = append(matched, t)
		}
	}
	// Sorted under the lock: the test API edits transactions in place.
	slices.SortFunc(matched, func(a, b *Transaction) int {
		for _, o := range order {
			if c := o.cmp(a, b); c != 0 {
				if o.desc {
					return -c
				}
				return c
			}
		}
		return cmpID(a.TransactionHeadID, b.TransactionHeadID)
	})
	start := min((page-1)*limit, len(matched))
	end := min(start+limit, len(matched))
	pageTxs := make([]*Transaction, 0, end-start)
	for _, t := range matched[start:end] {
		pageTxs = append(pageTxs, t.clone())
	}
	s.mu.Unlock()
	out := make([]map[string]any, 0, end-start)
	for _, t := range pageTxs {
		m := t.render(details == "summary" || details == "all", others == "all")
		if malformed {
			for k, v := range junk {
				m[k] = v
			}
		}
		out = append(out, m)
	}
	if !s.opt.NoLink {
		setLinks(w, r, page, end < len(matched))
	}
	writeJSON(w, http.StatusOK, out)
}

// setLinks writes RFC 8288 Link headers, absolute, keeping every query
// parameter but page.
func setLinks(w http.ResponseWriter, r *http.Request, page int, more bool) {
	link := func(p int, rel string) string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		u.RawQuery = q.Encode()
		return fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel)
	}
	links := []string{link(1, "first")}
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	if more {
		links = append(links, link(page+1, "next"))
	}
	w.Header().Set("Link", strings.Join(links, ", "))
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, c *Contract, malformed bool) {
	q := r.URL.Query()
	details := q.Get("with_details")
	s.mu.Lock()
	t := c.txs[r.PathValue("id")]
	if t != nil {
		t = t.clone()
	}
	s.mu.Unlock()
	if t == nil {
		problem(w, http.StatusNotFound, "指定された取引が見つかりません")
		return
	}
	m := t.render(details == "summary" || details == "all", q.Get("with_deposit_others") == "all")
	if malformed {
		for k, v := range junk {
			m[k] = v
		}
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) handleStores(w http.ResponseWriter, r *http.Request, c *Contract, _ bool) {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", 100, 1, 1000)
	if err != nil {
		problem(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := intParam(q, "page", 1, 1, math.MaxInt32)
	if err != nil {
		problem(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	stores := append([]Store(nil), c.stores...)
	s.mu.Unlock()
	start := min((page-1)*limit, len(stores))
	end := min(start+limit, len(stores))
	out := make([]map[string]any, 0, end-start)
	for _, st := range stores[start:end] {
		out = append(out, map[string]any{"storeId": st.ID, "storeName": st.Name, "storeCode": str(st.Code),
			"storeAbbr": nil, "divisionName": nil, "pauseFlag": "0"})
	}
	if !s.opt.NoLink {
		setLinks(w, r, page, end < len(stores))
	}
	writeJSON(w, http.StatusOK, out)
}

// --- test API (default contract) ---

// RingUp records a sale on the default contract; see Contract.RingUp.
func (s *Server) RingUp(spec TransactionSpec) string { return s.first.RingUp(spec) }

// Cancel cancels a sale of the default contract.
func (s *Server) Cancel(id string, at time.Time) error { return s.first.Cancel(id, at) }

// Dispose reverses (打消) a sale of the default contract.
func (s *Server) Dispose(id string, at time.Time) (string, error) { return s.first.Dispose(id, at) }

// ReturnSale rings up a return of a sale of the default contract.
func (s *Server) ReturnSale(id string, at time.Time) (string, error) {
	return s.first.ReturnSale(id, at)
}

// Edit changes a transaction of the default contract.
func (s *Server) Edit(id string, fn func(*Transaction), at time.Time) error {
	return s.first.Edit(id, fn, at)
}

// Delete deletes a transaction of the default contract.
func (s *Server) Delete(id string) error { return s.first.Delete(id) }

// Transaction returns a copy of a transaction of the default contract.
func (s *Server) Transaction(id string) (Transaction, bool) { return s.first.Transaction(id) }

// SendWebhook posts a pos:transactions notification of the default
// contract.
func (s *Server) SendWebhook(ctx context.Context, target, action string, ids ...string) error {
	return s.first.SendWebhook(ctx, target, action, ids...)
}

// --- test API ---

// RingUp records a sale (or another division) and returns its
// transactionHeadId. Its updDateTime is the server time.
func (c *Contract) RingUp(spec TransactionSpec) string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	t := c.build(spec, c.s.now())
	c.txs[t.TransactionHeadID] = t
	return t.TransactionHeadID
}

// ContinueAfter makes the contract's numbering go on after id: the next
// transaction gets transactionHeadId id+1 (and a receipt number to
// match), as a real contract's would after any restart of ours. A fake
// started afresh beside a journal that already holds its earlier sales
// would otherwise hand out "1" again, and the new sale would read as an
// edit of the old one. It never moves the numbering back.
func (c *Contract) ContinueAfter(id int) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.seq = max(c.seq, id)
}

// change runs fn on a stored transaction and moves its updDateTime to at
// (now when zero), never backwards: Smaregi stamps the server time.
func (c *Contract) change(id string, at time.Time, fn func(*Transaction) error) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	t := c.txs[id]
	if t == nil {
		return fmt.Errorf("fake: no transaction %s", id)
	}
	if err := fn(t); err != nil {
		return err
	}
	c.bump(t, at)
	return nil
}

func (c *Contract) bump(t *Transaction, at time.Time) {
	if at.IsZero() {
		at = c.s.now()
	}
	at = at.Truncate(time.Second)
	if !at.After(t.UpdDateTime) {
		at = t.UpdDateTime.Add(time.Second)
	}
	t.UpdDateTime = at
}

// Cancel sets cancelDivision=1 and cancelDateTime=at (取消: the sale is
// void, no new transaction).
func (c *Contract) Cancel(id string, at time.Time) error {
	if at.IsZero() {
		at = c.s.now()
	}
	return c.change(id, at, func(t *Transaction) error {
		if t.CancelDivision == "1" {
			return fmt.Errorf("fake: transaction %s already canceled", id)
		}
		t.CancelDivision = "1"
		t.CancelDateTime = at.Truncate(time.Second)
		return nil
	})
}

// Dispose reverses a sale (打消): the original gets disposeDivision=1, and a
// new transaction with disposeDivision=2, negated amounts and
// disposeServerTransactionHeadId = id is rung up at at. Returns the new id.
func (c *Contract) Dispose(id string, at time.Time) (string, error) {
	return c.reverse(id, at, func(orig, n *Transaction) {
		orig.DisposeDivision = "1"
		n.DisposeDivision = "2"
		n.DisposeServerTransactionHeadID = orig.TransactionHeadID
	})
}

// ReturnSale rings up a return (returnSales=1) of a sale's goods at at:
// a new transaction with negated amounts. Smaregi does not link a return to
// the sale in the head fields, so neither does the fake.
func (c *Contract) ReturnSale(id string, at time.Time) (string, error) {
	return c.reverse(id, at, func(_, n *Transaction) { n.ReturnSales = "1" })
}

func (c *Contract) reverse(id string, at time.Time, mark func(orig, n *Transaction)) (string, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	orig := c.txs[id]
	if orig == nil {
		return "", fmt.Errorf("fake: no transaction %s", id)
	}
	now := c.s.now()
	if at.IsZero() {
		at = now
	}
	items := make([]Detail, len(orig.Details))
	for i, d := range orig.Details {
		d.Quantity = -d.Quantity
		items[i] = d
	}
	others := make([]DepositOther, len(orig.DepositOthers))
	for i, o := range orig.DepositOthers {
		o.Amount = -o.Amount
		others[i] = o
	}
	n := c.build(TransactionSpec{
		StoreID: orig.StoreID, TerminalID: orig.TerminalID, StaffID: orig.StaffID, StaffName: orig.StaffName,
		Total: -orig.Total, Cash: -(orig.DepositCash - orig.Change), Credit: -orig.DepositCredit, Others: others,
		At: at, ServerAt: later(now, at), Items: items,
	}, now)
	if n.DepositCash == 0 && n.DepositCredit == 0 && len(others) == 0 && n.Total != 0 {
		n.DepositCash, n.CashTotal, n.Deposit = n.Total, n.Total, n.Total
	}
	mark(orig, n)
	c.bump(orig, later(now, at))
	c.txs[n.TransactionHeadID] = n
	return n.TransactionHeadID, nil
}

// Edit changes a transaction (amounts, staff, payments, Extra…) as an edit
// in Smaregi's back office would, at at.
func (c *Contract) Edit(id string, fn func(*Transaction), at time.Time) error {
	return c.change(id, at, func(t *Transaction) error {
		fn(t)
		return nil
	})
}

// Delete removes a transaction: lists no longer show it and
// GET /pos/transactions/{id} answers 404.
func (c *Contract) Delete(id string) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.txs[id] == nil {
		return fmt.Errorf("fake: no transaction %s", id)
	}
	delete(c.txs, id)
	return nil
}

// Transaction returns a copy of a stored transaction.
func (c *Contract) Transaction(id string) (Transaction, bool) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	t := c.txs[id]
	if t == nil {
		return Transaction{}, false
	}
	return *t.clone(), true
}

// IDs lists the contract's live transaction ids in id order.
func (c *Contract) IDs() []string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	ids := make([]string, 0, len(c.txs))
	for id := range c.txs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, cmpID)
	return ids
}

// SendWebhook posts a pos:transactions notification with a fresh
// Smaregi-Event-Id, as Smaregi does after a change.
func (c *Contract) SendWebhook(ctx context.Context, target, action string, ids ...string) error {
	return c.SendWebhookEvent(ctx, target, newEventID(), action, ids...)
}

// SendWebhookEvent posts a notification with a given Smaregi-Event-Id, so
// a test can deliver the same event twice.
func (c *Contract) SendWebhookEvent(ctx context.Context, target, eventID, action string, ids ...string) error {
	if ids == nil {
		ids = []string{}
	}
	body, _ := json.Marshal(map[string]any{
		"contractId": c.ID, "event": "pos:transactions", "action": action, "transactionHeadIds": ids,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Smaregi-Platform-Api-Webhook/1.2.4(fake)")
	req.Header.Set("Smaregi-Event", "pos:transactions")
	req.Header.Set("Smaregi-Contract-Id", c.ID)
	req.Header.Set("Smaregi-Event-Id", eventID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("fake: webhook answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

func newEventID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// BasicAuth is the Authorization header value for a client id and secret,
// for tests that call the token endpoint by hand.
func BasicAuth(clientID, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(clientID+":"+secret))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
