package thumbs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// rowsFirst is a Deleter that checks no row still names a key it is asked
// to delete: Expire removes rows before blobs, so a row never points at a
// missing blob for long.
type rowsFirst struct {
	t      *testing.T
	client *ent.Client
	mu     sync.Mutex
	keys   []string
	calls  int
}

func (d *rowsFirst) Delete(ctx context.Context, keys ...string) error {
	n, err := d.client.Thumbnail.Query().Where(thumbnail.StorageKeyIn(keys...)).Count(ctx)
	if err != nil || n != 0 {
		d.t.Errorf("Delete(%d keys) while %d rows still name them (%v)", len(keys), n, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys = append(d.keys, keys...)
	d.calls++
	return nil
}

func (d *rowsFirst) deleted() (int, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.keys), d.calls
}

// retentionDB holds old thumbnails (created before cutoff) and newer ones,
// each of its own journal entry.
func retentionDB(t *testing.T, b testenv.Backend, old, newer int, cutoff time.Time) *ent.Client {
	t.Helper()
	ctx := viewer.System(t.Context())
	d := dbtest.Open(t, b.DatabaseURL)
	acc, err := d.Client.Account.Create().SetName("retention").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fx := testenv.NewFixture(t, d.Client, acc.ID)
	term, err := d.Client.Terminal.Get(ctx, fx.TerminalIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	total := old + newer
	entries := make([]*ent.JournalEntryCreate, total)
	for i := range entries {
		entries[i] = d.Client.JournalEntry.Create().SetAccountID(acc.ID).SetConnectionID(term.ConnectionID).
			SetTerminalID(term.ID).SetShopID(fx.ShopID).SetKind(journalentry.KindPAYMENT).
			SetOccurredAt(cutoff).SetExternalID(fmt.Sprintf("r-%d", i))
	}
	es, err := d.Client.JournalEntry.CreateBulk(entries...).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pics := make([]*ent.ThumbnailCreate, total)
	for i, e := range es {
		created := cutoff.Add(-time.Minute)
		if i >= old {
			created = cutoff.Add(time.Minute)
		}
		pics[i] = d.Client.Thumbnail.Create().SetAccountID(acc.ID).SetEntryID(e.ID).SetCameraID(fx.CameraIDs[0]).
			SetRequestedAt(cutoff).SetCapturedAt(cutoff).SetSkewMs(0).SetWidth(320).SetHeight(180).SetBytes(1).
			SetStorageKey(thumbs.Key(string(acc.ID), string(e.ID))).SetSha256("x").SetCreatedAt(created)
	}
	if err := d.Client.Thumbnail.CreateBulk(pics...).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return d.Client
}

// TestExpire: thumbnails created before the cutoff go, rows then blobs, in
// batches (more than one here); newer ones and every journal entry stay,
// those that lost their picture with the reason EXPIRED.
func TestExpire(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := viewer.System(t.Context())
		cutoff := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		client := retentionDB(t, b, 510, 3, cutoff)
		del := &rowsFirst{t: t, client: client}
		n, err := thumbs.Expire(ctx, client, del, cutoff)
		if err != nil || n != 510 {
			t.Fatalf("Expire = %d, %v; want 510", n, err)
		}
		if keys, calls := del.deleted(); keys != 510 || calls < 2 {
			t.Errorf("deleted %d keys in %d calls, want 510 in batches", keys, calls)
		}
		if left, err := client.Thumbnail.Query().Count(ctx); err != nil || left != 3 {
			t.Errorf("%d thumbnails left (%v), want the 3 newer ones", left, err)
		}
		if entries, err := client.JournalEntry.Query().Count(ctx); err != nil || entries != 513 {
			t.Errorf("%d journal entries (%v), want all 513", entries, err)
		}
		// An entry whose picture retention took says so; the newer keep none.
		if said, err := client.JournalEntry.Query().Where(journalentry.ThumbnailReason(thumbs.ExpiredReason)).Count(ctx); err != nil || said != 510 {
			t.Errorf("%d entries say their picture expired (%v), want 510", said, err)
		}
		if plain, err := client.JournalEntry.Query().Where(journalentry.ThumbnailReason(""), journalentry.HasThumbnail()).Count(ctx); err != nil || plain != 3 {
			t.Errorf("%d entries with a picture and no reason (%v), want 3", plain, err)
		}
		if n, err := thumbs.Expire(ctx, client, del, cutoff); err != nil || n != 0 {
			t.Errorf("second Expire = %d, %v; want 0", n, err)
		}
	})
}

// TestRunRetention: the sweep expires what is older than keep soon after it
// starts, and returns when its context ends.
func TestRunRetention(t *testing.T) {
	b := testenv.Backend{Name: "sqlite"}
	keep := 40 * time.Millisecond
	client := retentionDB(t, b, 2, 0, time.Now().Add(-time.Hour))
	del := &rowsFirst{t: t, client: client}
	ctx, cancel := context.WithCancel(viewer.System(t.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		thumbs.RunRetention(ctx, client, del, keep, testenv.Logger())
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if keys, _ := del.deleted(); keys == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not expire the old thumbnails")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunRetention did not return after its context ended")
	}
}
