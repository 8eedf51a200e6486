package cases_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/auth"
	"github.com/regicam/regicam/cases"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/auditlog"
	"github.com/regicam/regicam/ent/investigation"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/privacy"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// world is one account with two shops, an OWNER and a STAFF user of the
// first shop, and receipts stored the way every receipt is (ingest).
type world struct {
	s            *cases.Service
	c            *ent.Client
	acct         pulid.ID
	mine, theirs testenv.Fixture
	owner, staff context.Context
	staffID      pulid.ID
	in           *ingest.Ingester
	now          time.Time
	seq          int
}

type nopBus struct{}

func (nopBus) Publish(context.Context, int64) error { return nil }

func newWorld(t *testing.T, d *db.DB) *world {
	t.Helper()
	sys := viewer.System(context.Background())
	w := &world{c: d.Client, in: ingest.New(d.Client, d.Dialect, nopBus{}, nil),
		now: time.Date(2026, 12, 3, 1, 2, 3, 456789000, time.UTC)}
	w.s = &cases.Service{Client: d.Client, Now: func() time.Time { return w.now }}
	w.acct = d.Client.Account.Create().SetName("ours").SaveX(sys).ID
	w.mine = testenv.NewFixture(t, d.Client, w.acct)
	w.theirs = testenv.NewFixture(t, d.Client, w.acct)
	owner := d.Client.User.Create().SetAccountID(w.acct).SetEmail("owner@test.local").SetName("店長").SetRole("OWNER").SaveX(sys)
	staff := d.Client.User.Create().SetAccountID(w.acct).SetEmail("staff@test.local").SetRole("STAFF").SaveX(sys)
	w.staffID = staff.ID
	w.owner = viewer.NewContext(viewer.WithRequest(context.Background()), viewer.Viewer{AccountID: w.acct, UserID: owner.ID,
		Role: viewer.RoleOwner, Scopes: []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeAdmin}})
	w.staff = viewer.NewContext(viewer.WithRequest(context.Background()), viewer.Viewer{AccountID: w.acct, UserID: staff.ID,
		Role: viewer.RoleStaff, Scopes: []viewer.Scope{viewer.ScopeJournalRead}, Restricted: true, ShopIDs: []pulid.ID{w.mine.ShopID}})
	return w
}

func (w *world) entry(t *testing.T, term pulid.ID) pulid.ID {
	t.Helper()
	w.seq++
	r := w.in.Ingest(viewer.System(context.Background()), w.acct, ingest.Receipt{TerminalID: term,
		ExternalID: fmt.Sprint("R", w.seq), Kind: journalentry.KindPAYMENT, OccurredAt: time.Now().Add(-time.Hour),
		ReceiptNo: fmt.Sprint(w.seq), Total: 1000, Deposit: 1000})
	if r.Err != nil || r.Entry == nil {
		t.Fatalf("ingest: %v", r.Err)
	}
	return r.Entry.ID
}

func wantErr(t *testing.T, err error, code, field string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != code || e.Field != field {
		t.Fatalf("want %s on %q, got %v", code, field, err)
	}
}

// TestNotesAndHistoryAreAppendOnly: no viewer, of any role, can change or
// delete a note or a history row, whatever code tries (the privacy rule,
// not only the absence of a mutation).
func TestNotesAndHistoryAreAppendOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		cs, err := w.s.Create(w.owner, cases.CreateInput{Title: "メモの事件", EntryIDs: []pulid.ID{w.entry(t, w.mine.TerminalIDs[0])}})
		if err != nil {
			t.Fatal(err)
		}
		note, err := w.s.AddNote(w.staff, cs.ID, "最初のメモ")
		if err != nil {
			t.Fatal(err)
		}
		events, err := cases.History(w.owner, w.c, cs)
		if err != nil || len(events) != 2 {
			t.Fatalf("history %v %v", events, err)
		}
		for _, ctx := range []context.Context{w.owner, w.staff} {
			if err := w.c.CaseNote.DeleteOneID(note.ID).Exec(ctx); !isPrivacy(err) {
				t.Errorf("note deleted: %v", err)
			}
			if err := w.c.CaseNote.UpdateOneID(note.ID).Exec(ctx); !isPrivacy(err) {
				t.Errorf("note updated: %v", err)
			}
			if _, err := w.c.CaseEvent.Delete().Exec(ctx); !isPrivacy(err) {
				t.Errorf("history deleted: %v", err)
			}
			if err := w.c.CaseEvent.UpdateOneID(events[0].ID).Exec(ctx); !isPrivacy(err) {
				t.Errorf("history updated: %v", err)
			}
		}
		// STAFF delete no case either.
		if err := w.c.Investigation.DeleteOneID(cs.ID).Exec(w.staff); !isPrivacy(err) {
			t.Errorf("staff deleted a case: %v", err)
		}
		notes, err := cases.Notes(w.owner, w.c, cs)
		if err != nil || len(notes) != 1 || notes[0].Text != "最初のメモ" || notes[0].AuthorName != "staff@test.local" {
			t.Fatalf("notes %+v %v", notes, err)
		}
	})
}

func isPrivacy(err error) bool {
	return err != nil && (errorsIs(err, privacy.Deny))
}

// TestStaffAndShoplessAlerts: an alert without a shop (the system raises
// some per account) is in none of a STAFF user's shops, so a case holding
// one is not theirs; shop_ids follows the case's receipts and alerts.
func TestStaffAndShoplessAlerts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		sys := viewer.System(context.Background())
		rule := w.c.AlertRule.Create().SetAccountID(w.acct).SetName("r").SetKind(alertrule.KindFEED_SILENT).SaveX(sys)
		shopless := w.c.Alert.Create().SetAccountID(w.acct).SetSeq(1).SetRuleID(rule.ID).SetRuleKind("FEED_SILENT").
			SetDedupeKey("x").SetOccurredAt(w.now).SetMessage("無音").SaveX(sys)
		e1, e2 := w.entry(t, w.mine.TerminalIDs[0]), w.entry(t, w.theirs.TerminalIDs[0])

		cs, err := w.s.Create(w.owner, cases.CreateInput{Title: "混在", EntryIDs: []pulid.ID{e1, e2}, AlertIDs: []pulid.ID{shopless.ID}})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{string(w.mine.ShopID), string(w.theirs.ShopID)}
		slices.Sort(want)
		if !slices.Equal(cs.ShopIds, want) {
			t.Errorf("shop_ids %v, want %v", cs.ShopIds, want)
		}
		if cs, err = w.s.RemoveItems(w.owner, cs.ID, []pulid.ID{e2}, nil); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cs.ShopIds, []string{string(w.mine.ShopID)}) {
			t.Errorf("shop_ids after removing %v", cs.ShopIds)
		}
		// Only the shopless alert keeps the case from the STAFF user now.
		_, err = w.s.AddNote(w.staff, cs.ID, "見える?")
		wantErr(t, err, apperr.NotFound, "caseID")
		if cs, err = w.s.RemoveItems(w.owner, cs.ID, nil, []pulid.ID{shopless.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.AddNote(w.staff, cs.ID, "見える"); err != nil {
			t.Fatalf("staff on their shop's case: %v", err)
		}
		// The staff user cannot put the shopless alert back (they do not see it).
		_, err = w.s.AddItems(w.staff, cs.ID, nil, []pulid.ID{shopless.ID})
		wantErr(t, err, apperr.NotFound, "alertIDs[0]")
		list, err := w.s.List(w.staff, nil, nil, nil)
		if err != nil || list.TotalCount != 1 || list.Edges[0].Node.ID != cs.ID {
			t.Fatalf("staff list %+v %v", list, err)
		}
	})
}

// TestOneTransaction: a call refused part-way writes nothing: not the
// receipts it had checked, not a history row, not an audit row.
func TestOneTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		cs, err := w.s.Create(w.owner, cases.CreateInput{Title: "一件"})
		if err != nil {
			t.Fatal(err)
		}
		e := w.entry(t, w.mine.TerminalIDs[0])
		_, err = w.s.AddItems(w.owner, cs.ID, []pulid.ID{e}, []pulid.ID{"AL0000000000000000000000000"})
		wantErr(t, err, apperr.NotFound, "alertIDs[0]")
		_, err = w.s.Create(w.owner, cases.CreateInput{Title: "二件", EntryIDs: []pulid.ID{e}, AssigneeID: ptr(pulid.ID("US0000000000000000000000000"))})
		wantErr(t, err, apperr.NotFound, "input.assigneeID")
		entries, err := cases.Entries(w.owner, w.c, cs)
		if err != nil || len(entries) != 0 {
			t.Fatalf("entries %v %v", entries, err)
		}
		if n := w.c.Investigation.Query().CountX(w.owner); n != 1 {
			t.Errorf("%d cases, want 1", n)
		}
		if n := w.c.CaseEvent.Query().CountX(w.owner); n != 1 {
			t.Errorf("%d history rows, want 1", n)
		}
		if n := w.c.AuditLog.Query().CountX(w.owner); n != 1 {
			t.Errorf("%d audit rows, want 1", n)
		}
		// Closing stamps the service's clock.
		closed := "CLOSED"
		cs, err = w.s.Update(w.owner, cs.ID, cases.UpdateInput{Status: statusPtr(closed), Resolution: ptr("誤報")})
		if err != nil {
			t.Fatal(err)
		}
		if cs.ClosedAt == nil || !cs.ClosedAt.Equal(w.now.Truncate(time.Microsecond)) {
			t.Errorf("closed_at %v, want %v", cs.ClosedAt, w.now)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func statusPtr(s string) *investigation.Status { st := investigation.Status(s); return &st }

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// TestRecordDownload: a download of the evidence bundle is a history row
// and an audit row, by a person or by an API key, and only of a case the
// caller sees.
func TestRecordDownload(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		cs, err := w.s.Create(w.owner, cases.CreateInput{Title: "証拠", EntryIDs: []pulid.ID{w.entry(t, w.theirs.TerminalIDs[0])}})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.s.RecordDownload(w.owner, cs.ID, "evidence.zip 3 ファイル"); err != nil {
			t.Fatal(err)
		}
		key, _, err := auth.New(w.c, nil, auth.Options{}).CreateAPIKey(w.owner, "監査システム", []viewer.Scope{viewer.ScopeJournalRead}, nil)
		if err != nil {
			t.Fatal(err)
		}
		keyCtx := viewer.NewContext(viewer.WithRequest(context.Background()), viewer.Viewer{AccountID: w.acct, APIKeyID: key.ID,
			Scopes: []viewer.Scope{viewer.ScopeJournalRead}})
		if err := w.s.RecordDownload(keyCtx, cs.ID, "evidence.zip"); err != nil {
			t.Fatal(err)
		}
		// The case holds another shop's receipt: not the STAFF user's.
		wantErr(t, w.s.RecordDownload(w.staff, cs.ID, "x"), apperr.NotFound, "id")
		events, err := cases.History(w.owner, w.c, cs)
		if err != nil || len(events) != 3 {
			t.Fatalf("history %+v %v", events, err)
		}
		for i, want := range []string{"店長", "API キー「監査システム」"} {
			if e := events[i+1]; e.Action != cases.ActionEvidenceDownloaded || e.ActorName != want {
				t.Errorf("download %d: %s by %q, want by %q", i, e.Action, e.ActorName, want)
			}
		}
		if n := w.c.AuditLog.Query().Where(auditlog.Action("case.evidence_downloaded")).CountX(w.owner); n != 2 {
			t.Errorf("%d audit rows of downloads, want 2", n)
		}
	})
}
