package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/internal/pgtest"
	"github.com/regicam/regicam/viewer"
)

// TestMain lets a test start this test binary as the regicam server
// itself (REGICAM_TEST_RUN_MAIN=1): real processes, killed for real.
func TestMain(m *testing.M) {
	if os.Getenv("REGICAM_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRecordingFlags(t *testing.T) {
	noEnv := func(string) string { return "" }
	cfg, err := parseConfig(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Footage.Record || cfg.Footage.Dir != "" || cfg.Footage.Retention != 7*24*time.Hour ||
		cfg.Footage.Budget != 20<<30 || cfg.Footage.JPEGFPS != 5 || cfg.DemoRTSP {
		t.Errorf("defaults: %+v demo-rtsp %v", cfg.Footage, cfg.DemoRTSP)
	}
	cfg, err = parseConfig([]string{"--record=false", "--recordings-dir=/mnt/rec", "--recording-retention=3d",
		"--recording-budget=500MB", "--recording-fps=2.5", "--demo-rtsp"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Footage.Record || cfg.Footage.Dir != "/mnt/rec" || cfg.Footage.Retention != 72*time.Hour ||
		cfg.Footage.Budget != 500e6 || cfg.Footage.JPEGFPS != 2.5 || !cfg.DemoRTSP {
		t.Errorf("set: %+v demo-rtsp %v", cfg.Footage, cfg.DemoRTSP)
	}
	env := map[string]string{"REGICAM_RECORDING_BUDGET": "1GiB", "REGICAM_RECORDING_RETENTION": "36h", "REGICAM_RECORD": "false"}
	cfg, err = parseConfig(nil, func(k string) string { return env[k] })
	if err != nil || cfg.Footage.Budget != 1<<30 || cfg.Footage.Retention != 36*time.Hour || cfg.Footage.Record {
		t.Errorf("from the environment: %+v %v", cfg.Footage, err)
	}
	for _, bad := range [][]string{{"--recording-fps=0"}, {"--recording-budget=lots"}, {"--recording-retention=soon"}} {
		if _, err := parseConfig(bad, noEnv); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// Two regicam processes on one PostgreSQL database and one recordings
// directory: the demo's cameras are recorded by exactly one of them; when
// that one is killed (SIGKILL, nothing cleaned up) the other takes the
// cameras over within seconds, closes the segments the dead one left
// WRITING from their files, and records on.
func TestRecordingSurvivesKilledProcess(t *testing.T) {
	dsn := pgtest.New(t)
	ctx := viewer.System(t.Context())
	d, err := db.Open(ctx, dsn, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	dataDir := t.TempDir()
	a := startProcess(t, dsn, dataDir)
	demoCams := func() []*ent.Camera {
		cams, err := d.Client.Camera.Query().Where(entcamera.SourceKindEQ(entcamera.SourceKindSIMULATED)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return cams
	}
	ownedBy := func(p *process, cam *ent.Camera) []*ent.RecordingSegment {
		segs, err := d.Client.RecordingSegment.Query().Where(recordingsegment.CameraID(cam.ID),
			recordingsegment.OwnerContains("/"+strconv.Itoa(p.cmd.Process.Pid)+"/")).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return segs
	}
	waitFor(t, a, "process A records every demo camera", func() bool {
		cams := demoCams()
		for _, c := range cams {
			if len(ownedBy(a, c)) == 0 {
				return false
			}
		}
		return len(cams) > 0
	})
	b := startProcess(t, dsn, dataDir)
	// Both run; the cameras stay with A.
	time.Sleep(5 * time.Second)
	for _, c := range demoCams() {
		if n := len(ownedBy(b, c)); n > 0 {
			t.Fatalf("camera %s: B wrote %d segments while A held it", c.ID, n)
		}
	}
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, b, "process B records every demo camera", func() bool {
		for _, c := range demoCams() {
			if len(ownedBy(b, c)) == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("cameras taken over %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	for _, c := range demoCams() {
		for _, sg := range ownedBy(a, c) {
			if sg.State == recordingsegment.StateWRITING {
				t.Errorf("camera %s: the killed process's segment %s is still WRITING", c.ID, sg.ID)
			}
		}
	}
}

type process struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startProcess(t *testing.T, dsn, dataDir string) *process {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &process{}
	p.cmd = exec.CommandContext(context.Background(), os.Args[0], "--addr="+addr, "--data-dir="+dataDir,
		"--database-url="+dsn, "--demo=true", "--demo-pos=false", "--db-max-conns=6", "--log-level=warn")
	p.cmd.Env = append(os.Environ(), "REGICAM_TEST_RUN_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("process %d:\n%s", p.cmd.Process.Pid, lastLines(p.log(), 40))
		}
	})
	return p
}

func waitFor(t *testing.T, p *process, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 90s: %s\n%s", what, lastLines(p.log(), 40))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprint(strings.Join(lines, "\n"))
}
