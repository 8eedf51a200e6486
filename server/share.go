package server

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/sharelink"
	"github.com/regicam/regicam/viewer"
)

// ClipPlayer plays a span of a camera's recording as the viewer in
// r.Context() may see it; failures are its own answers (apperr.WriteHTTP).
// footage/playback's Player implements it.
type ClipPlayer interface {
	Serve(w http.ResponseWriter, r *http.Request, cameraID pulid.ID, from, to time.Time, download bool)
}

// Share serves the share links of receipts' clips (package sharelink) to
// visitors without an account:
//
//	GET /share/{token}       a small self-contained page: the receipt and its clip
//	GET /share/{token}/clip  the clip (?download=1: as a file), through Player
//
// No session is needed or used: a signed-in visitor sees what anyone with
// the URL sees. An unknown token is 404, an expired or revoked link 410,
// both as a Japanese page; token lookups are rate limited per client
// address so tokens cannot be guessed at speed. The page shows the
// receipt and nothing else of the account (no ids, no other receipts).
type Share struct {
	Links *sharelink.Service
	// Player plays the clip; nil: the page shows the receipt and the clip
	// route answers 503.
	Player ClipPlayer
	Log    *slog.Logger
	// Limit bounds token lookups per client address; zero takes
	// DefaultShareLimit.
	Limit ShareLimit

	once    sync.Once
	limiter *ipLimiter
}

// ShareLimit is the per-address budget of token lookups: Burst at once,
// refilled at PerSecond. Misses (unknown tokens) cost MissCost, so a
// guesser runs dry long before a viewer whose player makes a few Range
// requests.
type ShareLimit struct {
	Burst     float64
	PerSecond float64
	MissCost  float64
	// MaxAddresses bounds the map of addresses (memory).
	MaxAddresses int
}

// DefaultShareLimit: 60 lookups at once, one a second after that; a miss
// costs ten, so an address guesses at most six tokens a minute.
var DefaultShareLimit = ShareLimit{Burst: 60, PerSecond: 1, MissCost: 10, MaxAddresses: 10000}

// Register adds the share routes to mux (a RouteRegistrar), the clip
// under the server's plain write timeout.
func (h *Share) Register(mux *http.ServeMux) { h.RegisterWith(mux, 0) }

// RegisterWith adds the share routes to mux; a clip is sent at the
// visitor's pace for as long as it makes progress, writeTimeout at a time
// (streaming, httpedge.go), as the dashboard's own clips are.
func (h *Share) RegisterWith(mux *http.ServeMux, writeTimeout time.Duration) {
	mux.HandleFunc("GET /share/{token}", h.page)
	mux.Handle("GET /share/{token}/clip", streaming(writeTimeout, http.HandlerFunc(h.clip)))
}

func (h *Share) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Share) lim() *ipLimiter {
	h.once.Do(func() {
		l := h.Limit
		if l.Burst <= 0 {
			l = DefaultShareLimit
		}
		if l.MaxAddresses <= 0 {
			l.MaxAddresses = DefaultShareLimit.MaxAddresses
		}
		if l.MissCost <= 0 {
			l.MissCost = 1
		}
		h.limiter = &ipLimiter{lim: l, m: map[string]*bucket{}}
	})
	return h.limiter
}

// clientIP is the caller's address as authenticate resolved it (trusted
// proxies' X-Forwarded-For), else the peer.
func clientIP(r *http.Request) string {
	if ip, _ := auth.ClientInfo(r.Context()); ip != "" {
		return ip
	}
	return auth.ClientIP(r)
}

// open looks the token up within the address's budget; it answers the
// request itself (429, 404, 410, 5xx) and returns nil when it did.
func (h *Share) open(w http.ResponseWriter, r *http.Request) (*sharelink.Shared, string) {
	ip := clientIP(r)
	lim := h.lim()
	if wait, ok := lim.take(ip, 1, time.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		h.errorPage(w, http.StatusTooManyRequests, "しばらくしてからもう一度お試しください", "Too many requests.")
		return nil, ip
	}
	sh, err := h.Links.Open(r.Context(), r.PathValue("token"))
	switch {
	case errors.Is(err, sharelink.ErrNotFound):
		lim.charge(ip, lim.lim.MissCost-1, time.Now())
		h.errorPage(w, http.StatusNotFound, "このリンクは見つかりません", "This link does not exist.")
		return nil, ip
	case errors.Is(err, sharelink.ErrGone):
		h.errorPage(w, http.StatusGone, "このリンクは有効期限が切れたか、取り消されました", "This link has expired or was revoked.")
		return nil, ip
	case err != nil:
		h.log().ErrorContext(r.Context(), "share link lookup", "err", err)
		h.errorPage(w, http.StatusServiceUnavailable, "ただいま表示できません。しばらくしてからもう一度お試しください", "Temporarily unavailable.")
		return nil, ip
	}
	return sh, ip
}

// privateHeaders keep a share page and its clip out of caches, search
// engines, frames and other sites' Referer headers.
func privateHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Robots-Tag", "noindex, nofollow, noarchive")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
}

func (h *Share) page(w http.ResponseWriter, r *http.Request) {
	privateHeaders(w)
	sh, ip := h.open(w, r)
	if sh == nil {
		return
	}
	if r.Method != http.MethodHead {
		h.viewed(r, sh, ip)
	}
	nonce := newNonce()
	var buf bytes.Buffer
	if err := sharePage.Execute(&buf, shareView(sh, r.PathValue("token"), nonce, h.Player != nil)); err != nil {
		h.log().ErrorContext(r.Context(), "share page", "err", err)
		h.errorPage(w, http.StatusInternalServerError, "ページを表示できませんでした", "Internal error.")
		return
	}
	w.Header().Set("Content-Security-Policy", pageCSP(nonce))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// viewed counts a page load (a link checker's HEAD is none).
func (h *Share) viewed(r *http.Request, sh *sharelink.Shared, ip string) {
	if err := h.Links.Viewed(r.Context(), sh, ip); err != nil {
		// The visitor still sees the clip; the count is the owner's.
		h.log().WarnContext(r.Context(), "share link view not counted", "link", sh.Link.ID, "err", err)
	}
}

func (h *Share) clip(w http.ResponseWriter, r *http.Request) {
	privateHeaders(w)
	sh, ip := h.open(w, r)
	if sh == nil {
		return
	}
	if h.Player == nil {
		h.errorPage(w, http.StatusServiceUnavailable, "このサーバーでは映像を再生できません", "Playback is not available on this server.")
		return
	}
	// The player reads as a viewer of the link's account confined to the
	// receipt's shop; it is asked for the link's camera and window only,
	// never for anything the visitor names. The caller's own session, if
	// any, is not used.
	ctx := viewer.NewContext(viewer.WithRequest(r.Context()), sh.Viewer(ip))
	// A download is named after the receipt as the dashboard's is, never
	// after an id.
	mark := sharelink.Mark(sh.Entry)
	name := "receipt-" + mark.UTC().Format("20060102-150405")
	if sh.Entry.ReceiptNo != "" {
		name = clipName(sh.Entry, mark)
	}
	w.Header().Set(HeaderMark, mark.UTC().Format(playback.TimeLayout))
	ctx = playback.WithName(ctx, name)
	h.Player.Serve(w, r.WithContext(ctx), sh.Link.CameraID, sh.Link.ClipFrom, sh.Link.ClipTo, isDownload(r))
}

func (h *Share) errorPage(w http.ResponseWriter, status int, ja, en string) {
	nonce := newNonce()
	var buf bytes.Buffer
	_ = shareErrorPage.Execute(&buf, map[string]any{"Nonce": nonce, "Ja": ja, "En": en, "Style": template.CSS(pageStyle)})
	w.Header().Set("Content-Security-Policy", pageCSP(nonce))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageCSP lets the page load its own clip and its nonce'd style and script,
// nothing else: no other origin, no form, no frame, no plugin.
func pageCSP(nonce string) string {
	return "default-src 'none'; media-src 'self'; style-src 'nonce-" + nonce + "'; script-src 'nonce-" + nonce +
		"'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawStdEncoding.EncodeToString(b[:])
}

// shareData is what the page template shows.
type shareData struct {
	Nonce              string
	Style              template.CSS
	Shop               string
	Time               string
	Zone               string
	Register, Receipt  string
	Kind, Amount       string
	Staff, Payment     string
	Items              []shareItem
	Canceled           bool
	Playable           bool
	ClipURL, Download  string
	MarkSec            float64
	MarkLabel, Expires string
}

type shareItem struct{ Name, Quantity, Amount string }

var kindLabels = map[journalentry.Kind]string{
	journalentry.KindPAYMENT: "支払い", journalentry.KindCANCEL: "キャンセル", journalentry.KindMODIFY: "修正",
	journalentry.KindDELETE: "削除", journalentry.KindOTHER: "その他",
}

func shareView(sh *sharelink.Shared, token, nonce string, playable bool) shareData {
	e, l := sh.Entry, sh.Link
	loc, name := time.UTC, ""
	if sh.Shop != nil {
		name = sh.Shop.Name
		if z, err := time.LoadLocation(sh.Shop.Timezone); err == nil {
			loc = z
		}
	}
	mark := sharelink.Mark(e)
	markSec := mark.Sub(l.ClipFrom).Seconds()
	if markSec < 0 {
		markSec = 0
	}
	length := l.ClipTo.Sub(l.ClipFrom).Seconds()
	pct := 0.0
	if length > 0 {
		pct = 100 * markSec / length
	}
	clip := sharelink.PathPrefix + token + "/clip"
	d := shareData{
		Nonce:    nonce,
		Style:    template.CSS(pageStyle + fmt.Sprintf(".mark{left:%.2f%%}", pct)),
		Shop:     name,
		Time:     e.OccurredAt.In(loc).Format("2006年1月2日 15:04:05"),
		Zone:     loc.String(),
		Register: e.RegisterNo,
		Receipt:  e.ReceiptNo,
		Kind:     kindLabels[e.Kind],
		Amount:   yen(e.Total),
		Staff:    e.StaffName,
		Payment:  e.PaymentMethod,
		Canceled: e.CanceledAt != nil,
		Playable: playable,
		ClipURL:  clip,
		Download: clip + "?download=1",
		MarkSec:  markSec,
		MarkLabel: fmt.Sprintf("%d:%02d (%s)", int(markSec)/60, int(markSec)%60,
			mark.In(loc).Format("15:04:05")),
		Expires: l.ExpiresAt.In(loc).Format("2006年1月2日 15:04"),
	}
	for _, it := range e.Items {
		d.Items = append(d.Items, shareItem{Name: it.Name, Quantity: strconv.Itoa(it.Quantity), Amount: yen(it.Amount)})
	}
	return d
}

func yen(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-¥" + string(b)
	}
	return "¥" + string(b)
}

const pageStyle = `body{font-family:system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;margin:0;background:#f5f5f4;color:#1c1917}
main{max-width:760px;margin:0 auto;padding:16px}
h1{font-size:1.2rem;margin:.5rem 0}
.player{position:relative}
video{width:100%;background:#000;border-radius:6px}
.bar{position:relative;height:6px;background:#d6d3d1;border-radius:3px;margin:6px 0 2px}
.mark{position:absolute;top:-4px;width:3px;height:14px;background:#dc2626}
.note{font-size:.85rem;color:#57534e}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:6px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e7e5e4;font-size:.95rem}
th{width:9em;color:#57534e;font-weight:normal}
.items td:last-child,.items th:last-child{text-align:right}
a.button,button{display:inline-block;margin:8px 8px 8px 0;padding:6px 12px;border:1px solid #a8a29e;border-radius:4px;background:#fff;color:#1c1917;text-decoration:none;font-size:.9rem;cursor:pointer}
`

var sharePage = template.Must(template.New("share").Parse(`<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow,noarchive">
<meta name="referrer" content="no-referrer">
<title>共有された取引の映像</title>
<style nonce="{{.Nonce}}">{{.Style}}</style>
</head><body><main>
<h1>{{if .Shop}}{{.Shop}} — {{end}}取引の映像</h1>
{{if .Playable}}<div class="player">
<video id="clip" controls preload="metadata" playsinline src="{{.ClipURL}}"></video>
<div class="bar" title="取引の瞬間"><div class="mark"></div></div>
<p class="note">赤い印が取引の瞬間です: 動画の {{.MarkLabel}}</p>
<button id="seek" type="button">取引の瞬間へ</button><a class="button" href="{{.Download}}" download>映像をダウンロード</a>
</div>
<script nonce="{{.Nonce}}">(function(){var v=document.getElementById("clip");document.getElementById("seek").addEventListener("click",function(){v.currentTime={{.MarkSec}};v.play();});})();</script>
{{else}}<p class="note">このサーバーでは映像を再生できません。</p>{{end}}
<table>
<tr><th>店舗</th><td>{{.Shop}}</td></tr>
<tr><th>日時</th><td>{{.Time}} <span class="note">({{.Zone}})</span></td></tr>
<tr><th>レジ</th><td>{{.Register}}</td></tr>
<tr><th>レシート番号</th><td>{{.Receipt}}</td></tr>
<tr><th>種類</th><td>{{.Kind}}{{if .Canceled}} (取消済み){{end}}</td></tr>
<tr><th>金額</th><td>{{.Amount}}</td></tr>
{{if .Payment}}<tr><th>支払方法</th><td>{{.Payment}}</td></tr>{{end}}
<tr><th>担当者</th><td>{{.Staff}}</td></tr>
</table>
{{if .Items}}<h2 class="note">明細</h2>
<table class="items"><tr><th>品名</th><th>数量</th><th>金額</th></tr>
{{range .Items}}<tr><td>{{.Name}}</td><td>{{.Quantity}}</td><td>{{.Amount}}</td></tr>
{{end}}</table>{{end}}
<p class="note">このリンクの有効期限: {{.Expires}}。リンクを知っている人は誰でもこのページを見られます。</p>
</main></body></html>
`))

var shareErrorPage = template.Must(template.New("share-error").Parse(`<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow,noarchive">
<meta name="referrer" content="no-referrer">
<title>{{.Ja}}</title>
<style nonce="{{.Nonce}}">{{.Style}}</style>
</head><body><main><h1>{{.Ja}}</h1><p class="note">{{.En}}</p></main></body></html>
`))

// ipLimiter is a token bucket per client address, in a bounded map: when
// it is full, addresses whose buckets are full again are forgotten, and if
// none are, an arbitrary one (a full map must not lock everyone out).
type ipLimiter struct {
	lim ShareLimit
	mu  sync.Mutex
	m   map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func (l *ipLimiter) get(ip string, now time.Time) *bucket {
	b := l.m[ip]
	if b == nil {
		if len(l.m) >= l.lim.MaxAddresses {
			l.sweep(now)
		}
		b = &bucket{tokens: l.lim.Burst, at: now}
		l.m[ip] = b
		return b
	}
	b.tokens = min(l.lim.Burst, b.tokens+now.Sub(b.at).Seconds()*l.lim.PerSecond)
	b.at = now
	return b
}

func (l *ipLimiter) sweep(now time.Time) {
	for ip, b := range l.m {
		if b.tokens+now.Sub(b.at).Seconds()*l.lim.PerSecond >= l.lim.Burst {
			delete(l.m, ip)
		}
	}
	for ip := range l.m {
		if len(l.m) < l.lim.MaxAddresses {
			return
		}
		delete(l.m, ip)
	}
}

// take spends n of ip's tokens, or says how long until it could.
func (l *ipLimiter) take(ip string, n float64, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(ip, now)
	if b.tokens < n {
		return time.Duration((n - b.tokens) / l.lim.PerSecond * float64(time.Second)), false
	}
	b.tokens -= n
	return 0, true
}

// charge spends n more of ip's tokens, going below zero if need be (a
// miss after the lookup was let through).
func (l *ipLimiter) charge(ip string, n float64, now time.Time) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.get(ip, now).tokens -= n
}
