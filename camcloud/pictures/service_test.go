package pictures_test

import (
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testclock"

	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/db"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// What app wires: the camera-cloud service resolves cameras, the
// ingester retakes.
var (
	_ pictures.Cloud   = (*camcloud.Service)(nil)
	_ pictures.Retaker = (*ingest.Ingester)(nil)
)

// TestThroughCamcloudService: an account connects its Safie key, its
// POS-option device becomes a CLOUD camera, a register linked to it gets
// a late receipt's picture of its own second; when the key is revoked the
// entry says to reconnect, and after the owner enters a new key the
// sweeper gets the picture.
func TestThroughCamcloudService(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		sys := viewer.System(t.Context())
		clk := testclock.New(time.Now())
		cloud, stop := fake.Start(fake.Options{Now: clk.Now, RetryAfter: -1})
		t.Cleanup(stop)
		const posItem = 42
		cloud.AddDevice(fake.Device{ID: device, Serial: "201000192", Name: "自宅カメラ", Model: "CC-2L_SF",
			ItemIDs: []int{posItem}, Streaming: true})
		box, err := secrets.New(secrets.NewKey("k1"))
		if err != nil {
			t.Fatal(err)
		}
		acc := d.Client.Account.Create().SetName("cloud").SaveX(sys)
		user := d.Client.User.Create().SetAccountID(acc.ID).SetEmail("owner@example.com").SetRole("OWNER").SaveX(sys)
		owner := viewer.NewContext(t.Context(), viewer.Viewer{AccountID: acc.ID, UserID: user.ID, Role: viewer.RoleOwner,
			SessionID: pulid.MustNew("SE"), Scopes: []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeLinksWrite, viewer.ScopeAdmin}})
		item := posItem
		svc := camcloud.New(d.Client, box, camcloud.Config{BaseURL: cloud.URL(), DefaultItemID: &item, Now: clk.Now,
			Owner: "replica-1", Client: safie.Config{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
				MaxRetries: 1, Rate: 1000, Burst: 1000}}, testenv.Logger())
		conn, err := svc.Connect(owner, camcloud.ConnectInput{APIKey: cloud.APIKey()})
		if err != nil {
			t.Fatal(err)
		}
		cam, err := d.Client.Camera.Query().Where(entcamera.DeviceID(device), entcamera.AccountID(acc.ID)).Only(sys)
		if err != nil || cam.SourceKind == nil || *cam.SourceKind != entcamera.SourceKindCLOUD {
			t.Fatalf("synced camera: %+v, %v", cam, err)
		}
		fx := testenv.NewFixture(t, d.Client, acc.ID)
		term := d.Client.Terminal.GetX(sys, fx.TerminalIDs[0])
		reg := d.Client.Terminal.Create().SetAccountID(acc.ID).SetConnectionID(term.ConnectionID).SetShopID(fx.ShopID).
			SetExternalID("cloud-reg").SetName("クラウドレジ").SaveX(sys)
		d.Client.Link.Create().SetAccountID(acc.ID).SetTerminalID(reg.ID).SetCameraID(cam.ID).SetCreatedAt(testenv.LinkedSince).SaveX(sys)

		pics := pictures.New(svc, pictures.Options{Now: clk.Now, Log: testenv.Logger()})
		store, err := thumbs.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		in := ingest.New(d.Client, d.Dialect, pubsub.NewMemory(), testenv.Logger())
		in.Thumbnails = thumbs.New(pics.Frames(nil), store, testenv.Logger(), thumbs.Options{})
		t.Cleanup(in.WaitLate)
		e := &env{t: t, db: d, clk: clk, cloud: cloud, svc: pics, in: in, store: store, fx: fx, cam: cam.ID, acc: acc.ID}

		e.checkOwnSecond(e.ringOn(reg.ID, "late", clk.Now().Add(-2*time.Hour)))

		cloud.RevokeKey(cloud.APIKey())
		refused := e.ringOn(reg.ID, "revoked", clk.Now().Add(-time.Hour))
		if refused.ThumbnailReason != pictures.AuthReason {
			t.Fatalf("with a revoked key: reason %q, want %q", refused.ThumbnailReason, pictures.AuthReason)
		}
		fresh := "safie-new-key-0002"
		cloud.AddKey(fresh)
		if _, err := svc.Update(owner, conn.ID, camcloud.UpdateInput{APIKey: &fresh}); err != nil {
			t.Fatal(err)
		}
		sw := pictures.NewSweeper(d.Client, in, pictures.SweeperOptions{Now: clk.Now, Log: testenv.Logger()})
		clk.Add(2 * time.Minute)
		if n, err := sw.Pass(t.Context()); err != nil || n != 1 {
			t.Fatalf("pass after reconnecting: %d, %v", n, err)
		}
		e.checkOwnSecond(e.entry(refused.ID))
		if n := e.thumbnailEvents(refused.ID); n != 1 {
			t.Errorf("%d THUMBNAIL events, want 1", n)
		}
	})
}
