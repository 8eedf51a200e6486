package camcloud_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testclock"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// posItem is the POS option's item_id in these tests.
const posItem = 4242

// The fake account: two devices with the POS option, one without.
var (
	devHome = fake.Device{ID: "dev-home", Serial: "201000192", Name: "自宅カメラ", Model: "CC-2L_SF", ItemIDs: []int{posItem}, Streaming: true}
	devReg  = fake.Device{ID: "dev-reg", Serial: "201000193", Name: "レジ上", Model: "CC-2L_SF", ItemIDs: []int{7, posItem}, Streaming: true}
	devNoOp = fake.Device{ID: "dev-store", Serial: "201000194", Name: "倉庫", Model: "QBiC", ItemIDs: []int{7}, Streaming: true}
)

const (
	labelHome = "自宅カメラ (CC-2L_SF : 201000192)"
	labelReg  = "レジ上 (CC-2L_SF : 201000193)"
)

// logBuf collects what the service logs.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// alerter records the not-recording episodes it hears of.
type alerter struct {
	mu        sync.Mutex
	stopped   []episode
	recovered []episode
}

type episode struct {
	camera pulid.ID
	at     time.Time
}

func (a *alerter) CameraNotRecording(_ context.Context, cam *ent.Camera, since time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = append(a.stopped, episode{cam.ID, since})
	return nil
}

func (a *alerter) CameraRecording(_ context.Context, cam *ent.Camera, at time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recovered = append(a.recovered, episode{cam.ID, at})
	return nil
}

func (a *alerter) counts() (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.stopped), len(a.recovered)
}

// env is one test's world: a database, an account with its owner, the
// fake cloud and the service.
type env struct {
	t       *testing.T
	d       *db.DB
	c       *ent.Client
	sys     context.Context
	owner   context.Context
	account pulid.ID
	box     *secrets.Box
	clock   *testclock.Clock
	cloud   *fake.Safie
	logs    *logBuf
	alerts  *alerter
	cfg     camcloud.Config
	svc     *camcloud.Service
}

func newEnv(t *testing.T, d *db.DB, tweak func(*env)) *env {
	t.Helper()
	e := &env{t: t, d: d, c: d.Client, sys: viewer.System(context.Background()),
		clock: testclock.New(time.Now().UTC().Truncate(time.Second)), logs: &logBuf{}, alerts: &alerter{}}
	var stop func()
	e.cloud, stop = fake.Start(fake.Options{Now: e.clock.Now, RetryAfter: -1})
	t.Cleanup(stop)
	for _, dev := range []fake.Device{devHome, devReg, devNoOp} {
		e.cloud.AddDevice(dev)
	}
	var err error
	if e.box, err = secrets.New(secrets.NewKey("k1")); err != nil {
		t.Fatal(err)
	}
	acc := e.c.Account.Create().SetName("a").SaveX(e.sys)
	e.account = acc.ID
	user := e.c.User.Create().SetAccountID(acc.ID).SetEmail("owner@example.com").SetRole("OWNER").SaveX(e.sys)
	e.owner = viewer.NewContext(context.Background(), viewer.Viewer{AccountID: acc.ID, UserID: user.ID, Role: viewer.RoleOwner,
		SessionID: pulid.MustNew("SE"), Scopes: []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeLinksWrite, viewer.ScopeAdmin}})
	item := posItem
	e.cfg = camcloud.Config{BaseURL: e.cloud.URL(), DefaultItemID: &item, Now: e.clock.Now, Alerter: e.alerts, Owner: "replica-1",
		Client: safie.Config{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Rate: 1000, Burst: 1000}}
	if tweak != nil {
		tweak(e)
	}
	e.svc = e.service(e.cfg)
	return e
}

func (e *env) service(cfg camcloud.Config) *camcloud.Service {
	return camcloud.New(e.c, e.box, cfg, slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

func (e *env) connect() *ent.CameraCloudConnection {
	e.t.Helper()
	conn, err := e.svc.Connect(e.owner, camcloud.ConnectInput{APIKey: e.cloud.APIKey()})
	if err != nil {
		e.t.Fatal(err)
	}
	return conn
}

// cameras are the account's cameras by device id.
func (e *env) cameras() map[string]*ent.Camera {
	e.t.Helper()
	out := map[string]*ent.Camera{}
	for _, c := range e.c.Camera.Query().AllX(e.sys) {
		out[c.DeviceID] = c
	}
	return out
}

func (e *env) conn(id pulid.ID) *ent.CameraCloudConnection {
	e.t.Helper()
	return e.c.CameraCloudConnection.GetX(e.sys, id)
}

// link makes cam watch a new register, with one entry on it.
func (e *env) link(cam *ent.Camera) *ent.Link {
	e.t.Helper()
	pc := e.c.PosConnection.Create().SetAccountID(e.account).SetProvider("PARTNER").SetContractID(string(cam.ID)).SaveX(e.sys)
	shop := e.c.Shop.Create().SetAccountID(e.account).SetName("本店").SaveX(e.sys)
	term := e.c.Terminal.Create().SetAccountID(e.account).SetConnectionID(pc.ID).SetShopID(shop.ID).SetExternalID("1").SaveX(e.sys)
	e.c.JournalEntry.Create().SetAccountID(e.account).SetConnectionID(pc.ID).SetTerminalID(term.ID).SetShopID(shop.ID).
		SetKind("PAYMENT").SetOccurredAt(e.clock.Now()).SetExternalID("r-" + string(cam.ID)).SetCameraID(cam.ID).ExecX(e.sys)
	return e.c.Link.Create().SetAccountID(e.account).SetTerminalID(term.ID).SetCameraID(cam.ID).
		SetCreatedAt(e.clock.Now().Add(-time.Hour)).SaveX(e.sys)
}

// noSecretsLogged: neither the key nor any token appears in the log, the
// connections' texts or the audit log.
func (e *env) noSecretsLogged(secretValues ...string) {
	e.t.Helper()
	var texts []string
	texts = append(texts, e.logs.String())
	for _, c := range e.c.CameraCloudConnection.Query().AllX(e.sys) {
		texts = append(texts, c.LastError, c.SecretHint, c.Name)
	}
	for _, a := range e.c.AuditLog.Query().AllX(e.sys) {
		texts = append(texts, a.Detail)
	}
	for _, s := range secretValues {
		for _, txt := range texts {
			if s != "" && strings.Contains(txt, s) {
				e.t.Fatalf("a secret %q… leaked into %q", s[:4], txt)
			}
		}
	}
}

func wantReason(t *testing.T, err error, reason, field string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Reason != reason || e.Field != field {
		t.Fatalf("error %v (%+v): want reason %s on %q", err, e, reason, field)
	}
}

func live(c *ent.Camera) bool { return c != nil && c.RetiredAt == nil }

func isCloud(c *ent.Camera) bool {
	return c.SourceKind != nil && *c.SourceKind == entcamera.SourceKindCLOUD
}
