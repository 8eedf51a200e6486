package playback_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/server"
)

// base is a recent minute: the fixtures' footage is within retention.
func base() time.Time { return time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute) }

func playbackPath(cam pulid.ID, from, to time.Time, extra string) string {
	return fmt.Sprintf("/cameras/%s/playback?from=%s&to=%s%s", cam, rfc(from), rfc(to), extra)
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code    string          `json:"code"`
			Reason  string          `json:"reason"`
			Field   string          `json:"field"`
			Nearest []playback.Span `json:"nearest"`
		} `json:"extensions"`
	} `json:"errors"`
}

func decodeError(t testing.TB, b []byte) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(b, &e); err != nil || len(e.Errors) != 1 {
		t.Fatalf("error body %q: %v", b, err)
	}
	return e
}

// An H.264 camera's span across two segments plays as one MP4: the
// picture at (asked moment − X-Recording-Start) shows the asked moment,
// on both sides of the segments' boundary; Range requests read the same
// bytes as the whole answer.
func TestPlaybackH264(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		r := newRig(t, b, playback.Options{})
		cam := r.fx.CameraIDs[0]
		r.setKind(t, cam, entcamera.SourceKindRTSP)
		t0 := base()
		r.h264Segment(t, cam, t0, 30*time.Second)
		r.h264Segment(t, cam, t0.Add(30*time.Second), 30*time.Second)

		from, to := t0.Add(20*time.Second), t0.Add(40*time.Second)
		resp, body := get(t, r.c, playbackPath(cam, from, to, ""))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "video/mp4" {
			t.Errorf("Content-Type %q", ct)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("missing nosniff/CSP: %v", resp.Header)
		}
		if resp.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("Accept-Ranges %q", resp.Header.Get("Accept-Ranges"))
		}
		start, err := time.Parse(time.RFC3339Nano, resp.Header.Get(playback.HeaderStart))
		if err != nil {
			t.Fatalf("%s: %v", playback.HeaderStart, err)
		}
		if start.After(from) || from.Sub(start) > 2*time.Second {
			t.Errorf("video starts at %v, want the keyframe at or before %v", start, from)
		}
		for _, at := range []time.Time{from.Add(time.Second), t0.Add(29 * time.Second), t0.Add(31 * time.Second), to.Add(-time.Second)} {
			within(t, "frame at "+at.Format("15:04:05"), frameTime(t, body, at.Sub(start)), at, time.Second)
		}

		// A player's Range requests: the answers are slices of the whole.
		resp, part := get(t, r.c, playbackPath(cam, from, to, ""), "Range", "bytes=100-1099")
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, body[100:1100]) {
			t.Errorf("Range 100-1099: status %d, %d bytes, equal %v", resp.StatusCode, len(part), bytes.Equal(part, body[100:1100]))
		}
		if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 100-1099/%d", len(body)) {
			t.Errorf("Content-Range %q", cr)
		}
		resp, tail := get(t, r.c, playbackPath(cam, from, to, ""), "Range", fmt.Sprintf("bytes=%d-", len(body)-500))
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(tail, body[len(body)-500:]) {
			t.Errorf("open Range: status %d, equal %v", resp.StatusCode, bytes.Equal(tail, body[len(body)-500:]))
		}

		// The download is the same MP4, named.
		resp, dl := get(t, r.c, playbackPath(cam, from, to, "&download=1"))
		if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".mp4") {
			t.Errorf("Content-Disposition %q", cd)
		}
		if !bytes.Equal(dl, body) {
			t.Errorf("download differs from the played bytes (%d vs %d)", len(dl), len(body))
		}
	})
}

// A JPEG camera's span: an H.264 MP4 encoded by ffmpeg, whose pictures
// show their moments; on a server without ffmpeg playing it says why and
// the download is a ZIP of the frames named by their capture times.
func TestPlaybackJPEG(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		r := newRig(t, b, playback.Options{})
		cam := r.fx.CameraIDs[1]
		r.setKind(t, cam, entcamera.SourceKindSIMULATED)
		t0 := base()
		r.jpegSegment(t, cam, t0, 20*time.Second)
		from, to := t0.Add(5*time.Second), t0.Add(15*time.Second)

		resp, body := get(t, r.c, playbackPath(cam, from, to, ""))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
			t.Fatalf("status %d %s: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		start, err := time.Parse(time.RFC3339Nano, resp.Header.Get(playback.HeaderStart))
		if err != nil {
			t.Fatal(err)
		}
		within(t, "video start", start, from, 200*time.Millisecond)
		for _, at := range []time.Time{from.Add(time.Second), from.Add(7 * time.Second)} {
			within(t, "frame", frameTime(t, body, at.Sub(start)), at, time.Second)
		}

		off := false
		r2 := newRig(t, b, playback.Options{FFmpeg: &off})
		cam2 := r2.fx.CameraIDs[1]
		r2.setKind(t, cam2, entcamera.SourceKindSIMULATED)
		r2.jpegSegment(t, cam2, t0, 20*time.Second)
		resp, body = get(t, r2.c, playbackPath(cam2, from, to, ""))
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "ffmpeg") {
			t.Errorf("play without ffmpeg: %d %s", resp.StatusCode, body)
		}
		resp, body = get(t, r2.c, playbackPath(cam2, from, to, "&download=1"))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
			t.Fatalf("download without ffmpeg: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, ".zip") {
			t.Errorf("Content-Disposition %q", cd)
		}
		zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(zr.File); n < 10*fps || n > 10*fps+1 {
			t.Errorf("%d frames in the ZIP, want the %d of 10 s", n, 10*fps)
		}
		for i, f := range zr.File {
			if i%10 != 0 {
				continue
			}
			named, err := time.Parse(playback.ZIPNameLayout, strings.TrimSuffix(f.Name, ".jpg"))
			if err != nil {
				t.Fatalf("name %q: %v", f.Name, err)
			}
			rc, _ := f.Open()
			var jpeg bytes.Buffer
			_, _ = jpeg.ReadFrom(rc)
			rc.Close()
			shown, err := camera.DecodeTime(jpeg.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			within(t, f.Name, shown, named, time.Millisecond)
		}
	})
}

// Builds too large for memory go to temporary files: requests at once
// for one span share one build and get the same bytes, and the files are
// gone once the cache lets go (Close) and no answer reads them.
func TestBuildFiles(t *testing.T) {
	b := testenv.Backend{Name: "sqlite"}
	tmp := t.TempDir()
	r := newRig(t, b, playback.Options{TempDir: tmp, MemoryBytes: 4 << 10})
	cam := r.fx.CameraIDs[0]
	r.setKind(t, cam, entcamera.SourceKindRTSP)
	t0 := base()
	r.h264Segment(t, cam, t0, 20*time.Second)
	path := playbackPath(cam, t0.Add(2*time.Second), t0.Add(18*time.Second), "")

	const n = 4
	bodies := make(chan []byte, n)
	for range n {
		go func() {
			resp, body := get(t, r.c, path)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d", resp.StatusCode)
			}
			bodies <- body
		}()
	}
	first := <-bodies
	for range n - 1 {
		if other := <-bodies; !bytes.Equal(other, first) {
			t.Errorf("concurrent answers differ (%d vs %d bytes)", len(other), len(first))
		}
	}
	if files, _ := filepath.Glob(filepath.Join(tmp, "regicam-playback-*")); len(files) != 1 {
		t.Errorf("%d build files for one span, want the one cached", len(files))
	}
	r.player.Close()
	if files, _ := filepath.Glob(filepath.Join(tmp, "regicam-playback-*")); len(files) != 0 {
		t.Errorf("build files left after Close: %v", files)
	}
	// Built again after the cache let go: the same bytes.
	if _, again := get(t, r.c, path); !bytes.Equal(again, first) {
		t.Errorf("rebuild differs (%d vs %d bytes)", len(again), len(first))
	}
}

// A JPEG span whose frames pass the encoder's memory bound is thinned
// evenly, said in the answer, and still shows its moments.
func TestPlaybackJPEGThinned(t *testing.T) {
	r := newRig(t, testenv.Backend{Name: "sqlite"}, playback.Options{MaxJPEGBytes: 200 << 10})
	cam := r.fx.CameraIDs[1]
	r.setKind(t, cam, entcamera.SourceKindSIMULATED)
	t0 := base()
	seg := r.jpegSegment(t, cam, t0, 20*time.Second)
	resp, body := get(t, r.c, playbackPath(cam, t0, t0.Add(20*time.Second), ""))
	if resp.StatusCode != http.StatusOK || resp.Header.Get(playback.HeaderThinned) != "1" {
		t.Fatalf("status %d, %s %q", resp.StatusCode, playback.HeaderThinned, resp.Header.Get(playback.HeaderThinned))
	}
	start, _ := time.Parse(time.RFC3339Nano, resp.Header.Get(playback.HeaderStart))
	// One frame in n is kept, n = ceil(bytes / bound); the pictures' sizes
	// vary with what the clock draws, so the kept interval does too. The
	// picture shown at a moment is the last kept frame at or before it: no
	// later, and less than one kept interval earlier.
	step := (seg.Bytes + 200<<10 - 1) / (200 << 10)
	kept := time.Duration(step) * time.Second / fps
	at := t0.Add(12*time.Second + 500*time.Millisecond)
	got := frameTime(t, body, at.Sub(start))
	const slack = 250 * time.Millisecond
	if got.After(at.Add(slack)) || got.Before(at.Add(-kept-slack)) {
		t.Errorf("thinned frame at %s shows %s; want the last kept frame (one in %d, every %v) at or before it",
			at.Format(playback.TimeLayout), got.Format(playback.TimeLayout), step, kept)
	}
}

// A build nobody waits for any more stops: asks dropped at once (a client
// that hangs up, a player that moves on) leave no build behind, and the
// build slot they held goes to the next ask.
func TestAbandonedBuildStops(t *testing.T) {
	r := newRig(t, testenv.Backend{Name: "sqlite"}, playback.Options{Builds: 1})
	cam := r.fx.CameraIDs[1]
	r.setKind(t, cam, entcamera.SourceKindSIMULATED)
	t0 := base()
	r.jpegSegment(t, cam, t0, 60*time.Second)
	for i := range 3 {
		ctx, cancel := context.WithCancel(sys())
		done := make(chan error, 1)
		go func() {
			_, err := r.player.Build(ctx, playback.Request{CameraID: cam, From: t0.Add(time.Duration(i) * time.Second), To: t0.Add(60 * time.Second)})
			done <- err
		}()
		for r.player.InFlight() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("ask %d: %v, want context.Canceled", i, err)
		}
		if n := r.player.InFlight(); n != 0 {
			t.Fatalf("ask %d dropped: %d builds still in flight", i, n)
		}
	}
	c, err := r.player.Build(sys(), playback.Request{CameraID: cam, From: t0, To: t0.Add(10 * time.Second)})
	if err != nil {
		t.Fatalf("the next ask: %v", err)
	}
	c.Close()
}

// One credential asks at most server.PlaybacksPerCredential spans at once;
// the next is a 429 with Retry-After, and the slots come back when the
// asks end.
func TestPlaybacksPerCredential(t *testing.T) {
	r := newRig(t, testenv.Backend{Name: "sqlite"}, playback.Options{Builds: 1})
	cam := r.fx.CameraIDs[1]
	r.setKind(t, cam, entcamera.SourceKindSIMULATED)
	t0 := base()
	r.jpegSegment(t, cam, t0, 60*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range server.PlaybacksPerCredential {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.c.URL+playbackPath(cam, t0.Add(time.Duration(i)*time.Second), t0.Add(60*time.Second), ""), nil)
		r.c.Credential().Apply(req.Header)
		wg.Go(func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	for r.player.InFlight() < server.PlaybacksPerCredential {
		time.Sleep(5 * time.Millisecond)
	}
	resp, body := get(t, r.c, playbackPath(cam, t0.Add(30*time.Second), t0.Add(60*time.Second), ""))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "同時に") {
		t.Errorf("ask over the budget: %d (Retry-After %q) %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	cancel()
	wg.Wait()
	for r.player.InFlight() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	// The handlers give their slots back as they return, just after.
	for try := 0; ; try++ {
		resp, _ := get(t, r.c, playbackPath(cam, t0, t0.Add(5*time.Second), ""))
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusTooManyRequests || try == 50 {
			t.Fatalf("after the asks ended: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Build files alive together are bounded: a build that would pass the
// bound is a 503 with Retry-After, leaves no file, and smaller builds go on.
func TestBuildFilesBounded(t *testing.T) {
	tmp := t.TempDir()
	r := newRig(t, testenv.Backend{Name: "sqlite"}, playback.Options{TempDir: tmp, MemoryBytes: 64 << 10, MaxTempBytes: 256 << 10})
	cam := r.fx.CameraIDs[1]
	r.setKind(t, cam, entcamera.SourceKindSIMULATED)
	t0 := base()
	r.jpegSegment(t, cam, t0, 60*time.Second)
	resp, body := get(t, r.c, playbackPath(cam, t0, t0.Add(60*time.Second), ""))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "混み合って") {
		t.Errorf("a build past the bound: %d (Retry-After %q) %.200s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if files, _ := filepath.Glob(filepath.Join(tmp, "regicam-playback-*")); len(files) != 0 || r.player.TempBytes() != 0 {
		t.Errorf("after the refused build: files %v, %d bytes counted", files, r.player.TempBytes())
	}
	if resp, _ := get(t, r.c, playbackPath(cam, t0, t0.Add(2*time.Second), "")); resp.StatusCode != http.StatusOK {
		t.Errorf("a small build after it: %d", resp.StatusCode)
	}
}
