// Package fake is an in-process Ubiregi: an httptest server speaking the
// documented protocol (OAuth2 authorization code with HTTP Basic client
// credentials, GET /api/3/accounts/current and …/checkouts with since,
// until, glb and next-url) plus a test API to ring up, cancel, delete and
// edit checkouts and to inject faults. Its clock is injectable so tests
// control paid_at, updated_at, timestamps and token expiry.
//
// It does not import the client: it is written from the protocol, so a
// client bug cannot be mirrored by a matching fake bug.
package fake

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server; zero values take the defaults given.
type Options struct {
	ClientID     string // default "ubiregi-client"
	ClientSecret string // default "ubiregi-secret"
	// RedirectURIs, when set, are the only redirect_uri values accepted.
	RedirectURIs []string
	AccountID    int64  // default 1001
	AccountName  string // default "Ubiregi Cafe"
	PageSize     int    // checkouts per page, default 100
	TokenTTL     time.Duration
	// RotateRefreshTokens makes every refresh return a new refresh token
	// and kill the old one, as many OAuth servers do.
	RotateRefreshTokens bool
	// Now is the server's clock (default time.Now).
	Now func() time.Time
	// RateLimit, when positive, allows that many /api/ requests per
	// wall-clock second; more get 429 with Retry-After: 1.
	RateLimit    int
	PaymentTypes []PaymentType // default 現金 (1), クレジットカード (2)
	Cashiers     []Cashier     // default 山田 (11), 佐藤 (12)
	// Consent makes the authorize endpoint show a consent page with
	// 許可する / 拒否する (consent.go) instead of granting at once.
	Consent bool
}

// PaymentType is a tender the account accepts.
type PaymentType struct {
	ID   int64
	Name string
	Kind string // cash, card or other
}

// Cashier is a staff member.
type Cashier struct {
	ID   int64
	Name string
}

// Checkout is a bill as the fake stores it. Amounts are whole yen; the
// wire form is Ubiregi's decimal strings.
type Checkout struct {
	ID             int64
	GUID           string
	Status         string // close, open, cancel, deleted
	PaidAt         time.Time
	CashierID      int64 // 0: none (null on the wire)
	CustomersCount int
	Items          []Item
	Payments       []Payment
	Change         int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Item is a checkout line; Sales and Tax are for the whole line.
type Item struct {
	MenuItemID    int64
	Count         int
	Sales         int64
	Tax           int64
	DiscountSales int64
	DiscountTax   int64
}

// Payment is one tender.
type Payment struct {
	PaymentTypeID int64
	Amount        int64
}

// Price is the server's total of the bill, by Ubiregi's formula.
func (c *Checkout) Price() int64 {
	var p int64
	for _, it := range c.Items {
		p += it.Sales + it.Tax - it.DiscountSales - it.DiscountTax
	}
	return p
}

// Fault is a failure the next matching requests get.
type Fault struct {
	// Path is a prefix of the request path; empty means every /api/ path.
	Path string
	// Status answers with this code (e.g. 429, 500, 503) instead.
	Status     int
	RetryAfter time.Duration
	// Truncate sends only the first half of the real body.
	Truncate bool
	// Garbage replaces the body with this text (status 200).
	Garbage string
	// Delay holds the answer back (real time), to trip client timeouts.
	Delay time.Duration
	// Times is how many requests it hits (default 1).
	Times int
}

// Request is one request the fake saw, for assertions.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
}

type grant struct {
	redirectURI string
	expires     time.Time
}

type token struct {
	expires time.Time
}

// Server is a running fake.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu         sync.Mutex
	checkouts  map[int64]*Checkout
	nextID     int64
	codes      map[string]grant
	access     map[string]token
	refresh    map[string]bool
	faults     []Fault
	requests   []Request
	states     []string
	denyAuth   bool
	tokenCalls int
	window     time.Time
	inWindow   int
	clock      RegisterClock // the register's clock (clock.go)
}

// New starts a fake on 127.0.0.1.
func New(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = "ubiregi-client"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "ubiregi-secret"
	}
	if opts.AccountID == 0 {
		opts.AccountID = 1001
	}
	if opts.AccountName == "" {
		opts.AccountName = "Ubiregi Cafe"
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PaymentTypes == nil {
		opts.PaymentTypes = []PaymentType{{1, "現金", "cash"}, {2, "クレジットカード", "card"}}
	}
	if opts.Cashiers == nil {
		opts.Cashiers = []Cashier{{11, "山田"}, {12, "佐藤"}}
	}
	s := &Server{
		opts: opts, checkouts: map[int64]*Checkout{}, nextID: 5000,
		codes: map[string]grant{}, access: map[string]token{}, refresh: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/authorize", s.authorize)
	mux.HandleFunc("POST /oauth2/token", s.token)
	mux.HandleFunc("GET /api/3/accounts/{account}", s.account)
	mux.HandleFunc("GET /api/3/accounts/{account}/checkouts", s.listCheckouts)
	s.srv = httptest.NewServer(s.withFaults(mux))
	return s
}

// URL is the server's root: the AuthBaseURL.
func (s *Server) URL() string { return s.srv.URL }

// APIBaseURL is the API root, like https://ubiregi.com/api/3.
func (s *Server) APIBaseURL() string { return s.srv.URL + "/api/3" }

// ClientID and ClientSecret are the registered app's credentials.
func (s *Server) ClientID() string     { return s.opts.ClientID }
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// AccountID is the id of the fake's one account.
func (s *Server) AccountID() string { return strconv.FormatInt(s.opts.AccountID, 10) }

// Shutdown stops the server. (Close rings up a checkout.)
func (s *Server) Shutdown() { s.srv.Close() }

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Second) }

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- test API: checkouts ---

func (s *Server) add(c Checkout, status string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	now := s.now()
	c.ID = s.nextID
	c.Status = status
	if c.GUID == "" {
		c.GUID = randomString()
	}
	if c.PaidAt.IsZero() && status == "close" {
		c.PaidAt = s.clock.paidAt(now) // the register's clock (clock.go)
	}
	if !c.PaidAt.IsZero() {
		c.PaidAt = c.PaidAt.UTC().Truncate(time.Second)
	}
	c.CreatedAt, c.UpdatedAt = now, now
	c.Items = slices.Clone(c.Items)
	c.Payments = slices.Clone(c.Payments)
	if c.Payments == nil && status == "close" {
		c.Payments = []Payment{{PaymentTypeID: 1, Amount: c.Price() + c.Change}}
	}
	s.checkouts[c.ID] = &c
	return strconv.FormatInt(c.ID, 10)
}

// Close rings up a closed (paid) checkout and returns its id. Zero PaidAt
// is now; missing payments are one cash payment of price + change.
func (s *Server) Close(c Checkout) string { return s.add(c, "close") }

// Open starts a bill that is not paid yet.
func (s *Server) Open(c Checkout) string { return s.add(c, "open") }

// Cancel cancels a closed checkout.
func (s *Server) Cancel(id string) { s.Update(id, func(c *Checkout) { c.Status = "cancel" }) }

// Delete throws a checkout away.
func (s *Server) Delete(id string) { s.Update(id, func(c *Checkout) { c.Status = "deleted" }) }

// Update edits a checkout; its updated_at becomes now. It panics on an
// unknown id: that is a broken test, not a fault to simulate.
func (s *Server) Update(id string, fn func(*Checkout)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.ParseInt(id, 10, 64)
	c, ok := s.checkouts[n]
	if !ok {
		panic("fake: no checkout " + id)
	}
	fn(c)
	c.ID = n
	c.UpdatedAt = s.now()
}

// Checkout returns a copy of a stored checkout.
func (s *Server) Checkout(id string) (Checkout, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := strconv.ParseInt(id, 10, 64)
	c, ok := s.checkouts[n]
	if !ok {
		return Checkout{}, false
	}
	return *c, true
}

// --- test API: auth and faults ---

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, f)
}

// Requests returns every request seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// States returns the state parameters the authorize endpoint received.
func (s *Server) States() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.states)
}

// Deny makes the authorize endpoint answer as if the owner clicked "deny".
func (s *Server) Deny(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyAuth = deny
}

// Code grants an authorization code without the browser round trip.
func (s *Server) Code(redirectURI string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := randomString()
	s.codes[code] = grant{redirectURI: redirectURI, expires: s.now().Add(10 * time.Minute)}
	return code
}

// ExpireAccessTokens makes every access token issued so far invalid, as
// if its lifetime were over.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// RevokeRefreshTokens is the owner uninstalling the app: refreshes fail
// with invalid_grant and access tokens die.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
	clear(s.access)
}

// TokenCalls counts requests to the token endpoint.
func (s *Server) TokenCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls
}

// Tokens lists every access and refresh token issued so far, for tests
// that prove none of them leaks into a response or a log line.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for t := range s.access {
		out = append(out, t)
	}
	for t := range s.refresh {
		out = append(out, t)
	}
	return out
}

// --- HTTP ---

func (s *Server) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
		if s.opts.RateLimit > 0 && strings.HasPrefix(r.URL.Path, "/api/") {
			sec := time.Now().Truncate(time.Second)
			if !sec.Equal(s.window) {
				s.window, s.inWindow = sec, 0
			}
			if s.inWindow++; s.inWindow > s.opts.RateLimit {
				s.mu.Unlock()
				w.Header().Set("Retry-After", "1")
				writeJSON(w, http.StatusTooManyRequests, []map[string]string{{"reason": "rate limit exceeded"}})
				return
			}
		}
		var f *Fault
		for i := range s.faults {
			p := s.faults[i].Path
			if p == "" {
				p = "/api/"
			}
			if strings.HasPrefix(r.URL.Path, p) {
				ff := s.faults[i]
				f = &ff
				if s.faults[i].Times--; s.faults[i].Times == 0 {
					s.faults = slices.Delete(s.faults, i, i+1)
				}
				break
			}
		}
		s.mu.Unlock()
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case f.Status != 0:
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.Status)
			fmt.Fprintf(w, `[{"reason":"injected fault %d"}]`, f.Status)
		case f.Garbage != "":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(f.Garbage))
		case f.Truncate:
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body[:len(body)/2])
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect := q.Get("redirect_uri")
	s.mu.Lock()
	s.states = append(s.states, q.Get("state"))
	deny := s.denyAuth
	s.mu.Unlock()
	// An unknown client or redirect URI gets an error page, never a
	// redirect: redirecting there would make the fake an open redirector.
	if q.Get("client_id") != s.opts.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	ru, err := url.Parse(redirect)
	if err != nil || !ru.IsAbs() || len(s.opts.RedirectURIs) > 0 && !slices.Contains(s.opts.RedirectURIs, redirect) {
		http.Error(w, "redirect_uri not registered", http.StatusBadRequest)
		return
	}
	if s.opts.Consent {
		refused, decided := s.consent(w, r)
		if !decided {
			return
		}
		deny = deny || refused
	}
	back := ru.Query()
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	switch {
	case q.Get("response_type") != "code":
		back.Set("error", "unsupported_response_type")
	case deny:
		back.Set("error", "access_denied")
		back.Set("error_description", "The resource owner denied the request.")
	default:
		back.Set("code", s.Code(redirect))
	}
	ru.RawQuery = back.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenCalls++
	s.mu.Unlock()
	id, secret, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.ClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="ubiregi"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		g, ok := s.codes[code]
		delete(s.codes, code) // single use, even when the rest is wrong
		if !ok || now.After(g.expires) || g.redirectURI != r.PostForm.Get("redirect_uri") {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.")
			return
		}
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !s.refresh[rt] {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.")
			return
		}
		if !s.opts.RotateRefreshTokens {
			at := randomString()
			s.access[at] = token{expires: now.Add(s.opts.TokenTTL)}
			s.issue(w, at, rt, now)
			return
		}
		delete(s.refresh, rt)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
		return
	}
	at, rt := randomString(), randomString()
	s.access[at] = token{expires: now.Add(s.opts.TokenTTL)}
	s.refresh[rt] = true
	s.issue(w, at, rt, now)
}

func (s *Server) issue(w http.ResponseWriter, at, rt string, now time.Time) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": at, "token_type": "bearer", "refresh_token": rt,
		"expires_in": int(s.opts.TokenTTL / time.Second), "created_at": now.Unix(),
	})
}

// authed checks X-Ubiregi-Auth-Token and the account in the path.
func (s *Server) authed(w http.ResponseWriter, r *http.Request) bool {
	at := r.Header.Get("X-Ubiregi-Auth-Token")
	s.mu.Lock()
	t, ok := s.access[at]
	now := s.now()
	s.mu.Unlock()
	if at == "" || !ok || !now.Before(t.expires) {
		writeJSON(w, http.StatusUnauthorized, []map[string]string{{"reason": "invalid auth token"}})
		return false
	}
	if a := r.PathValue("account"); a != "current" && a != strconv.FormatInt(s.opts.AccountID, 10) {
		writeJSON(w, http.StatusNotFound, []map[string]string{{"reason": "the resource you requested was not found"}})
		return false
	}
	return true
}

const timeLayout = "2006-01-02T15:04:05Z"

func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	if !s.authed(w, r) {
		return
	}
	pts := []map[string]any{}
	for i, p := range s.opts.PaymentTypes {
		pts = append(pts, map[string]any{"id": p.ID, "name": p.Name, "kind": p.Kind, "position": i, "change": p.Kind == "cash"})
	}
	cs := []map[string]any{}
	for _, c := range s.opts.Cashiers {
		cs = append(cs, map[string]any{"id": c.ID, "name": c.Name})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"account": map[string]any{
			"id": s.opts.AccountID, "name": s.opts.AccountName, "login": "cafe", "currency": "JPY",
			"timezone": "Asia/Tokyo", "date_offset": 6, "payment_types": pts, "cashiers": cs,
			"menus": []int{8}, "tables": []any{}, "customer_tags": []any{}, "parents": []any{}, "children": []any{},
		},
		"timestamp": s.now().Format(timeLayout),
	})
}

// listCheckouts is the collection index: { since ≤ updated_at < until,
// glb < id }, sorted by id, PageSize at a time; next-url carries until =
// this request's timestamp so later pages see the same snapshot.
func (s *Server) listCheckouts(w http.ResponseWriter, r *http.Request) {
	if !s.authed(w, r) {
		return
	}
	q := r.URL.Query()
	parse := func(name string) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, true
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, []map[string]string{{"reason": name + " is not ISO 8601"}})
			return time.Time{}, false
		}
		return t, true
	}
	since, ok := parse("since")
	if !ok {
		return
	}
	until, ok := parse("until")
	if !ok {
		return
	}
	var glb int64
	if v := q.Get("glb"); v != "" {
		var err error
		if glb, err = strconv.ParseInt(v, 10, 64); err != nil {
			writeJSON(w, http.StatusBadRequest, []map[string]string{{"reason": "glb is not an integer"}})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.now()
	if !until.IsZero() {
		ts = until
	}
	var all []*Checkout
	var last time.Time
	for _, c := range s.checkouts {
		if c.UpdatedAt.After(last) {
			last = c.UpdatedAt
		}
		if c.UpdatedAt.Before(since) || !until.IsZero() && !c.UpdatedAt.Before(until) || c.ID <= glb {
			continue
		}
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b *Checkout) int { return cmp.Compare(a.ID, b.ID) })
	if last.IsZero() {
		last = ts
	}
	resp := map[string]any{"timestamp": ts.Format(timeLayout), "last_updated_at": last.Format(timeLayout)}
	if len(all) > s.opts.PageSize {
		all = all[:s.opts.PageSize]
		nq := url.Values{"until": {ts.Format(timeLayout)}, "glb": {strconv.FormatInt(all[len(all)-1].ID, 10)}}
		if !since.IsZero() {
			nq.Set("since", since.UTC().Format(timeLayout))
		}
		// Real next-urls name the numeric account, not "current".
		resp["next-url"] = fmt.Sprintf("%s/api/3/accounts/%d/checkouts?%s", s.srv.URL, s.opts.AccountID, nq.Encode())
	}
	list := make([]any, 0, len(all))
	for _, c := range all {
		list = append(list, wire(c, s.opts.AccountID))
	}
	resp["checkouts"] = list
	writeJSON(w, http.StatusOK, resp)
}

func money(v int64) string { return strconv.FormatInt(v, 10) + ".0" }

func wire(c *Checkout, account int64) map[string]any {
	items := []any{}
	for i, it := range c.Items {
		items = append(items, map[string]any{
			"id": c.ID*100 + int64(i), "menu_item_id": it.MenuItemID, "count": it.Count,
			"sales": money(it.Sales), "tax": money(it.Tax),
			"discount_sales": money(it.DiscountSales), "discount_tax": money(it.DiscountTax),
		})
	}
	pays := []any{}
	for i, p := range c.Payments {
		pays = append(pays, map[string]any{"id": c.ID*100 + int64(i), "payment_type_id": p.PaymentTypeID, "amount": money(p.Amount)})
	}
	var cashier any
	if c.CashierID != 0 {
		cashier = c.CashierID
	}
	var paid any
	if !c.PaidAt.IsZero() {
		paid = c.PaidAt.Format(timeLayout)
	}
	return map[string]any{
		"id": c.ID, "guid": c.GUID, "account_id": account, "paid_at": paid,
		"price": money(c.Price()), "change": money(c.Change), "status": c.Status,
		"cashier_id": cashier, "customers_count": c.CustomersCount,
		"items": items, "payments": pays, "table_ids": []any{}, "customer_tag_ids": []any{},
		"created_at": c.CreatedAt.Format(timeLayout), "updated_at": c.UpdatedAt.Format(timeLayout),
		"modifier": "0.0",
	}
}
