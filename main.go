// Command regicam serves the POS journal beside camera pictures: GraphQL
// API, live subscriptions and the dashboard, in one binary.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/server"
	"github.com/regicam/regicam/server/oplimit"
)

// subcommands are the verbs besides serving (`regicam user create …`,
// `regicam setup …`); each lives in its own cli_*.go file and registers here.
var subcommands = map[string]func(args []string) int{}

func main() {
	if len(os.Args) > 1 {
		if cmd, ok := subcommands[os.Args[1]]; ok {
			os.Exit(cmd(os.Args[2:]))
		}
	}
	cfg, err := parseConfig(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "regicam:", err)
		os.Exit(2)
	}
	log := newLogger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("regicam stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg app.Config, log *slog.Logger) error {
	app.TuneGC()
	a, err := app.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	db := "sqlite:" + cfg.DataDir
	if cfg.DatabaseURL != "" {
		db = "postgres"
	}
	log.Info("regicam ready", "database", db, "graphql", "http://"+displayAddr(cfg.Addr)+"/graphql")
	return server.Serve(ctx, cfg.Config, a.Handler, log)
}

func displayAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "localhost" + addr
	}
	return addr
}

// parseConfig reads flags; each flag's default comes from its REGICAM_*
// variable, so either works and a flag wins.
func parseConfig(args []string, getenv func(string) string) (app.Config, error) {
	env := func(name, def string) string {
		if v := getenv("REGICAM_" + name); v != "" {
			return v
		}
		return def
	}
	envBool := func(name string, def bool) bool {
		b, err := strconv.ParseBool(env(name, strconv.FormatBool(def)))
		return err == nil && b || err != nil && def
	}
	var cfg app.Config
	var cors string
	var cameraAllowPrivate, mailAllowPrivate bool
	fs := flag.NewFlagSet("regicam", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", env("ADDR", ":8080"), "listen address (REGICAM_ADDR)")
	fs.StringVar(&cfg.DataDir, "data-dir", env("DATA_DIR", "./data"), "directory for the embedded database and files (REGICAM_DATA_DIR)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", env("DATABASE_URL", ""), "postgres://… to use PostgreSQL instead of embedded SQLite (REGICAM_DATABASE_URL)")
	cfg.Demo = env("DEMO", "auto")
	fs.Var((*demoFlag)(&cfg.Demo), "demo", "demo tenant with live receipts: auto (fresh or demo-only database), true, false (REGICAM_DEMO)")
	fs.DurationVar(&cfg.DemoEvery, "demo-every", 3*time.Second, "average time between demo receipts")
	fs.BoolVar(&cfg.DemoPOS, "demo-pos", envBool("DEMO_POS", true), "in demo mode, also run built-in Smaregi and Ubiregi fakes that ring up sales, reached through the real webhook, poller and OAuth connector (REGICAM_DEMO_POS)")
	fs.StringVar(&cors, "cors-origins", env("CORS_ORIGINS", "http://localhost:5173"), "comma-separated origins allowed to call the API from a browser (REGICAM_CORS_ORIGINS)")
	fs.BoolVar(&cfg.Introspection, "introspection", envBool("INTROSPECTION", true), "allow GraphQL introspection (REGICAM_INTROSPECTION)")
	fs.IntVar(&cfg.MaxDocumentBytes, "max-document-bytes", oplimit.DefaultMaxDocumentBytes, "longest GraphQL query text in bytes; longer ones are refused unparsed (DOCUMENT_TOO_LARGE)")
	fs.IntVar(&cfg.MaxFields, "max-fields", oplimit.DefaultMaxFields, "most fields and fragment spreads a GraphQL document may expand to (FIELD_LIMIT_EXCEEDED)")
	fs.IntVar(&cfg.ComplexityLimit, "complexity-limit", oplimit.DefaultMaxCost, "highest GraphQL operation cost: 1 per field, page size × node for connections (COMPLEXITY_LIMIT_EXCEEDED)")
	fs.IntVar(&cfg.DepthLimit, "depth-limit", oplimit.DefaultMaxDepth, "deepest GraphQL selection nesting (DEPTH_LIMIT_EXCEEDED)")
	fs.IntVar(&cfg.MaxResponseBytes, "max-response-bytes", oplimit.DefaultMaxResponseBytes, "largest GraphQL response (or subscription event) in bytes; larger ones are replaced by RESPONSE_TOO_LARGE")
	fs.StringVar(&cfg.LogLevel, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (REGICAM_LOG_LEVEL)")
	fs.IntVar(&cfg.DBMaxConns, "db-max-conns", 32, "most PostgreSQL connections this server opens (mind max_connections across replicas)")
	fs.Int64Var(&cfg.WSQueueBytes, "ws-queue-bytes", 4<<20, "bytes that may wait for one websocket connection; a client that falls further behind is closed (1008)")
	fs.Int64Var(&cfg.WSCredentialQueueBytes, "ws-credential-queue-bytes", 16<<20, "bytes that may wait across the websocket connections of one session or API key; past it the one holding the most is closed (1008)")
	fs.IntVar(&cfg.WSConnsPerCredential, "ws-conns-per-credential", 20, "websocket connections one session or API key may hold open; connection_init beyond it is refused (4429)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to drain requests on SIGTERM")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest /graphql request body; larger ones are answered 413 unread")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", server.DefaultReadTimeout, "time to read a whole request, body included (negative: none)")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", server.DefaultWriteTimeout, "time to write an answer; the CSV export gets this much per chunk (negative: none)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "how long an idle keep-alive connection stays open (negative: none)")
	cfg.SecretKey = env("SECRET_KEY", "")
	fs.DurationVar(&cfg.LockoutDuration, "lockout", durationEnv(env("LOCKOUT", "15m")), "longest wait between login attempts for one email from one address after 5 wrong passwords (1s, 2s, 4s … up to this) (REGICAM_LOCKOUT)")
	var proxies string
	fs.StringVar(&proxies, "trusted-proxies", env("TRUSTED_PROXIES", ""), "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client (REGICAM_TRUSTED_PROXIES)")
	fs.StringVar(&cfg.Metrics.Token, "metrics-token", env("METRICS_TOKEN", ""), "Bearer token /metrics requires; prefer REGICAM_METRICS_TOKEN, a flag shows in the process list (README, メトリクス)")
	var metricsAllow string
	fs.StringVar(&metricsAllow, "metrics-allow", env("METRICS_ALLOW", ""), "comma-separated CIDRs of clients /metrics answers; with neither this nor --metrics-token only loopback clients (REGICAM_METRICS_ALLOW)")
	fs.Float64Var(&cfg.APIKeyRate, "api-key-rate", 50, "requests per second each API key may make (per server)")
	fs.IntVar(&cfg.APIKeyBurst, "api-key-burst", 100, "burst of requests each API key may make")
	fs.DurationVar(&cfg.RecorderInterval, "recorder-interval", time.Second, "time between recorded camera frames")
	fs.IntVar(&cfg.RecorderDepth, "recorder-depth", 600, "frames kept per camera (with 1s interval: 10 minutes of late POS data still get their own picture)")
	fs.DurationVar(&cfg.FrameTolerance, "frame-tolerance", 2*time.Second, "farthest a frame may be from the receipt's time; beyond it the entry gets no thumbnail and a reason")
	fs.DurationVar(&cfg.ThumbnailWait, "thumbnail-wait", 2*time.Second, "how long ingest waits for a frame before publishing the entry without it (a THUMBNAIL event follows)")
	fs.DurationVar(&cfg.ThumbnailRetention, "thumbnail-retention", durationEnv(env("THUMBNAIL_RETENTION", "0")), "delete thumbnails older than this (0 keeps them; journal entries are never deleted) (REGICAM_THUMBNAIL_RETENTION)")
	checkRecording := recordingFlags(fs, env, envBool, &cfg.Footage.Record, &cfg.Footage.Dir, &cfg.Footage.Retention,
		&cfg.Footage.Budget, &cfg.Footage.JPEGFPS, &cfg.DemoRTSP)
	fs.BoolVar(&cfg.ClipPrewarm, "clip-prewarm", envBool("CLIP_PREWARM", true), "encode the clip of each new receipt of a JPEG-recorded camera once its lead-out is recorded, so a click plays at once (about half a second of one core per receipt; needs ffmpeg) (REGICAM_CLIP_PREWARM)")
	fs.BoolVar(&cfg.Digest.Off, "digest-off", envBool("DIGEST_OFF", false), "do not send daily digests from this process; rules and settings stay editable (REGICAM_DIGEST_OFF)")
	fs.BoolVar(&cfg.AlertWebhookAllowPrivate, "alert-webhook-allow-private", envBool("ALERT_WEBHOOK_ALLOW_PRIVATE", false), "let alert webhook URLs point at private, loopback or link-local addresses (receivers inside your own network) (REGICAM_ALERT_WEBHOOK_ALLOW_PRIVATE)")
	fs.BoolVar(&cameraAllowPrivate, "camera-allow-private", envBool("CAMERA_ALLOW_PRIVATE", true), "let camera URLs point at loopback and private addresses (cameras on the shop's network); false for multi-tenant hosting. Link-local and cloud metadata addresses are always refused (REGICAM_CAMERA_ALLOW_PRIVATE)")
	fs.BoolVar(&mailAllowPrivate, "mail-allow-private", envBool("MAIL_ALLOW_PRIVATE", true), "let the daily-digest mail server be on loopback and private addresses (the owner's own network); false for multi-tenant hosting. Link-local and cloud metadata addresses are always refused (REGICAM_MAIL_ALLOW_PRIVATE)")
	fs.DurationVar(&cfg.CameraTestTimeout, "camera-test-timeout", 5*time.Second, "how long a camera source test (testCameraSource, and the check when a camera is added) waits for one frame")
	fs.StringVar(&cfg.PublicURL, "public-url", env("PUBLIC_URL", "http://localhost:8080"), "how browsers reach this server (OAuth redirects) (REGICAM_PUBLIC_URL)")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", 30*time.Second, "time between polls of each POS connection (jittered ±20%)")
	fs.DurationVar(&cfg.ReconcileEvery, "reconcile-every", durationEnv(env("RECONCILE_EVERY", "15m")), "how often each POS connection's recent past is re-read and compared with the journal: vanished sales, missed changes, missing receipt numbers (REGICAM_RECONCILE_EVERY)")
	fs.DurationVar(&cfg.ReconcileWindow, "reconcile-window", durationEnv(env("RECONCILE_WINDOW", "48h")), "how far back each reconciliation sweep re-reads (REGICAM_RECONCILE_WINDOW)")
	fs.StringVar(&cfg.SmaregiIDURL, "smaregi-id-url", env("SMAREGI_ID_URL", "https://id.smaregi.jp"), "Smaregi token host (sandbox: https://id.smaregi.dev) (REGICAM_SMAREGI_ID_URL)")
	fs.StringVar(&cfg.SmaregiAPIURL, "smaregi-api-url", env("SMAREGI_API_URL", "https://api.smaregi.jp"), "Smaregi API host (sandbox: https://api.smaregi.dev) (REGICAM_SMAREGI_API_URL)")
	fs.StringVar(&cfg.UbiregiAuthURL, "ubiregi-auth-url", env("UBIREGI_AUTH_URL", "https://ubiregi.com"), "Ubiregi OAuth host (REGICAM_UBIREGI_AUTH_URL)")
	fs.StringVar(&cfg.UbiregiAPIURL, "ubiregi-api-url", env("UBIREGI_API_URL", "https://ubiregi.com/api/3"), "Ubiregi API base (REGICAM_UBIREGI_API_URL)")
	fs.StringVar(&cfg.SafieBaseURL, "safie-base-url", env("SAFIE_BASE_URL", "https://openapi.safie.link"), "Safie API v2 base (the camera cloud) (REGICAM_SAFIE_BASE_URL)")
	fs.IntVar(&cfg.SafiePOSItemID, "safie-pos-item-id", envInt(env("SAFIE_POS_ITEM_ID", "0")), "Safie item_id of the POS option: a connection that names none lists only the devices carrying it (0: every device) (REGICAM_SAFIE_POS_ITEM_ID)")
	fs.StringVar(&cfg.SafieClientID, "safie-client-id", env("SAFIE_CLIENT_ID", ""), "Safie OAuth2 client id; set, owners may connect by OAuth2 instead of an API key (REGICAM_SAFIE_CLIENT_ID)")
	fs.StringVar(&cfg.SafieClientSecret, "safie-client-secret", env("SAFIE_CLIENT_SECRET", ""), "Safie OAuth2 client secret; prefer REGICAM_SAFIE_CLIENT_SECRET, a flag shows in the process list")
	fs.StringVar(&cfg.SafieRedirectURL, "safie-redirect-url", env("SAFIE_REDIRECT_URL", ""), "where Safie sends the owner back after consent (default --public-url + /oauth/safie/callback) (REGICAM_SAFIE_REDIRECT_URL)")
	fs.DurationVar(&cfg.SafieSyncEvery, "safie-sync-every", time.Minute, "time between syncs of each camera-cloud connection's devices (new, renamed, removed, streaming)")
	fs.BoolVar(&cfg.DemoSafie, "demo-safie", envBool("DEMO_SAFIE", false), "in demo mode, also run a built-in Safie fake and connect the demo tenant to it: its POS-option devices become cloud cameras (REGICAM_DEMO_SAFIE)")
	cfg.UbiregiClientID = env("UBIREGI_CLIENT_ID", "")
	cfg.UbiregiClientSecret = env("UBIREGI_CLIENT_SECRET", "")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	// A word left over is a typo (`--demo-safie true` ends the flags at
	// "true" and drops every flag after it): refused, not ignored.
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (flags take --name=value; a true/false flag is --name or --name=false)", fs.Arg(0))
	}
	cfg.CameraDenyPrivate = !cameraAllowPrivate
	cfg.Digest.DenyPrivate = !mailAllowPrivate
	if err := checkRecording(); err != nil {
		return cfg, err
	}
	if cfg.SafiePOSItemID < 0 {
		return cfg, fmt.Errorf("--safie-pos-item-id must be 0 (no filter) or a Safie item_id, got %d", cfg.SafiePOSItemID)
	}
	if (cfg.SafieClientID == "") != (cfg.SafieClientSecret == "") {
		return cfg, fmt.Errorf("--safie-client-id and --safie-client-secret go together (REGICAM_SAFIE_CLIENT_SECRET)")
	}
	switch strings.ToLower(cfg.Demo) {
	case "auto", "true", "false":
		cfg.Demo = strings.ToLower(cfg.Demo)
	case "1", "yes", "on":
		cfg.Demo = "true"
	case "0", "no", "off":
		cfg.Demo = "false"
	default:
		return cfg, fmt.Errorf("--demo must be auto, true or false, got %q", cfg.Demo)
	}
	for _, c := range strings.Split(proxies, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if !strings.Contains(c, "/") {
			c += "/32"
			if strings.Contains(c, ":") {
				c = strings.TrimSuffix(c, "/32") + "/128"
			}
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return cfg, fmt.Errorf("--trusted-proxies: %q is not a CIDR", c)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p.Masked())
	}
	allow, err := parseCIDRs(metricsAllow)
	if err != nil {
		return cfg, fmt.Errorf("--metrics-allow: %w", err)
	}
	cfg.Metrics.Allow = allow
	for _, o := range strings.Split(cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			if o == "*" {
				return cfg, fmt.Errorf("--cors-origins: '*' is not allowed with credentials; list origins explicitly")
			}
			cfg.CORSOrigins = append(cfg.CORSOrigins, o)
		}
	}
	return cfg, nil
}

// parseCIDRs reads comma-separated networks; a bare address is a network
// of that one address.
func parseCIDRs(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range strings.Split(list, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if a, err := netip.ParseAddr(c); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", c)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// demoFlag lets `--demo` stand alone for true while still taking auto/false.
type demoFlag string

func (d *demoFlag) String() string     { return string(*d) }
func (d *demoFlag) Set(v string) error { *d = demoFlag(v); return nil }
func (d *demoFlag) IsBoolFlag() bool   { return true }

// envInt reads an integer variable; a value that is not one leaves -1,
// which the flag's check refuses.
func envInt(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return -1
	}
	return n
}

func durationEnv(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}
