package feed_test

import (
	"context"
	"testing"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

func backends(t *testing.T, fn func(t *testing.T, c *ent.Client)) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) { fn(t, d.Client) })
}

// TestResume: no cursor is the live end; a cursor up to the newest event
// of any account resumes there (event ids count across accounts, so
// another account's newer event counts too); one past it, or an
// unreadable one, is BAD_USER_INPUT on the field named.
func TestResume(t *testing.T) {
	backends(t, func(t *testing.T, c *ent.Client) {
		sys := viewer.System(context.Background())
		a := c.Account.Create().SetName("a").SaveX(sys)
		b := c.Account.Create().SetName("b").SaveX(sys)
		ctx := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: a.ID, Role: viewer.RoleOwner,
			Scopes: []viewer.Scope{viewer.ScopeJournalRead}})
		cursor := func(id int64) *string { s := feed.EncodeCursor(id); return &s }
		refused := func(cur *string, field, msg string) {
			t.Helper()
			from, err := feed.Resume(ctx, c, cur, field)
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.BadUserInput || e.Field != field || e.Message != msg {
				t.Fatalf("cursor %q: from %v, err %v; want %s on %s: %s", *cur, from, err, apperr.BadUserInput, field, msg)
			}
		}
		resumes := func(cur *string, want int64) {
			t.Helper()
			from, err := feed.Resume(ctx, c, cur, "after")
			if err != nil || from == nil || *from != want {
				t.Fatalf("cursor %q: from %v, err %v; want %d", *cur, from, err, want)
			}
		}
		const ahead = "このカーソルはまだ存在しないイベントを指しています (cursor is ahead of the newest event)"

		if from, err := feed.Resume(ctx, c, nil, "after"); from != nil || err != nil {
			t.Fatalf("no cursor: from %v, err %v; want the live end", from, err)
		}
		resumes(cursor(0), 0) // an empty table: nothing is ahead of 0
		refused(cursor(1), "after", ahead)
		bad := "not-a-cursor"
		refused(&bad, "after", "カーソルが不正です (malformed cursor): use the cursor of a received event")

		for id, acct := range map[int64]pulid.ID{1: a.ID, 2: a.ID, 3: b.ID} {
			c.Event.Create().SetID(id).SetAccountID(acct).SetEntryID(pulid.MustNew("JE")).SetType(event.TypeADDED).ExecX(sys)
		}
		resumes(cursor(2), 2)
		resumes(cursor(3), 3) // b's event, which a's viewer cannot read, still counts
		refused(cursor(4), "after", ahead)
		refused(cursor(4), "resumeFrom", ahead)
	})
}
