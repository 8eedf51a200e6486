package graph

import (
	"time"

	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/metrics"
)

// countIngested reports a batch of ingestJournal on /metrics: provider
// "api" (a partner's own receipts, whichever connection their terminals
// belong to), path "api". Outside the resolver files, which gqlgen
// rewrites.
func countIngested(results []ingest.Result, took time.Duration) {
	var created, duplicate, failed int
	for _, res := range results {
		switch res.Status {
		case ingest.Created:
			created++
		case ingest.Duplicate:
			duplicate++
		default:
			failed++
		}
	}
	metrics.Ingested(metrics.PathAPI, metrics.PathAPI, created, duplicate, failed, took)
}
