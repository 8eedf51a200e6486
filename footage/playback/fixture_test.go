package playback_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/pkg/codecs/h264"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/footage/ffmpeg"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/footage/segment"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/server"
	"github.com/regicam/regicam/viewer"
)

// rig is a started regicam whose HTTP handler carries a Player over a
// recordings directory the test fills itself: segment files written with
// package segment's writers and their RecordingSegment rows, standing in
// for what footage's recorder writes.
type rig struct {
	app    *testenv.Server // the app (its own handler has no Player until app wires one)
	c      *testenv.Server // an OWNER session against the handler with the Player
	url    string
	dir    string
	svc    *footage.Service
	player *playback.Player
	fx     testenv.Fixture
}

func newRig(t testing.TB, b testenv.Backend, opt playback.Options) *rig {
	t.Helper()
	needFFmpeg(t)
	a := testenv.Start(t, b, "")
	r := &rig{app: a, dir: t.TempDir()}
	r.fx = testenv.NewFixture(t, a.DB.Client, a.AccountID)
	r.svc = footage.New(a.DB.Client, a.Secrets, footage.Config{Dir: r.dir}, testenv.Logger())
	if opt.TempDir == "" {
		opt.TempDir = t.TempDir()
	}
	r.player = playback.New(a.DB.Client, r.svc, testenv.Logger(), opt)
	r.url, r.c = r.serve(t, r.player)
	return r
}

// serve starts a handler over the app with player, and an OWNER session
// against it.
func (r *rig) serve(t testing.TB, player *playback.Player) (string, *testenv.Server) {
	t.Helper()
	a := r.app
	srv := server.New(server.Deps{
		DB: a.DB, Log: testenv.Logger(), Auth: a.Auth, Ingester: a.Ingester, Hub: a.Hub,
		Recorders: a.Recorders, Thumbs: a.Thumbs, Cameras: a.Cameras, Player: player,
	}, server.Config{Introspection: true})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		srv.Close()
		player.Close()
	})
	return hs.URL, testenv.Wrap(t, a.App, hs.URL)
}

// needFFmpeg: the fixtures encode real H.264 with ffmpeg; CI installs it
// (.ci/run), so there its absence fails rather than skips.
func needFFmpeg(t testing.TB) {
	t.Helper()
	if _, ok := ffmpeg.Path(); ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("ffmpeg is not installed (CI installs it: .ci/run)")
	}
	t.Skip("ffmpeg is not installed")
}

func sys() context.Context { return viewer.System(context.Background()) }

// setKind gives a fixture camera a source kind.
func (r *rig) setKind(t testing.TB, cam pulid.ID, kind entcamera.SourceKind) {
	t.Helper()
	if err := r.app.DB.Client.Camera.UpdateOneID(cam).SetSourceKind(kind).Exec(sys()); err != nil {
		t.Fatal(err)
	}
}

// fps of the fixtures' recordings: frames 200 ms apart.
const fps = 5

// segmentFile creates a file of a new segment under the directory.
func (r *rig) segmentFile(t testing.TB, cam pulid.ID, ext string) (*os.File, string) {
	t.Helper()
	rel := string(r.app.AccountID) + "/" + string(cam) + "/" + string(pulid.MustNew("sg")) + ext
	full := filepath.Join(r.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(full)
	if err != nil {
		t.Fatal(err)
	}
	return f, rel
}

func (r *rig) row(t testing.TB, cam pulid.ID, format recordingsegment.Format, rel string, start, end time.Time, bytes int64, frames int) *ent.RecordingSegment {
	t.Helper()
	seg, err := r.app.DB.Client.RecordingSegment.Create().SetAccountID(r.app.AccountID).SetCameraID(cam).
		SetFormat(format).SetPath(rel).SetStartAt(start).SetEndAt(end).SetBytes(bytes).SetFrames(frames).
		SetState(recordingsegment.StateCOMPLETE).Save(sys())
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

// frameTimes are the capture times of a recording of [start, start+d).
func frameTimes(start time.Time, d time.Duration) []time.Time {
	var out []time.Time
	for at := start; at.Before(start.Add(d)); at = at.Add(time.Second / fps) {
		out = append(out, at)
	}
	return out
}

// jpegSegment records the simulated camera's pictures of [start,
// start+d) as a JPEG_SEQ segment: each frame carries its time in the
// block code (camera.DecodeTime reads it back).
func (r *rig) jpegSegment(t testing.TB, cam pulid.ID, start time.Time, d time.Duration) *ent.RecordingSegment {
	t.Helper()
	f, rel := r.segmentFile(t, cam, ".jseq")
	defer f.Close()
	w, err := segment.NewJPEGWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	times := frameTimes(start, d)
	for _, at := range times {
		jpeg, err := camera.RenderAt(camera.SimulatedConfig{Name: "fixture"}, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteFrame(at, jpeg); err != nil {
			t.Fatal(err)
		}
	}
	return r.row(t, cam, recordingsegment.FormatJPEG_SEQ, rel, start, times[len(times)-1], w.Bytes(), len(times))
}

// h264Segment records [start, start+d) as a FMP4_H264 segment: the
// simulated camera's pictures encoded by ffmpeg (x264, a keyframe every
// 2 s, no B-frames, an access unit delimiter before each picture) and
// written access unit by access unit with the time each picture shows,
// as footage's RTSP recorder writes what a camera sends.
func (r *rig) h264Segment(t testing.TB, cam pulid.ID, start time.Time, d time.Duration) *ent.RecordingSegment {
	t.Helper()
	times := frameTimes(start, d)
	aus := encodeH264(t, times)
	f, rel := r.segmentFile(t, cam, ".mp4")
	defer f.Close()
	var sps, pps []byte
	for _, n := range aus[0] {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
	}
	w, err := segment.NewH264Writer(f, start, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	for i, au := range aus {
		if err := w.WriteAccessUnit(times[i], au); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seg := r.row(t, cam, recordingsegment.FormatFMP4_H264, rel, start, w.End(), w.Bytes(), w.Frames())
	if err := r.app.DB.Client.RecordingSegment.UpdateOne(seg).SetKeyframes(w.Keyframes()).SetCodec(w.Codec()).Exec(sys()); err != nil {
		t.Fatal(err)
	}
	return seg
}

// encodeH264 encodes the pictures of times and splits ffmpeg's Annex-B
// output into access units (at each delimiter, which is dropped).
func encodeH264(t testing.TB, times []time.Time) [][][]byte {
	t.Helper()
	return encodeAUs(t, "fixture", times, 5, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-pix_fmt", "yuv420p", "-g", "10", "-bf", "0")
}

// encodeAUs draws the simulated camera (named name) at times, feeds the
// pictures to ffmpeg at fps with the encoder arguments enc, and splits
// its Annex-B H.264 into access units at each delimiter (dropped).
func encodeAUs(t testing.TB, name string, times []time.Time, fps int, enc ...string) [][][]byte {
	t.Helper()
	var in bytes.Buffer
	for _, at := range times {
		jpeg, err := camera.RenderAt(camera.SimulatedConfig{Name: name}, at)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(jpeg)
	}
	path, _ := ffmpeg.Path()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"-hide_banner", "-loglevel", "error",
		"-f", "image2pipe", "-c:v", "mjpeg", "-framerate", strconv.Itoa(fps), "-i", "-"}, enc...)
	args = append(args, "-x264-params", "aud=1:repeat-headers=1", "-f", "h264", "-")
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = &in
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, stderr.String())
	}
	nalus, err := h264.AnnexBUnmarshal(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
			aus = append(aus, nil)
			continue
		}
		if len(aus) == 0 {
			aus = append(aus, nil)
		}
		aus[len(aus)-1] = append(aus[len(aus)-1], n)
	}
	if len(aus) != len(times) {
		t.Fatalf("ffmpeg gave %d pictures for %d frames", len(aus), len(times))
	}
	return aus
}

// get fetches path from the rig's handler as c.
func get(t testing.TB, c *testenv.Server, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Credential().Apply(req.Header)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// frameTime decodes the picture at offset of an MP4 and reads its block code.
func frameTime(t testing.TB, mp4 []byte, offset time.Duration) time.Time {
	t.Helper()
	jpeg, err := ffmpeg.FrameAt(context.Background(), bytes.NewReader(mp4), offset)
	if err != nil {
		t.Fatalf("decode frame at %v: %v", offset, err)
	}
	at, err := camera.DecodeTime(jpeg)
	if err != nil {
		t.Fatalf("read the frame's time code: %v", err)
	}
	return at
}

func within(t testing.TB, what string, got, want time.Time, tol time.Duration) {
	t.Helper()
	if d := got.Sub(want); d < -tol || d > tol {
		t.Errorf("%s: picture shows %s, want %s ± %v (off by %v)", what, got.Format(playback.TimeLayout), want.Format(playback.TimeLayout), tol, d)
	}
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
