// Package metrics holds regicam's Prometheus metrics: one registry that
// /metrics serves (server, behind its token, address allowlist or
// loopback rule), the metric names every dashboard in
// docs/grafana-regicam.json is built on, and a small function per thing
// measured, so a package that reports something says what happened, not
// how Prometheus counts it (docs/ARCHITECTURE.md).
//
// Labels are bounded sets (provider, path, outcome, reason, kind) or ids of
// rows the operator configured (terminals): never request data, never a
// value a client chooses.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Registry is what /metrics serves. A registry of our own (not the global
// default) so tests and several servers in one process do not collide on
// registration, and nothing a library registers globally leaks out.
var Registry = prometheus.NewRegistry()

// Paths an entry comes in by.
const (
	PathPoll    = "poll"
	PathWebhook = "webhook"
	PathAPI     = "api"
	PathDemo    = "demo"
	PathSweep   = "reconcile"
)

var (
	ingestEntries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regicam_ingest_entries_total",
		Help: "Journal items handed to ingest, by provider, path and result (created, duplicate, failed).",
	}, []string{"provider", "path", "result"})
	ingestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "regicam_ingest_seconds",
		Help:    "Time to ingest one batch (one transaction per item included), by provider and path.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"provider", "path"})
	providerRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regicam_provider_requests_total",
		Help: "Requests to outside APIs (POS providers, the camera cloud), by provider and outcome (ok, rate_limited, auth, error).",
	}, []string{"provider", "outcome"})
	reconcileFindings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regicam_reconcile_findings_total",
		Help: "What reconciliation sweeps found, by provider and kind (vanished, changed, missing, recovered, lost).",
	}, []string{"provider", "kind"})
	thumbnailSkew = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "regicam_thumbnail_skew_seconds",
		Help:    "|picture time − receipt time (corrected)| of every thumbnail with a known skew, by camera source kind.",
		Buckets: []float64{.1, .25, .5, 1, 2, 5, 10, 30, 60},
	}, []string{"source"})
	clockOffset = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regicam_register_clock_offset_seconds",
		Help: "Estimated offset of a register's clock from true time (positive: ahead), per terminal id.",
	}, []string{"terminal"})
)

func init() {
	Registry.MustRegister(ingestEntries, ingestSeconds, providerRequests, reconcileFindings, thumbnailSkew, clockOffset)
}

// Ingested counts one batch handed to ingest: created, duplicate and failed
// items, and how long the batch took.
func Ingested(provider, path string, created, duplicate, failed int, took time.Duration) {
	ingestEntries.WithLabelValues(provider, path, "created").Add(float64(created))
	ingestEntries.WithLabelValues(provider, path, "duplicate").Add(float64(duplicate))
	ingestEntries.WithLabelValues(provider, path, "failed").Add(float64(failed))
	ingestSeconds.WithLabelValues(provider, path).Observe(took.Seconds())
}

// Provider request outcomes.
const (
	OutcomeOK          = "ok"
	OutcomeRateLimited = "rate_limited"
	OutcomeAuth        = "auth"
	OutcomeError       = "error"
)

// ProviderRequest counts one request to an outside API.
func ProviderRequest(provider, outcome string) {
	providerRequests.WithLabelValues(provider, outcome).Inc()
}

// ReconcileFinding counts n findings of one kind of a reconciliation sweep.
func ReconcileFinding(provider, kind string, n int) {
	if n > 0 {
		reconcileFindings.WithLabelValues(provider, kind).Add(float64(n))
	}
}

// ThumbnailSkew records the skew of one thumbnail whose skew is known.
func ThumbnailSkew(source string, skew time.Duration) {
	if skew < 0 {
		skew = -skew
	}
	thumbnailSkew.WithLabelValues(source).Observe(skew.Seconds())
}

// ClockOffset sets a terminal's estimated clock offset; known false drops
// the series (the offset is unknown again, or the terminal is gone).
func ClockOffset(terminalID string, offset time.Duration, known bool) {
	if !known {
		clockOffset.DeleteLabelValues(terminalID)
		return
	}
	clockOffset.WithLabelValues(terminalID).Set(offset.Seconds())
}
