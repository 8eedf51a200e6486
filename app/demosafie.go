package app

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/ent/cameracloudconnection"
)

// The demo's camera cloud: its key, the name of the demo tenant's
// connection, and the item id its POS-option devices carry.
const (
	DemoSafieKey        = "demo-safie-key-0042"
	DemoSafieConnection = "Safie（デモ）"
	DemoSafieItemID     = 3001
)

// DemoSafieCounter is the device at the counter: the demo's Smaregi
// register is linked to it, and people come and go before it.
const DemoSafieCounter = "201000302"

// DemoSafieDevices are the fake cloud's cameras: two with the POS option,
// which become the demo tenant's CLOUD cameras, and one without, which
// does not. Their device ids differ from the demo's own cameras' (demo
// package), so none collides with a camera of the tenant.
var DemoSafieDevices = []fake.Device{
	{ID: "201000301", Serial: "201000301", Name: "入口カメラ", Model: "CC-2L_SF", ItemIDs: []int{DemoSafieItemID}, Streaming: true},
	{ID: "201000302", Serial: "201000302", Name: "カウンターカメラ", Model: "QBiC CLOUD CC-2L", ItemIDs: []int{DemoSafieItemID, 1}, Streaming: true},
	{ID: "201000303", Serial: "201000303", Name: "倉庫カメラ", Model: "CC-2L_SF", ItemIDs: []int{1}, Streaming: true},
}

// demoSafie is the Safie fake inside the process (--demo-safie): the demo
// tenant's camera-cloud connection talks to it, never to the real cloud.
type demoSafie struct {
	fk   *fake.Safie
	stop func()
}

func startDemoSafie() *demoSafie {
	fk, stop := fake.Start(fake.Options{APIKeys: []string{DemoSafieKey}})
	for _, d := range DemoSafieDevices {
		fk.AddDevice(d)
	}
	return &demoSafie{fk: fk, stop: stop}
}

// people makes the cloud see someone at the counter now and then (person
// events), until ctx ends, so the demo's receipts count who was there;
// now and then nobody is, for the NO_PERSON rule.
func (d *demoSafie) people(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2*time.Second + rand.N(6*time.Second)):
		}
		if rand.IntN(5) > 0 {
			d.fk.AddEvent(DemoSafieCounter, "person", time.Now())
		}
	}
}

// connect gives the demo tenant its connection to the fake, as its owner
// would in the portal (once: a restarted demo keeps its connection, whose
// cameras the next sync finds again). A failure is logged; the demo runs
// on without cloud cameras.
func (d *demoSafie) connect(ctx context.Context, a *App) {
	exists, err := a.DB.Client.CameraCloudConnection.Query().
		Where(cameracloudconnection.AccountID(a.AccountID), cameracloudconnection.Name(DemoSafieConnection)).
		Exist(ctx)
	if err != nil || exists {
		if err != nil {
			a.log.Warn("demo safie", "err", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	item, days := DemoSafieItemID, 7
	if _, err := a.CameraCloud.ConnectAccount(ctx, a.AccountID, camcloud.ConnectInput{Name: DemoSafieConnection, APIKey: DemoSafieKey,
		OptionItemID: &item, RetentionDays: &days}); err != nil {
		a.log.Warn("demo safie: connect the demo tenant", "err", err)
		return
	}
	a.log.Info("demo mode: a built-in Safie fake serves the demo tenant's cloud cameras", "connection", DemoSafieConnection)
}
