package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pos/ubiregi"
	"github.com/regicam/regicam/pos/ubiregi/fake"
	ubiregiconn "github.com/regicam/regicam/pos/ubiregi/storedconn"
)

// The demo's Ubiregi: the OAuth application its fake registers, and the
// fake's one account (one Ubiregi account is one register).
const (
	DemoUbiregiClientID     = "demo-ubiregi-client"
	DemoUbiregiClientSecret = "demo-ubiregi-secret-0042"
	DemoUbiregiAccountName  = "デモカフェ"
)

// demoUbiregiCamera is the demo camera the Ubiregi register is linked to
// (the demo package's 自宅カメラ); with --demo-safie, the cloud's entrance
// camera (DemoSafieDevices).
const (
	demoUbiregiCamera      = "201000192"
	demoUbiregiCloudCamera = "201000301"
)

// demoUbiregi is the Ubiregi fake inside the process, beside the Smaregi
// one: the demo tenant's Ubiregi connection polls it through the real
// connector (OAuth tokens, /accounts/current, /checkouts), and an owner
// may link it again through the portal's OAuth button and the fake's
// consent page. It only ever talks to the fake.
type demoUbiregi struct {
	fk   *fake.Server
	conn *ent.PosConnection
}

// startDemoUbiregi starts the fake and points the process's Ubiregi
// configuration at it (cfg is then read by setupUbiregi), unless a real
// Ubiregi OAuth client is configured: one process has one Ubiregi
// application, and a real one is not replaced by the demo's. It then
// connects the demo tenant with a code the fake grants without the
// browser, as the callback would store it, and links the register to a
// camera before the first sale, so every demo checkout has its picture.
func (a *App) startDemoUbiregi(ctx context.Context, cfg *Config) (*demoUbiregi, error) {
	if cfg.UbiregiClientID != "" {
		a.log.Info("demo mode: a Ubiregi OAuth client is configured, so the built-in Ubiregi fake stays off")
		return nil, nil
	}
	fk := fake.New(fake.Options{ClientID: DemoUbiregiClientID, ClientSecret: DemoUbiregiClientSecret,
		AccountName: DemoUbiregiAccountName, Consent: true})
	cfg.UbiregiAuthURL, cfg.UbiregiAPIURL = fk.URL(), fk.APIBaseURL()
	cfg.UbiregiClientID, cfg.UbiregiClientSecret = DemoUbiregiClientID, DemoUbiregiClientSecret
	// The same redirect URL as setupUbiregi's: the fake binds the code to it.
	redirect := strings.TrimRight(cfg.PublicURL, "/") + "/oauth/ubiregi/callback"
	api, err := ubiregi.New(ubiregi.Config{AuthBaseURL: fk.URL(), APIBaseURL: fk.APIBaseURL(),
		ClientID: DemoUbiregiClientID, ClientSecret: DemoUbiregiClientSecret, RedirectURL: redirect})
	if err != nil {
		fk.Shutdown()
		return nil, err
	}
	conn, err := a.connectDemoUbiregi(ctx, fk, api, redirect)
	if err != nil {
		fk.Shutdown()
		return nil, fmt.Errorf("connect demo Ubiregi: %w", err)
	}
	// The fake numbers checkouts afresh on every start; the journal keeps
	// the previous run's, so its numbering goes on after them.
	last, err := lastTransactionID(ctx, a.DB.Client, conn.ID)
	if err != nil {
		fk.Shutdown()
		return nil, fmt.Errorf("demo Ubiregi numbering: %w", err)
	}
	fk.ContinueAfter(int64(last))
	device := demoUbiregiCamera
	if cfg.DemoSafie {
		device = demoUbiregiCloudCamera
	}
	if err := a.linkDemoUbiregi(ctx, conn, device); err != nil {
		// The user may have retired the demo's cameras: the register then
		// rings up without a camera (its entries say so), the demo runs on.
		a.log.Warn("demo ubiregi: link the register to a camera", "err", err)
	}
	a.log.Info("demo mode: a built-in Ubiregi fake rings up checkouts; link it again in the portal through its consent page",
		"account", fk.AccountID(), "authorize", fk.URL()+"/oauth2/authorize")
	return &demoUbiregi{fk: fk, conn: conn}, nil
}

// connectDemoUbiregi stores the demo tenant's connection as the OAuth
// callback would: code → tokens → account → saved (sealed), one register.
// A restart stores the new fake's tokens in the same connection, keeping
// its register, link, cursor and history.
func (a *App) connectDemoUbiregi(ctx context.Context, fk *fake.Server, api *ubiregi.Client, redirect string) (*ent.PosConnection, error) {
	tok, err := api.Exchange(ctx, fk.Code(redirect))
	if err != nil {
		return nil, err
	}
	acct, err := api.Account(ctx, tok)
	if err != nil {
		return nil, err
	}
	c := &ubiregiconn.Connector{Client: a.DB.Client, Box: a.Secrets, API: api, Log: a.log}
	return c.Save(ctx, a.AccountID, acct, tok)
}

// linkDemoUbiregi links the connection's register to the demo camera with
// that device id, unless the register has any link already, active or
// ended: then its history is the user's (as demo.Seed treats its own).
func (a *App) linkDemoUbiregi(ctx context.Context, conn *ent.PosConnection, device string) error {
	term, err := a.DB.Client.Terminal.Query().Where(terminal.ConnectionID(conn.ID)).Only(ctx)
	if err != nil {
		return err
	}
	linked, err := a.DB.Client.Link.Query().Where(link.TerminalID(term.ID)).Exist(ctx)
	if err != nil || linked {
		return err
	}
	cam, err := a.DB.Client.Camera.Query().Where(camera.AccountID(a.AccountID), camera.DeviceID(device), camera.RetiredAtIsNil()).Only(ctx)
	if ent.IsNotFound(err) && device != demoUbiregiCamera {
		// The cloud camera is not there (the cloud was not reached): the
		// demo's own camera will do.
		cam, err = a.DB.Client.Camera.Query().Where(camera.AccountID(a.AccountID), camera.DeviceID(demoUbiregiCamera), camera.RetiredAtIsNil()).Only(ctx)
	}
	if err != nil {
		return err
	}
	return a.DB.Client.Link.Create().SetAccountID(a.AccountID).SetTerminalID(term.ID).SetCameraID(cam.ID).
		SetCreatedAt(time.Now().Add(-time.Minute).UTC()).Exec(ctx)
}

// demoUbiregiMenu is the fake register's menu: Ubiregi sends menu item ids,
// prices are tax included (10 %).
var demoUbiregiMenu = []struct {
	id    int64
	price int64
}{{101, 450}, {102, 520}, {103, 380}, {104, 680}, {105, 550}}

// run rings up a checkout at the fake every few seconds (now and then
// cancels the last one) and has the connection poll at once, as a webhook
// would make it, until ctx ends. Ubiregi has no webhooks: without the
// demo's nudge its sales would wait for --poll-interval.
func (d *demoUbiregi) run(ctx context.Context, a *App, every time.Duration) {
	defer d.fk.Shutdown()
	var last string
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every/2 + rand.N(every)):
		}
		if last != "" && rand.IntN(10) == 0 {
			d.fk.Cancel(last)
			last = ""
		} else {
			last = d.fk.Close(demoCheckout())
		}
		if err := a.Connectors.SyncNow(ctx, d.conn.ID); err != nil && ctx.Err() == nil {
			a.log.Debug("demo ubiregi sync", "err", err)
		}
	}
}

// demoCheckout is one paid bill: one to three lines, cash (rounded up to
// the next ¥1,000, change given) or card, by one of the fake's cashiers.
func demoCheckout() fake.Checkout {
	c := fake.Checkout{CashierID: 11 + int64(rand.IntN(2)), CustomersCount: 1 + rand.IntN(3)}
	var total int64
	for _, i := range rand.Perm(len(demoUbiregiMenu))[:1+rand.IntN(3)] {
		m := demoUbiregiMenu[i]
		n := 1 + rand.IntN(2)
		line := m.price * int64(n)
		tax := line / 11
		c.Items = append(c.Items, fake.Item{MenuItemID: m.id, Count: n, Sales: line - tax, Tax: tax})
		total += line
	}
	if rand.IntN(3) == 0 {
		c.Payments = []fake.Payment{{PaymentTypeID: 2, Amount: total}}
	} else {
		cash := (total/1000 + 1) * 1000
		c.Change = cash - total
		c.Payments = []fake.Payment{{PaymentTypeID: 1, Amount: cash}}
	}
	return c
}
