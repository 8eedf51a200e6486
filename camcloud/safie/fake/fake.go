// Package fake is an in-process Safie API v2: an http.Handler speaking the
// protocol the vendor documents (API key or OAuth2 bearer auth, the device
// list with item_id and offset paging, image at a timestamp, thumbnail,
// media spans, standard events, and the OAuth2 authorization code flow)
// plus a test API to add devices, cut recording gaps, log events, revoke
// keys and inject faults. Its clock is injectable.
//
// Use it either as a handler (New, then httptest.NewServer(s) or mount
// s.ServeHTTP) or started on 127.0.0.1 (Start, then URL). The client's
// BaseURL is the server's root; the OAuth authorize URL is URL()+
// "/auth/authorize" and the token URL URL()+"/v1/auth/token".
//
// Recording: every device records continuously from as far back as the
// retention reaches (Options.Now() − Options.Retention), or from
// Device.RecordingSince when set, up to now — except its gaps (AddGap, and
// the time it spends not streaming after SetStreaming(id, false)). The
// picture of second T is drawn by the simulated camera with T's clock, so
// camera.DecodeTime reads T back; pictures are cached per second.
//
// It does not import the client: it is written from the protocol, so a
// client bug cannot be mirrored by a matching fake bug.
package fake

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/regicam/regicam/camera"
)

// DefaultAPIKey is the key the fake accepts when Options.APIKeys is empty.
const DefaultAPIKey = "safie-fake-api-key-0001"

// Options configure a Safie; zero values take the defaults given.
type Options struct {
	// APIKeys are the valid Safie-API-Key values (default [DefaultAPIKey]).
	APIKeys []string
	// ClientID and ClientSecret are the registered OAuth app (default
	// "safie-client" / "safie-secret").
	ClientID, ClientSecret string
	// Retention is how far back the recording reaches (default 7 days).
	Retention time.Duration
	// Now is the cloud's clock (default time.Now).
	Now func() time.Time
	// Location is the zone the drawn clock and the answers' timestamps use
	// (default Asia/Tokyo).
	Location *time.Location
	// UploadDelay: pictures younger than this are not uploaded yet (404
	// "not yet uploaded"); media ends that long before now. Default 0.
	UploadDelay time.Duration
	// TokenTTL is an access token's lifetime (default 1 hour).
	TokenTTL time.Duration
	// RetryAfter is the Retry-After of injected 429s, in whole seconds
	// (default 1 s; negative: no header).
	RetryAfter time.Duration
}

// Device is a camera of the account.
type Device struct {
	ID     string // device_id
	Serial string
	Name   string // setting.name
	Model  string // model.description
	// ItemIDs are the options contracted on the device (item_id filter);
	// the POS option is one of them.
	ItemIDs   []int
	Streaming bool // status.video_streaming
	// RecordingSince, when set, is when the device started recording:
	// nothing before it (zero: as far back as the retention reaches).
	RecordingSince time.Time
}

type span struct{ from, to time.Time } // to zero: still open

type event struct {
	typ string
	at  time.Time
}

type device struct {
	Device
	gaps   []span
	events []event
}

type frameKey struct {
	name string
	sec  int64
}

// Safie is the fake cloud.
type Safie struct {
	opts  Options
	mux   *http.ServeMux
	cache *lru.Cache[frameKey, []byte]
	srv   *httptest.Server

	mu       sync.Mutex
	devices  map[string]*device
	order    []string
	keys     map[string]bool
	revoked  map[string]bool
	access   map[string]time.Time // token → expiry
	refresh  map[string]bool
	codes    map[string]string // code → redirect_uri
	fails    []int
	delay    time.Duration
	requests []string
}

// New returns a fake; serve it with httptest.NewServer(s) or use Start.
func New(opts Options) *Safie {
	if len(opts.APIKeys) == 0 {
		opts.APIKeys = []string{DefaultAPIKey}
	}
	if opts.ClientID == "" {
		opts.ClientID = "safie-client"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "safie-secret"
	}
	if opts.Retention <= 0 {
		opts.Retention = 7 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = tokyo()
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.RetryAfter == 0 {
		opts.RetryAfter = time.Second
	}
	cache, _ := lru.New[frameKey, []byte](256)
	s := &Safie{
		opts: opts, cache: cache,
		devices: map[string]*device{}, keys: map[string]bool{}, revoked: map[string]bool{},
		access: map[string]time.Time{}, refresh: map[string]bool{}, codes: map[string]string{},
	}
	for _, k := range opts.APIKeys {
		s.keys[k] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/authorize", s.authorize)
	mux.HandleFunc("POST /v1/auth/token", s.token)
	mux.HandleFunc("GET /v2/devices", s.api(s.listDevices))
	mux.HandleFunc("GET /v2/devices/{id}/image", s.api(s.image))
	mux.HandleFunc("GET /v2/devices/{id}/thumbnail", s.api(s.thumbnail))
	mux.HandleFunc("GET /v2/devices/{id}/media", s.api(s.media))
	mux.HandleFunc("GET /v2/devices/{id}/standard_events", s.api(s.events))
	s.mux = mux
	return s
}

// Start serves a new fake on 127.0.0.1; stop closes it.
func Start(opts Options) (s *Safie, stop func()) {
	s = New(opts)
	s.srv = httptest.NewServer(s)
	return s, s.srv.Close
}

// URL is the root of a started fake (the client's BaseURL); "" when the
// fake was not started with Start.
func (s *Safie) URL() string {
	if s.srv == nil {
		return ""
	}
	return s.srv.URL
}

// Handler is the fake as an http.Handler.
func (s *Safie) Handler() http.Handler { return s }

// APIKey is the first valid key.
func (s *Safie) APIKey() string { return s.opts.APIKeys[0] }

// ClientID and ClientSecret are the registered OAuth app's credentials.
func (s *Safie) ClientID() string     { return s.opts.ClientID }
func (s *Safie) ClientSecret() string { return s.opts.ClientSecret }

func tokyo() *time.Location {
	if loc, err := time.LoadLocation("Asia/Tokyo"); err == nil {
		return loc
	}
	return time.FixedZone("JST", 9*60*60)
}

func (s *Safie) now() time.Time { return s.opts.Now() }

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- test API ---

// AddDevice adds a device (an existing id: as SetDevice). A device added
// not streaming is offline from now on: its recording has an open gap
// from now (no disconnect event: it went off before the fake knew it).
func (s *Safie) AddDevice(d Device) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.ItemIDs = slices.Clone(d.ItemIDs)
	if old, ok := s.devices[d.ID]; ok {
		on := d.Streaming
		d.Streaming = old.Streaming
		old.Device = d
		s.setStreaming(old, on)
		return
	}
	nd := &device{Device: d}
	if !d.Streaming {
		nd.gaps = append(nd.gaps, span{from: s.now()})
	}
	s.devices[d.ID] = nd
	s.order = append(s.order, d.ID)
}

// SetDevice replaces a device's description (name, model, serial,
// options), keeping its gaps and events; a change of Streaming acts as
// SetStreaming (event and gap). Unknown ids are added.
func (s *Safie) SetDevice(d Device) { s.AddDevice(d) }

// RemoveDevice deletes a device from the account.
func (s *Safie) RemoveDevice(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.devices, id)
	s.order = slices.DeleteFunc(s.order, func(x string) bool { return x == id })
}

// Device returns a copy of a device.
func (s *Safie) Device(id string) (Device, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[id]
	if !ok {
		return Device{}, false
	}
	out := d.Device
	out.ItemIDs = slices.Clone(out.ItemIDs)
	return out, true
}

// SetStreaming switches a device's stream. Stopping logs a disconnect
// event and opens a recording gap at now; starting logs a connect event
// and closes the gap.
func (s *Safie) SetStreaming(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[id]
	if !ok {
		panic("fake: no device " + id)
	}
	s.setStreaming(d, on)
}

// setStreaming switches d's stream; callers hold mu.
func (s *Safie) setStreaming(d *device, on bool) {
	if d.Streaming == on {
		return
	}
	now := s.now()
	d.Streaming = on
	if !on {
		d.events = append(d.events, event{"disconnect", now})
		d.gaps = append(d.gaps, span{from: now})
		return
	}
	d.events = append(d.events, event{"connect", now})
	for i := range d.gaps {
		if d.gaps[i].to.IsZero() {
			d.gaps[i].to = now
		}
	}
}

// AddGap cuts [from, to) out of a device's recording.
func (s *Safie) AddGap(deviceID string, from, to time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[deviceID]
	if !ok {
		panic("fake: no device " + deviceID)
	}
	d.gaps = append(d.gaps, span{from, to})
}

// AddEvent logs a standard event (connect, disconnect, motion, sound,
// person) of a device at `at`.
func (s *Safie) AddEvent(deviceID, typ string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[deviceID]
	if !ok {
		panic("fake: no device " + deviceID)
	}
	d.events = append(d.events, event{typ, at})
}

// AddKey makes another API key valid.
func (s *Safie) AddKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = true
	delete(s.revoked, key)
}

// RevokeKey kills an API key, an access token or a refresh token.
func (s *Safie) RevokeKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[key] = true
}

// FailNext makes the next n API (/v2/) requests answer status instead: 401,
// 403, 404, 429 (with Retry-After), 500, 503…; status 0 is a 200 with a
// garbage body (neither JSON nor a JPEG).
func (s *Safie) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, status)
	}
}

// Delay holds every API answer back by d (real time) until Delay(0).
func (s *Safie) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests counts the requests seen so far whose path starts with
// pathPrefix ("" counts all), faults included.
func (s *Safie) Requests(pathPrefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.requests {
		if strings.HasPrefix(p, pathPrefix) {
			n++
		}
	}
	return n
}

// Code grants an authorization code without the browser round trip.
func (s *Safie) Code(redirectURI string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := randomString()
	s.codes[code] = redirectURI
	return code
}

// IssueToken grants an access and a refresh token without the OAuth flow.
func (s *Safie) IssueToken() (access, refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issue("")
}

// ExpireTokens ends every access token issued so far (refresh tokens stay).
func (s *Safie) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// issue mints tokens; refresh "" mints a new refresh token too. Callers
// hold mu.
func (s *Safie) issue(refresh string) (string, string) {
	access := "sat_" + randomString()
	s.access[access] = s.now().Add(s.opts.TokenTTL)
	if refresh == "" {
		refresh = "srt_" + randomString()
		s.refresh[refresh] = true
	}
	return access, refresh
}

// Render is the JPEG the fake serves for a device named name at second t
// (what image?timestamp=t answers when t is recorded).
func (s *Safie) Render(name string, t time.Time) ([]byte, error) {
	t = t.Truncate(time.Second)
	k := frameKey{name, t.Unix()}
	if b, ok := s.cache.Get(k); ok {
		return b, nil
	}
	b, err := camera.RenderAt(camera.SimulatedConfig{Name: name, Location: s.opts.Location}, t)
	if err != nil {
		return nil, err
	}
	s.cache.Add(k, b)
	return b, nil
}

// --- HTTP ---

// ServeHTTP answers one request.
func (s *Safie) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.Path)
	s.mu.Unlock()
	s.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"status": status, "message": msg})
}

// api wraps an API endpoint: delay, injected faults, then authentication.
func (s *Safie) api(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		delay := s.delay
		fail, failing := 0, false
		if len(s.fails) > 0 {
			fail, failing = s.fails[0], true
			s.fails = s.fails[1:]
		}
		s.mu.Unlock()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if failing {
			switch fail {
			case 0:
				w.Header().Set("Content-Type", "text/html")
				_, _ = w.Write([]byte("<html><body>Gateway garbled the answer {\"list\": [</body></html>"))
			case http.StatusTooManyRequests:
				if s.opts.RetryAfter > 0 {
					w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.opts.RetryAfter.Seconds()))))
				}
				writeError(w, fail, "Too Many Requests")
			default:
				writeError(w, fail, http.StatusText(fail))
			}
			return
		}
		if msg := s.authenticate(r); msg != "" {
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		h(w, r)
	}
}

// authenticate is "" when the request carries a valid key or token, else
// why not (never echoing the credential).
func (s *Safie) authenticate(r *http.Request) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		exp, known := s.access[bearer]
		switch {
		case !known || s.revoked[bearer]:
			return "invalid access token"
		case !s.now().Before(exp):
			return "access token expired"
		}
		return ""
	}
	if key := r.Header.Get("Safie-API-Key"); key != "" {
		if !s.keys[key] || s.revoked[key] {
			return "invalid API key"
		}
		return ""
	}
	return "authentication required"
}

func intParam(q url.Values, name string, def, lo, hi int) (int, bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

type wireDevice struct {
	DeviceID string `json:"device_id"`
	Serial   string `json:"serial"`
	Setting  struct {
		Name string `json:"name"`
	} `json:"setting"`
	Status struct {
		VideoStreaming bool `json:"video_streaming"`
	} `json:"status"`
	Model struct {
		Description string `json:"description"`
	} `json:"model"`
}

func (s *Safie) listDevices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, ok1 := intParam(q, "offset", 0, 0, math.MaxInt32)
	limit, ok2 := intParam(q, "limit", 20, 1, 100)
	if !ok1 || !ok2 {
		writeError(w, http.StatusBadRequest, "invalid offset or limit")
		return
	}
	item := 0
	if v := q.Get("item_id"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid item_id")
			return
		}
		item = n
	}
	s.mu.Lock()
	var all []wireDevice
	for _, id := range s.order {
		d := s.devices[id]
		if q.Has("item_id") && !slices.Contains(d.ItemIDs, item) {
			continue
		}
		var wd wireDevice
		wd.DeviceID, wd.Serial = d.ID, d.Serial
		wd.Setting.Name = d.Name
		wd.Status.VideoStreaming = d.Streaming
		wd.Model.Description = d.Model
		all = append(all, wd)
	}
	s.mu.Unlock()
	page := []wireDevice{}
	if offset < len(all) {
		page = all[offset:min(len(all), offset+limit)]
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"list": page, "count": len(page), "has_next": offset+len(page) < len(all),
	})
}

// recorded says whether second t of d is in the cloud, else why not (the
// 404's message). Callers hold mu.
func (s *Safie) recorded(d *device, t, now time.Time) string {
	switch {
	case t.Before(now.Add(-s.opts.Retention)):
		return "the requested time is past the retention period"
	case !d.RecordingSince.IsZero() && t.Before(d.RecordingSince):
		return "no recording at the requested time"
	case s.opts.UploadDelay > 0 && t.After(now.Add(-s.opts.UploadDelay)):
		return "not yet uploaded"
	}
	for _, g := range d.gaps {
		if !t.Before(g.from) && (g.to.IsZero() || t.Before(g.to)) {
			return "no recording at the requested time"
		}
	}
	return ""
}

func (s *Safie) device(w http.ResponseWriter, r *http.Request) (*device, bool) {
	d, ok := s.devices[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "device not found")
	}
	return d, ok
}

func (s *Safie) image(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query().Get("timestamp")
	if v == "" {
		s.latest(w, r)
		return
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid timestamp")
		return
	}
	t = t.Truncate(time.Second)
	s.mu.Lock()
	d, ok := s.device(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	now := s.now()
	if t.After(now) {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "timestamp is in the future")
		return
	}
	why := s.recorded(d, t, now)
	name := d.Name
	s.mu.Unlock()
	if why != "" {
		writeError(w, http.StatusNotFound, why)
		return
	}
	s.writeFrame(w, name, t)
}

func (s *Safie) thumbnail(w http.ResponseWriter, r *http.Request) { s.latest(w, r) }

// latest answers the newest recorded second: before an open gap (a camera
// that stopped streaming), its last picture.
func (s *Safie) latest(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	d, ok := s.device(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	now := s.now()
	t := now.Add(-s.opts.UploadDelay).Truncate(time.Second)
	why := ""
	for range len(d.gaps) + 1 {
		why = s.recorded(d, t, now)
		if why == "" {
			break
		}
		moved := false
		for _, g := range d.gaps {
			if !t.Before(g.from) && (g.to.IsZero() || t.Before(g.to)) {
				t = g.from.Add(-time.Second).Truncate(time.Second)
				moved = true
			}
		}
		if !moved {
			break
		}
	}
	name := d.Name
	s.mu.Unlock()
	if why != "" {
		writeError(w, http.StatusNotFound, why)
		return
	}
	s.writeFrame(w, name, t)
}

func (s *Safie) writeFrame(w http.ResponseWriter, name string, t time.Time) {
	b, err := s.Render(name, t)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "rendering failed")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// rangeParams reads start and end by the API's rule: both given, 1 minute
// to 1 day apart, end at least 1 minute ago.
func (s *Safie) rangeParams(w http.ResponseWriter, r *http.Request) (start, end time.Time, ok bool) {
	q := r.URL.Query()
	start, err1 := time.Parse(time.RFC3339Nano, q.Get("start"))
	end, err2 := time.Parse(time.RFC3339Nano, q.Get("end"))
	switch {
	case err1 != nil || err2 != nil:
		writeError(w, http.StatusBadRequest, "start and end must be ISO 8601 times")
	case end.Sub(start) < time.Minute || end.Sub(start) > 24*time.Hour:
		writeError(w, http.StatusBadRequest, "the range must be between 1 minute and 1 day")
	case end.After(s.now().Add(-time.Minute)):
		writeError(w, http.StatusBadRequest, "end must be at least 1 minute ago")
	default:
		return start, end, true
	}
	return time.Time{}, time.Time{}, false
}

func (s *Safie) stamp(t time.Time) string {
	return t.In(s.opts.Location).Format("2006-01-02T15:04:05.999-07:00")
}

func (s *Safie) media(w http.ResponseWriter, r *http.Request) {
	start, end, ok := s.rangeParams(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	d, ok := s.device(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	now := s.now()
	lo := maxTime(start, now.Add(-s.opts.Retention))
	if !d.RecordingSince.IsZero() {
		lo = maxTime(lo, d.RecordingSince)
	}
	hi := minTime(end, now.Add(-s.opts.UploadDelay))
	spans := []span{}
	if lo.Before(hi) {
		spans = append(spans, span{lo, hi})
	}
	for _, g := range d.gaps {
		gto := g.to
		if gto.IsZero() {
			gto = now
		}
		var next []span
		for _, sp := range spans {
			if !g.from.Before(sp.to) || !gto.After(sp.from) {
				next = append(next, sp)
				continue
			}
			if sp.from.Before(g.from) {
				next = append(next, span{sp.from, g.from})
			}
			if gto.Before(sp.to) {
				next = append(next, span{gto, sp.to})
			}
		}
		spans = next
	}
	s.mu.Unlock()
	slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
	list := []map[string]any{}
	for _, sp := range spans {
		list = append(list, map[string]any{
			"timestamp": s.stamp(sp.from),
			"duration":  sp.to.Sub(sp.from).Milliseconds(),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"list": list})
}

var eventTypes = []string{"connect", "disconnect", "motion", "sound", "person"}

func (s *Safie) events(w http.ResponseWriter, r *http.Request) {
	start, end, ok := s.rangeParams(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	offset, ok1 := intParam(q, "offset", 0, 0, math.MaxInt32)
	limit, ok2 := intParam(q, "limit", 20, 1, 100)
	if !ok1 || !ok2 {
		writeError(w, http.StatusBadRequest, "invalid offset or limit")
		return
	}
	types := q["event_types"]
	for _, t := range types {
		if !slices.Contains(eventTypes, t) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown event type %q", t))
			return
		}
	}
	s.mu.Lock()
	d, ok := s.device(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	var all []event
	for _, e := range d.events {
		if e.at.Before(start) || e.at.After(end) || (len(types) > 0 && !slices.Contains(types, e.typ)) {
			continue
		}
		all = append(all, e)
	}
	s.mu.Unlock()
	slices.SortStableFunc(all, func(a, b event) int { return a.at.Compare(b.at) })
	list := []map[string]any{}
	for i := offset; i < len(all) && i < offset+limit; i++ {
		list = append(list, map[string]any{"type": all[i].typ, "timestamp": s.stamp(all[i].at)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"list": list})
}

// --- OAuth2 ---

// authorize approves at once: the owner always says yes.
func (s *Safie) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.opts.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme == "" || redirect.Host == "" {
		http.Error(w, "invalid redirect_uri", http.StatusBadRequest)
		return
	}
	rq := redirect.Query()
	if q.Get("response_type") != "code" {
		rq.Set("error", "unsupported_response_type")
	} else {
		s.mu.Lock()
		code := randomString()
		s.codes[code] = q.Get("redirect_uri")
		s.mu.Unlock()
		rq.Set("code", code)
	}
	if st := q.Get("state"); st != "" {
		rq.Set("state", st)
	}
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (s *Safie) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.opts.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var access, refresh string
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		uri, ok := s.codes[code]
		if !ok || (uri != "" && r.PostForm.Get("redirect_uri") != "" && r.PostForm.Get("redirect_uri") != uri) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "invalid authorization code"})
			return
		}
		delete(s.codes, code)
		access, refresh = s.issue("")
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !s.refresh[rt] || s.revoked[rt] {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "invalid refresh token"})
			return
		}
		access, refresh = s.issue(rt)
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access, "refresh_token": refresh,
		"expires_in": int(s.opts.TokenTTL.Seconds()), "token_type": "Bearer",
	})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
