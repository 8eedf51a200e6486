package portal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/auditlog"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/smaregi/fake"
	"github.com/regicam/regicam/pulid"
)

// rowFields is what the portal's tables select of a LinkSetting.
const rowFields = `id provider contractID secretHint terminalExternalID terminalName cameraLabel status lastSyncAt lastError
  connection { id status } terminal { id } link { id createdAt endedAt } camera { id label }`

type rowT struct {
	ID, Provider, ContractID, SecretHint, TerminalExternalID, TerminalName, CameraLabel, Status, LastError string
	LastSyncAt                                                                                             *time.Time
	Connection                                                                                             struct{ ID, Status string }
	Terminal                                                                                               *struct{ ID string }
	Link                                                                                                   *struct {
		ID        string
		CreatedAt time.Time
		EndedAt   *time.Time
	}
	Camera *struct{ ID, Label string }
}

const (
	addQ      = `mutation($in: AddSmaregiLinkInput!){ addSmaregiLink(input: $in){ ` + rowFields + ` } }`
	settingsQ = `query($p: PosConnectionProvider){ linkSettings(provider: $p){ ` + rowFields + ` } }`
	connectQ  = `mutation($in: SmaregiCredentialsInput!){ connectSmaregi(input: $in){ id status secretHint } }`
	syncQ     = `mutation($id: ID!){ syncConnection(id: $id){ id status lastError } }`

	contract    = "sb_portal1"
	clientID    = "cli-portal"
	secret      = "portal-Secret-value-7788"
	wrongSecret = "wrong-Secret-value-0001"
)

func settings(e *env, provider string) []rowT {
	e.t.Helper()
	var out struct{ LinkSettings []rowT }
	vars := map[string]any{}
	if provider != "" {
		vars["p"] = provider
	}
	e.must(settingsQ, vars, &out)
	return out.LinkSettings
}

// TestAddSmaregiLink walks the スマレジ連携 form: the camera list, every
// refusal (which saves nothing), the one-step add, CONFLICT for a register
// another camera watches, the settings table with its masked secret, and a
// legacy credential repaired through the table's update.
func TestAddSmaregiLink(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		fk := fake.New(fake.Options{ContractID: contract, ClientID: clientID, ClientSecret: secret,
			Stores: []fake.Store{{ID: "1", Name: "本店"}}})
		t.Cleanup(fk.Close)
		// An app registered without the stores scope regicam asks for.
		fk.AddContract("sb_noscope", "cli-noscope", "noscope-Secret-4321", []string{"pos.transactions:read"}, nil)
		e := start(t, b, func(cfg *app.Config, _ string) { cfg.SmaregiIDURL, cfg.SmaregiAPIURL = fk.URL(), fk.URL() })
		ctx, c, acct := sys(), e.srv.DB.Client, e.srv.AccountID
		fx := testenv.NewFixture(t, c, acct)
		home, front := c.Camera.GetX(ctx, fx.CameraIDs[0]), c.Camera.GetX(ctx, fx.CameraIDs[1])
		homeLabel := "自宅カメラ (CC-2L_SF : " + home.DeviceID + ")"
		frontLabel := "レジ前カメラ (CC-2L_SF : " + front.DeviceID + ")"
		noPOS := c.Camera.Create().SetAccountID(acct).SetName("倉庫カメラ").SetModel("CC-1").SetDeviceID("nopos-1").SaveX(ctx)
		other := newForeign(t, e)

		var cams struct{ LinkableCameras []struct{ ID, Label string } }
		e.must(`{ linkableCameras { id label } }`, nil, &cams)
		if len(cams.LinkableCameras) != 2 || cams.LinkableCameras[0].Label != frontLabel || cams.LinkableCameras[1].Label != homeLabel {
			t.Fatalf("linkable cameras (POS option, this account, by name): %+v", cams.LinkableCameras)
		}

		type counts struct{ conns, terms, links, smaregi int }
		count := func() counts {
			return counts{
				conns:   c.PosConnection.Query().CountX(ctx),
				terms:   c.Terminal.Query().CountX(ctx),
				links:   c.Link.Query().CountX(ctx),
				smaregi: c.PosConnection.Query().Where(posconnection.AccountID(acct), posconnection.ProviderEQ(posconnection.ProviderSMAREGI)).CountX(ctx),
			}
		}
		form := func(change func(m map[string]any)) map[string]any {
			m := map[string]any{"contractID": contract, "clientID": clientID, "clientSecret": secret,
				"terminalID": "3", "cameraID": home.ID}
			if change != nil {
				change(m)
			}
			return map[string]any{"in": m}
		}
		before := count()

		// Local mistakes are found without asking Smaregi.
		tokens := fk.Stats().TokenRequests
		e.fails(addQ, form(func(m map[string]any) { m["cameraID"] = noPOS.ID }), "BAD_USER_INPUT", "input.cameraID")
		e.fails(addQ, form(func(m map[string]any) { m["terminalID"] = "  " }), "BAD_USER_INPUT", "input.terminalID")
		foreignMsg := e.fails(addQ, form(func(m map[string]any) { m["cameraID"] = other.camera }), "NOT_FOUND", "input.cameraID")
		missingMsg := e.fails(addQ, form(func(m map[string]any) { m["cameraID"] = pulid.MustNew("CA") }), "NOT_FOUND", "input.cameraID")
		if foreignMsg != missingMsg {
			t.Fatalf("another account's camera reads %q, a missing one %q", foreignMsg, missingMsg)
		}
		if n := fk.Stats().TokenRequests; n != tokens {
			t.Fatalf("Smaregi asked %d times about forms with local mistakes", n-tokens)
		}
		// Credentials Smaregi refuses.
		e.fails(addQ, form(func(m map[string]any) { m["clientSecret"] = wrongSecret }), "BAD_USER_INPUT", "input.clientSecret")
		e.fails(addQ, form(func(m map[string]any) {
			m["contractID"], m["clientID"], m["clientSecret"] = "sb_noscope", "cli-noscope", "noscope-Secret-4321"
		}), "BAD_USER_INPUT", "input.clientID")
		if got := count(); got != before || got.smaregi != 0 {
			t.Fatalf("refused forms saved something: before %+v, after %+v", before, got)
		}

		// The form in one step: connection, register 3, link.
		var out struct{ AddSmaregiLink rowT }
		e.must(addQ, form(nil), &out)
		r := out.AddSmaregiLink
		if r.Provider != "SMAREGI" || r.ContractID != contract || r.SecretHint != "••••7788" || r.TerminalExternalID != "3" ||
			r.CameraLabel != homeLabel || r.Camera == nil || r.Camera.ID != string(home.ID) || r.Link == nil || r.Link.EndedAt != nil ||
			r.Status != "OK" || r.Terminal == nil || r.ID != r.Terminal.ID {
			t.Fatalf("added row: %+v", r)
		}
		firstLink, connID := r.Link.ID, r.Connection.ID
		if got := count(); got.smaregi != 1 || got.terms != before.terms+1 || got.links != before.links+1 {
			t.Fatalf("after add: %+v (before %+v)", got, before)
		}
		conn := c.PosConnection.GetX(ctx, pulid.ID(connID))
		if len(conn.Secrets) == 0 || strings.Contains(string(conn.Secrets), secret) || strings.Contains(string(conn.Secrets), clientID) {
			t.Fatal("credentials not sealed at rest")
		}

		// The same form again is not an error and changes nothing.
		e.must(addQ, form(nil), &out)
		if out.AddSmaregiLink.Link == nil || out.AddSmaregiLink.Link.ID != firstLink {
			t.Fatalf("repeated add: %+v", out.AddSmaregiLink)
		}
		// Register 3 to another camera through "add": CONFLICT naming the
		// camera that watches it; nothing of that form is saved.
		msg := e.fails(addQ, form(func(m map[string]any) { m["cameraID"] = front.ID }), "CONFLICT", "input.cameraID")
		if !strings.Contains(msg, "端末 3 は既に "+homeLabel+" に連携されています") {
			t.Fatalf("conflict message %q does not name the camera", msg)
		}
		// Register 4 reuses the connection.
		e.must(addQ, form(func(m map[string]any) { m["terminalID"], m["cameraID"] = "4", front.ID }), &out)
		if out.AddSmaregiLink.Connection.ID != connID {
			t.Fatalf("second register made connection %s, want %s", out.AddSmaregiLink.Connection.ID, connID)
		}

		rows := settings(e, "SMAREGI")
		if len(rows) != 2 || rows[0].TerminalExternalID != "3" || rows[0].CameraLabel != homeLabel || rows[0].Link.ID != firstLink ||
			rows[1].TerminalExternalID != "4" || rows[1].CameraLabel != frontLabel {
			t.Fatalf("スマレジ設定 rows: %+v", rows)
		}
		for _, r := range rows {
			if r.ContractID != contract || r.SecretHint != "••••7788" || r.Status != "OK" {
				t.Fatalf("row %+v", r)
			}
		}
		if all := settings(e, ""); len(all) != 5 { // + the fixture's three partner registers
			t.Fatalf("all rows: %d", len(all))
		}

		// A connection left on the retired access-token API shows
		// NEEDS_REAUTH; entering the three values again repairs it and
		// keeps registers and links.
		c.PosConnection.UpdateOneID(pulid.ID(connID)).SetCredentialKind("access_token").ExecX(ctx)
		if rows := settings(e, "SMAREGI"); rows[0].Status != "NEEDS_REAUTH" || !strings.Contains(rows[0].LastError, "クライアントシークレット") {
			t.Fatalf("legacy row before any poll: %+v", rows[0])
		}
		var s struct {
			SyncConnection struct{ Status, LastError string }
		}
		e.must(syncQ, map[string]any{"id": connID}, &s)
		if s.SyncConnection.Status != "NEEDS_REAUTH" {
			t.Fatalf("legacy credential: %+v", s.SyncConnection)
		}
		if rows := settings(e, "SMAREGI"); rows[0].Status != "NEEDS_REAUTH" || rows[0].LastError == "" {
			t.Fatalf("legacy row: %+v", rows[0])
		}
		e.fails(connectQ, map[string]any{"in": map[string]any{"contractID": contract, "clientID": clientID, "clientSecret": wrongSecret}},
			"BAD_USER_INPUT", "input.clientSecret")
		e.must(connectQ, map[string]any{"in": map[string]any{"contractID": contract, "clientID": clientID, "clientSecret": secret}}, nil)
		e.must(syncQ, map[string]any{"id": connID}, &s)
		rows = settings(e, "SMAREGI")
		if s.SyncConnection.Status != "OK" || len(rows) != 2 || rows[0].Status != "OK" || rows[0].Link.ID != firstLink || rows[0].LastSyncAt == nil {
			t.Fatalf("after new credentials: %+v %+v", s.SyncConnection, rows)
		}

		// The audit log has the changes, and never a secret.
		logs := c.AuditLog.Query().Where(auditlog.AccountID(acct)).AllX(ctx)
		actions := map[string]int{}
		for _, l := range logs {
			actions[l.Action]++
			if strings.Contains(l.Detail, secret) || strings.Contains(l.Detail, wrongSecret) {
				t.Fatalf("audit detail holds a secret: %q", l.Detail)
			}
		}
		if actions["link.created"] != 2 || actions["connection.credentials_changed"] != 2 || actions["terminal.created"] != 2 {
			t.Fatalf("audit actions: %v", actions)
		}
		// The other account was never touched.
		if l := c.Link.GetX(ctx, other.link); l.EndedAt != nil {
			t.Fatal("foreign link ended")
		}
		if n := c.Terminal.Query().Where(terminal.ConnectionID(pulid.ID(connID))).CountX(ctx); n != 2 {
			t.Fatalf("terminals of the contract: %d", n)
		}
		if n := c.Link.Query().Where(link.EndedAtNotNil()).CountX(ctx); n != 0 {
			t.Fatalf("%d links ended by adds", n)
		}
		e.noClear(secret, wrongSecret, "noscope-Secret-4321")
	})
}
