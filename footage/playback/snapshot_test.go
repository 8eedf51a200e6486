package playback_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/footage/rtspcam"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/netguard"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/thumbs"
)

// snapshotCam is the HTTP JPEG endpoint an IP camera offers beside its
// stream: the simulated camera's picture of now at 640×360 (the RTSP
// stream is 320×180, so a picture tells which it came from), behind Basic
// auth; down answers 503 as a camera that stopped serving stills.
type snapshotCam struct {
	*httptest.Server
	down atomic.Bool
	hits atomic.Int64
}

func startSnapshotCam(t *testing.T, user, pass string) *snapshotCam {
	t.Helper()
	s := &snapshotCam{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="cam"`)
			http.Error(w, "login", http.StatusUnauthorized)
			return
		}
		if s.down.Load() {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		s.hits.Add(1)
		jpeg, err := camera.RenderAt(camera.SimulatedConfig{Name: "snapshot"}, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(jpeg)
	}))
	t.Cleanup(s.Close)
	return s
}

func startRTSPCam(t *testing.T, opt rtspcam.Options) *rtspcam.Camera {
	t.Helper()
	needFFmpeg(t)
	rc, err := rtspcam.Start(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// TestRTSPSnapshotThumbnails: an RTSP camera with a snapshot URL gets its
// receipts' thumbnails from the snapshot frame nearest the second (the
// picture's drawn clock within ±1 s); while the snapshot URL does not
// answer they are decoded from the RTSP recording; without ffmpeg as well
// the reason names both. The snapshot URL's login is sealed in its own
// column, not stored in clear.
func TestRTSPSnapshotThumbnails(t *testing.T) {
	rc := startRTSPCam(t, rtspcam.Options{Width: 320, Height: 180, FPS: 10, User: "admin", Password: "rtsp-pw"})
	snap := startSnapshotCam(t, "viewer", "snap-pw")
	box, err := secrets.New(secrets.NewKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx, stop := context.WithCancel(sys())
		defer stop()
		log := testenv.Logger()
		acc, err := d.Client.Account.Create().SetName("snapshot").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reg := registry.New(d.Client, box, registry.Options{Policy: netguard.Policy{AllowPrivate: true}, TestTimeout: time.Second, Log: log})
		snapURL := strings.Replace(snap.URL, "http://", "http://viewer:snap-pw@", 1) + "/ISAPI/Streaming/channels/101/picture"
		user, pass := "admin", "rtsp-pw"
		cam, err := reg.Create(ctx, acc.ID, registry.Input{Name: "レジ前", DeviceID: "rtsp-snap",
			Source:      &registry.Source{Kind: "RTSP", URL: rc.URL(), Username: &user, Password: &pass},
			SnapshotURL: &snapURL})
		if err != nil {
			t.Fatal(err)
		}
		if cam.SnapshotURL != snap.URL+"/ISAPI/Streaming/channels/101/picture" || len(cam.SnapshotCredentials) == 0 ||
			bytes.Contains(cam.SnapshotCredentials, []byte("snap-pw")) {
			t.Fatalf("stored snapshot URL %q, credentials %q", cam.SnapshotURL, cam.SnapshotCredentials)
		}
		if _, err := box.Open(cam.SnapshotCredentials, secrets.CameraCredentialsAAD(cam.ID)); err == nil {
			t.Fatal("the snapshot login opens under the source login's binding")
		}

		// The process's picture path, as app wires it.
		recs := fleet.New(d.Client, box, log, camera.RecorderOptions{Interval: 200 * time.Millisecond, Tolerance: time.Second})
		svc := footage.New(d.Client, box, footage.Config{Dir: t.TempDir(), Record: true, SegmentLength: 2 * time.Second,
			JPEGFPS: 5, Owner: "a", LeaseTTL: 1500 * time.Millisecond, MinFree: 1, SweepEvery: time.Hour}, log)
		recs.SetTap(svc.Tap)
		done := make(chan struct{}, 2)
		go func() { recs.Run(ctx, 300*time.Millisecond); done <- struct{}{} }()
		go func() { svc.Run(ctx); done <- struct{}{} }()
		defer func() { stop(); <-done; <-done }()
		store, err := thumbs.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		player := playback.New(d.Client, svc, log, playback.Options{TempDir: t.TempDir()})
		t.Cleanup(player.Close)
		th := thumbs.New(player.Frames(recs), store, log, thumbs.Options{Wait: 20 * time.Second, LateWait: 20 * time.Second})
		noFF := false
		playerNoFF := playback.New(d.Client, svc, log, playback.Options{TempDir: t.TempDir(), FFmpeg: &noFF})
		t.Cleanup(playerNoFF.Close)
		thNoFF := thumbs.New(playerNoFF.Frames(recs), store, log, thumbs.Options{Wait: 10 * time.Second})

		shoot := func(th *thumbs.Thumbnailer, at time.Time) (*ingest.Shot, string) {
			t.Helper()
			shot, reason, pending := th.Capture(ctx, acc.ID, pulid.MustNew("JE"), cam.ID, at)
			if pending {
				t.Fatalf("capture at %s went pending", at)
			}
			return shot, reason
		}
		// shows checks a thumbnail's full picture: its size says where it
		// came from, its drawn clock the second it shows.
		shows := func(what string, shot *ingest.Shot, reason string, at time.Time, width int, slack time.Duration) {
			t.Helper()
			if shot == nil || shot.Picture == nil {
				t.Fatalf("%s: no picture (%q)", what, reason)
			}
			if shot.Picture.Width != width {
				t.Errorf("%s: picture %dx%d, want width %d", what, shot.Picture.Width, shot.Picture.Height, width)
			}
			pic, err := store.Get(ctx, shot.Picture.Key)
			if err != nil {
				t.Fatal(err)
			}
			shown, err := camera.DecodeTime(pic)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if d := shown.Sub(at); d < -time.Second-slack || d > time.Second {
				t.Errorf("%s: the picture shows %s, the receipt's second is %s (%v)", what, shown.Format("15:04:05.000"), at.Format("15:04:05.000"), d)
			}
		}

		eventually(t, "the snapshot URL read and the stream recorded", func() bool {
			st, ok := recs.Status(cam.ID)
			rs, err := svc.Status(ctx, cam.ID)
			return ok && st.Online && st.Frames >= 3 && err == nil && rs.State == footage.StateRecording
		})
		at := time.Now().Add(-300 * time.Millisecond)
		shot, reason := shoot(th, at)
		shows("from the snapshot URL", shot, reason, at, 640, 0)

		// The snapshot URL stops answering: the recording stands in.
		snap.down.Store(true)
		eventually(t, "the snapshot recorder offline", func() bool {
			st, ok := recs.Status(cam.ID)
			return ok && !st.Online
		})
		time.Sleep(1500 * time.Millisecond) // past the ring's last good frame and its tolerance
		at = time.Now().Add(-500 * time.Millisecond)
		shot, reason = shoot(th, at)
		shows("from the recording", shot, reason, at, 320, rc.MaxStaleness())

		// Neither: the reason says the snapshot URL failed and ffmpeg is missing.
		at = time.Now().Add(-500 * time.Millisecond)
		shot, reason = shoot(thNoFF, at)
		if shot != nil || ingest.CodeOf(reason) != ingest.ReasonNoFrame ||
			!strings.Contains(reason, "静止画URL") || !strings.Contains(reason, "ffmpeg") {
			t.Errorf("snapshot down, no ffmpeg: shot %v, reason %q", shot, reason)
		}

		// Back: the live ring is fed again (and the thumbnails with it).
		snap.down.Store(false)
		eventually(t, "the snapshot recorder online again", func() bool {
			st, ok := recs.Status(cam.ID)
			return ok && st.Online
		})
		at = time.Now().Add(-200 * time.Millisecond)
		shot, reason = shoot(th, at)
		shows("from the snapshot URL again", shot, reason, at, 640, 0)

		// Removing the snapshot URL stops its recorder; the stream records on.
		empty := ""
		if _, err := reg.Update(ctx, cam.ID, registry.Update{SnapshotURL: &empty}); err != nil {
			t.Fatal(err)
		}
		if err := recs.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := recs.Status(cam.ID); ok {
			t.Error("the snapshot recorder still runs without a snapshot URL")
		}
		shot, reason = shoot(thNoFF, time.Now().Add(-200*time.Millisecond))
		if shot != nil || reason != playback.NoFFmpegReason {
			t.Errorf("no snapshot URL, no ffmpeg: shot %v, reason %q", shot, reason)
		}
	})
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
