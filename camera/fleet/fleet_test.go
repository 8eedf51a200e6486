package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/camera/fleet"
	"github.com/regicam/regicam/db"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// TestCloudCamerasAreNotRecorded: a CLOUD camera's recording is the
// cloud's, so no recorder runs for it here (its pictures come from
// camcloud/pictures) nor is it mistaken for a broken source; a simulated
// camera beside it is recorded.
func TestCloudCamerasAreNotRecorded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := viewer.System(t.Context())
		acc, err := d.Client.Account.Create().SetName("fleet").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := d.Client.CameraCloudConnection.Create().SetAccountID(acc.ID).SetName("Safie").
			SetAuthKind(cameracloudconnection.AuthKindAPI_KEY).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sim, err := d.Client.Camera.Create().SetAccountID(acc.ID).SetName("レジ前").SetModel("sim").
			SetDeviceID("sim-1").SetPosOption(true).SetSourceKind(entcamera.SourceKindSIMULATED).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cloud, err := d.Client.Camera.Create().SetAccountID(acc.ID).SetName("自宅カメラ (CC-2L_SF : 201000192)").
			SetModel("CC-2L_SF").SetDeviceID("dev-1").SetPosOption(true).SetSourceKind(entcamera.SourceKindCLOUD).
			SetCloudConnectionID(cc.ID).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		m := fleet.New(d.Client, nil, slog.New(slog.NewTextHandler(&logs, nil)), camera.RecorderOptions{})
		t.Cleanup(func() {
			stopped, cancel := context.WithCancel(ctx)
			cancel()
			m.Run(stopped, time.Hour) // stops every recorder
		})
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := m.Status(sim.ID); !ok {
			t.Error("the simulated camera is not recorded")
		}
		if _, ok := m.Status(cloud.ID); ok {
			t.Error("a recorder runs for the CLOUD camera")
		}
		if strings.Contains(logs.String(), "unusable") {
			t.Errorf("the CLOUD camera was taken for a source to record:\n%s", logs.String())
		}
		if _, _, err := m.FrameAt(ctx, cloud.ID, time.Now()); !errors.Is(err, thumbs.ErrNotRecorded) {
			t.Errorf("FrameAt of the CLOUD camera: %v, want ErrNotRecorded", err)
		}
	})
}
