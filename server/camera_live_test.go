package server_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/camera"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// The dashboard's live picture: GET /cameras/{id}/live.jpg is the newest
// recorded frame of the viewer's own camera, never cached, and nobody
// else's camera.
func TestCameraLivePicture(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		t.Parallel()
		srv := testenv.StartWith(t, b, "", func(c *app.Config, _ string) { c.RecorderInterval = 200 * time.Millisecond })
		ctx := viewer.System(context.Background())
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		recorded, idle := fx.CameraIDs[0], fx.CameraIDs[1]
		if err := srv.DB.Client.Camera.UpdateOneID(recorded).SetSourceKind(entcamera.SourceKindSIMULATED).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := srv.Recorders.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		path := "/cameras/" + string(recorded) + "/live.jpg"

		var resp *http.Response
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp = srv.Get(t, path)
			if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
				break
			}
			resp.Body.Close() // no frame yet: the client retries
			time.Sleep(50 * time.Millisecond)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("live picture: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q: a live picture must not be cached", cc)
		}
		captured, err := time.Parse(time.RFC3339Nano, resp.Header.Get("X-Captured-At"))
		if err != nil {
			t.Fatalf("X-Captured-At: %v", err)
		}
		if age := time.Since(captured); age < 0 || age > 5*time.Second {
			t.Errorf("picture is %s old", age)
		}
		// The simulated camera draws its clock into the frame: the picture
		// is the one the header says.
		drawn, err := camera.DecodeTime(body)
		if err != nil {
			t.Fatalf("read the clock in the frame: %v", err)
		}
		if d := drawn.Sub(captured).Abs(); d > time.Second {
			t.Errorf("frame shows %s, header says %s", drawn, captured)
		}

		// A later request shows a later frame.
		time.Sleep(500 * time.Millisecond)
		resp2 := srv.Get(t, path)
		resp2.Body.Close()
		later, _ := time.Parse(time.RFC3339Nano, resp2.Header.Get("X-Captured-At"))
		if !later.After(captured) {
			t.Errorf("second picture captured %s, not after %s", later, captured)
		}

		status := func(c *testenv.Server, p string) int {
			t.Helper()
			r := c.Get(t, p)
			r.Body.Close()
			return r.StatusCode
		}
		if got := status(srv, "/cameras/"+string(idle)+"/live.jpg"); got != http.StatusNotFound {
			t.Errorf("camera without a frame source: %d, want 404", got)
		}
		if got := status(srv, "/cameras/"+string(pulid.MustNew("CA"))+"/live.jpg"); got != http.StatusNotFound {
			t.Errorf("unknown camera: %d, want 404", got)
		}
		if got := status(srv, "/cameras/not-an-id/live.jpg"); got != http.StatusNotFound {
			t.Errorf("malformed id: %d, want 404", got)
		}
		if got := status(srv.As(testenv.Anonymous), path); got != http.StatusUnauthorized {
			t.Errorf("anonymous: %d, want 401", got)
		}
		_, other := srv.NewAccount(t, "他社")
		if got := status(other, path); got != http.StatusNotFound {
			t.Errorf("another account's owner: %d, want 404 (as if it did not exist)", got)
		}
		_, partner := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalWrite)
		if got := status(partner, path); got != http.StatusForbidden {
			t.Errorf("API key without journal:read: %d, want 403", got)
		}
	})
}
