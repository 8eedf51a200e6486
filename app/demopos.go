package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pos/smaregi/fake"
	"github.com/regicam/regicam/pos/smaregi/storedconn"
	"github.com/regicam/regicam/pos/webhook"
	"github.com/regicam/regicam/pulid"
)

// demoSmaregi runs the Smaregi fake inside the process and connects the
// demo tenant to it, so a newcomer sees the whole pipeline: a sale rung up
// at "Smaregi", its webhook, the fetch with our own token, ingest, the
// camera picture and the live stream. It only ever talks to the fake.
type demoSmaregi struct {
	fk   *fake.Server
	conn *ent.PosConnection
	// cloudCamera is the device id of the camera its register is linked
	// to when the demo runs the Safie fake too ("": the demo's own).
	cloudCamera string
	// ubi is the Ubiregi fake beside it (app/demoubiregi.go); nil when a
	// real Ubiregi client is configured.
	ubi *demoUbiregi
}

// startDemoSmaregi starts the Smaregi fake and connects the demo tenant to
// it. It also starts the demo's Ubiregi fake (startDemoUbiregi), pointing
// cfg's Ubiregi settings at it before setupUbiregi reads them.
func (a *App) startDemoSmaregi(ctx context.Context, cfg *Config) (*demoSmaregi, error) {
	fk := fake.New(fake.Options{ContractID: "demo_contract", ClientID: "demo_client", ClientSecret: "demo-secret-0042",
		Stores: []fake.Store{{ID: "1", Name: "渋谷店"}}})
	sc := &storedconn.Connector{Client: a.DB.Client, Box: a.Secrets, IDBaseURL: fk.URL(), APIBaseURL: fk.URL(), Log: a.log}
	a.smaregi = sc
	conn, err := sc.Save(ctx, a.AccountID, storedconn.Credentials{ContractID: "demo_contract", ClientID: "demo_client", ClientSecret: "demo-secret-0042"})
	if err != nil {
		fk.Close()
		return nil, fmt.Errorf("connect demo Smaregi: %w", err)
	}
	// The fake keeps nothing across restarts but the journal does: its
	// numbering must go on after the sales already ingested, or its next
	// sale "1" would be taken for an edit of the previous run's "1".
	last, err := lastTransactionID(ctx, a.DB.Client, conn.ID)
	if err != nil {
		fk.Close()
		return nil, fmt.Errorf("demo Smaregi numbering: %w", err)
	}
	fk.Default().ContinueAfter(last)
	ubi, err := a.startDemoUbiregi(ctx, cfg)
	if err != nil {
		fk.Close()
		return nil, err
	}
	return &demoSmaregi{fk: fk, conn: conn, ubi: ubi}, nil
}

// lastTransactionID is the highest Smaregi transactionHeadId ingested for
// connection (0 for none). The ids are decimal strings without leading
// zeros, so the longest, then greatest, is the highest, on both databases.
func lastTransactionID(ctx context.Context, client *ent.Client, connection pulid.ID) (int, error) {
	e, err := client.JournalEntry.Query().
		Where(journalentry.ConnectionID(connection)).
		Order(func(s *sql.Selector) {
			col := s.C(journalentry.FieldExternalID)
			s.OrderExpr(sql.Expr("LENGTH(" + col + ") DESC"))
			s.OrderBy(sql.Desc(col))
		}).
		Select(journalentry.FieldExternalID).
		First(ctx)
	switch {
	case ent.IsNotFound(err):
		return 0, nil
	case err != nil:
		return 0, err
	}
	n, err := strconv.Atoi(e.ExternalID)
	if err != nil {
		return 0, fmt.Errorf("transaction id %q: %w", e.ExternalID, err)
	}
	return n, nil
}

// run rings up a sale (sometimes a cancel) at the fake every few seconds
// and has the fake deliver its webhook to this server, listening on addr
// (--addr).
func (d *demoSmaregi) run(ctx context.Context, a *App, addr string, every time.Duration) {
	defer d.fk.Close()
	if d.ubi != nil {
		// Started from here, after setupUbiregi and the poll runtime.
		a.background(func() { d.ubi.run(ctx, a, every) })
	}
	path, _, err := webhook.NewSecret(ctx, a.DB.Client, a.Secrets, d.conn)
	if err != nil {
		a.log.Warn("demo smaregi webhook", "err", err)
		return
	}
	// The fake is in this process: post to our own listener directly.
	host := addr
	if len(host) > 0 && host[0] == ':' {
		host = "127.0.0.1" + host
	}
	target := "http://" + host + path
	menu := []struct {
		name  string
		price int64
	}{{"ブレンドコーヒー", 450}, {"カフェラテ", 520}, {"サンドイッチ", 680}, {"チーズケーキ", 480}}
	staff := []string{"山田", "佐藤", "鈴木"}
	var last string
	linked := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every/2 + rand.N(every)):
		}
		if last != "" && rand.IntN(8) == 0 {
			_ = d.fk.Cancel(last, time.Now())
			_ = d.fk.SendWebhook(ctx, target, "canceled", last)
			last = ""
			continue
		}
		m := menu[rand.IntN(len(menu))]
		qty := 1 + rand.IntN(3)
		total := m.price * int64(qty)
		cash := (total/1000 + 1) * 1000
		last = d.fk.RingUp(fake.TransactionSpec{StoreID: "1", TerminalID: "9", StaffName: staff[rand.IntN(len(staff))],
			Total: total, Cash: cash, Change: cash - total, At: time.Now(), EnteredAt: time.Now().Add(-5 * time.Minute),
			Items: []fake.Detail{{ProductName: m.name, Quantity: qty, SalesPrice: m.price}}})
		if err := d.fk.SendWebhook(ctx, target, "created", last); err != nil {
			a.log.Debug("demo smaregi webhook", "err", err)
		}
		if !linked {
			linked = d.link(ctx, a)
		}
	}
}

// link binds the fake's register to the demo's second camera once the
// first webhook created the terminal, as an owner would in the portal;
// with --demo-safie, to the cloud's counter camera, so its sales show the
// cloud's picture of their second and who was at the counter.
func (d *demoSmaregi) link(ctx context.Context, a *App) bool {
	term, err := a.DB.Client.Terminal.Query().Where(terminal.ConnectionID(d.conn.ID), terminal.ExternalID("9")).Only(ctx)
	if err != nil {
		return false
	}
	device := "201000193"
	if d.cloudCamera != "" {
		device = d.cloudCamera
	}
	cam, err := a.DB.Client.Camera.Query().Where(camera.AccountID(a.AccountID), camera.DeviceID(device), camera.RetiredAtIsNil()).Only(ctx)
	if err != nil {
		return false
	}
	err = a.DB.Client.Link.Create().SetAccountID(a.AccountID).SetTerminalID(term.ID).SetCameraID(cam.ID).
		SetCreatedAt(time.Now().Add(-time.Minute).UTC()).Exec(ctx)
	return err == nil
}
