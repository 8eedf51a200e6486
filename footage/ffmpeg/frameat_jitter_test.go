package ffmpeg

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/footage/segment"
)

// A recording's frames come with jitter (a JPEG camera grabbed on a busy
// machine, RTP arrival times): FrameAt reads the frame at any offset of
// such a clip, rather than failing the encode of two frames that fall on
// one tick of a 1/frame-rate time base ("Invalid pts (n) <= last (n)",
// issue 15's exactness measure saw it on 1 clip in 5 played at once).
func TestFrameAtJitteryFrames(t *testing.T) {
	needFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(15, 15))
	t0 := time.UnixMilli(1_780_000_000_000)
	var frames []segment.JPEGFrameData
	for at := t0; at.Before(t0.Add(12 * time.Second)); at = at.Add(time.Duration(130+rng.IntN(140)) * time.Millisecond) {
		j, err := camera.RenderAt(camera.SimulatedConfig{Name: "jitter"}, at)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, segment.JPEGFrameData{At: at, JPEG: j})
	}
	var mp4 bytes.Buffer
	if err := EncodeJPEGs(ctx, frames, &mp4); err != nil {
		t.Fatal(err)
	}
	for off := 5 * time.Second; off < 12*time.Second; off += 250 * time.Millisecond {
		j, err := FrameAt(ctx, bytes.NewReader(mp4.Bytes()), off)
		if err != nil {
			t.Errorf("FrameAt(%v): %v", off, err)
			continue
		}
		got, err := camera.DecodeTime(j)
		if err != nil {
			t.Fatalf("frame at %v: %v", off, err)
		}
		// The last frame at or before the offset (a frame's time is kept
		// to the output's time base).
		want := frames[0].At
		for _, f := range frames {
			if f.At.Sub(t0) <= off {
				want = f.At
			}
		}
		if d := got.Sub(want); d.Abs() > 5*time.Millisecond {
			t.Errorf("frame at %v shows %v, want %v (off by %v)", off, got.Sub(t0), want.Sub(t0), d)
		}
	}
}
