package graph_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// csCase is a case as the tests read it back.
type csCase struct {
	ID          string
	Title       string
	Status      string
	Resolution  string
	Tags        []string
	CreatedByID *string
	AssigneeID  *string
	ClosedAt    *time.Time
	EvidenceURL string
	Entries     []struct{ ID string }
	Alerts      []struct{ ID string }
	Notes       []struct {
		ID, Text, AuthorName string
	}
	History []struct {
		Action, Detail, ActorName string
	}
	Assignee *struct{ ID string }
}

const csFields = `id title status resolution tags createdByID assigneeID closedAt evidenceURL
	entries { id } alerts { id } notes { id text authorName } history { action detail actorName } assignee { id }`

func (c csCase) entryIDs() []string {
	var ids []string
	for _, e := range c.Entries {
		ids = append(ids, e.ID)
	}
	return ids
}

func (c csCase) actions() []string {
	var a []string
	for _, h := range c.History {
		a = append(a, h.Action)
	}
	return a
}

// csEntries ingests n receipts on term and returns their ids.
func csEntries(t *testing.T, c gqlClient, term pulid.ID, n int) []string {
	t.Helper()
	var ids []string
	for start := 0; start < n; start += 100 {
		var items []map[string]any
		for i := start; i < min(n, start+100); i++ {
			items = append(items, tjReceipt(term, fmt.Sprintf("%s-%d-%d", term, time.Now().UnixNano(), i), "PAYMENT",
				time.Now().Add(-time.Duration(n-i)*time.Second), nil))
		}
		for _, r := range tjMustIngest(t, c, items...) {
			ids = append(ids, r.Entry.ID)
		}
	}
	return ids
}

func csCreate(t *testing.T, c gqlClient, in map[string]any) csCase {
	t.Helper()
	var out struct{ CreateCase csCase }
	c.MustQuery(t, `mutation($in: CreateCaseInput!) { createCase(input: $in) { `+csFields+` } }`, map[string]any{"in": in}, &out)
	return out.CreateCase
}

func csGet(t *testing.T, c gqlClient, id string) *csCase {
	t.Helper()
	var out struct{ Node *csCase }
	r := c.Query(t, `query($id: ID!) { node(id: $id) { ... on Case { `+csFields+` } } }`, map[string]any{"id": id})
	if len(r.Errors) > 0 {
		if r.Errors[0].Code() == "NOT_FOUND" {
			return nil
		}
		t.Fatalf("node(%s): %+v", id, r.Errors)
	}
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatal(err)
	}
	return out.Node
}

// csList is the ids of Query.cases, in order.
func csList(t *testing.T, c gqlClient, vars map[string]any) []string {
	t.Helper()
	var out struct {
		Cases struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	c.MustQuery(t, `query($where: CaseWhereInput, $first: Int, $after: Cursor) { cases(where: $where, first: $first, after: $after) { edges { node { id } } } }`, vars, &out)
	var ids []string
	for _, e := range out.Cases.Edges {
		ids = append(ids, e.Node.ID)
	}
	return ids
}

// csRefused runs doc and wants one error of code on field.
func csRefused(t *testing.T, c gqlClient, code, field, doc string, vars map[string]any) {
	t.Helper()
	r := c.Query(t, doc, vars)
	if len(r.Errors) == 0 {
		t.Fatalf("want %s on %s, got data %s", code, field, r.Data)
	}
	if e := r.Errors[0]; e.Code() != code || e.Field() != field {
		t.Fatalf("want %s on %q, got %s on %q: %s", code, field, e.Code(), e.Field(), e.Message)
	}
	if strings.Contains(r.Errors[0].Message, "(") && strings.ContainsAny(r.Errors[0].Message, "abcdefghijklmnopqrstuvwxyz") {
		t.Errorf("message carries English in brackets: %s", r.Errors[0].Message)
	}
}

const (
	csUpdate    = `mutation($id: ID!, $in: UpdateCaseInput!) { updateCase(id: $id, input: $in) { ` + csFields + ` } }`
	csAdd       = `mutation($id: ID!, $e: [ID!], $a: [ID!]) { addCaseEntries(id: $id, entryIDs: $e, alertIDs: $a) { ` + csFields + ` } }`
	csRemove    = `mutation($id: ID!, $e: [ID!], $a: [ID!]) { removeCaseEntries(id: $id, entryIDs: $e, alertIDs: $a) { ` + csFields + ` } }`
	csNote      = `mutation($id: ID!, $text: String!) { addCaseNote(caseID: $id, text: $text) { id text authorName } }`
	csCreateDoc = `mutation($in: CreateCaseInput!) { createCase(input: $in) { id } }`
)

// csAlert makes an alert the way the product does: an AMOUNT_OVER rule,
// then a large cancel on term.
func csAlert(t *testing.T, c gqlClient, term pulid.ID) string {
	t.Helper()
	var rules struct{ AlertRules []struct{ Name string } }
	c.MustQuery(t, `{ alertRules { name } }`, nil, &rules)
	if !slices.ContainsFunc(rules.AlertRules, func(r struct{ Name string }) bool { return r.Name == "高額キャンセル" }) {
		c.MustQuery(t, `mutation { createAlertRule(input: {name: "高額キャンセル", kind: AMOUNT_OVER, amount: 10000, entryKinds: [CANCEL]}) { rule { id } } }`, nil, nil)
	}
	var before struct {
		Alerts struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	const list = `{ alerts(first: 100) { edges { node { id } } } }`
	c.MustQuery(t, list, nil, &before)
	tjMustIngest(t, c, tjReceipt(term, fmt.Sprintf("C-%d", time.Now().UnixNano()), "CANCEL", time.Now().Add(-time.Minute),
		map[string]any{"total": 35000, "deposit": 35000}))
	var after = before
	c.MustQuery(t, list, nil, &after)
	for _, e := range after.Alerts.Edges {
		if !slices.ContainsFunc(before.Alerts.Edges, func(b struct{ Node struct{ ID string } }) bool { return b.Node.ID == e.Node.ID }) {
			return e.Node.ID
		}
	}
	t.Fatal("the cancel raised no alert")
	return ""
}

// TestCaseLifecycle creates a case from receipts and an alert, works it
// (entries in and out, status, assignee, tags, notes) and closes it, all
// through GraphQL, and reads back the history and the audit log.
func TestCaseLifecycle(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		entries := csEntries(t, srv, fx.TerminalIDs[0], 3)
		alertID := csAlert(t, srv, fx.TerminalIDs[1])
		staff, _ := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, fx.ShopID)

		c := csCreate(t, srv, map[string]any{"title": "  レジ1の取消  ", "entryIDs": []string{entries[0], entries[0]},
			"alertIDs": []string{alertID}, "tags": []string{"取消", " 深夜 ", "取消"}})
		if c.Title != "レジ1の取消" || c.Status != "OPEN" || c.ClosedAt != nil || !slices.Equal(c.Tags, []string{"取消", "深夜"}) {
			t.Fatalf("created %+v", c)
		}
		if !slices.Equal(c.entryIDs(), entries[:1]) || len(c.Alerts) != 1 || c.Alerts[0].ID != alertID {
			t.Fatalf("created with entries %v alerts %v", c.Entries, c.Alerts)
		}
		if c.CreatedByID == nil || *c.CreatedByID != string(srv.Owner.ID) {
			t.Errorf("createdByID %v, want %s", c.CreatedByID, srv.Owner.ID)
		}
		if c.EvidenceURL != "/cases/"+c.ID+"/evidence.zip" {
			t.Errorf("evidenceURL %q", c.EvidenceURL)
		}
		if !slices.Equal(c.actions(), []string{"CREATED"}) || !strings.Contains(c.History[0].Detail, "レジ1の取消") {
			t.Errorf("history %+v", c.History)
		}

		var out struct {
			AddCaseEntries, RemoveCaseEntries, UpdateCase csCase
		}
		srv.MustQuery(t, csAdd, map[string]any{"id": c.ID, "e": entries[1:]}, &out)
		if got := out.AddCaseEntries.entryIDs(); !slices.Equal(got, entries) {
			t.Fatalf("after adding: entries %v, want %v (oldest first)", got, entries)
		}
		// Adding what is already there changes nothing, not even the history.
		srv.MustQuery(t, csAdd, map[string]any{"id": c.ID, "e": entries[1:2]}, &out)
		if n := len(out.AddCaseEntries.History); n != 2 {
			t.Errorf("re-adding wrote history: %+v", out.AddCaseEntries.History)
		}
		srv.MustQuery(t, csRemove, map[string]any{"id": c.ID, "e": entries[2:], "a": []string{alertID}}, &out)
		if got := out.RemoveCaseEntries.entryIDs(); !slices.Equal(got, entries[:2]) || len(out.RemoveCaseEntries.Alerts) != 0 {
			t.Fatalf("after removing: entries %v alerts %v", got, out.RemoveCaseEntries.Alerts)
		}
		csRefused(t, srv, "NOT_FOUND", "entryIDs[0]", csRemove, map[string]any{"id": c.ID, "e": entries[2:]})
		csRefused(t, srv, "BAD_USER_INPUT", "entryIDs", csAdd, map[string]any{"id": c.ID})

		// Closing needs a resolution; the refused call leaves it open.
		csRefused(t, srv, "BAD_USER_INPUT", "input.resolution", csUpdate, map[string]any{"id": c.ID, "in": map[string]any{"status": "CLOSED"}})
		csRefused(t, srv, "BAD_USER_INPUT", "input.resolution", csUpdate, map[string]any{"id": c.ID, "in": map[string]any{"status": "CLOSED", "resolution": "  "}})
		if got := csGet(t, srv, c.ID); got.Status != "OPEN" {
			t.Fatalf("a refused close changed the status to %s", got.Status)
		}
		srv.MustQuery(t, csUpdate, map[string]any{"id": c.ID, "in": map[string]any{"status": "INVESTIGATING",
			"assigneeID": staff.ID, "title": "レジ1の取消 (山田)", "tags": []string{}}}, &out)
		u := out.UpdateCase
		if u.Status != "INVESTIGATING" || u.AssigneeID == nil || *u.AssigneeID != string(staff.ID) || u.Assignee == nil || len(u.Tags) != 0 || u.Title != "レジ1の取消 (山田)" {
			t.Fatalf("updated %+v", u)
		}
		csRefused(t, srv, "BAD_USER_INPUT", "input.clearAssignee", csUpdate, map[string]any{"id": c.ID, "in": map[string]any{"assigneeID": staff.ID, "clearAssignee": true}})
		srv.MustQuery(t, csUpdate, map[string]any{"id": c.ID, "in": map[string]any{"status": "CLOSED", "resolution": " 返金処理の誤り "}}, &out)
		if u := out.UpdateCase; u.Status != "CLOSED" || u.Resolution != "返金処理の誤り" || u.ClosedAt == nil {
			t.Fatalf("closed %+v", u)
		}
		// Reopening clears the resolution; the history keeps it.
		srv.MustQuery(t, csUpdate, map[string]any{"id": c.ID, "in": map[string]any{"status": "OPEN", "clearAssignee": true}}, &out)
		if u := out.UpdateCase; u.Status != "OPEN" || u.Resolution != "" || u.ClosedAt != nil || u.AssigneeID != nil {
			t.Fatalf("reopened %+v", u)
		}

		// Notes: trimmed, in order, never empty, bounded.
		var note struct {
			AddCaseNote struct{ ID, Text, AuthorName string }
		}
		srv.MustQuery(t, csNote, map[string]any{"id": c.ID, "text": "  防犯カメラを確認\n次は店長に聞く  "}, &note)
		if note.AddCaseNote.Text != "防犯カメラを確認\n次は店長に聞く" || note.AddCaseNote.AuthorName == "" || !strings.HasPrefix(note.AddCaseNote.ID, "CN") {
			t.Fatalf("note %+v", note.AddCaseNote)
		}
		srv.MustQuery(t, csNote, map[string]any{"id": c.ID, "text": "店長: 返金の手順ミス"}, &note)
		csRefused(t, srv, "BAD_USER_INPUT", "text", csNote, map[string]any{"id": c.ID, "text": " \n "})
		csRefused(t, srv, "BAD_USER_INPUT", "text", csNote, map[string]any{"id": c.ID, "text": strings.Repeat("あ", 1334)})
		srv.MustQuery(t, csNote, map[string]any{"id": c.ID, "text": strings.Repeat("a", 4000)}, &note)

		got := csGet(t, srv, c.ID)
		if len(got.Notes) != 3 || got.Notes[0].Text != "防犯カメラを確認\n次は店長に聞く" || got.Notes[1].Text != "店長: 返金の手順ミス" {
			t.Fatalf("notes %+v", got.Notes)
		}
		want := []string{"CREATED", "ENTRIES_ADDED", "ENTRIES_REMOVED", "TITLE", "STATUS", "ASSIGNED", "TAGS",
			"STATUS", "STATUS", "ASSIGNED", "NOTE", "NOTE", "NOTE"}
		if a := got.actions(); !sameMultiset(a, want) || a[0] != "CREATED" || a[len(a)-1] != "NOTE" {
			t.Errorf("history %v, want (in some order within one change) %v", a, want)
		}
		if !slices.ContainsFunc(got.History, func(h struct{ Action, Detail, ActorName string }) bool {
			return strings.Contains(h.Detail, "返金処理の誤り")
		}) {
			t.Errorf("history lost the resolution: %+v", got.History)
		}

		// Every mutation left an audit row.
		var audit struct {
			AuditLog struct {
				Edges []struct {
					Node struct{ Action, TargetID string }
				}
			}
		}
		srv.MustQuery(t, `{ auditLog(first: 100) { edges { node { action targetID } } } }`, nil, &audit)
		count := map[string]int{}
		for _, e := range audit.AuditLog.Edges {
			if e.Node.TargetID == c.ID {
				count[e.Node.Action]++
			}
		}
		if count["case.created"] != 1 || count["case.entries_added"] != 1 || count["case.entries_removed"] != 1 ||
			count["case.updated"] != 3 || count["case.note_added"] != 3 {
			t.Errorf("audit rows of the case: %v", count)
		}
	})
}

func sameMultiset(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestCaseList: most recently changed first, relay pages, where, limits.
func TestCaseList(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		var ids []string
		for i := range 3 {
			ids = append(ids, csCreate(t, srv, map[string]any{"title": fmt.Sprintf("事件%d", i)}).ID)
		}
		if got := csList(t, srv, nil); !slices.Equal(got, []string{ids[2], ids[1], ids[0]}) {
			t.Fatalf("list %v, want newest change first %v", got, ids)
		}
		// A note is a change: the first case moves to the top.
		srv.MustQuery(t, csNote, map[string]any{"id": ids[0], "text": "動きあり"}, nil)
		if got := csList(t, srv, nil); !slices.Equal(got, []string{ids[0], ids[2], ids[1]}) {
			t.Fatalf("after a note: %v", got)
		}
		var page struct {
			Cases struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct{ Node struct{ ID string } }
			}
		}
		const q = `query($first: Int, $after: Cursor) { cases(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }`
		var seen []string
		var after any
		for range 3 {
			srv.MustQuery(t, q, map[string]any{"first": 2, "after": after}, &page)
			for _, e := range page.Cases.Edges {
				seen = append(seen, e.Node.ID)
			}
			if page.Cases.TotalCount != 3 {
				t.Errorf("totalCount %d", page.Cases.TotalCount)
			}
			if !page.Cases.PageInfo.HasNextPage {
				break
			}
			after = page.Cases.PageInfo.EndCursor
		}
		if !slices.Equal(seen, []string{ids[0], ids[2], ids[1]}) {
			t.Errorf("paged %v", seen)
		}
		srv.MustQuery(t, csUpdate, map[string]any{"id": ids[1], "in": map[string]any{"status": "CLOSED", "resolution": "誤報"}}, nil)
		if got := csList(t, srv, map[string]any{"where": map[string]any{"status": "CLOSED"}}); !slices.Equal(got, ids[1:2]) {
			t.Errorf("where status CLOSED: %v", got)
		}
		if got := csList(t, srv, map[string]any{"where": map[string]any{"titleContains": "事件2"}}); !slices.Equal(got, ids[2:3]) {
			t.Errorf("where titleContains: %v", got)
		}
		const list = `query($first: Int) { cases(first: $first) { edges { node { id } } } }`
		csRefused(t, srv, "BAD_USER_INPUT", "first", list, map[string]any{"first": 101})
		csRefused(t, srv, "BAD_USER_INPUT", "first", list, map[string]any{"first": -1})
		if got := csList(t, srv, map[string]any{"first": 100}); len(got) != 3 {
			t.Errorf("first 100: %v", got)
		}
	})
}

// TestCaseStaffShops: a STAFF user sees and works on the cases whose
// receipts are all in their shops, and adds only their shops' receipts.
func TestCaseStaffShops(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		mine := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		other := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		my := csEntries(t, srv, mine.TerminalIDs[0], 5)
		theirs := csEntries(t, srv, other.TerminalIDs[0], 3)
		staffUser, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, mine.ShopID)

		inShop := csCreate(t, srv, map[string]any{"title": "自店のみ", "entryIDs": my[:1]})
		mixed := csCreate(t, srv, map[string]any{"title": "他店を含む", "entryIDs": []string{my[1], theirs[0]}})
		empty := csCreate(t, srv, map[string]any{"title": "中身なし"})
		if got := csList(t, staff, nil); !slices.Equal(got, []string{inShop.ID}) {
			t.Fatalf("staff list %v, want only %s", got, inShop.ID)
		}
		if csGet(t, staff, mixed.ID) != nil || csGet(t, staff, empty.ID) != nil {
			t.Fatal("staff reads a case with another shop's receipt, or an empty one not theirs")
		}
		csRefused(t, staff, "NOT_FOUND", "id", csUpdate, map[string]any{"id": mixed.ID, "in": map[string]any{"title": "x"}})
		csRefused(t, staff, "NOT_FOUND", "caseID", csNote, map[string]any{"id": mixed.ID, "text": "見える?"})
		csRefused(t, staff, "NOT_FOUND", "id", csRemove, map[string]any{"id": mixed.ID, "e": my[1:2]})

		// Creating: their shops' receipts only, and nothing is left behind.
		csRefused(t, staff, "NOT_FOUND", "input.entryIDs[1]", csCreateDoc, map[string]any{"in": map[string]any{"title": "x", "entryIDs": []string{my[2], theirs[1]}}})
		if got := csList(t, srv, nil); len(got) != 3 {
			t.Fatalf("a refused create left a case: %v", got)
		}
		own := csCreate(t, staff, map[string]any{"title": "スタッフの事件", "entryIDs": my[2:3]})
		if own.CreatedByID == nil || *own.CreatedByID != string(staffUser.ID) {
			t.Errorf("createdByID %v", own.CreatedByID)
		}
		csRefused(t, staff, "NOT_FOUND", "entryIDs[0]", csAdd, map[string]any{"id": own.ID, "e": theirs[1:2]})
		var out struct{ AddCaseEntries, UpdateCase csCase }
		staff.MustQuery(t, csAdd, map[string]any{"id": inShop.ID, "e": my[3:4]}, &out)
		staff.MustQuery(t, csUpdate, map[string]any{"id": inShop.ID, "in": map[string]any{"status": "INVESTIGATING"}}, &out)
		staff.MustQuery(t, csNote, map[string]any{"id": inShop.ID, "text": "スタッフのメモ"}, nil)
		// A STAFF user may hand a case to a manager, though it cannot read
		// the manager's user row.
		staff.MustQuery(t, csUpdate, map[string]any{"id": own.ID, "in": map[string]any{"assigneeID": srv.Owner.ID}}, &out)
		if out.UpdateCase.AssigneeID == nil || out.UpdateCase.Assignee != nil {
			t.Errorf("assigned as staff: %+v %+v", out.UpdateCase.AssigneeID, out.UpdateCase.Assignee)
		}

		// Once a manager adds another shop's receipt, the case is gone for them,
		// notes and history included.
		srv.MustQuery(t, csAdd, map[string]any{"id": inShop.ID, "e": theirs[2:3]}, nil)
		if csGet(t, staff, inShop.ID) != nil {
			t.Fatal("staff still reads a case that now holds another shop's receipt")
		}
		if got := csList(t, staff, nil); !slices.Equal(got, []string{own.ID}) {
			t.Fatalf("staff list %v", got)
		}
		// An empty case assigned to them is theirs to see.
		srv.MustQuery(t, csUpdate, map[string]any{"id": empty.ID, "in": map[string]any{"assigneeID": staffUser.ID}}, nil)
		if csGet(t, staff, empty.ID) == nil {
			t.Error("staff cannot read the empty case assigned to them")
		}
		// The shops of the mixed case follow its receipts.
		srv.MustQuery(t, csRemove, map[string]any{"id": mixed.ID, "e": theirs[:1]}, nil)
		if csGet(t, staff, mixed.ID) == nil {
			t.Error("staff cannot read the case once the other shop's receipt left it")
		}

		// API keys read cases and change none.
		_, key := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
		if got := csList(t, key, nil); len(got) != 4 {
			t.Errorf("key list %v", got)
		}
		if csGet(t, key, own.ID) == nil {
			t.Error("a journal:read key cannot read a case by node(id)")
		}
		r := key.Query(t, csNote, map[string]any{"id": own.ID, "text": "鍵から"})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Errorf("key added a note: %s %+v", r.Data, r.Errors)
		}
		_, links := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeLinksWrite)
		if csGet(t, links, own.ID) != nil {
			t.Error("a links:write key reads a case")
		}
	})
}

// TestCaseOtherAccount: another account's ids are NOT_FOUND on the field
// that named them, and nothing of theirs changes.
func TestCaseOtherAccount(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		bAcct, bOwner := srv.NewAccount(t, "B社")
		bfx := testenv.NewFixture(t, srv.DB.Client, bAcct)
		bIDs := seedForeignCases(t, bOwner, bAcct, bfx)
		bCase, bEntry, bNote := string(bIDs[0]), string(bIDs[1]), string(bIDs[2])
		bAlert := csAlert(t, bOwner, bfx.TerminalIDs[1])
		bUser, _ := srv.NewUser(t, bAcct, viewer.RoleAdmin)
		mine := csEntries(t, srv, fx.TerminalIDs[0], 1)
		c := csCreate(t, srv, map[string]any{"title": "自社"})

		if csGet(t, srv, bCase) != nil || csGet(t, srv, bNote) != nil {
			t.Fatal("node(id) reads B's case or note")
		}
		if got := csList(t, srv, nil); !slices.Equal(got, []string{c.ID}) {
			t.Fatalf("list %v", got)
		}
		csRefused(t, srv, "NOT_FOUND", "input.entryIDs[1]", csCreateDoc, map[string]any{"in": map[string]any{"title": "x", "entryIDs": []string{mine[0], bEntry}}})
		csRefused(t, srv, "NOT_FOUND", "input.alertIDs[0]", csCreateDoc, map[string]any{"in": map[string]any{"title": "x", "alertIDs": []string{bAlert}}})
		csRefused(t, srv, "NOT_FOUND", "input.assigneeID", csCreateDoc, map[string]any{"in": map[string]any{"title": "x", "assigneeID": bUser.ID}})
		csRefused(t, srv, "NOT_FOUND", "id", csUpdate, map[string]any{"id": bCase, "in": map[string]any{"status": "CLOSED", "resolution": "x"}})
		csRefused(t, srv, "NOT_FOUND", "input.assigneeID", csUpdate, map[string]any{"id": c.ID, "in": map[string]any{"assigneeID": bUser.ID}})
		csRefused(t, srv, "NOT_FOUND", "id", csAdd, map[string]any{"id": bCase, "e": mine})
		csRefused(t, srv, "NOT_FOUND", "entryIDs[0]", csAdd, map[string]any{"id": c.ID, "e": []string{bEntry}})
		csRefused(t, srv, "NOT_FOUND", "alertIDs[0]", csAdd, map[string]any{"id": c.ID, "a": []string{bAlert}})
		csRefused(t, srv, "NOT_FOUND", "id", csRemove, map[string]any{"id": bCase, "e": []string{bEntry}})
		csRefused(t, srv, "NOT_FOUND", "caseID", csNote, map[string]any{"id": bCase, "text": "x"})
		// Ids of the wrong kind read the same.
		csRefused(t, srv, "NOT_FOUND", "caseID", csNote, map[string]any{"id": bNote, "text": "x"})
		csRefused(t, srv, "NOT_FOUND", "entryIDs[0]", csAdd, map[string]any{"id": c.ID, "e": []string{c.ID}})

		// The refused create left nothing: A's receipt is still free.
		srv.MustQuery(t, csAdd, map[string]any{"id": c.ID, "e": mine}, nil)
		got := csGet(t, bOwner, bCase)
		if got == nil || len(got.Entries) != 1 || got.Entries[0].ID != bEntry || len(got.Notes) != 1 || got.Status != "OPEN" {
			t.Fatalf("B's case changed: %+v", got)
		}
	})
}

// TestCaseLimits: bad input names its field, and a refused call writes
// nothing.
func TestCaseLimits(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		create := func(in map[string]any) map[string]any { return map[string]any{"in": in} }
		csRefused(t, srv, "BAD_USER_INPUT", "input.title", csCreateDoc, create(map[string]any{"title": "  "}))
		csRefused(t, srv, "BAD_USER_INPUT", "input.title", csCreateDoc, create(map[string]any{"title": strings.Repeat("x", 201)}))
		csCreate(t, srv, map[string]any{"title": strings.Repeat("x", 200)})
		tags := make([]string, 21)
		for i := range tags {
			tags[i] = fmt.Sprint("t", i)
		}
		csRefused(t, srv, "BAD_USER_INPUT", "input.tags", csCreateDoc, create(map[string]any{"title": "x", "tags": tags}))
		csRefused(t, srv, "BAD_USER_INPUT", "input.tags[1]", csCreateDoc, create(map[string]any{"title": "x", "tags": []string{"ok", strings.Repeat("字", 51)}}))
		csRefused(t, srv, "BAD_USER_INPUT", "input.tags[0]", csCreateDoc, create(map[string]any{"title": "x", "tags": []string{" "}}))
		csCreate(t, srv, map[string]any{"title": "x", "tags": append(tags[:19], strings.Repeat("字", 50))})

		entries := csEntries(t, srv, fx.TerminalIDs[0], 501)
		csRefused(t, srv, "BAD_USER_INPUT", "input.entryIDs", csCreateDoc, create(map[string]any{"title": "x", "entryIDs": entries[:101]}))
		c := csCreate(t, srv, map[string]any{"title": "上限", "entryIDs": entries[:100]})
		for i := 100; i < 500; i += 100 {
			srv.MustQuery(t, csAdd, map[string]any{"id": c.ID, "e": entries[i : i+100]}, nil)
		}
		csRefused(t, srv, "BAD_USER_INPUT", "entryIDs", csAdd, map[string]any{"id": c.ID, "e": entries[500:]})
		csRefused(t, srv, "BAD_USER_INPUT", "alertIDs", csAdd, map[string]any{"id": c.ID, "a": entries[:101]})
		// A receipt may be evidence in several cases.
		other := csCreate(t, srv, map[string]any{"title": "別件"})
		srv.MustQuery(t, csAdd, map[string]any{"id": other.ID, "e": []string{entries[0]}}, nil)
		// (The id scalar's own message, not this package's, so not csRefused.)
		if r := srv.Query(t, csUpdate, map[string]any{"id": "not-an-id", "in": map[string]any{}}); len(r.Errors) == 0 || r.Errors[0].Code() != "BAD_USER_INPUT" {
			t.Errorf("a malformed id: %s %+v", r.Data, r.Errors)
		}
		got := csGet(t, srv, c.ID)
		if len(got.Entries) != 500 {
			t.Errorf("case holds %d entries, want 500", len(got.Entries))
		}
		// The other case holds the shared receipt once, and only the one
		// call that added it is in its history.
		if g := csGet(t, srv, other.ID); len(g.Entries) != 1 || g.Entries[0].ID != entries[0] || len(g.History) != 2 {
			t.Errorf("the other case after sharing a receipt: %+v", g)
		}
	})
}

// seedForeignCases gives account B a case holding one of its receipts and
// a note, created by B's owner through GraphQL, and returns the ids of the
// case, the receipt and the note (for the tenant walk, TestTenantWalk).
func seedForeignCases(t *testing.T, owner *gqlEnv, acct pulid.ID, fx testenv.Fixture) []pulid.ID {
	t.Helper()
	res := tjMustIngest(t, owner, tjReceipt(fx.TerminalIDs[0], fmt.Sprintf("B-CASE-%s", acct), "PAYMENT", time.Now().Add(-2*time.Hour), nil))
	entry := res[0].Entry.ID
	c := csCreate(t, owner, map[string]any{"title": "ひみつの事件", "entryIDs": []string{entry}, "tags": []string{"ひみつ"}})
	var note struct{ AddCaseNote struct{ ID string } }
	owner.MustQuery(t, csNote, map[string]any{"id": c.ID, "text": "ひみつのメモ"}, &note)
	return []pulid.ID{pulid.ID(c.ID), pulid.ID(entry), pulid.ID(note.AddCaseNote.ID)}
}
