// Package server is the HTTP layer and only that: routes, middleware
// (request ids, authentication, CORS, body and time limits), GraphQL (POST,
// GET, websocket) with its extensions, health probes and the embedded
// dashboard. It serves what package app built and starts no background
// work of its own (docs/ARCHITECTURE.md).
package server

import (
	"time"
)

// Config is the HTTP side of the process's settings: listen address, CORS,
// introspection, GraphQL operation and body limits, timeouts, websocket
// queues. app.Config embeds it with everything else main.go reads from
// flags and REGICAM_* variables, so one value still carries the whole
// configuration and app hands this part to New.
type Config struct {
	Addr          string
	CORSOrigins   []string
	Introspection bool

	// GraphQL operation limits (server/oplimit; README, Limits). Zero
	// takes the default.
	MaxDocumentBytes int // query text, checked before parsing (32 KiB)
	MaxFields        int // fields and spreads after expanding fragments (1,000)
	ComplexityLimit  int // cost: page size × node for connections, a typical length × node for other lists (20,000)
	DepthLimit       int // nesting (12)
	MaxResponseBytes int // JSON of one response or event (8 MiB)
	ShutdownTimeout  time.Duration
	// HTTP edge (server/httpedge.go); zero takes the default, a negative
	// timeout turns it off. MaxBodyBytes bounds a /graphql request body
	// (default 1 MiB).
	MaxBodyBytes int64
	ReadTimeout  time.Duration // whole request, body included (30s)
	WriteTimeout time.Duration // from the end of the headers to the end of the answer (3m)
	IdleTimeout  time.Duration // keep-alive connection between requests (120s)
	// Websocket send queues: bytes waiting for one connection, bytes
	// waiting across the connections of one session or API key, and how
	// many connections one session or API key may hold (0: livews's
	// defaults 4 MiB, 16 MiB, 20; negative: unbounded).
	WSQueueBytes           int64
	WSCredentialQueueBytes int64
	WSConnsPerCredential   int
	// Metrics protects GET /metrics (server/metrics.go): token, address
	// allowlist, or loopback only when neither is set.
	Metrics MetricsConfig
}
