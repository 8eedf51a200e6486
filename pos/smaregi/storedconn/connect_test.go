package storedconn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/smaregi/fake"
	"github.com/regicam/regicam/pulid"
)

const connectQ = `mutation($in: SmaregiCredentialsInput!){ connectSmaregi(input: $in){ id status secretHint contractID } }`

func TestSmaregiEndToEnd(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		fk := fake.New(fake.Options{ContractID: "sb_ab123", ClientID: "cli-1", ClientSecret: "s3cret-value-9876",
			Stores: []fake.Store{{ID: "1", Name: "本店"}}})
		t.Cleanup(fk.Close)
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
			cfg.SmaregiIDURL, cfg.SmaregiAPIURL = fk.URL(), fk.URL()
		})

		// A secret Smaregi refuses: field error, nothing saved.
		r := srv.Query(t, connectQ, map[string]any{"in": map[string]any{"contractID": "sb_ab123", "clientID": "cli-1", "clientSecret": "wrong"}})
		if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != "input.clientSecret" {
			t.Fatalf("wrong secret: %+v", r.Errors)
		}
		if n, _ := srv.DB.Client.PosConnection.Query().Count(ctx); n != 0 {
			t.Fatalf("%d connections saved from refused credentials", n)
		}
		r = srv.Query(t, connectQ, map[string]any{"in": map[string]any{"contractID": " ", "clientID": "cli-1", "clientSecret": "x"}})
		if len(r.Errors) != 1 || r.Errors[0].Field() != "input.contractID" {
			t.Fatalf("empty contract id: %+v", r.Errors)
		}

		var out struct {
			ConnectSmaregi struct{ ID, Status, SecretHint, ContractID string }
		}
		srv.MustQuery(t, connectQ, map[string]any{"in": map[string]any{"contractID": "sb_ab123", "clientID": "cli-1", "clientSecret": "s3cret-value-9876"}}, &out)
		connID := pulid.ID(out.ConnectSmaregi.ID)
		if out.ConnectSmaregi.SecretHint != "••••9876" || out.ConnectSmaregi.Status != "OK" {
			t.Fatalf("connected: %+v", out.ConnectSmaregi)
		}
		conn, _ := srv.DB.Client.PosConnection.Get(ctx, connID)
		if strings.Contains(string(conn.Secrets), "s3cret") {
			t.Fatal("client secret stored in clear")
		}

		sync := func() (status, lastError string) {
			t.Helper()
			var o struct {
				SyncConnection struct{ Status, LastError string }
			}
			srv.MustQuery(t, `mutation($id: ID!){ syncConnection(id: $id){ status lastError } }`, map[string]any{"id": connID}, &o)
			return o.SyncConnection.Status, o.SyncConnection.LastError
		}
		at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
		sale := fk.RingUp(fake.TransactionSpec{StoreID: "1", TerminalID: "3", StaffName: "山田", Total: 35000, Cash: 35000, At: at})
		reversed := fk.RingUp(fake.TransactionSpec{StoreID: "1", TerminalID: "3", StaffName: "佐藤", Total: 1200, Credit: 1200, At: at.Add(time.Minute)})
		edited := fk.RingUp(fake.TransactionSpec{StoreID: "1", TerminalID: "4", StaffName: "鈴木", Total: 800, Cash: 1000, Change: 200, At: at.Add(2 * time.Minute)})
		if st, e := sync(); st != "OK" {
			t.Fatalf("first sync: %s %s", st, e)
		}
		// The registers appear as terminals; the owner links one to a camera.
		term, err := srv.DB.Client.Terminal.Query().Where(terminal.ConnectionID(connID), terminal.ExternalID("3")).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		if err := srv.DB.Client.Link.Create().SetAccountID(srv.AccountID).SetTerminalID(term.ID).SetCameraID(fx.CameraIDs[0]).
			SetCreatedAt(testenv.LinkedSince).Exec(ctx); err != nil {
			t.Fatal(err)
		}

		if err := fk.Cancel(sale, time.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := fk.Dispose(reversed, time.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := fk.Edit(edited, func(tx *fake.Transaction) { tx.StaffName = "高橋" }, time.Now().Add(-30*time.Second)); err != nil {
			t.Fatal(err)
		}
		// Smaregi stamps changes in whole seconds and a poll reads up to the
		// current second; let that second pass so the changes are in range.
		time.Sleep(1100 * time.Millisecond)
		for range 2 { // the second finds nothing new
			if st, e := sync(); st != "OK" {
				t.Fatalf("sync after changes: %s %s", st, e)
			}
		}

		kinds := func() map[journalentry.Kind]int {
			es, _ := srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(connID)).All(ctx)
			m := map[journalentry.Kind]int{}
			for _, e := range es {
				m[e.Kind]++
			}
			return m
		}
		if k := kinds(); k[journalentry.KindPAYMENT] != 3 || k[journalentry.KindCANCEL] != 2 || k[journalentry.KindMODIFY] != 1 {
			t.Fatalf("entries by kind after cancel, 打消 and edit: %v", k)
		}
		cancel, _ := srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(connID), journalentry.ExternalID(sale),
			journalentry.KindEQ(journalentry.KindCANCEL)).Only(ctx)
		if cancel.CameraID == nil || *cancel.CameraID != fx.CameraIDs[0] || cancel.RelatedID == nil {
			t.Fatalf("cancel entry: camera %v related %v", cancel.CameraID, cancel.RelatedID)
		}

		// A deletion arrives by webhook, authenticated by the URL secret.
		var ep struct{ CreateWebhookSecret struct{ Path, Secret string } }
		srv.MustQuery(t, `mutation($id: ID!){ createWebhookSecret(id: $id){ path secret } }`, map[string]any{"id": connID}, &ep)
		if err := fk.Delete(edited); err != nil {
			t.Fatal(err)
		}
		bad := srv.URL + strings.Replace(ep.CreateWebhookSecret.Path, ep.CreateWebhookSecret.Secret, "guess", 1)
		if err := fk.SendWebhook(ctx, bad, "deleted", edited); err == nil {
			t.Fatal("webhook with a wrong secret accepted")
		}
		for range 2 { // duplicates are harmless
			if err := fk.SendWebhook(ctx, srv.URL+ep.CreateWebhookSecret.Path, "deleted", edited); err != nil {
				t.Fatalf("webhook: %v", err)
			}
		}
		if k := kinds(); k[journalentry.KindDELETE] != 1 {
			t.Fatalf("after deletion webhook: %v", k)
		}

		// A connection left on the retired access-token API asks for the new
		// credentials; entering them keeps terminals, links and history.
		if err := srv.DB.Client.PosConnection.UpdateOneID(connID).SetCredentialKind("access_token").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if st, e := sync(); st != string(posconnection.StatusNEEDS_REAUTH) || !strings.Contains(e, "クライアントシークレット") {
			t.Fatalf("legacy connection: %s %q", st, e)
		}
		before := kinds()
		srv.MustQuery(t, connectQ, map[string]any{"in": map[string]any{"contractID": "sb_ab123", "clientID": "cli-1", "clientSecret": "s3cret-value-9876"}}, &out)
		if pulid.ID(out.ConnectSmaregi.ID) != connID {
			t.Fatalf("re-entering credentials made a new connection %s", out.ConnectSmaregi.ID)
		}
		if st, e := sync(); st != "OK" {
			t.Fatalf("after new credentials: %s %s", st, e)
		}
		if after := kinds(); after[journalentry.KindPAYMENT] != before[journalentry.KindPAYMENT] {
			t.Fatalf("history changed: %v → %v", before, after)
		}
		if n, _ := srv.DB.Client.Link.Query().Count(ctx); n != 4 { // fixture's 3 + ours
			t.Fatalf("links after re-auth: %d", n)
		}
	})
}
