package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// TestDemoSmaregiRestart: the demo's built-in Smaregi fake goes on with
// its transaction numbers after a restart on the same data, so its new
// sales are new journal entries — never MODIFY entries "editing" the
// previous run's sales, which no one edited.
func TestDemoSmaregiRestart(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		dir := t.TempDir()
		demo := func(cfg *app.Config, url string) {
			cfg.Demo, cfg.DemoPOS, cfg.DemoEvery = "true", true, 50*time.Millisecond
			// The fake posts its webhooks to this server's own address.
			cfg.Addr = strings.TrimPrefix(url, "http://")
		}
		var first int
		t.Run("first run", func(t *testing.T) {
			srv := testenv.StartWith(t, b, dir, demo)
			first = len(waitSmaregiSales(t, srv, 5))
		})
		srv := testenv.StartWith(t, b, dir, demo)
		waitSmaregiSales(t, srv, first+5)
		ctx := viewer.System(t.Context())
		modified, err := smaregiEntries(t, srv).Where(journalentry.KindEQ(journalentry.KindMODIFY)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range modified {
			t.Errorf("the restart made transaction %s a MODIFY entry (revision %s)", e.ExternalID, e.Revision)
		}
	})
}

// smaregiEntries are the journal entries of the demo's Smaregi connection.
func smaregiEntries(t *testing.T, srv *testenv.Server) *ent.JournalEntryQuery {
	t.Helper()
	ids, err := srv.DB.Client.PosConnection.Query().Where(posconnection.AccountID(srv.AccountID),
		posconnection.ProviderEQ(posconnection.ProviderSMAREGI)).IDs(viewer.System(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	return srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionIDIn(ids...))
}

// waitSmaregiSales waits until the fake's sales (PAYMENT entries) number
// at least n and returns them.
func waitSmaregiSales(t *testing.T, srv *testenv.Server, n int) []*ent.JournalEntry {
	t.Helper()
	ctx := viewer.System(t.Context())
	deadline := time.Now().Add(time.Minute)
	for {
		sales, err := smaregiEntries(t, srv).Where(journalentry.KindEQ(journalentry.KindPAYMENT)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(sales) >= n {
			return sales
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Smaregi sales ingested in a minute, want %d", len(sales), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
