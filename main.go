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
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/regicam/regicam/server"
	"github.com/regicam/regicam/server/oplimit"
)

// subcommands are the verbs besides serving (`regicam user create …`,
// `regicam bench …`); each lives in its own cli_*.go file and registers here.
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

func run(ctx context.Context, cfg server.Config, log *slog.Logger) error {
	serverGC()
	app, err := server.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	db := "sqlite:" + cfg.DataDir
	if cfg.DatabaseURL != "" {
		db = "postgres"
	}
	log.Info("regicam ready", "database", db, "graphql", "http://"+displayAddr(cfg.Addr)+"/graphql")
	return server.Serve(ctx, cfg, app.Handler, log)
}

// serverGC trades memory for CPU: a server's live heap is small, so Go's
// default (GOGC=100) collects several times a second under load; 400
// roughly halved the CPU per journal page in the bench (README,
// Performance). GOGC in the environment still wins.
func serverGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

func displayAddr(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "localhost" + addr
	}
	return addr
}

// parseConfig reads flags; each flag's default comes from its REGICAM_*
// variable, so either works and a flag wins.
func parseConfig(args []string, getenv func(string) string) (server.Config, error) {
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
	var cfg server.Config
	var cors string
	var cameraAllowPrivate bool
	fs := flag.NewFlagSet("regicam", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", env("ADDR", ":8080"), "listen address (REGICAM_ADDR)")
	fs.StringVar(&cfg.DataDir, "data-dir", env("DATA_DIR", "./data"), "directory for the embedded database and files (REGICAM_DATA_DIR)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", env("DATABASE_URL", ""), "postgres://… to use PostgreSQL instead of embedded SQLite (REGICAM_DATABASE_URL)")
	cfg.Demo = env("DEMO", "auto")
	fs.Var((*demoFlag)(&cfg.Demo), "demo", "demo tenant with live receipts: auto (fresh or demo-only database), true, false (REGICAM_DEMO)")
	fs.DurationVar(&cfg.DemoEvery, "demo-every", 3*time.Second, "average time between demo receipts")
	fs.BoolVar(&cfg.DemoPOS, "demo-pos", envBool("DEMO_POS", true), "in demo mode, also run a built-in Smaregi fake that rings up sales and sends webhooks through the real connector (REGICAM_DEMO_POS)")
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
	fs.Float64Var(&cfg.APIKeyRate, "api-key-rate", 50, "requests per second each API key may make (per server)")
	fs.IntVar(&cfg.APIKeyBurst, "api-key-burst", 100, "burst of requests each API key may make")
	fs.DurationVar(&cfg.RecorderInterval, "recorder-interval", time.Second, "time between recorded camera frames")
	fs.IntVar(&cfg.RecorderDepth, "recorder-depth", 600, "frames kept per camera (with 1s interval: 10 minutes of late POS data still get their own picture)")
	fs.DurationVar(&cfg.FrameTolerance, "frame-tolerance", 2*time.Second, "farthest a frame may be from the receipt's time; beyond it the entry gets no thumbnail and a reason")
	fs.DurationVar(&cfg.ThumbnailWait, "thumbnail-wait", 2*time.Second, "how long ingest waits for a frame before publishing the entry without it (a THUMBNAIL event follows)")
	fs.DurationVar(&cfg.ThumbnailRetention, "thumbnail-retention", durationEnv(env("THUMBNAIL_RETENTION", "0")), "delete thumbnails older than this (0 keeps them; journal entries are never deleted) (REGICAM_THUMBNAIL_RETENTION)")
	fs.BoolVar(&cfg.AlertWebhookAllowPrivate, "alert-webhook-allow-private", envBool("ALERT_WEBHOOK_ALLOW_PRIVATE", false), "let alert webhook URLs point at private, loopback or link-local addresses (receivers inside your own network) (REGICAM_ALERT_WEBHOOK_ALLOW_PRIVATE)")
	fs.BoolVar(&cameraAllowPrivate, "camera-allow-private", envBool("CAMERA_ALLOW_PRIVATE", true), "let camera URLs point at loopback and private addresses (cameras on the shop's network); false for multi-tenant hosting. Link-local and cloud metadata addresses are always refused (REGICAM_CAMERA_ALLOW_PRIVATE)")
	fs.DurationVar(&cfg.CameraTestTimeout, "camera-test-timeout", 5*time.Second, "how long a camera source test (testCameraSource, and the check when a camera is added) waits for one frame")
	fs.StringVar(&cfg.PublicURL, "public-url", env("PUBLIC_URL", "http://localhost:8080"), "how browsers reach this server (OAuth redirects) (REGICAM_PUBLIC_URL)")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", 30*time.Second, "time between polls of each POS connection (jittered ±20%)")
	fs.StringVar(&cfg.SmaregiIDURL, "smaregi-id-url", env("SMAREGI_ID_URL", "https://id.smaregi.jp"), "Smaregi token host (sandbox: https://id.smaregi.dev) (REGICAM_SMAREGI_ID_URL)")
	fs.StringVar(&cfg.SmaregiAPIURL, "smaregi-api-url", env("SMAREGI_API_URL", "https://api.smaregi.jp"), "Smaregi API host (sandbox: https://api.smaregi.dev) (REGICAM_SMAREGI_API_URL)")
	fs.StringVar(&cfg.UbiregiAuthURL, "ubiregi-auth-url", env("UBIREGI_AUTH_URL", "https://ubiregi.com"), "Ubiregi OAuth host (REGICAM_UBIREGI_AUTH_URL)")
	fs.StringVar(&cfg.UbiregiAPIURL, "ubiregi-api-url", env("UBIREGI_API_URL", "https://ubiregi.com/api/3"), "Ubiregi API base (REGICAM_UBIREGI_API_URL)")
	cfg.UbiregiClientID = env("UBIREGI_CLIENT_ID", "")
	cfg.UbiregiClientSecret = env("UBIREGI_CLIENT_SECRET", "")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.CameraDenyPrivate = !cameraAllowPrivate
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

func durationEnv(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}
