package footage

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/footage/rtspcam"
	"github.com/regicam/regicam/footage/segment"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/secrets"
)

// startRTSP is a real ffmpeg H.264 camera; without ffmpeg the test is
// skipped, and fails under CI=true (where .ci/run installs it).
func startRTSP(t *testing.T, opt rtspcam.Options) *rtspcam.Camera {
	t.Helper()
	cam, err := rtspcam.Start(context.Background(), opt)
	if errors.Is(err, rtspcam.ErrNoFFmpeg) {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("ffmpeg is not installed (apt-get install -y ffmpeg)")
		}
		t.Skip("ffmpeg is not installed; the RTSP camera cannot run")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cam.Close() })
	return cam
}

func rtspCamera(t *testing.T, d *db.DB, tn tenant, url string, box *secrets.Box, user, pass string) *ent.Camera {
	t.Helper()
	u := d.Client.Camera.UpdateOneID(tn.camera.ID).SetSourceKind(entcamera.SourceKindRTSP).SetSourceURL(url)
	if user != "" {
		raw, _ := json.Marshal(map[string]string{"username": user, "password": pass})
		sealed, err := box.Seal(raw, secrets.CameraCredentialsAAD(tn.camera.ID))
		if err != nil {
			t.Fatal(err)
		}
		u.SetSourceCredentials(sealed)
	}
	cam, err := u.Save(sys(t))
	if err != nil {
		t.Fatal(err)
	}
	return cam
}

// An RTSP camera's H.264 is written untranscoded into fMP4 segments that
// begin at a keyframe and rotate; its index rows agree with the files.
// When the camera drops off the segment closes as DISCONNECT and the
// camera reads OFFLINE; when it is back recording resumes after a gap.
func TestRecordsRTSPCamera(t *testing.T) {
	rc := startRTSP(t, rtspcam.Options{Width: 320, Height: 180, FPS: 10})
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := sys(t)
		tn := newTenant(t, d.Client)
		cam := rtspCamera(t, d, tn, rc.URL(), nil, "", "")
		cfg := testConfig(t.TempDir(), "a")
		cfg.SegmentLength = 2 * time.Second
		s := newTest(d.Client, cfg, quietLog())
		run(t, s)
		eventually(t, "two rotated H.264 segments", func() bool {
			return countBy(segments(t, d.Client, cam.ID), recordingsegment.EndedByROTATE) >= 2
		})
		for _, sg := range segments(t, d.Client, cam.ID) {
			if sg.State != recordingsegment.StateCOMPLETE {
				continue
			}
			if sg.Format != recordingsegment.FormatFMP4_H264 || !strings.HasPrefix(sg.Codec, "avc1.") ||
				sg.Width != 320 || sg.Height != 180 || sg.Frames == 0 || len(sg.Keyframes) == 0 || !strings.HasSuffix(sg.Path, ".mp4") {
				t.Errorf("segment %s: %s %q %dx%d %d frames %d keyframes %s", sg.ID, sg.Format, sg.Codec, sg.Width, sg.Height,
					sg.Frames, len(sg.Keyframes), sg.Path)
			}
			f, err := s.Open(sg)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := f.Stat()
			_, frags, err := segment.ReadFMP4(f, st.Size(), sg.StartAt)
			f.Close()
			if err != nil || len(frags) == 0 || !frags[0].Key || st.Size() != sg.Bytes {
				t.Fatalf("segment %s: %d fragments, %d bytes (row %d): %v", sg.ID, len(frags), st.Size(), sg.Bytes, err)
			}
			if last := frags[len(frags)-1].End; last.Sub(sg.EndAt).Abs() > 200*time.Millisecond {
				t.Errorf("segment %s: file ends %s, row %s", sg.ID, last, sg.EndAt)
			}
		}
		st, err := s.Status(ctx, cam.ID)
		if err != nil || st.State != StateRecording {
			t.Fatalf("status %+v %v", st, err)
		}

		rc.Pause()
		eventually(t, "the camera OFFLINE", func() bool {
			st, err := s.Status(ctx, cam.ID)
			return err == nil && st.State == StateOffline
		})
		if countBy(segments(t, d.Client, cam.ID), recordingsegment.EndedByDISCONNECT) != 1 {
			t.Errorf("no segment ended by DISCONNECT")
		}
		paused := time.Now()
		if err := rc.Resume(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "recording again", func() bool {
			for _, sg := range segments(t, d.Client, cam.ID) {
				if sg.StartAt.After(paused) && sg.Frames > 0 {
					return true
				}
			}
			return false
		})
		_, gaps, err := s.Spans(ctx, cam.ID, time.Now().Add(-time.Hour), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, g := range gaps {
			if g.From.Before(paused) && g.To.After(paused) {
				found = true
			}
		}
		if !found {
			t.Errorf("no gap around the outage at %s: %v", paused, gaps)
		}
	})
}

// A camera that refuses the stored login reads AUTH_FAILED with a reason
// the owner can act on, and nothing is recorded.
func TestRTSPAuthFailure(t *testing.T) {
	rc := startRTSP(t, rtspcam.Options{Width: 320, Height: 180, FPS: 5, User: "admin", Password: "right"})
	box, err := secrets.New(secrets.NewKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := sys(t)
		tn := newTenant(t, d.Client)
		cam := rtspCamera(t, d, tn, rc.URL(), box, "admin", "wrong")
		s := New(d.Client, box, testConfig(t.TempDir(), "a"), quietLog())
		run(t, s)
		eventually(t, "AUTH_FAILED", func() bool {
			st, err := s.Status(ctx, cam.ID)
			return err == nil && st.State == StateAuthFailed
		})
		st, _ := s.Status(ctx, cam.ID)
		if !strings.Contains(st.Reason, "パスワード") || strings.Contains(st.Reason, "wrong") {
			t.Errorf("reason %q", st.Reason)
		}
		if n := len(segments(t, d.Client, cam.ID)); n != 0 {
			t.Errorf("%d segments recorded without a login", n)
		}
		// The right password records.
		cam = rtspCamera(t, d, tn, rc.URL(), box, "admin", "right")
		eventually(t, "recording with the right password", func() bool {
			st, err := s.Status(ctx, cam.ID)
			return err == nil && st.State == StateRecording
		})
	})
}
