package storedconn_test

import (
	"context"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/ubiregi/fake"
	"github.com/regicam/regicam/pulid"
)

// TestUbiregiReconcile: checkouts removed without trace and edited
// without a new updated_at, which no poll can see, are found by the
// reconciliation sweep (reconcileConnection): one DELETE entry per vanished
// sale, related to it, one MODIFY per edit, and nothing more on a second
// sweep.
func TestUbiregiReconcile(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		fk := fake.New(fake.Options{AccountName: "カフェ照合"})
		t.Cleanup(fk.Shutdown)
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
			cfg.UbiregiAuthURL, cfg.UbiregiAPIURL = fk.URL(), fk.APIBaseURL()
			cfg.UbiregiClientID, cfg.UbiregiClientSecret = fk.ClientID(), fk.ClientSecret()
		})
		resp, err := signedIn(srv).Get(srv.URL + "/oauth/ubiregi/start")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		connID := pulid.ID(resp.Request.URL.Query().Get("connected"))
		if connID == "" {
			t.Fatalf("OAuth flow ended at %s", resp.Request.URL)
		}
		var ids []string
		for i := range 6 {
			yen := int64(1000 + 100*i)
			ids = append(ids, fk.Close(fake.Checkout{PaidAt: time.Now().Add(-time.Duration(10-i) * time.Minute).Truncate(time.Second),
				Items:    []fake.Item{{MenuItemID: 1, Count: 1, Sales: yen, Tax: yen / 10}},
				Payments: []fake.Payment{{PaymentTypeID: 1, Amount: yen + yen/10}}}))
		}
		srv.MustQuery(t, `mutation($id: ID!){ syncConnection(id: $id){ status } }`, map[string]any{"id": connID}, nil)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			c, err := srv.DB.Client.PosConnection.Get(ctx, connID)
			if err != nil {
				t.Fatal(err)
			}
			if c.ReconciledAt != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no sweep after the first poll")
			}
		}
		for _, id := range ids[1:3] {
			if err := fk.Vanish(id); err != nil {
				t.Fatal(err)
			}
		}
		if err := fk.EditSilently(ids[4], func(c *fake.Checkout) {
			c.Items[0].Sales += 300
			c.Payments[0].Amount += 300
		}); err != nil {
			t.Fatal(err)
		}
		type rec struct{ Checked, Vanished, Changed int }
		sweep := func() rec {
			var o struct {
				ReconcileConnection struct{ Reconciliation rec }
			}
			srv.MustQuery(t, `mutation($id: ID!){ reconcileConnection(id: $id){ reconciliation { checked vanished changed } } }`,
				map[string]any{"id": connID}, &o)
			return o.ReconcileConnection.Reconciliation
		}
		if got := sweep(); got.Vanished != 2 || got.Changed != 1 || got.Checked != 4 {
			t.Fatalf("sweep: %+v, want 2 vanished, 1 changed of 4 listed", got)
		}
		if got := sweep(); got.Vanished != 0 || got.Changed != 0 {
			t.Fatalf("second sweep: %+v", got)
		}
		es, err := srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(connID)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[journalentry.Kind]int{}
		for _, e := range es {
			kinds[e.Kind]++
			if e.Kind == journalentry.KindDELETE && (e.RelatedID == nil || (e.ExternalID != ids[1] && e.ExternalID != ids[2])) {
				t.Fatalf("DELETE %s related to %v", e.ExternalID, e.RelatedID)
			}
		}
		if kinds[journalentry.KindPAYMENT] != 6 || kinds[journalentry.KindDELETE] != 2 || kinds[journalentry.KindMODIFY] != 1 || len(kinds) != 3 {
			t.Fatalf("entries: %v", kinds)
		}
	})
}
