package app

import (
	"net/netip"
	"time"

	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/server"
)

// Config is everything the process reads at start-up (flags and REGICAM_*
// variables, parsed in main.go); nothing else reads the environment. The
// embedded server.Config is the HTTP part, handed to server.New; the rest
// is read here: database, sign-in, cameras, alerts, POS providers, demo.
type Config struct {
	server.Config
	DataDir     string
	DatabaseURL string
	Demo        string // "auto", "true" or "false"
	DemoEvery   time.Duration
	// DemoPOS also runs a Smaregi fake in the demo, feeding the tenant
	// through the real connector and webhook path.
	DemoPOS bool

	LogLevel string
	// DBMaxConns caps the PostgreSQL connection pool (0: 32). Several
	// replicas, or many test servers, share one max_connections.
	DBMaxConns int

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
	// Footage is the disk recording (app/footage.go): whether this process
	// records, where, for how long and in how many bytes. The zero value
	// records nothing (tests); main.go's flags turn it on.
	Footage footage.Config
	// ClipPrewarm encodes each new receipt's clip of a JPEG-recorded
	// camera in the background (footage/playback/prewarm.go).
	ClipPrewarm bool
	// DemoRTSP also runs an ffmpeg RTSP camera in the demo (when ffmpeg is
	// installed), a camera of the demo tenant recorded as H.264.
	DemoRTSP bool
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
	PublicURL    string // how browsers reach this server, for OAuth redirects
	PollInterval time.Duration
	// ReconcileEvery and ReconcileWindow drive the reconciliation sweep
	// of each POS connection (pos/polling/reconcile.go): how often, and how
	// far back it re-reads; zero takes the defaults (15m, 48h).
	ReconcileEvery      time.Duration
	ReconcileWindow     time.Duration
	SmaregiIDURL        string
	SmaregiAPIURL       string
	UbiregiAuthURL      string
	UbiregiAPIURL       string
	UbiregiClientID     string
	UbiregiClientSecret string

	// The camera cloud (Safie API v2). SafieBaseURL is the API (tests and
	// the demo point it at camcloud/safie/fake); SafiePOSItemID is the
	// POS option's item_id used when a connection names none (0: every
	// device); SafieClientID/Secret, when set, let owners connect by
	// OAuth2, coming back to SafieRedirectURL (default PublicURL +
	// /oauth/safie/callback). SafieSyncEvery is the device sync's period
	// (0: camcloud's default, 1 min).
	SafieBaseURL      string
	SafiePOSItemID    int
	SafieClientID     string
	SafieClientSecret string
	SafieRedirectURL  string
	SafieSyncEvery    time.Duration
	// DemoSafie also runs a Safie fake in the demo and connects the demo
	// tenant to it: its POS-option devices become CLOUD cameras.
	DemoSafie bool

	// Digest is the daily digest by email (app/digest.go).
	Digest DigestConfig
}
