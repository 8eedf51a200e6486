package ffmpeg

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/footage/segment"
)

func needFFmpeg(t testing.TB) {
	t.Helper()
	if _, ok := Path(); !ok {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg is not installed; CI installs it (.ci/run)")
		}
		t.Skip("ffmpeg is not installed")
	}
}

func TestEncodeJPEGsKeepsFrameTimes(t *testing.T) {
	needFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.UnixMilli(1_780_000_000_000)
	// Uneven spacing: the output must follow the frames' own times.
	gaps := []time.Duration{0, 200, 200, 400, 200, 600, 200, 200, 1000, 200, 200}
	var frames []segment.JPEGFrameData
	at := t0
	for _, g := range gaps {
		at = at.Add(g * time.Millisecond)
		j, err := camera.RenderAt(camera.SimulatedConfig{Name: "enc"}, at)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, segment.JPEGFrameData{At: at, JPEG: j})
	}
	var mp4 bytes.Buffer
	if err := EncodeJPEGs(ctx, frames, &mp4); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{0, 5, 8, 10} {
		off := frames[want].At.Sub(t0) + 50*time.Millisecond
		j, err := FrameAt(ctx, bytes.NewReader(mp4.Bytes()), off)
		if err != nil {
			t.Fatalf("FrameAt(%v): %v", off, err)
		}
		got, err := camera.DecodeTime(j)
		if err != nil {
			t.Fatalf("frame at %v: %v", off, err)
		}
		if !got.Equal(frames[want].At) {
			t.Errorf("frame at %v shows %v, want frame %d's %v", off, got, want, frames[want].At)
		}
	}
}

func TestFrameAtRefusesGarbage(t *testing.T) {
	needFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := FrameAt(ctx, bytes.NewReader([]byte("not a video at all")), 0); err == nil {
		t.Error("a frame out of garbage")
	}
}

func TestRunStopsAtDeadline(t *testing.T) {
	needFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	// A reader that never ends: ffmpeg waits for input until killed.
	pr, pw := io.Pipe()
	defer pw.Close()
	if _, err := FrameAt(ctx, pr, 0); err == nil {
		t.Error("FrameAt returned without input and without error")
	}
}
