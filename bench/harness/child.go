package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/server"
)

// The harness runs subscribers and extra servers as child processes of
// itself, so the server's memory and CPU are measured apart from the
// clients'. ChildEnv carries the child's role and arguments as JSON; the
// `regicam-bench child` subcommand (or a test binary's TestMain) calls
// ChildMain when it is set.
const ChildEnv = "REGICAM_BENCH_CHILD"

// childArgs configures one child.
type childArgs struct {
	Role string `json:"role"` // "clients" or "serve"
	// clients
	URLs    []string          `json:"urls,omitempty"`
	N       int               `json:"n,omitempty"`
	Raw     bool              `json:"raw,omitempty"`
	Query   string            `json:"query,omitempty"`
	Vars    []json.RawMessage `json:"vars,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// serve
	DSN        string `json:"dsn,omitempty"`
	Addr       string `json:"addr,omitempty"`
	DBMaxConns int    `json:"dbMaxConns,omitempty"`
}

// ChildMain runs the child role described by $REGICAM_BENCH_CHILD and
// returns the exit code.
func ChildMain() int {
	var a childArgs
	spec := []byte(os.Getenv(ChildEnv))
	if path, ok := strings.CutPrefix(string(spec), "@"); ok {
		// Large arguments (10,000 subscriptions' variables) come in a file.
		var err error
		if spec, err = os.ReadFile(path); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			return 2
		}
		_ = os.Remove(path)
	}
	if err := json.Unmarshal(spec, &a); err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		return 2
	}
	raiseFileLimit()
	var err error
	switch a.Role {
	case "clients":
		err = runClients(a, os.Stdin, os.Stdout)
	case "serve":
		err = runServe(a, os.Stdin, os.Stdout)
	default:
		err = fmt.Errorf("unknown role %q", a.Role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		return 1
	}
	return 0
}

// raiseFileLimit lifts RLIMIT_NOFILE to its hard limit: 10,000
// subscriptions are 10,000 sockets on each side.
func raiseFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	return r.Cur
}

// runServe is one regicam server process for S2, serving until stdin closes.
func runServe(a childArgs, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "regicam-bench-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	app, err := app.Start(ctx, app.Config{DataDir: dir, DatabaseURL: a.DSN, Demo: "false", DBMaxConns: a.DBMaxConns,
		// Thousands of simulated dashboards share one session here.
		Config: server.Config{WSConnsPerCredential: -1, WSCredentialQueueBytes: -1}},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer app.Close()
	l, err := net.Listen("tcp", a.Addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: app.Handler}
	go func() { _ = hs.Serve(l) }()
	fmt.Fprintf(out, "{\"ready\":true,\"pid\":%d}\n", os.Getpid())
	_, _ = io.Copy(io.Discard, in)
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	return nil
}

// clientSet is the subscribers of one clients child.
type clientSet struct {
	lat   hist
	mu    sync.Mutex
	seen  [][]uint64 // per client: bit per event seq
	dups  atomic.Int64
	msgs  atomic.Int64
	errs  atomic.Int64
	other atomic.Int64
	first atomic.Pointer[string]
	// sample is one delivered data payload, for the raw baseline's frame.
	sample atomic.Pointer[[]byte]
	closed atomic.Int64
}

// clientReport answers a "report" command.
type clientReport struct {
	Clients   int     `json:"clients"`
	Ready     int     `json:"ready"`
	Delivered int64   `json:"delivered"`
	Dups      int64   `json:"dups"`
	Missing   int64   `json:"missing"`
	Unique    int64   `json:"unique"` // (client, event) pairs seen in the range
	Errors    int64   `json:"errors"`
	Closed    int64   `json:"closed"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	MaxBucket float64 `json:"p100_ms"`
	FirstErr  string  `json:"first_error,omitempty"`
	Sample    string  `json:"sample,omitempty"`
}

// runClients opens N subscriptions (or raw connections) spread over the
// URLs and answers commands on stdin: "report FROM TO" (events FROM..TO-1
// each expected once by every client), "reset" (latencies), "quit".
func runClients(a childArgs, in io.Reader, out io.Writer) error {
	cs := &clientSet{seen: make([][]uint64, a.N)}
	conns := make([]*websocket.Conn, a.N)
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		ready atomic.Int64
		dErr  atomic.Pointer[string]
	)
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 2048, WriteBufferSize: 1024}
	if !a.Raw {
		d.Subprotocols = []string{"graphql-transport-ws"}
	}
	hdr := http.Header{}
	for k, v := range a.Headers {
		hdr.Set(k, v)
	}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= a.N {
					return
				}
				c, err := cs.dial(&d, a, i, hdr)
				if err != nil {
					msg := fmt.Sprintf("client %d: %v", i, err)
					dErr.CompareAndSwap(nil, &msg)
					continue
				}
				conns[i] = c
				ready.Add(1)
			}
		}()
	}
	wg.Wait()
	var readers sync.WaitGroup
	var quitting atomic.Bool
	for i, c := range conns {
		if c == nil {
			continue
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			cs.read(i, c, a.Raw)
			if !quitting.Load() {
				cs.closed.Add(1)
			}
		}()
	}
	enc := json.NewEncoder(out)
	first := ""
	if p := dErr.Load(); p != nil {
		first = *p
	}
	_ = enc.Encode(clientReport{Clients: a.N, Ready: int(ready.Load()), FirstErr: first})
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "reset":
			cs.lat.reset()
			_ = enc.Encode(clientReport{})
		case "report":
			from, _ := strconv.Atoi(f[1])
			to, _ := strconv.Atoi(f[2])
			_ = enc.Encode(cs.report(a.N, int(ready.Load()), from, to))
		case "quit":
			quitting.Store(true)
			for _, c := range conns {
				if c != nil {
					_ = c.Close()
				}
			}
			readers.Wait()
			return nil
		}
	}
	quitting.Store(true)
	return nil
}

func (cs *clientSet) dial(d *websocket.Dialer, a childArgs, i int, hdr http.Header) (*websocket.Conn, error) {
	u := a.URLs[i%len(a.URLs)]
	c, resp, err := d.Dial(u, hdr)
	if err != nil {
		return nil, refusal(err, resp)
	}
	if a.Raw {
		return c, nil
	}
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{}}); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var m wsMessage
		if err := c.ReadJSON(&m); err != nil {
			c.Close()
			return nil, fmt.Errorf("waiting for connection_ack: %w", err)
		}
		if m.Type == "connection_ack" {
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	var vars json.RawMessage
	if len(a.Vars) > 0 {
		vars = a.Vars[i%len(a.Vars)]
	}
	if err := c.WriteJSON(map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": a.Query, "variables": vars}}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// refusal names why a handshake failed: for an answer other than 101 the
// status, Retry-After and the start of the body the server gave (gorilla
// says only "bad handshake").
func refusal(err error, resp *http.Response) error {
	if resp == nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	msg := fmt.Sprintf("%v: HTTP %s", err, resp.Status)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		msg += ", Retry-After " + ra
	}
	if b := strings.TrimSpace(string(body)); b != "" {
		msg += ": " + b
	}
	return errors.New(msg)
}

// wsMessage is a graphql-transport-ws frame.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// liveData is the part of Subscription.journal's data the clients read.
type liveData struct {
	Data struct {
		Journal struct {
			Entry struct {
				ExternalID string `json:"externalID"`
			} `json:"entry"`
		} `json:"journal"`
	} `json:"data"`
	Errors []json.RawMessage `json:"errors"`
}

func (cs *clientSet) read(i int, c *websocket.Conn, raw bool) {
	for {
		_, data, err := c.ReadMessage()
		now := time.Now().UnixNano()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok && ce.Code != websocket.CloseNormalClosure {
				msg := fmt.Sprintf("client %d closed: %v", i, err)
				cs.first.CompareAndSwap(nil, &msg)
			}
			return
		}
		var m wsMessage
		if err := json.Unmarshal(data, &m); err != nil {
			cs.errs.Add(1)
			continue
		}
		switch m.Type {
		case "next":
		case "ping":
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`))
			continue
		case "error":
			cs.errs.Add(1)
			msg := fmt.Sprintf("client %d: %s", i, m.Payload)
			cs.first.CompareAndSwap(nil, &msg)
			continue
		default:
			continue
		}
		var p liveData
		if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
			cs.errs.Add(1)
			if len(p.Errors) > 0 {
				msg := fmt.Sprintf("client %d: %s", i, p.Errors[0])
				cs.first.CompareAndSwap(nil, &msg)
			}
			continue
		}
		seq, stamp, ok := parseExtID(p.Data.Journal.Entry.ExternalID)
		if !ok {
			cs.other.Add(1)
			continue
		}
		cs.msgs.Add(1)
		cs.lat.add(time.Duration(now - stamp))
		if cs.sample.Load() == nil {
			cp := append([]byte(nil), m.Payload...)
			cs.sample.Store(&cp)
		}
		cs.mu.Lock()
		w := seq / 64
		for len(cs.seen[i]) <= w {
			cs.seen[i] = append(cs.seen[i], 0)
		}
		if cs.seen[i][w]&(1<<(seq%64)) != 0 {
			cs.dups.Add(1)
		}
		cs.seen[i][w] |= 1 << (seq % 64)
		cs.mu.Unlock()
	}
}

func (cs *clientSet) report(n, ready, from, to int) clientReport {
	r := clientReport{Clients: n, Ready: ready, Delivered: cs.msgs.Load(), Dups: cs.dups.Load(), Errors: cs.errs.Load(),
		Closed: cs.closed.Load(), P50ms: ms(cs.lat.pct(0.50)), P99ms: ms(cs.lat.pct(0.99)), MaxBucket: ms(cs.lat.pct(1))}
	cs.mu.Lock()
	for i := range cs.seen {
		for s := from; s < to; s++ {
			w := s / 64
			if w >= len(cs.seen[i]) || cs.seen[i][w]&(1<<(s%64)) == 0 {
				r.Missing++
			} else {
				r.Unique++
			}
		}
	}
	cs.mu.Unlock()
	if p := cs.first.Load(); p != nil {
		r.FirstErr = *p
	}
	if p := cs.sample.Load(); p != nil {
		r.Sample = string(*p)
	}
	return r
}

// extID is the external id of harness event seq, carrying the wall-clock
// time just before it was ingested (or pushed), so a client in another
// process can compute the delivery latency.
func extID(run string, seq int, stamp int64) string {
	return fmt.Sprintf("run-%s-%08d-%019d", run, seq, stamp)
}

func parseExtID(s string) (seq int, stamp int64, ok bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 4 || parts[0] != "run" {
		return 0, 0, false
	}
	seq, err1 := strconv.Atoi(parts[2])
	stamp, err2 := strconv.ParseInt(parts[3], 10, 64)
	return seq, stamp, err1 == nil && err2 == nil
}

// child is a running child process with its command pipe.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	err *strings.Builder
}

// startChild starts this program again in role a.
func startChild(cmdline []string, a childArgs) (*child, error) {
	b, _ := json.Marshal(a)
	f, err := os.CreateTemp("", "regicam-bench-child-*.json")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	cmd := exec.Command(cmdline[0], cmdline[1:]...)
	cmd.Env = append(os.Environ(), ChildEnv+"=@"+f.Name())
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errb := &strings.Builder{}
	cmd.Stderr = &lockedWriter{w: errb}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &child{cmd: cmd, in: in, out: sc, err: errb}, nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// readLine reads the child's next JSON line into v.
func (c *child) readLine(v any, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		if !c.out.Scan() {
			err := c.out.Err()
			if err == nil {
				err = io.EOF
			}
			done <- err
			return
		}
		done <- json.Unmarshal(c.out.Bytes(), v)
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("child: %v; stderr: %s", err, tail(c.err.String(), 2000))
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("child did not answer within %v; stderr: %s", timeout, tail(c.err.String(), 2000))
	}
}

func (c *child) command(line string, v any, timeout time.Duration) error {
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		return err
	}
	return c.readLine(v, timeout)
}

// stop asks the child to quit and waits for it.
func (c *child) stop() {
	_, _ = io.WriteString(c.in, "quit\n")
	_ = c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}
