package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/smaregi/fake"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

const reconcileQ = `mutation($id: ID!){ reconcileConnection(id: $id){ id
  reconciliation { lastAt nextAt windowHours checked vanished changed lastError }
  missingReceipts } }`

const feedHealthQ = `query($id: ID!){ node(id: $id){ ... on Terminal {
  feedHealth { lastReceiptAt receiptsLast24h missingCount missingRanges { from to count firstNoticedAt checks lost } } } } }`

// TestReconcileConnection: an OWNER's reconcileConnection finds a sale
// that vanished at Smaregi and the register's missing receipt number; STAFF
// may not run it; another account's connection does not exist for it.
func TestReconcileConnection(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		fk := fake.New(fake.Options{ContractID: "sb_rc1", ClientID: "cli-rc", ClientSecret: "rc-secret-4321"})
		t.Cleanup(fk.Close)
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) {
			cfg.SmaregiIDURL, cfg.SmaregiAPIURL = fk.URL(), fk.URL()
		})
		var conn struct{ ConnectSmaregi struct{ ID string } }
		srv.MustQuery(t, `mutation($in: SmaregiCredentialsInput!){ connectSmaregi(input: $in){ id } }`,
			map[string]any{"in": map[string]any{"contractID": "sb_rc1", "clientID": "cli-rc", "clientSecret": "rc-secret-4321"}}, &conn)
		connID := pulid.ID(conn.ConnectSmaregi.ID)

		at := time.Now().Add(-time.Hour).Truncate(time.Second)
		sale := func(i int) string {
			return fk.RingUp(fake.TransactionSpec{TerminalID: "7", Total: 1000, At: at.Add(time.Duration(i) * time.Minute)})
		}
		first := sale(0)
		fk.RingUpHeld(fake.TransactionSpec{TerminalID: "7", Total: 2000, At: at.Add(time.Minute)}) // receipt 2, never uploaded
		sale(2)
		srv.MustQuery(t, `mutation($id: ID!){ syncConnection(id: $id){ status } }`, map[string]any{"id": connID}, nil)
		// The lease holder sweeps once after its first poll; wait for it,
		// so the vanishing below is the next sweep's finding.
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
		if err := fk.VanishSilently(first); err != nil {
			t.Fatal(err)
		}

		var out struct {
			ReconcileConnection struct {
				ID             string
				Reconciliation struct {
					LastAt, NextAt                          *time.Time
					WindowHours, Checked, Vanished, Changed int
					LastError                               string
				}
				MissingReceipts int
			}
		}
		srv.MustQuery(t, reconcileQ, map[string]any{"id": connID}, &out)
		rc := out.ReconcileConnection.Reconciliation
		if rc.Vanished != 1 || rc.Changed != 0 || rc.Checked != 1 || rc.WindowHours != 48 || rc.LastError != "" ||
			rc.LastAt == nil || rc.NextAt == nil || !rc.NextAt.After(*rc.LastAt) || out.ReconcileConnection.MissingReceipts != 1 {
			t.Fatalf("reconcileConnection: %+v", out.ReconcileConnection)
		}

		term, err := srv.DB.Client.Terminal.Query().Where(terminal.ConnectionID(connID), terminal.ExternalID("7")).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var fh struct {
			Node struct {
				FeedHealth struct {
					LastReceiptAt   *time.Time
					ReceiptsLast24h int
					MissingCount    int
					MissingRanges   []struct {
						From, To      string
						Count, Checks int
						Lost          bool
					}
				}
			}
		}
		srv.MustQuery(t, feedHealthQ, map[string]any{"id": term.ID}, &fh)
		h := fh.Node.FeedHealth
		if h.LastReceiptAt == nil || !h.LastReceiptAt.Equal(at.Add(2*time.Minute)) || h.ReceiptsLast24h != 2 || h.MissingCount != 1 ||
			len(h.MissingRanges) != 1 || h.MissingRanges[0].From != "2" || h.MissingRanges[0].To != "2" || h.MissingRanges[0].Checks < 1 || h.MissingRanges[0].Lost {
			t.Fatalf("feedHealth: %+v", h)
		}

		// STAFF: refused by the permission table.
		_, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff)
		if r := staff.Query(t, reconcileQ, map[string]any{"id": connID}); len(r.Errors) != 1 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Fatalf("STAFF reconcileConnection: %+v", r.Errors)
		}
		// Another account's OWNER: the id is not theirs.
		_, other := srv.NewAccount(t, "よその店")
		if r := other.Query(t, reconcileQ, map[string]any{"id": connID}); len(r.Errors) != 1 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Fatalf("another account's reconcileConnection: %+v", r.Errors)
		}
		c, err := srv.DB.Client.PosConnection.Get(ctx, connID)
		if err != nil || c.Status != posconnection.StatusOK {
			t.Fatalf("connection: %+v %v", c, err)
		}
	})
}
