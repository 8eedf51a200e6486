package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
)

func sale(term pulid.ID, ext string, at time.Time) ingest.Receipt {
	return ingest.Receipt{TerminalID: term, ExternalID: ext, Kind: journalentry.KindPAYMENT, OccurredAt: at,
		ReceiptNo: "000123", RegisterNo: "1", StaffName: "山田 太郎", Total: 1200, Deposit: 2000, Change: 800, PaymentMethod: "現金"}
}

// TestBatchSharedTransaction sends a partner batch of mostly new sales with
// a re-sent one, a cancel of a sale in the same batch and an unknown
// register: each item ends as if stored on its own, with one event per
// entry and the camera of its register's link.
func TestBatchSharedTransaction(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		ctx := context.Background()
		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		if r := srv.Ingester.Ingest(ctx, srv.AccountID, sale(fx.TerminalIDs[0], "old", base)); r.Status != ingest.Created {
			t.Fatalf("first sale: %s %v", r.Status, r.Err)
		}
		events0, _ := srv.DB.Client.Event.Query().Count(ctx)
		var rs []ingest.Receipt
		for i := range 40 {
			rs = append(rs, sale(fx.TerminalIDs[i%3], fmt.Sprintf("new-%02d", i), base.Add(time.Duration(i)*time.Second)))
		}
		rs = append(rs, sale(fx.TerminalIDs[0], "old", base)) // 40: re-sent
		cancel := sale(fx.TerminalIDs[0], "c-05", base.Add(time.Minute))
		cancel.Kind, cancel.RelatedExternalID, cancel.Total = journalentry.KindCANCEL, "new-03", -1200
		rs = append(rs, cancel)                                  // 41: changes item 3 (terminal 0)
		rs = append(rs, sale(pulid.MustNew("TE"), "lost", base)) // 42: no such register
		res, err := srv.Ingester.IngestBatch(ctx, srv.AccountID, rs, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			r := res[i]
			if r.Status != ingest.Created || r.Entry == nil || r.Entry.ExternalID != rs[i].ExternalID {
				t.Fatalf("item %d: %s %v", i, r.Status, r.Err)
			}
			wantCam := fx.CameraIDs[0]
			if i%3 == 2 {
				wantCam = fx.CameraIDs[1]
			}
			if r.Entry.CameraID == nil || *r.Entry.CameraID != wantCam {
				t.Errorf("item %d: camera %v, want %s", i, r.Entry.CameraID, wantCam)
			}
		}
		if res[40].Status != ingest.Duplicate {
			t.Errorf("re-sent sale: %s %v", res[40].Status, res[40].Err)
		}
		if res[41].Status != ingest.Created || res[41].Entry.RelatedID == nil || *res[41].Entry.RelatedID != res[3].Entry.ID {
			t.Errorf("cancel: %s %v related %v, want %s", res[41].Status, res[41].Err, res[41].Entry, res[3].Entry.ID)
		}
		if res[42].Status != ingest.Failed || res[42].Err == nil {
			t.Errorf("unknown register: %s %v", res[42].Status, res[42].Err)
		}
		events1, _ := srv.DB.Client.Event.Query().Count(ctx)
		// 41 ADDED and the UPDATED of the canceled sale.
		if events1-events0 != 42 {
			t.Errorf("%d events written, want 42", events1-events0)
		}
		added, _ := srv.DB.Client.Event.Query().Where(event.TypeEQ(event.TypeADDED), event.EntryIDIn(res[0].Entry.ID, res[39].Entry.ID)).Count(ctx)
		if added != 2 {
			t.Errorf("%d ADDED events for the first and last new sale, want 2", added)
		}
	})
}

// TestBatchConcurrentSame sends the same batch from two partners' retries
// at once: every record is stored exactly once, and each item is CREATED in
// one call and DUPLICATE in the other.
func TestBatchConcurrentSame(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		ctx := context.Background()
		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		var rs []ingest.Receipt
		for i := range 100 {
			rs = append(rs, sale(fx.TerminalIDs[i%3], fmt.Sprintf("dup-%03d", i), base.Add(time.Duration(i)*time.Second)))
		}
		var wg sync.WaitGroup
		results := make([][]ingest.Result, 2)
		for k := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				batch := append([]ingest.Receipt(nil), rs...)
				results[k], _ = srv.Ingester.IngestBatch(ctx, srv.AccountID, batch, nil)
			}()
		}
		wg.Wait()
		for i := range rs {
			a, b := results[0][i], results[1][i]
			if !(a.Status == ingest.Created && b.Status == ingest.Duplicate || a.Status == ingest.Duplicate && b.Status == ingest.Created) {
				t.Fatalf("item %d: %s (%v) and %s (%v), want one CREATED and one DUPLICATE", i, a.Status, a.Err, b.Status, b.Err)
			}
			if a.Entry == nil || b.Entry == nil || a.Entry.ID != b.Entry.ID {
				t.Fatalf("item %d: the two calls name different entries", i)
			}
		}
		n, _ := srv.DB.Client.JournalEntry.Query().Where(journalentry.ExternalIDHasPrefix("dup-")).Count(ctx)
		if n != len(rs) {
			t.Errorf("%d entries stored for %d records", n, len(rs))
		}
	})
}
