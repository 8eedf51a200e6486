package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/auditlog"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/portal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

const (
	linkQ    = `mutation($t: ID!, $c: ID!){ linkTerminal(terminalID: $t, cameraID: $c){ ` + rowFields + ` } }`
	rebindQ  = `mutation($t: ID!, $c: ID!){ rebindTerminal(terminalID: $t, cameraID: $c){ ` + rowFields + ` } }`
	setQ     = `mutation($in: [TerminalCameraInput!]!){ setTerminalCameras(input: $in){ ` + rowFields + ` } }`
	deleteQ  = `mutation($ids: [ID!]!){ deleteLinks(ids: $ids){ id endedAt terminal { id } camera { id } } }`
	ingestQ  = `mutation($in: [JournalInput!]!){ ingestJournal(input: $in){ status error { code message } entry { id } } }`
	journalQ = `query($w: JournalWhere){ journal(where: $w, first: 100){ edges { node {
	  id externalID camera { id } terminal { id } thumbnail { url } } } } }`
)

type journalRow struct {
	ID, ExternalID string
	Camera         *struct{ ID string }
	Terminal       struct{ ID string }
	Thumbnail      *struct{ URL string }
}

var extSeq atomic.Int64

// ingest rings up one sale on a register through the partner API.
func ingest(e *env, term pulid.ID, at time.Time) string {
	e.t.Helper()
	ext := fmt.Sprintf("sale-%d-%d", time.Now().UnixNano(), extSeq.Add(1))
	var out struct {
		IngestJournal []struct {
			Status string
			Error  *struct{ Code, Message string }
			Entry  *struct{ ID string }
		}
	}
	e.must(ingestQ, map[string]any{"in": []map[string]any{{
		"terminalID": term, "externalID": ext, "kind": "PAYMENT", "occurredAt": at.Format(time.RFC3339Nano),
		"receiptNo": "R-" + ext, "staffName": "山田", "total": 1080, "paymentMethod": "現金",
	}}}, &out)
	if len(out.IngestJournal) != 1 || out.IngestJournal[0].Entry == nil {
		e.t.Fatalf("ingest: %+v", out.IngestJournal)
	}
	return ext
}

// journalOf lists a register's entries by external id, waiting (bounded)
// until every one has its picture.
func journalOf(e *env, term pulid.ID) map[string]journalRow {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var out struct {
			Journal struct{ Edges []struct{ Node journalRow } }
		}
		e.must(journalQ, map[string]any{"w": map[string]any{"terminalIDs": []pulid.ID{term}}}, &out)
		m, pictured := map[string]journalRow{}, true
		for _, ed := range out.Journal.Edges {
			m[ed.Node.ExternalID] = ed.Node
			pictured = pictured && ed.Node.Thumbnail != nil
		}
		if pictured || time.Now().After(deadline) {
			return m
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func cameraOf(r journalRow) pulid.ID {
	if r.Camera == nil {
		return ""
	}
	return pulid.ID(r.Camera.ID)
}

// TestRebindAndBulkDeleteKeepHistory: moving a register to another camera
// and ending links change which camera later entries get, never the camera
// or the picture of entries already stored — and never delete a connection,
// a register, an entry or a thumbnail.
func TestRebindAndBulkDeleteKeepHistory(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := start(t, b, func(cfg *app.Config, _ string) { cfg.RecorderInterval = 200 * time.Millisecond })
		ctx, c, acct := sys(), e.srv.DB.Client, e.srv.AccountID
		fx := testenv.NewFixture(t, c, acct)
		home, front := fx.CameraIDs[0], fx.CameraIDs[1]
		t0, t1, t2 := fx.TerminalIDs[0], fx.TerminalIDs[1], fx.TerminalIDs[2]
		for _, cam := range fx.CameraIDs {
			c.Camera.UpdateOneID(cam).SetSourceKind(entcamera.SourceKindSIMULATED).ExecX(ctx)
		}
		if err := e.srv.Recorders.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		// Sales are rung up once both cameras have pictures to cut from.
		for _, cam := range fx.CameraIDs {
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if st, ok := e.srv.Recorders.Status(cam); ok && st.Online && st.Frames > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("camera %s records no frame", cam)
				}
			}
		}
		other := newForeign(t, e)
		frontLabel := portal.Label(c.Camera.GetX(ctx, front))
		activeLink := func(term pulid.ID) *struct{ id, camera pulid.ID } {
			l, err := c.Link.Query().Where(link.TerminalID(term), link.EndedAtIsNil()).Only(ctx)
			if err != nil {
				return nil
			}
			return &struct{ id, camera pulid.ID }{l.ID, l.CameraID}
		}

		before := time.Now().UTC()
		sale1 := ingest(e, t0, before)

		// Re-bind register 0 from 自宅カメラ to レジ前カメラ.
		old := activeLink(t0)
		var rb struct{ RebindTerminal rowT }
		e.must(rebindQ, map[string]any{"t": t0, "c": front}, &rb)
		if rb.RebindTerminal.Camera == nil || rb.RebindTerminal.Camera.ID != string(front) || rb.RebindTerminal.CameraLabel != frontLabel {
			t.Fatalf("rebind row: %+v", rb.RebindTerminal)
		}
		ended := c.Link.GetX(ctx, old.id)
		started := c.Link.GetX(ctx, pulid.ID(rb.RebindTerminal.Link.ID))
		if ended.EndedAt == nil || !ended.EndedAt.Equal(started.CreatedAt) || started.CameraID != front {
			t.Fatalf("old link ended %v, new starts %v on %s: the move must leave no gap and no overlap", ended.EndedAt, started.CreatedAt, started.CameraID)
		}
		time.Sleep(5 * time.Millisecond) // the next sale is after the move
		sale2 := ingest(e, t0, time.Now().UTC())
		// POS data arriving late for a sale rung up before the move.
		late := ingest(e, t0, before.Add(time.Millisecond))

		j := journalOf(e, t0)
		if cameraOf(j[sale1]) != home || cameraOf(j[late]) != home || cameraOf(j[sale2]) != front {
			t.Fatalf("cameras after re-bind: sale1 %s, late %s (want %s), sale2 %s (want %s)",
				cameraOf(j[sale1]), cameraOf(j[late]), home, cameraOf(j[sale2]), front)
		}

		// "Add" on a watched register names the camera; the same camera is a no-op.
		msg := e.fails(linkQ, map[string]any{"t": t0, "c": home}, "CONFLICT", "cameraID")
		if !strings.Contains(msg, "端末 1 は既に "+frontLabel+" に連携されています") {
			t.Fatalf("conflict message %q", msg)
		}
		var lk struct{ LinkTerminal rowT }
		e.must(linkQ, map[string]any{"t": t0, "c": front}, &lk)
		if lk.LinkTerminal.Link.ID != string(started.ID) {
			t.Fatalf("linking to the same camera made link %s", lk.LinkTerminal.Link.ID)
		}

		// Bulk delete is all or nothing: a foreign or unknown id names its
		// index and no link ends.
		l0, l1 := activeLink(t0).id, activeLink(t1).id
		e.fails(deleteQ, map[string]any{"ids": []pulid.ID{l0, other.link}}, "NOT_FOUND", "ids[1]")
		// Every bad id is named, each in its own error.
		r := e.q(deleteQ, map[string]any{"ids": []pulid.ID{pulid.MustNew("LI"), l0, other.link, l1}})
		if len(r.Errors) != 2 || r.Errors[0].Code() != "NOT_FOUND" || r.Errors[1].Code() != "NOT_FOUND" ||
			r.Errors[0].Field() != "ids[0]" || r.Errors[1].Field() != "ids[2]" || !strings.Contains(r.Errors[1].Message, string(other.link)) {
			t.Fatalf("bulk delete with two bad ids: %+v", r.Errors)
		}
		e.fails(deleteQ, map[string]any{"ids": []pulid.ID{}}, "BAD_USER_INPUT", "ids")
		if activeLink(t0) == nil || activeLink(t1) == nil || c.Link.GetX(ctx, other.link).EndedAt != nil {
			t.Fatal("a refused bulk delete ended links")
		}
		entries := c.JournalEntry.Query().CountX(ctx)
		thumbs := c.Thumbnail.Query().CountX(ctx)
		var del struct {
			DeleteLinks []struct {
				ID      string
				EndedAt *time.Time
			}
		}
		e.must(deleteQ, map[string]any{"ids": []pulid.ID{l0, l1}}, &del)
		if len(del.DeleteLinks) != 2 || del.DeleteLinks[0].EndedAt == nil || del.DeleteLinks[1].EndedAt == nil {
			t.Fatalf("deleteLinks: %+v", del.DeleteLinks)
		}
		if activeLink(t0) != nil || activeLink(t1) != nil || activeLink(t2) == nil {
			t.Fatal("bulk delete ended the wrong links")
		}
		if c.PosConnection.Query().CountX(ctx) != 2 || c.Terminal.Query().CountX(ctx) != 4 ||
			c.JournalEntry.Query().CountX(ctx) != entries || c.Thumbnail.Query().CountX(ctx) != thumbs {
			t.Fatal("bulk delete removed a connection, a register, an entry or a thumbnail")
		}
		// Deleting again is harmless.
		e.must(deleteQ, map[string]any{"ids": []pulid.ID{l0}}, nil)

		// The entries are still listed with their cameras, and their
		// pictures still served.
		j = journalOf(e, t0)
		if len(j) != 3 || cameraOf(j[sale1]) != home || cameraOf(j[late]) != home || cameraOf(j[sale2]) != front {
			t.Fatalf("journal after bulk delete: %+v", j)
		}
		for ext, r := range j {
			if r.Thumbnail == nil {
				t.Fatalf("entry %s has no thumbnail", ext)
			}
			resp, err := e.browser().Get(e.srv.URL + r.Thumbnail.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("thumbnail of %s after bulk delete: %s", ext, resp.Status)
			}
		}
		// A sale on an unlinked register has no camera.
		sale3 := ingest(e, t0, time.Now().UTC())
		if cam := cameraOf(journalOfNoWait(e, t0)[sale3]); cam != "" {
			t.Fatalf("sale on an unlinked register got camera %s", cam)
		}
		rows := settings(e, "PARTNER")
		if len(rows) != 3 || rows[0].Link != nil || rows[0].CameraLabel != "" || rows[1].Link != nil || rows[2].Link == nil {
			t.Fatalf("rows after bulk delete: %+v", rows)
		}

		// 更新 on a list: all or nothing, errors name the item.
		e.fails(setQ, map[string]any{"in": []map[string]any{{"terminalID": t0, "cameraID": home}, {"terminalID": other.terminal, "cameraID": home}}},
			"NOT_FOUND", "input[1].terminalID")
		e.fails(setQ, map[string]any{"in": []map[string]any{{"terminalID": t0, "cameraID": home}, {"terminalID": t1, "cameraID": other.camera}}},
			"NOT_FOUND", "input[1].cameraID")
		e.fails(setQ, map[string]any{"in": []map[string]any{{"terminalID": t0, "cameraID": home}, {"terminalID": t0, "cameraID": front}}},
			"BAD_USER_INPUT", "input[1].terminalID")
		if activeLink(t0) != nil {
			t.Fatal("a refused 更新 linked a register")
		}
		var set struct{ SetTerminalCameras []rowT }
		e.must(setQ, map[string]any{"in": []map[string]any{
			{"terminalID": t0, "cameraID": home}, {"terminalID": t1, "cameraID": front}, {"terminalID": t2, "cameraID": nil}}}, &set)
		if len(set.SetTerminalCameras) != 3 || set.SetTerminalCameras[2].Link != nil ||
			activeLink(t0).camera != home || activeLink(t1).camera != front || activeLink(t2) != nil {
			t.Fatalf("更新: %+v", set.SetTerminalCameras)
		}

		actions := map[string]int{}
		for _, l := range c.AuditLog.Query().Where(auditlog.AccountID(acct)).AllX(ctx) {
			actions[l.Action]++
		}
		if actions["link.rebound"] != 1 || actions["link.ended"] != 3 || actions["link.created"] != 2 {
			t.Fatalf("audit actions: %v", actions)
		}
		if c.Link.GetX(ctx, other.link).EndedAt != nil {
			t.Fatal("the other account's link ended")
		}
	})
}

func journalOfNoWait(e *env, term pulid.ID) map[string]journalRow {
	e.t.Helper()
	var out struct {
		Journal struct{ Edges []struct{ Node journalRow } }
	}
	e.must(journalQ, map[string]any{"w": map[string]any{"terminalIDs": []pulid.ID{term}}}, &out)
	m := map[string]journalRow{}
	for _, ed := range out.Journal.Edges {
		m[ed.Node.ExternalID] = ed.Node
	}
	return m
}

// TestForeignIDsReadAsMissing: an id of another account gets exactly the
// answer of an id that does not exist, and nothing of that account moves.
func TestForeignIDsReadAsMissing(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := start(t, b, nil)
		ctx, c, acct := sys(), e.srv.DB.Client, e.srv.AccountID
		fx := testenv.NewFixture(t, c, acct)
		other := newForeign(t, e)
		otherConn := c.Terminal.GetX(ctx, other.terminal).ConnectionID
		cases := []struct {
			name             string
			query            string
			foreign, missing map[string]any
			field            string
		}{
			{"linkTerminal terminal", linkQ, map[string]any{"t": other.terminal, "c": fx.CameraIDs[0]},
				map[string]any{"t": pulid.MustNew("TE"), "c": fx.CameraIDs[0]}, "terminalID"},
			{"linkTerminal camera", linkQ, map[string]any{"t": fx.TerminalIDs[0], "c": other.camera},
				map[string]any{"t": fx.TerminalIDs[0], "c": pulid.MustNew("CA")}, "cameraID"},
			{"rebindTerminal terminal", rebindQ, map[string]any{"t": other.terminal, "c": fx.CameraIDs[0]},
				map[string]any{"t": pulid.MustNew("TE"), "c": fx.CameraIDs[0]}, "terminalID"},
			{"rebindTerminal camera", rebindQ, map[string]any{"t": fx.TerminalIDs[0], "c": other.camera},
				map[string]any{"t": fx.TerminalIDs[0], "c": pulid.MustNew("CA")}, "cameraID"},
			{"rebindTerminal camera id of another type", rebindQ, map[string]any{"t": fx.TerminalIDs[0], "c": other.terminal},
				map[string]any{"t": fx.TerminalIDs[0], "c": pulid.MustNew("CA")}, "cameraID"},
			{"syncConnection", syncQ, map[string]any{"id": otherConn}, map[string]any{"id": pulid.MustNew("PC")}, "id"},
			{"createWebhookSecret", `mutation($id: ID!){ createWebhookSecret(id: $id){ path } }`,
				map[string]any{"id": otherConn}, map[string]any{"id": pulid.MustNew("PC")}, "id"},
		}
		for _, tc := range cases {
			f := e.fails(tc.query, tc.foreign, "NOT_FOUND", tc.field)
			m := e.fails(tc.query, tc.missing, "NOT_FOUND", tc.field)
			if f != m {
				t.Errorf("%s: foreign id reads %q, missing id %q", tc.name, f, m)
			}
		}
		for _, ids := range [][]pulid.ID{{other.link}, {pulid.MustNew("LI")}} {
			e.fails(deleteQ, map[string]any{"ids": ids}, "NOT_FOUND", "ids[0]")
		}
		// A camera without the POS option is the caller's mistake, not a missing camera.
		noPOS := c.Camera.Create().SetAccountID(acct).SetName("倉庫カメラ").SetDeviceID("nopos-2").SaveX(ctx)
		e.fails(rebindQ, map[string]any{"t": fx.TerminalIDs[0], "c": noPOS.ID}, "BAD_USER_INPUT", "cameraID")
		if l := c.Link.GetX(ctx, other.link); l.EndedAt != nil {
			t.Fatal("the other account's link ended")
		}
		if n := c.Link.Query().Where(link.CameraID(other.camera)).CountX(ctx); n != 1 {
			t.Fatalf("links to the other account's camera: %d", n)
		}
		if n := c.JournalEntry.Query().Where(journalentry.AccountID(acct)).CountX(ctx); n != 0 {
			t.Fatalf("entries: %d", n)
		}
	})
}

// TestScopes: reading cameras needs journal:read; the link tables and
// every change need links:write.
func TestScopes(t *testing.T) {
	b := testenv.Backend{Name: "sqlite"}
	e := start(t, b, nil)
	c, acct := e.srv.DB.Client, e.srv.AccountID
	fx := testenv.NewFixture(t, c, acct)
	svc := &portal.Service{Client: c}
	reader := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: acct, Scopes: []viewer.Scope{viewer.ScopeJournalRead}})
	if cams, err := svc.LinkableCameras(reader); err != nil || len(cams) != 2 {
		t.Fatalf("reader lists cameras: %d %v", len(cams), err)
	}
	forbidden := func(name string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), string(viewer.ScopeLinksWrite)) {
			t.Errorf("%s without links:write: %v", name, err)
		}
	}
	_, err := svc.Settings(reader, nil)
	forbidden("linkSettings", err)
	_, err = svc.Rebind(reader, fx.TerminalIDs[0], fx.CameraIDs[1])
	forbidden("rebindTerminal", err)
	_, err = svc.LinkTerminal(reader, fx.TerminalIDs[0], fx.CameraIDs[1])
	forbidden("linkTerminal", err)
	_, err = svc.DeleteLinks(reader, []pulid.ID{pulid.MustNew("LI")})
	forbidden("deleteLinks", err)
	_, err = svc.AddSmaregiLink(reader, portal.AddSmaregiLinkInput{})
	forbidden("addSmaregiLink", err)
	_, err = svc.SyncConnection(reader, pulid.MustNew("PC"))
	forbidden("syncConnection", err)
	if _, err := svc.LinkableCameras(context.Background()); err == nil {
		t.Error("cameras listed without a viewer")
	}
	if n := c.Link.Query().Where(link.EndedAtNotNil()).CountX(sys()); n != 0 {
		t.Fatalf("%d links ended by refused calls", n)
	}
}

// TestConcurrentRebinds: many moves of one register at once leave exactly
// one active link and a history without gaps or overlaps; a move that
// loses the race is CONFLICT (try again), never an internal error.
func TestConcurrentRebinds(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := start(t, b, nil)
		ctx, c := sys(), e.srv.DB.Client
		fx := testenv.NewFixture(t, c, e.srv.AccountID)
		term := fx.TerminalIDs[0]
		const n = 12
		errs := make(chan error, n)
		codes := make(chan string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.srv.Query(t, rebindQ, map[string]any{"t": term, "c": fx.CameraIDs[(i+1)%2]})
				if len(r.Errors) > 0 {
					codes <- r.Errors[0].Code()
					if r.Errors[0].Code() != "CONFLICT" {
						errs <- fmt.Errorf("%+v", r.Errors)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		close(codes)
		for err := range errs {
			t.Error(err)
		}
		links := c.Link.Query().Where(link.TerminalID(term)).Order(link.ByCreatedAt(), link.ByID()).AllX(ctx)
		active := 0
		for i, l := range links {
			if l.EndedAt == nil {
				active++
				if i != len(links)-1 {
					t.Fatalf("active link %s is not the newest", l.ID)
				}
				continue
			}
			if i+1 < len(links) && !l.EndedAt.Equal(links[i+1].CreatedAt) {
				t.Fatalf("link %s ends %v, the next starts %v", l.ID, l.EndedAt, links[i+1].CreatedAt)
			}
		}
		if active != 1 {
			t.Fatalf("%d active links after concurrent moves", active)
		}
		t.Logf("%d links, %d conflicts", len(links), len(codes))
	})
}
