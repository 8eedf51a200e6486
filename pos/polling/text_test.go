package polling_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/polling"
)

// TestProviderNULIsCleaned: a provider record with NUL bytes and invalid
// UTF-8 (register id, store name, staff, items, raw) is stored with them
// dropped, on both databases; the sync succeeds and the cursor moves on,
// so one bad byte cannot wedge the poller.
func TestProviderNULIsCleaned(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		srv := testenv.Start(t, b, "")
		client := srv.DB.Client
		conn, err := client.PosConnection.Create().SetAccountID(srv.AccountID).SetProvider(posconnection.ProviderSMAREGI).
			SetContractID("nul").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		src := &scripted{recs: []pos.Record{{
			TerminalExternalID: "reg\x001", StoreExternalID: "st\x00", StoreName: "新宿\x00店\xff",
			Receipt: ingest.Receipt{ExternalID: "tx\x00-1", Kind: journalentry.KindPAYMENT,
				OccurredAt: time.Now().Add(-time.Minute).UTC(), StaffName: "山\x00田", Total: 500,
				Items: []schematype.Item{{Name: "珈\x00琲", Quantity: 1, Amount: 500}},
				Raw:   json.RawMessage(`{"memo":"a\u0000b"}`)},
		}}}
		rt := polling.New(client, srv.Ingester, testenv.Logger(), polling.Options{Interval: time.Hour},
			map[posconnection.Provider]pos.Factory{
				posconnection.ProviderSMAREGI: func(context.Context, *ent.PosConnection) (pos.Source, error) { return src, nil },
			})
		t.Cleanup(rt.Close)
		if err := rt.SyncNow(ctx, conn.ID); err != nil {
			t.Fatalf("sync: %v", err)
		}
		e, err := client.JournalEntry.Query().Where(journalentry.ConnectionID(conn.ID)).Only(ctx)
		if err != nil {
			t.Fatalf("stored entry: %v", err)
		}
		if e.ExternalID != "tx-1" || e.StaffName != "山田" || len(e.Items) != 1 || e.Items[0].Name != "珈琲" {
			t.Fatalf("entry %q %q %+v", e.ExternalID, e.StaffName, e.Items)
		}
		term, err := client.Terminal.Query().Where(terminal.ConnectionID(conn.ID)).WithShop().Only(ctx)
		if err != nil || term.ExternalID != "reg1" || term.Edges.Shop.Name != "新宿店\uFFFD" {
			t.Fatalf("terminal %+v %v", term, err)
		}
		if c, _ := client.PosConnection.Get(ctx, conn.ID); c.SyncCursor != "1" || c.Status != posconnection.StatusOK {
			t.Fatalf("connection: cursor %q status %s", c.SyncCursor, c.Status)
		}
	})
}
