package registry_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/footage/rtspcam"
	"github.com/regicam/regicam/internal/testenv"
)

// startRTSPCam runs a real H.264 RTSP camera (ffmpeg); without ffmpeg the
// test is skipped, except on CI, which installs it (.ci/run).
func startRTSPCam(t *testing.T, opt rtspcam.Options) *rtspcam.Camera {
	t.Helper()
	cam, err := rtspcam.Start(context.Background(), opt)
	if errors.Is(err, rtspcam.ErrNoFFmpeg) {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg is not installed (CI installs it: .ci/run)")
		}
		t.Skip("ffmpeg is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cam.Close() })
	return cam
}

// TestSourceTestRTSP: testing an RTSP source plays the camera's stream:
// with the right password it is OK with the picture's size and a preview
// of its first keyframe, with a wrong one or none it is AUTH_REFUSED. A
// camera saved with requireSourceOK and a wrong password is refused with
// the test's reason; saved with the right one, testCameraSourceOf plays
// it with the sealed password.
func TestSourceTestRTSP(t *testing.T) {
	cam := startRTSPCam(t, rtspcam.Options{User: "admin", Password: "right", Width: 640, Height: 360, FPS: 10})
	url := cam.URL()
	withUser := strings.Replace(url, "rtsp://", "rtsp://admin:right@", 1)
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, func(c *app.Config) { c.CameraTestTimeout = 5 * time.Second })
		for _, in := range []map[string]any{
			{"kind": "RTSP", "url": url, "username": "admin", "password": "right"},
			{"kind": "RTSP", "url": withUser},
		} {
			res := testSource(t, srv, in)
			if !res.OK || res.Reason != nil || res.Width == nil || *res.Width != 640 || res.Height == nil || *res.Height != 360 ||
				!strings.Contains(res.Message, "640×360") || res.PreviewDataURL == nil {
				t.Errorf("right password: %+v", res)
				continue
			}
			if w, h := previewSize(t, *res.PreviewDataURL); w != 320 || h != 180 {
				t.Errorf("preview %dx%d, want 320x180", w, h)
			}
			if strings.Contains(res.Message, "right") {
				t.Errorf("the message repeats the password: %q", res.Message)
			}
		}
		for _, c := range []struct {
			name         string
			in           map[string]any
			reason, part string
		}{
			{"wrong password", map[string]any{"kind": "RTSP", "url": url, "username": "admin", "password": "wrong"}, "AUTH_REFUSED", "拒否"},
			{"no password", map[string]any{"kind": "RTSP", "url": url}, "AUTH_REFUSED", "ユーザー名とパスワードを入力"},
		} {
			res := testSource(t, srv, c.in)
			if res.OK || res.Reason == nil || *res.Reason != c.reason || !strings.Contains(res.Message, c.part) || strings.Contains(res.Message, "wrong") {
				t.Errorf("%s: %+v, want %s mentioning %q", c.name, res, c.reason, c.part)
			}
		}
		_, errs := create(t, srv, map[string]any{"name": "RTSP", "deviceID": "rtsp-1", "requireSourceOK": true,
			"source": map[string]any{"kind": "RTSP", "url": url, "username": "admin", "password": "wrong"}})
		wantError(t, "requireSourceOK, wrong password", errs, "BAD_USER_INPUT", "input.source", "拒否")
		c := mustCreate(t, srv, map[string]any{"name": "RTSP", "deviceID": "rtsp-1", "requireSourceOK": true,
			"source": map[string]any{"kind": "RTSP", "url": url, "username": "admin", "password": "right"}})
		if c.SourceStatus != "OK" || c.SourceURL == nil || *c.SourceURL != url {
			t.Errorf("saved RTSP camera: status %q, url %v", c.SourceStatus, c.SourceURL)
		}
		var tested struct {
			TestCameraSourceOf sourceTest `json:"testCameraSourceOf"`
		}
		srv.MustQuery(t, `mutation($id: ID!) { testCameraSourceOf(id: $id) { ok reason message width height } }`, map[string]any{"id": c.ID}, &tested)
		if r := tested.TestCameraSourceOf; !r.OK || r.Width == nil || *r.Width != 640 {
			t.Errorf("testCameraSourceOf with the sealed password: %+v", r)
		}
	})
}
