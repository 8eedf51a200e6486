// Package server wires HTTP: GraphQL (POST, GET, websocket), health
// probes, CORS and the embedded dashboard.
package server

import (
	"net/netip"
	"time"
)

// Config is everything the process reads at start-up (flags and REGICAM_*
// variables); nothing else reads the environment.
type Config struct {
	Addr        string
	DataDir     string
	DatabaseURL string
	Demo        string // "auto", "true" or "false"
	DemoEvery   time.Duration
	// DemoPOS also runs a Smaregi fake in the demo, feeding the tenant
	// through the real connector and webhook path.
	DemoPOS       bool
	CORSOrigins   []string
	Introspection bool

	// GraphQL operation limits (server/oplimit; README, Limits). Zero
	// takes the default.
	MaxDocumentBytes int // query text, checked before parsing (32 KiB)
	MaxFields        int // fields and spreads after expanding fragments (1,000)
	ComplexityLimit  int // cost: page size × node for connections, a typical length × node for other lists (20,000)
	DepthLimit       int // nesting (12)
	MaxResponseBytes int // JSON of one response or event (8 MiB)

	LogLevel        string
	ShutdownTimeout time.Duration
	// HTTP edge (server/httpedge.go); zero takes the default, a negative
	// timeout turns it off. MaxBodyBytes bounds a /graphql request body
	// (default 1 MiB).
	MaxBodyBytes int64
	ReadTimeout  time.Duration // whole request, body included (30s)
	WriteTimeout time.Duration // from the end of the headers to the end of the answer (3m)
	IdleTimeout  time.Duration // keep-alive connection between requests (120s)
	// DBMaxConns caps the PostgreSQL connection pool (0: 32). Several
	// replicas, or many test servers, share one max_connections.
	DBMaxConns int
	// Websocket send queues: bytes waiting for one connection, bytes
	// waiting across the connections of one session or API key, and how
	// many connections one session or API key may hold (0: livews's
	// defaults 4 MiB, 16 MiB, 20; negative: unbounded).
	WSQueueBytes           int64
	WSCredentialQueueBytes int64
	WSConnsPerCredential   int

	// Sign-in. Zero values take auth's defaults (15 min lock, 50 req/s
	// burst 100 per API key, revocation checked every 2 s).
	LockoutDuration time.Duration // longest wait between login attempts after repeated failures
	// TrustedProxies may name the client in X-Forwarded-For (--trusted-proxies).
	TrustedProxies  []netip.Prefix
	APIKeyRate      float64
	APIKeyBurst     int
	RevocationCheck time.Duration
	AuthNow         func() time.Time // tests move the clock; nil is time.Now
	// DemoLogin receives the demo owner's "demo login: EMAIL PASSWORD"
	// line; nil prints it on stdout.
	DemoLogin func(line string)

	// SecretKey seals stored credentials ("id:base64[,id:base64…]"); empty
	// means a key file beside the embedded database.
	SecretKey string
	// Camera recording and thumbnails.
	RecorderInterval   time.Duration // time between frames, default 1s
	RecorderDepth      int           // frames kept per camera, default 600
	FrameTolerance     time.Duration // farthest a frame may be from the receipt, default 2s
	ThumbnailWait      time.Duration // how long ingest waits for a frame, default 2s
	ThumbnailRetention time.Duration // 0 keeps thumbnails forever
	// AlertWebhookAllowPrivate lets alert webhooks reach private, loopback
	// and link-local addresses (refused by default: SSRF).
	AlertWebhookAllowPrivate bool
	// CameraDenyPrivate refuses camera URLs on loopback and private
	// addresses (multi-tenant hosting); link-local and metadata addresses
	// are refused whatever it says. The zero value allows them: cameras
	// live on the shop's own network.
	CameraDenyPrivate bool
	// CameraTestTimeout bounds one camera source test (default 5s).
	CameraTestTimeout time.Duration

	// POS providers. Base URLs are configuration so tests and the demo
	// point the same clients at the fakes.
	PublicURL           string // how browsers reach this server, for OAuth redirects
	PollInterval        time.Duration
	SmaregiIDURL        string
	SmaregiAPIURL       string
	UbiregiAuthURL      string
	UbiregiAPIURL       string
	UbiregiClientID     string
	UbiregiClientSecret string
}
