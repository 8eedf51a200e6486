package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/metrics"
)

// MetricsConfig protects GET /metrics (README, メトリクス).
//
//   - Allow set: only clients in these networks are answered (the client
//     address as --trusted-proxies resolves it, the same as sign-in's).
//   - Token set: the request must carry "Authorization: Bearer <Token>".
//   - Both: both are required.
//   - Neither: only loopback clients that are not forwarded by a proxy, so
//     a server on a public address does not publish its metrics by default.
//
// A client whose address is not allowed is answered 404, as if the route
// did not exist; an allowed address with a missing or wrong token gets 401
// with WWW-Authenticate, so an operator setting up a scrape sees why.
type MetricsConfig struct {
	Token string         // --metrics-token / REGICAM_METRICS_TOKEN; never logged
	Allow []netip.Prefix // --metrics-allow
}

// metricsScrapeTimeout bounds one scrape; Prometheus's own default scrape
// timeout is 10s.
const metricsScrapeTimeout = 10 * time.Second

// metricsHandler serves metrics.Registry in the Prometheus text format
// behind cfg's protection. It sits in front of the authenticate middleware
// (routes): the metrics token is not an API key and must not be read as one.
//
// A collector that fails does not fail the scrape: promhttp's
// ContinueOnError serves every series it could gather (200), logs the
// error and counts it in promhttp_metric_handler_errors_total{cause}, which
// the dashboard shows; only a scrape that gathered nothing at all is a 500.
// A silent gap in one collector is so visible instead of blanking the
// whole dashboard.
func (s *Server) metricsHandler(cfg MetricsConfig) http.Handler {
	serve := promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{
		ErrorLog:            promLog{s.log},
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            metrics.Registry,
		MaxRequestsInFlight: 4,
		Timeout:             metricsScrapeTimeout,
	})
	var want [sha256.Size]byte
	if cfg.Token != "" {
		want = sha256.Sum256([]byte(cfg.Token))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.metricsAddressAllowed(cfg, r) {
			http.NotFound(w, r)
			return
		}
		if cfg.Token != "" {
			scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
			// Equal-length digests: the comparison takes the same time
			// whatever the token's length or its first wrong byte.
			got := sha256.Sum256([]byte(strings.TrimSpace(token)))
			if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="regicam metrics"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		serve.ServeHTTP(w, r)
	})
}

// metricsAddressAllowed applies MetricsConfig's address rule to r.
func (s *Server) metricsAddressAllowed(cfg MetricsConfig, r *http.Request) bool {
	ip := auth.ClientIP(r)
	if s.d.Auth != nil {
		ip = s.d.Auth.ClientIP(r) // X-Forwarded-For only from --trusted-proxies
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	if len(cfg.Allow) > 0 {
		for _, p := range cfg.Allow {
			if p.Contains(addr) {
				return true
			}
		}
		return false
	}
	if cfg.Token != "" {
		return true
	}
	if !addr.IsLoopback() {
		return false
	}
	// A loopback peer that forwards a request for someone else (a reverse
	// proxy on this host not named in --trusted-proxies) is not a local
	// client: its client may be anywhere.
	for _, h := range proxyHeaders {
		if r.Header.Get(h) != "" && ip == auth.ClientIP(r) {
			return false
		}
	}
	return true
}

// proxyHeaders are what reverse proxies add for the client they forward;
// any one of them on a loopback request means it came through a proxy.
// (A proxy that adds none cannot be told from a local client: the README
// says to set --metrics-token or --metrics-allow behind one.)
var proxyHeaders = []string{"X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Host", "X-Forwarded-Proto", "Via"}

// promLog is promhttp's error log on the server's logger.
type promLog struct{ log *slog.Logger }

func (l promLog) Println(v ...any) {
	l.log.Warn("metrics scrape", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
