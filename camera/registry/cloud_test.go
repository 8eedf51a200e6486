package registry_test

import (
	"context"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/viewer"
)

// cloudFixture is an account with a camera-cloud connection, one of its
// CLOUD cameras watching a register, and the owner's context.
type cloudFixture struct {
	owner context.Context
	cam   *ent.Camera
	link  *ent.Link
}

func seedCloud(t *testing.T, d *db.DB) cloudFixture {
	t.Helper()
	sys := viewer.System(context.Background())
	c := d.Client
	acc := c.Account.Create().SetName("a").SaveX(sys)
	user := c.User.Create().SetAccountID(acc.ID).SetEmail("owner@example.com").SetPasswordHash("x").SetRole("OWNER").SaveX(sys)
	conn := c.CameraCloudConnection.Create().SetAccountID(acc.ID).SetName("Safie").SetAuthKind("API_KEY").SaveX(sys)
	cam := c.Camera.Create().SetAccountID(acc.ID).SetName("自宅カメラ (CC-2L_SF : 201000192)").SetModel("CC-2L_SF").
		SetDeviceID("dev-1").SetPosOption(true).SetSourceKind(entcamera.SourceKindCLOUD).SetCloudConnectionID(conn.ID).SaveX(sys)
	pc := c.PosConnection.Create().SetAccountID(acc.ID).SetProvider("PARTNER").SaveX(sys)
	shop := c.Shop.Create().SetAccountID(acc.ID).SetName("本店").SaveX(sys)
	term := c.Terminal.Create().SetAccountID(acc.ID).SetConnectionID(pc.ID).SetShopID(shop.ID).SetExternalID("1").SaveX(sys)
	l := c.Link.Create().SetAccountID(acc.ID).SetTerminalID(term.ID).SetCameraID(cam.ID).SaveX(sys)
	owner := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: acc.ID, UserID: user.ID, Role: viewer.RoleOwner,
		Scopes: []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeLinksWrite, viewer.ScopeAdmin}})
	return cloudFixture{owner: owner, cam: cam, link: l}
}

func wantReason(t *testing.T, err error, reason, field string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Reason != reason || e.Field != field {
		t.Fatalf("error %v: want reason %s on %s", err, reason, field)
	}
}

// TestCloudCamerasComeOnlyFromTheCloud: the owner cannot add a CLOUD
// camera by hand, nor change, re-source or test a CLOUD camera (the cloud's
// sync owns it); retiring one by hand is allowed and ends its links.
func TestCloudCamerasComeOnlyFromTheCloud(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := seedCloud(t, d)
		svc := registry.New(d.Client, nil, registry.Options{})
		sys := viewer.System(context.Background())

		_, err := svc.Create(f.owner, f.cam.AccountID, registry.Input{Name: "手で", DeviceID: "dev-2",
			Source: &registry.Source{Kind: entcamera.SourceKindCLOUD}})
		wantReason(t, err, apperr.CLOUD_CAMERA_READONLY, "input.source.kind")
		if n := d.Client.Camera.Query().CountX(sys); n != 1 {
			t.Fatalf("%d cameras after a refused CLOUD create, want 1", n)
		}
		if res := svc.TestSource(f.owner, registry.Source{Kind: entcamera.SourceKindCLOUD}); res.OK || res.Message == "" {
			t.Fatalf("testing a CLOUD source by hand: %+v", res)
		}

		name := "別の名前"
		_, err = svc.Update(f.owner, f.cam.ID, registry.Update{Name: &name})
		wantReason(t, err, apperr.CLOUD_CAMERA_READONLY, "id")
		_, err = svc.Update(f.owner, f.cam.ID, registry.Update{ClearSource: true})
		wantReason(t, err, apperr.CLOUD_CAMERA_READONLY, "id")
		_, err = svc.Update(f.owner, f.cam.ID, registry.Update{Source: &registry.Source{Kind: entcamera.SourceKindSIMULATED}})
		wantReason(t, err, apperr.CLOUD_CAMERA_READONLY, "id")
		_, err = svc.TestSourceOf(f.owner, f.cam.ID)
		wantReason(t, err, apperr.CLOUD_CAMERA_READONLY, "id")
		got := d.Client.Camera.GetX(sys, f.cam.ID)
		if got.Name != f.cam.Name || got.SourceKind == nil || *got.SourceKind != entcamera.SourceKindCLOUD || got.SourceStatus != "" {
			t.Fatalf("a refused change changed the camera: %+v", got)
		}

		// A non-cloud camera cannot become a CLOUD one either.
		plain, err := svc.Create(f.owner, f.cam.AccountID, registry.Input{Name: "店内", DeviceID: "dev-3"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.Update(f.owner, plain.ID, registry.Update{Source: &registry.Source{Kind: entcamera.SourceKindCLOUD}})
		wantReason(t, err, apperr.CLOUD_CAMERA_READONLY, "input.source.kind")

		if l := registry.Label(f.cam); l != "自宅カメラ (CC-2L_SF : 201000192)" {
			t.Fatalf("a CLOUD camera is labelled %q, want its name (the cloud's label) alone", l)
		}

		before := time.Now().Add(-time.Second)
		r, err := svc.Retire(f.owner, f.cam.ID, true)
		if err != nil || r.Camera == nil || r.Camera.RetiredAt == nil {
			t.Fatalf("retiring a CLOUD camera by hand: %+v, %v", r, err)
		}
		l := d.Client.Link.GetX(sys, f.link.ID)
		if l.EndedAt == nil || l.EndedAt.Before(before) {
			t.Fatalf("its link did not end: %+v", l)
		}
	})
}
