package rtspsrc_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regicam/regicam/footage/rtspcam"
	"github.com/regicam/regicam/footage/rtspsrc"
	"github.com/regicam/regicam/footage/segment"
)

// childEnv makes the test binary a camera process for the benchmark, so
// the camera's drawing, relaying and ffmpeg stay out of the recording
// process's CPU time.
const childEnv = "REGICAM_RTSPCAM_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChildCamera(spec))
	}
	os.Exit(m.Run())
}

func runChildCamera(spec string) int {
	var opt rtspcam.Options
	if _, err := fmt.Sscanf(spec, "%d,%d,%d,%d", &opt.Width, &opt.Height, &opt.FPS, &opt.Bitrate); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cam, err := rtspcam.Start(context.Background(), opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(cam.URL())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent goes
	_ = cam.Close()
	return 0
}

func startChildCamera(b *testing.B, w, h, fps, bitrate int) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d,%d,%d", childEnv, w, h, fps, bitrate))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("camera process: %v", err)
	}
	if strings.Contains(line, "not installed") {
		b.Skip("ffmpeg is not installed")
	}
	return strings.TrimSpace(line)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordRTSP measures what recording one RTSP camera costs this
// process (copy, no transcoding): CPU per second of video, as % of one
// core, and bytes/s written to disk, at 720p and 1080p, 15 fps, at
// bitrates like a real camera's (2 and 4 Mbit/s, constant). One op is one
// second of video: run with -benchtime=20x. Beside it, in the same run:
// "read" (RTSP receive and depacketize, nothing written) and "copy" (an
// io.Copy of the same bytes/s to a file, the floor any recorder pays).
func BenchmarkRecordRTSP(b *testing.B) {
	if os.Getenv(childEnv) != "" {
		b.Skip()
	}
	for _, c := range []struct {
		name          string
		w, h, bitrate int
	}{
		{"720p", 1280, 720, 2_000_000},
		{"1080p", 1920, 1080, 4_000_000},
	} {
		var bytesPerSec float64
		b.Run(c.name+"/record", func(b *testing.B) {
			bytesPerSec = benchRecord(b, startChildCamera(b, c.w, c.h, 15, c.bitrate), true)
		})
		b.Run(c.name+"/read", func(b *testing.B) {
			benchRecord(b, startChildCamera(b, c.w, c.h, 15, c.bitrate), false)
		})
		b.Run(c.name+"/copy", func(b *testing.B) {
			if bytesPerSec == 0 {
				b.Skip("no record run")
			}
			benchCopy(b, bytesPerSec)
		})
	}
}

type recordResult struct {
	written int64
	frames  int
	dropped int64
	wall    time.Duration
}

// record reads url for dur of video, writing a segment to a file in dir
// when write.
func record(ctx context.Context, url, dir string, dur time.Duration, write bool) (recordResult, error) {
	var res recordResult
	s, err := rtspsrc.Dial(ctx, url, rtspsrc.Options{})
	if err != nil {
		return res, err
	}
	defer s.Close()
	f, err := os.CreateTemp(dir, "seg-*.mp4")
	if err != nil {
		return res, err
	}
	defer f.Close()
	var (
		w     *segment.H264Writer
		first time.Time
		werr  error
		wall0 time.Time
	)
	readCtx, stop := context.WithCancel(ctx)
	defer stop()
	err = s.Read(readCtx, func(at time.Time, au [][]byte) {
		if first.IsZero() {
			first, wall0 = at, time.Now()
			if write {
				w, werr = segment.NewH264Writer(f, at, s.SPS(), s.PPS())
			}
		}
		if write && werr == nil {
			werr = w.WriteAccessUnit(at, au)
		}
		res.frames++
		if at.Sub(first) >= dur {
			stop()
		}
	})
	if write && werr == nil && w != nil {
		werr = w.Close()
	}
	res.wall = time.Since(wall0)
	if err != nil && ctx.Err() == nil && readCtx.Err() == nil {
		return res, err
	}
	if werr != nil {
		return res, werr
	}
	if write && w != nil {
		res.written = w.Bytes()
	}
	res.dropped = s.Dropped()
	return res, nil
}

func benchRecord(b *testing.B, url string, write bool) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N)*time.Second+time.Minute)
	defer cancel()
	cpu0 := cpuTime()
	b.ResetTimer()
	res, err := record(ctx, url, b.TempDir(), time.Duration(b.N)*time.Second, write)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if err != nil {
		b.Fatal(err)
	}
	secs := res.wall.Seconds()
	b.ReportMetric(100*cpu.Seconds()/secs, "cpu-%core")
	b.ReportMetric(float64(res.written)/secs, "bytes/s")
	b.ReportMetric(float64(res.frames)/secs, "frames/s")
	b.ReportMetric(float64(res.dropped), "dropped")
	return float64(res.written) / secs
}

// BenchmarkRecordRTSPMany records several 720p cameras at once in this
// process (each camera a child process with its own ffmpeg encoder, all on
// this machine): total CPU, the slowest camera's frames/s and the frames
// dropped because a reader fell behind. -benchtime=20x for 20 s.
func BenchmarkRecordRTSPMany(b *testing.B) {
	if os.Getenv(childEnv) != "" {
		b.Skip()
	}
	for _, n := range []int{2, 4} {
		b.Run(fmt.Sprintf("720p-x%d", n), func(b *testing.B) {
			urls := make([]string, n)
			for i := range urls {
				urls[i] = startChildCamera(b, 1280, 720, 15, 2_000_000)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N)*time.Second+time.Minute)
			defer cancel()
			dir := b.TempDir()
			results := make([]recordResult, n)
			errs := make([]error, n)
			cpu0, wall0 := cpuTime(), time.Now()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, u := range urls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = record(ctx, u, dir, time.Duration(b.N)*time.Second, true)
				}()
			}
			wg.Wait()
			b.StopTimer()
			cpu, wall := cpuTime()-cpu0, time.Since(wall0)
			minFPS, dropped, written := 1e9, int64(0), int64(0)
			for i, r := range results {
				if errs[i] != nil {
					b.Fatal(errs[i])
				}
				minFPS = min(minFPS, float64(r.frames)/r.wall.Seconds())
				dropped += r.dropped
				written += r.written
			}
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%core")
			b.ReportMetric(float64(written)/wall.Seconds(), "bytes/s")
			b.ReportMetric(minFPS, "min-frames/s")
			b.ReportMetric(float64(dropped), "dropped")
		})
	}
}

func benchCopy(b *testing.B, bytesPerSec float64) {
	f, err := os.CreateTemp(b.TempDir(), "copy-*.bin")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	// A second of video's bytes in fragment-sized writes, as the writer
	// makes them.
	sec := bytes.Repeat([]byte{0x5a}, int(bytesPerSec))
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := io.Copy(f, bytes.NewReader(sec)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	// Per second of video: the same unit as record's cpu-%core.
	b.ReportMetric(100*cpu.Seconds()/float64(b.N), "cpu-%core")
	b.ReportMetric(bytesPerSec, "bytes/s")
}
