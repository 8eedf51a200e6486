package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
)

// Defaults of the HTTP edge (README, Limits).
const (
	DefaultMaxBodyBytes = 1 << 20 // a dashboard mutation is < 10 KiB, an ingest batch of 1,000 receipts < 1 MiB
	DefaultReadTimeout  = 30 * time.Second
	// DefaultWriteTimeout outlasts the slowest answer the API gives on
	// purpose: syncConnection against a failing provider waits out the
	// client's retries (45–90 s) before it answers.
	DefaultWriteTimeout = 3 * time.Minute
	DefaultIdleTimeout  = 120 * time.Second

	// webhookMaxBody matches what the webhook handlers read (signedhook,
	// webhook): larger bodies are refused before they are read.
	webhookMaxBody = 1 << 20
	// otherMaxBody is for every other route: only the CSV export's POST
	// form ({"where": …}) has a body at all.
	otherMaxBody = 64 << 10
	// readHeaderTimeout bounds the request line and headers, also when
	// the read timeout is turned off.
	readHeaderTimeout = 10 * time.Second
)

// bodyLimit returns the largest body path may carry.
func bodyLimit(cfg Config, path string) int64 {
	switch {
	case path == "/graphql":
		if cfg.MaxBodyBytes > 0 {
			return cfg.MaxBodyBytes
		}
		return DefaultMaxBodyBytes
	case strings.HasPrefix(path, "/webhooks/"):
		return webhookMaxBody
	default:
		return otherMaxBody
	}
}

// limitBodies bounds every request body before anything reads it: a
// declared Content-Length over the route's limit is answered 413 at once
// (the body is never read, the connection is closed), and a chunked body
// fails its reader at the limit (the GraphQL transport answers 413 then).
// It runs first, so an oversized request costs no session lookup.
func limitBodies(cfg Config, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := bodyLimit(cfg, r.URL.Path)
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			writeEdgeError(w, r, http.StatusRequestEntityTooLarge, apperr.BadRequest,
				"リクエストが大きすぎます (request body over "+strconv.FormatInt(limit, 10)+" bytes)")
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// writeEdgeError answers a request refused at the edge like a GraphQL
// error, so clients of /graphql and of the other JSON routes read it alike.
func writeEdgeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	media, ok := responseMedia(r.Header.Get("Accept"))
	if !ok || r.URL.Path != "/graphql" {
		media = mediaJSON
	}
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
		"message": msg, "extensions": map[string]any{"code": code, "reason": apperr.GenericReason(code)},
	}}})
}

// HTTPServer is the http.Server Serve runs (and tests start): read, write
// and idle timeouts so that a client trickling its request, never reading
// its answer or holding an idle keep-alive connection is cut off. Hijacked
// connections (websockets) leave these deadlines behind — net/http clears
// them on Hijack — and keep their own ping/pong and write deadlines
// (server/wsgorilla).
func HTTPServer(cfg Config, h http.Handler, log *slog.Logger) *http.Server {
	rt, wt, it := Timeouts(cfg)
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		ReadHeaderTimeout: min(readHeaderTimeout, nonZero(rt, readHeaderTimeout)),
		ReadTimeout:       rt,
		WriteTimeout:      wt,
		IdleTimeout:       it,
		// net/http's own complaints (TLS handshakes of scanners, panics
		// outside GraphQL) go through the structured log.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Timeouts returns the read, write and idle timeouts of cfg with defaults
// for zero values; a negative value turns one off.
func Timeouts(cfg Config) (read, write, idle time.Duration) {
	pick := func(v, def time.Duration) time.Duration {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	return pick(cfg.ReadTimeout, DefaultReadTimeout), pick(cfg.WriteTimeout, DefaultWriteTimeout),
		pick(cfg.IdleTimeout, DefaultIdleTimeout)
}

func nonZero(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// streaming lets a long response (the CSV export) outlive the server's
// write timeout while it makes progress: each write and flush moves the
// connection's write deadline d ahead, so a client that stops reading is
// still cut off after d.
func streaming(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
		sw.extend()
		next.ServeHTTP(sw, r)
	})
}

type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) extend() {
	// Fails only where there is no connection (test recorders), where
	// there is no deadline to move either.
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.d))
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Flush() {
	w.extend()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
