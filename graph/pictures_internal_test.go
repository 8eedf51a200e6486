package graph

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/viewer"
)

// TestEntryPictureQueries: a thumbnail read whole answers picture (or its
// absence) without another query; only one read with a subset of its
// columns (entgql's field collection) is read again for the picture's.
func TestEntryPictureQueries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := viewer.System(t.Context())
		var queries atomic.Int64
		c := ent.NewClient(ent.Driver(dialect.DebugWithContext(entsql.OpenDB(d.Dialect, d.SQL),
			func(context.Context, ...any) { queries.Add(1) })))
		acc, err := d.Client.Account.Create().SetName("pictures").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		shop, err := d.Client.Shop.Create().SetAccountID(acc.ID).SetName("渋谷店").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := d.Client.PosConnection.Create().SetAccountID(acc.ID).SetProvider("PARTNER").SetContractID("pictures").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cam, err := d.Client.Camera.Create().SetAccountID(acc.ID).SetName("レジ前カメラ").SetModel("CC-2L_SF").
			SetDeviceID("dv-pictures").SetPosOption(true).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		term, err := d.Client.Terminal.Create().SetAccountID(acc.ID).SetConnectionID(conn.ID).
			SetShopID(shop.ID).SetExternalID("1").SetName("レジ1").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-time.Hour).UTC()
		for i, withPicture := range []bool{true, false} {
			e, err := d.Client.JournalEntry.Create().SetAccountID(acc.ID).SetConnectionID(term.ConnectionID).
				SetTerminalID(term.ID).SetShopID(shop.ID).SetKind(journalentry.KindPAYMENT).
				SetOccurredAt(at.Add(time.Duration(i) * time.Second)).SetExternalID("p-" + string(rune('a'+i))).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			th := d.Client.Thumbnail.Create().SetAccountID(acc.ID).SetEntryID(e.ID).SetCameraID(cam.ID).
				SetRequestedAt(at).SetCapturedAt(at).SetSkewMs(0).SetWidth(320).SetHeight(180).SetBytes(1).
				SetStorageKey("k-" + string(e.ID)).SetSha256("x")
			if withPicture {
				th.SetPictureKey("p-" + string(e.ID)).SetPictureWidth(1920).SetPictureHeight(1080).SetPictureBytes(1).SetPictureSha256("y")
			}
			if err := th.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		check := func(name string, q *ent.JournalEntryQuery, wantQueries int64) {
			t.Helper()
			entries, err := q.Order(ent.Asc(journalentry.FieldOccurredAt)).All(ctx)
			if err != nil || len(entries) != 2 {
				t.Fatalf("%s: %d entries, %v", name, len(entries), err)
			}
			queries.Store(0)
			for i, e := range entries {
				p, err := entryPicture(ctx, e)
				if err != nil || (p != nil) != (i == 0) || p != nil && p.Width != 1920 {
					t.Errorf("%s: entry %d picture %+v, %v", name, i, p, err)
				}
			}
			if n := queries.Load(); n != wantQueries {
				t.Errorf("%s: %d queries for the pictures of 2 entries, want %d", name, n, wantQueries)
			}
		}
		check("whole rows", c.JournalEntry.Query().WithThumbnail(), 0)
		check("columns for skewKnown", c.JournalEntry.Query().WithThumbnail(func(q *ent.ThumbnailQuery) {
			q.Select(thumbnail.FieldSkewKnown)
		}), 2)
	})
}
