package harness

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/reports/rollup"
	"github.com/regicam/regicam/server"
	"github.com/regicam/regicam/viewer"
)

// Options configure `regicam-bench run`.
type Options struct {
	DatabaseURL string
	SizeLabel   string
	JSONPath    string
	// Peer is auto (skip loudly without npm), on (fail without it) or off.
	Peer        string
	PeerDir     string
	Duration    time.Duration // measuring time per Q1 cell
	Clients     []int
	Subs        []int
	Rate        int
	S1Duration  time.Duration
	S2Subs      int
	S2Events    int
	I1Entries   int
	Compare     string // an earlier run's JSON (e.g. 1M) for the degradation check
	CPUProfile  string // profile the process during the regicam Q1 cells
	HeapProfile string // heap profile with the S1 subscriptions idle
	// DBMaxConns caps each regicam server's PostgreSQL pool (in-process and
	// S2 children): they share max_connections with the floor and the peer.
	DBMaxConns int
	// ChildCmd starts this program as a harness child (with ChildEnv set).
	ChildCmd []string
}

// ParseRunFlags reads the flags of `regicam-bench run`.
func ParseRunFlags(args []string) (Options, error) {
	var o Options
	var clients, subs string
	fs := flag.NewFlagSet("bench run", flag.ContinueOnError)
	fs.StringVar(&o.DatabaseURL, "database-url", os.Getenv("REGICAM_DATABASE_URL"), "seeded PostgreSQL database (regicam-bench seed)")
	fs.StringVar(&o.SizeLabel, "size-label", "", "label of the dataset in the table (default: its row count, e.g. 10M)")
	fs.IntVar(&o.DBMaxConns, "db-max-conns", 32, "PostgreSQL pool of each regicam server the harness starts")
	fs.StringVar(&o.JSONPath, "json", "", "write the results as JSON to this file")
	fs.StringVar(&o.Peer, "peer", "auto", "PostGraphile v5 beside regicam: auto (skipped loudly without npm), on (required), off")
	fs.StringVar(&o.PeerDir, "peer-dir", ".bench/peer", "folder the harness installs PostGraphile and Node 22 into (npm)")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "measuring time per Q1 cell (after 1s warm-up)")
	fs.StringVar(&clients, "clients", "1,8,64", "Q1 closed-loop client counts")
	fs.StringVar(&subs, "subs", "1000,10000", "S1 subscription counts")
	fs.IntVar(&o.Rate, "rate", 100, "S1 ingested entries per second")
	fs.DurationVar(&o.S1Duration, "s1-duration", 10*time.Second, "S1 measuring time per subscription count")
	fs.IntVar(&o.S2Subs, "s2-subs", 1000, "S2 subscriptions split across two server processes")
	fs.IntVar(&o.S2Events, "s2-events", 200, "S2 events to deliver")
	fs.IntVar(&o.I1Entries, "i1-entries", 20000, "I1 entries per writer")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the regicam Q1 cells to this file")
	fs.StringVar(&o.HeapProfile, "heapprofile", "", "write a heap profile with the S1 subscriptions connected and idle")
	fs.StringVar(&o.Compare, "compare", "", "JSON of an earlier run on a smaller dataset: check Q1 degrades at most linearly")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.DatabaseURL == "" {
		return o, fmt.Errorf("--database-url is required")
	}
	var err error
	if o.Clients, err = intList(clients); err != nil {
		return o, fmt.Errorf("--clients: %w", err)
	}
	if o.Subs, err = intList(subs); err != nil {
		return o, fmt.Errorf("--subs: %w", err)
	}
	switch o.Peer {
	case "auto", "on", "off":
	default:
		return o, fmt.Errorf("--peer must be auto, on or off")
	}
	return o, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := ParseSize(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// Report is the JSON the harness writes.
type Report struct {
	Dataset  string            `json:"dataset"`
	Rows     int               `json:"rows"`
	Started  time.Time         `json:"started"`
	CPUs     int               `json:"cpus"`
	LoadAvg  []string          `json:"load_avg"` // at start, after Q1, at end
	Postgres string            `json:"postgres"`
	Peer     string            `json:"peer"`
	Q1       []Q1Row           `json:"q1"`
	Explain  map[string]string `json:"explain"`
	SQL      map[string]string `json:"sql"`
	S1       []S1Result        `json:"s1"`
	S2       *S2Result         `json:"s2,omitempty"`
	I1       *I1Result         `json:"i1,omitempty"`
	Targets  []Target          `json:"targets"`
	Errors   []string          `json:"errors,omitempty"`
	Took     string            `json:"took"`
	Compared string            `json:"compared_with,omitempty"`
}

// Q1Row is one variant at one concurrency, three ways.
type Q1Row struct {
	Variant string `json:"variant"`
	Clients int    `json:"clients"`
	Regicam Load   `json:"regicam"`
	Raw     Load   `json:"raw_sql"`
	Peer    *Load  `json:"postgraphile,omitempty"`
}

// Target is one of the targets with its verdict.
type Target struct {
	Name   string `json:"name"`
	Figure string `json:"figure"`
	Pass   bool   `json:"pass"`
	Skip   string `json:"skipped,omitempty"`
}

// runEnv is what the measurements share.
type runEnv struct {
	ds         *Dataset
	app        *app.App
	httpURL    string
	wsURL      string
	headers    map[string]string
	httpHeader http.Header
	childCmd   []string
	dbMaxConns int
	runID      string
	userID     string
	mu         sync.Mutex
	created    []string
}

func (e *runEnv) remember(id string) {
	e.mu.Lock()
	e.created = append(e.created, id)
	e.mu.Unlock()
}

// Run measures and prints the table (and writes JSON when asked).
func Run(ctx context.Context, o Options, w io.Writer) error {
	began := time.Now()
	logf := func(format string, a ...any) { fmt.Fprintf(w, "· "+format+"\n", a...) }
	fds := raiseFileLimit()
	rep := &Report{Started: began.UTC(), CPUs: runtime.NumCPU(), Explain: map[string]string{}, SQL: map[string]string{}}
	rep.LoadAvg = append(rep.LoadAvg, loadAvg())
	if o.ChildCmd == nil {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.ChildCmd = []string{exe, "child"}
	}
	ds, err := Open(ctx, o.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open dataset (run `regicam-bench seed` first): %w", err)
	}
	if ds.Rows == 0 {
		return fmt.Errorf("the database holds no journal entries: run `go run ./cmd/regicam-bench seed --database-url … --size …` first")
	}
	rep.Rows = ds.Rows
	rep.Dataset = o.SizeLabel
	if rep.Dataset == "" {
		rep.Dataset = SizeLabel(roundSize(ds.Rows))
	}
	logf("dataset %s: %d entries, camera %s; open files limit %d", rep.Dataset, ds.Rows, ds.CameraID, fds)

	dir, err := os.MkdirTemp("", "regicam-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	app, err := app.Start(ctx, app.Config{DataDir: dir, DatabaseURL: ds.DSN, Demo: "false", DBMaxConns: o.DBMaxConns,
		// Thousands of simulated dashboards share one session here.
		Config: server.Config{WSConnsPerCredential: -1, WSCredentialQueueBytes: -1}},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return fmt.Errorf("start regicam: %w", err)
	}
	defer app.Close()
	if app.AccountID != ds.AccountID {
		return fmt.Errorf("the server acts as account %s but the dataset is in %s", app.AccountID, ds.AccountID)
	}
	hs := httptest.NewServer(app.Handler)
	defer hs.Close()
	env := &runEnv{ds: ds, app: app, dbMaxConns: o.DBMaxConns, httpURL: hs.URL + "/graphql", wsURL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/graphql",
		childCmd: o.ChildCmd, runID: strconv.FormatInt(time.Now().Unix()%1_000_000, 36), httpHeader: http.Header{}}
	defer env.cleanup(ds.DSN, logf)
	// The harness signs in like the dashboard: an OWNER's session cookie
	// (API keys are rate limited per key, a partner's concern, not Q1's).
	sctx := viewer.System(ctx)
	u, err := app.DB.Client.User.Create().SetAccountID(ds.AccountID).SetEmail("bench-" + env.runID + "@bench.regicam.local").
		SetName("bench").SetRole(user.RoleOWNER).Save(sctx)
	if err != nil {
		return fmt.Errorf("bench user: %w", err)
	}
	env.userID = string(u.ID)
	token, err := app.Auth.NewSession(sctx, u, "", "regicam-bench")
	if err != nil {
		return fmt.Errorf("bench session: %w", err)
	}
	cookie := (&http.Cookie{Name: auth.CookieName, Value: token}).String()
	env.headers = map[string]string{"Cookie": cookie}
	env.httpHeader.Set("Cookie", cookie)

	db, err := sql.Open("postgres", ds.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	// PostgreSQL's max_connections (100 by default) is shared by regicam's
	// pool, the raw floor, PostGraphile and the S2 servers: the floor keeps
	// no idle connections outside its own cells.
	db.SetMaxOpenConns(64)
	db.SetMaxIdleConns(0)
	_ = db.QueryRowContext(ctx, "SHOW server_version").Scan(&rep.Postgres)

	var pr *peer
	var peerURL string
	switch o.Peer {
	case "off":
		rep.Peer = "off (--peer=off)"
		logf("PostGraphile comparison OFF (--peer=off)")
	default:
		node, cli, err := installPeer(ctx, o.PeerDir, logf)
		if err == nil {
			pr, err = startPeer(ctx, o.PeerDir, node, cli, ds.DSN)
		}
		if err != nil {
			if o.Peer == "on" {
				return fmt.Errorf("PostGraphile: %w", err)
			}
			rep.Peer = "SKIPPED: " + err.Error()
			fmt.Fprintf(w, "\n!!!!!!!!\n!!! PostGraphile v5 comparison SKIPPED: %v\n!!! (install Node/npm, or pass --peer=off to silence this)\n!!!!!!!!\n\n", err)
		} else {
			defer pr.stop()
			peerURL = pr.url
			rep.Peer = "postgraphile v5 (preset amber, GRAPHILE_ENV=production) on Node 22"
			logf("PostGraphile running at %s", pr.url)
		}
	}

	// Q1
	gql := newGQLClient(env.httpURL, 128)
	gql.header = env.httpHeader
	var peerC *gqlClient
	if peerURL != "" {
		peerC = newGQLClient(peerURL, 128)
	}
	variants := q1Variants(ds)
	for _, v := range variants {
		var pc *gqlClient
		if v.peerOK {
			pc = peerC
		}
		if err := v.prepare(ctx, db, gql, pc); err != nil {
			return fmt.Errorf("Q1 %s: %w", v.Name, err)
		}
		plan, err := v.explain(ctx, db)
		if err != nil {
			return fmt.Errorf("explain %s: %w", v.Name, err)
		}
		rep.Explain[v.Name] = plan
		rep.SQL[v.Name] = fmt.Sprintf("%s\n-- args: %v", v.stmts[v.page].SQL, v.stmts[v.page].Args)
	}
	warm := time.Second
	var prof *os.File
	if o.CPUProfile != "" {
		if prof, err = os.Create(o.CPUProfile); err != nil {
			return err
		}
		defer prof.Close()
	}
	for _, v := range variants {
		gbody, _ := json.Marshal(map[string]any{"query": q1Query, "variables": v.vars()})
		pbody, _ := json.Marshal(map[string]any{"query": peerQuery, "variables": v.peerVars()})
		for _, c := range o.Clients {
			row := Q1Row{Variant: v.Name, Clients: c}
			if prof != nil {
				_ = pprof.StartCPUProfile(prof)
			}
			row.Regicam = closedLoop(ctx, c, warm, o.Duration, func() error { _, err := gql.postRaw(gbody); return err })
			if prof != nil {
				pprof.StopCPUProfile()
				prof = nil
			}
			app.DB.SQL.SetMaxIdleConns(0) // room for the floor's connections
			db.SetMaxIdleConns(64)
			row.Raw = closedLoop(ctx, c, warm, o.Duration, func() error { _, err := v.raw(ctx, db); return err })
			db.SetMaxIdleConns(0)
			app.DB.SQL.SetMaxIdleConns(32)
			if peerC != nil && v.peerOK {
				l := closedLoop(ctx, c, warm, o.Duration, func() error { _, err := peerC.postRaw(pbody); return err })
				row.Peer = &l
			}
			rep.Q1 = append(rep.Q1, row)
			logf("Q1 %-18s %3d clients: regicam %7.0f/s p99 %6.2fms · raw %7.0f/s p99 %6.2fms%s",
				v.Name, c, row.Regicam.PerSec, row.Regicam.P99ms, row.Raw.PerSec, row.Raw.P99ms, peerCell(row.Peer))
		}
	}
	if pr != nil {
		pr.stop()
	}
	rep.LoadAvg = append(rep.LoadAvg, loadAvg())

	// S1, S2
	l := &live{env: env, term: ds.Terminals[0], heapProfile: o.HeapProfile}
	for _, n := range o.Subs {
		logf("S1: %d subscriptions, %d entries/s for %v …", n, o.Rate, o.S1Duration)
		r, err := l.s1(ctx, n, o.Rate, o.S1Duration)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("S1 %d: %v", n, err))
			logf("S1 %d FAILED: %v", n, err)
			continue
		}
		rep.S1 = append(rep.S1, r)
	}
	if o.S2Subs > 0 {
		logf("S2: %d subscriptions over two server processes, %d events …", o.S2Subs, o.S2Events)
		r, err := l.s2(ctx, o.S2Subs, o.S2Events)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("S2: %v", err))
			logf("S2 FAILED: %v", err)
		} else {
			rep.S2 = &r
		}
	}
	// I1
	if o.I1Entries > 0 {
		logf("I1: %d entries three ways …", o.I1Entries)
		r, err := env.i1(ctx, db, o.I1Entries, 500, 4)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("I1: %v", err))
			logf("I1 FAILED: %v", err)
		} else {
			rep.I1 = &r
		}
	}
	rep.LoadAvg = append(rep.LoadAvg, loadAvg())
	var prev *Report
	if o.Compare != "" {
		b, err := os.ReadFile(o.Compare)
		if err == nil {
			prev = &Report{}
			err = json.Unmarshal(b, prev)
		}
		if err != nil {
			return fmt.Errorf("--compare: %w", err)
		}
		rep.Compared = prev.Dataset
	}
	rep.Targets = targets(rep, prev)
	rep.Took = time.Since(began).Round(time.Second).String()
	printReport(w, rep, prev)
	if o.JSONPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.JSONPath, b, 0o644); err != nil {
			return err
		}
		logf("wrote %s", o.JSONPath)
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("%d measurements failed: %s", len(rep.Errors), strings.Join(rep.Errors, "; "))
	}
	return nil
}

func peerCell(l *Load) string {
	if l == nil {
		return ""
	}
	return fmt.Sprintf(" · PostGraphile %7.0f/s p99 %6.2fms", l.PerSec, l.P99ms)
}

func roundSize(n int) int {
	for _, unit := range []int{1_000_000, 1000} {
		if n >= unit {
			return (n + unit/2) / unit * unit
		}
	}
	return n
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cleanup deletes the entries (and their events) the run added, so the
// dataset stays what seed loaded.
func (e *runEnv) cleanup(dsn string, logf func(string, ...any)) {
	e.mu.Lock()
	ids := e.created
	e.mu.Unlock()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return
	}
	defer db.Close()
	ctx := context.Background()
	if e.userID != "" {
		_, _ = db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, e.userID)
		if _, err := db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, e.userID); err != nil {
			logf("cleanup: bench user %s stays: %v", e.userID, err)
		}
	}
	for i := 0; i < len(ids); i += 5000 {
		part := pq.Array(ids[i:min(i+5000, len(ids))])
		_, err1 := db.ExecContext(ctx, `DELETE FROM events WHERE entry_id = ANY($1)`, part)
		_, err2 := db.ExecContext(ctx, `DELETE FROM journal_entries WHERE id = ANY($1)`, part)
		if err1 != nil || err2 != nil {
			logf("cleanup: %v %v", err1, err2)
			return
		}
	}
	logf("removed the %d entries this run added", len(ids))
	// The entries went around ingest: their days' rollups are rebuilt now
	// rather than at the next server's start-up check.
	if err := rollup.New(db, "postgres", nil).Verify(ctx); err != nil {
		logf("cleanup: rollups: %v", err)
	}
}
