package pictures_test

import (
	"context"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testclock"

	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// cloudOf resolves cameras as camcloud.Service does (a live CLOUD camera
// and its connection's retention), with one client on the fake.
type cloudOf struct {
	db     *ent.Client
	client *safie.Client
}

func (c cloudOf) Camera(ctx context.Context, id pulid.ID) (camcloud.CameraRef, error) {
	cam, err := c.db.Camera.Query().Where(entcamera.ID(id)).WithCloudConnection().Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return camcloud.CameraRef{}, camcloud.ErrNotCloud
	}
	if err != nil {
		return camcloud.CameraRef{}, err
	}
	cc := cam.Edges.CloudConnection
	if cam.SourceKind == nil || *cam.SourceKind != entcamera.SourceKindCLOUD || cam.RetiredAt != nil || cc == nil {
		return camcloud.CameraRef{}, camcloud.ErrNotCloud
	}
	return camcloud.CameraRef{CameraID: cam.ID, AccountID: cam.AccountID, ConnectionID: cc.ID,
		DeviceID: cam.DeviceID, RetentionDays: cc.RetentionDays}, nil
}

func (c cloudOf) Client(context.Context, pulid.ID) (*safie.Client, error) { return c.client, nil }

const device = "dev-cloud-1"

// env is one account whose first register films through a CLOUD camera
// at the fake cloud, with the real ingester and thumbnailer over
// pictures.Frames.
type env struct {
	t      *testing.T
	db     *db.DB
	clk    *testclock.Clock
	cloud  *fake.Safie
	svc    *pictures.Service
	in     *ingest.Ingester
	store  thumbs.Store
	fx     testenv.Fixture
	cam    pulid.ID // the CLOUD camera (registers 1 and 2)
	plain  pulid.ID // a camera without a source (register 3)
	key    string
	frames *pictures.Frames
	acc    pulid.ID
	client *safie.Client // the fake's, for another Service over it
}

func newEnv(t *testing.T, d *db.DB, opt fake.Options) *env {
	t.Helper()
	ctx := viewer.System(t.Context())
	clk := testclock.New(time.Now())
	opt.Now = clk.Now
	if opt.RetryAfter == 0 {
		opt.RetryAfter = -1 // no header: the client backs off by its own (tiny) steps
	}
	cloud, stop := fake.Start(opt)
	t.Cleanup(stop)
	cloud.AddDevice(fake.Device{ID: device, Serial: "201000192", Name: "自宅カメラ", Model: "CC-2L_SF", Streaming: true})

	acc, err := d.Client.Account.Create().SetName("cloud pictures").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fx := testenv.NewFixture(t, d.Client, acc.ID)
	cc, err := d.Client.CameraCloudConnection.Create().SetAccountID(acc.ID).SetName("Safie").
		SetAuthKind(cameracloudconnection.AuthKindAPI_KEY).SetRetentionDays(7).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cam := fx.CameraIDs[0]
	if err := d.Client.Camera.UpdateOneID(cam).SetSourceKind(entcamera.SourceKindCLOUD).
		SetCloudConnectionID(cc.ID).SetDeviceID(device).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	client := safie.New(safie.Config{BaseURL: cloud.URL(), Now: clk.Now, Rate: 1000, Burst: 100,
		MaxRetries: 1, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond},
		safie.Credentials{APIKey: cloud.APIKey()})
	svc := pictures.New(cloudOf{d.Client, client}, pictures.Options{Now: clk.Now, Log: testenv.Logger(), DB: d.Client})
	store, err := thumbs.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	frames := svc.Frames(nil)
	in := ingest.New(d.Client, d.Dialect, pubsub.NewMemory(), testenv.Logger())
	in.Thumbnails = thumbs.New(frames, store, testenv.Logger(), thumbs.Options{})
	t.Cleanup(in.WaitLate)
	return &env{t: t, db: d, clk: clk, cloud: cloud, svc: svc, in: in, store: store, fx: fx, cam: cam,
		plain: fx.CameraIDs[1], key: cloud.APIKey(), frames: frames, acc: acc.ID, client: client}
}

// ring ingests a sale of register 1 (the CLOUD camera) that happened at
// `at`, and waits for any late picture.
func (e *env) ring(ext string, at time.Time) *ent.JournalEntry {
	e.t.Helper()
	return e.ringOn(e.fx.TerminalIDs[0], ext, at)
}

func (e *env) ringOn(term pulid.ID, ext string, at time.Time) *ent.JournalEntry {
	e.t.Helper()
	r := e.in.Ingest(viewer.System(e.t.Context()), e.acc, ingest.Receipt{TerminalID: term, ExternalID: ext,
		Kind: journalentry.KindPAYMENT, OccurredAt: at, ReceiptNo: "000123", RegisterNo: "1", Total: 1200,
		Deposit: 2000, Change: 800, PaymentMethod: "現金"})
	if r.Status != ingest.Created {
		e.t.Fatalf("ingest %s: %s %v", ext, r.Status, r.Err)
	}
	e.in.WaitLate()
	return e.entry(r.Entry.ID)
}

func (e *env) entry(id pulid.ID) *ent.JournalEntry {
	e.t.Helper()
	got, err := e.db.Client.JournalEntry.Get(viewer.System(e.t.Context()), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *env) thumbnails(id pulid.ID) []*ent.Thumbnail {
	e.t.Helper()
	rows, err := e.db.Client.Thumbnail.Query().Where(thumbnail.EntryID(id)).All(viewer.System(e.t.Context()))
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) thumbnailEvents(id pulid.ID) int {
	e.t.Helper()
	n, err := e.db.Client.Event.Query().Where(event.EntryID(id), event.TypeEQ(event.TypeTHUMBNAIL)).Count(viewer.System(e.t.Context()))
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) images() int { return e.cloud.Requests("/v2/devices/" + device + "/image") }
