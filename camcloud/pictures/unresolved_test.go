package pictures_test

import (
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// TestUnresolvedCloudCameraIsRetried: a sale on a CLOUD camera the sync
// has just retired (its device left the list) or whose connection is
// gone keeps waiting for its picture rather than being told for good that
// the camera is not recorded; once the camera is back, the sweeper
// records the picture of its own second. A camera the owner retired by
// hand says so, final.
func TestUnresolvedCloudCameraIsRetried(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		ctx := viewer.System(t.Context())
		cam, err := d.Client.Camera.Get(ctx, e.cam)
		if err != nil {
			t.Fatal(err)
		}
		conn := *cam.CloudConnectionID
		sw := pictures.NewSweeper(d.Client, e.in, pictures.SweeperOptions{Now: e.clk.Now, Log: testenv.Logger()})

		// Retired by the sync.
		if err := d.Client.Camera.UpdateOneID(e.cam).SetRetiredAt(e.clk.Now()).
			SetSourceStatus("CLOUD_GONE: Safie の一覧にないか、POS オプションが外れたため退役しました").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		gone := e.ring("while-gone", e.clk.Now().Add(-time.Hour))
		// Connection removed (the sync clears it).
		if err := d.Client.Camera.UpdateOneID(e.cam).ClearCloudConnectionID().
			SetSourceStatus("CLOUD_DISCONNECTED: カメラクラウドの接続を解除したため退役しました").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		disconnected := e.ring("while-disconnected", e.clk.Now().Add(-50*time.Minute))
		for _, got := range []string{gone.ThumbnailReason, disconnected.ThumbnailReason} {
			if got != pictures.RetryReason {
				t.Errorf("reason %q while the camera does not resolve, want %q", got, pictures.RetryReason)
			}
		}

		// The device is back: the sync un-retires the camera.
		if err := d.Client.Camera.UpdateOneID(e.cam).ClearRetiredAt().SetCloudConnectionID(conn).
			SetSourceStatus("OK").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		e.clk.Add(2 * time.Minute)
		if n, err := sw.Pass(t.Context()); err != nil || n != 2 {
			t.Fatalf("pass: %d, %v", n, err)
		}
		e.checkOwnSecond(e.entry(gone.ID))
		e.checkOwnSecond(e.entry(disconnected.ID))

		// Retired by hand: final.
		if err := d.Client.Camera.UpdateOneID(e.cam).SetRetiredAt(e.clk.Now()).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		byHand := e.ring("retired-by-hand", e.clk.Now().Add(-time.Hour))
		if !strings.Contains(byHand.ThumbnailReason, pictures.RetiredReason) {
			t.Errorf("reason %q for a camera retired by hand, want %q", byHand.ThumbnailReason, pictures.RetiredReason)
		}
	})
}
