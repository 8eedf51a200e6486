package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
)

// ---- helpers shared by the journal tests of this package (prefix tj) ----

// tjEntry is a JournalEntry as a client reads it.
type tjEntry struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	KindLabel  string     `json:"kindLabel"`
	OccurredAt time.Time  `json:"occurredAt"`
	ExternalID string     `json:"externalID"`
	ReceiptNo  string     `json:"receiptNo"`
	RegisterNo string     `json:"registerNo"`
	StaffName  string     `json:"staffName"`
	Total      int        `json:"total"`
	Deposit    int        `json:"deposit"`
	CameraID   *string    `json:"cameraID"`
	TerminalID string     `json:"terminalID"`
	ShopID     string     `json:"shopID"`
	RelatedID  *string    `json:"relatedID"`
	CanceledAt *time.Time `json:"canceledAt"`
	ModifiedAt *time.Time `json:"modifiedAt"`
	DeletedAt  *time.Time `json:"deletedAt"`
}

const tjEntryFields = `id kind kindLabel occurredAt externalID receiptNo registerNo staffName total deposit
	cameraID terminalID shopID relatedID canceledAt modifiedAt deletedAt`

type tjIngestError struct {
	Code    string  `json:"code"`
	Field   *string `json:"field"`
	Message string  `json:"message"`
}

type tjResult struct {
	Index  int            `json:"index"`
	Status string         `json:"status"`
	Entry  *tjEntry       `json:"entry"`
	Error  *tjIngestError `json:"error"`
}

const tjIngestMutation = `mutation($in: [JournalInput!]!) {
  ingestJournal(input: $in) { index status error { code field message } entry { ` + tjEntryFields + ` } }
}`

// tjIngest sends one ingestJournal call and returns the per-item results
// together with the top-level GraphQL errors.
func tjIngest(t *testing.T, srv gqlClient, items ...map[string]any) ([]tjResult, []testenv.GQLError) {
	t.Helper()
	in := make([]any, len(items))
	for i, it := range items {
		in[i] = it
	}
	r := srv.Query(t, tjIngestMutation, map[string]any{"in": in})
	var data struct {
		IngestJournal []tjResult `json:"ingestJournal"`
	}
	if len(r.Data) > 0 && string(r.Data) != "null" {
		if err := json.Unmarshal(r.Data, &data); err != nil {
			t.Fatalf("decode ingest data: %v (%s)", err, r.Data)
		}
	}
	return data.IngestJournal, r.Errors
}

// tjMustIngest ingests items that must all succeed and returns their results.
func tjMustIngest(t *testing.T, srv gqlClient, items ...map[string]any) []tjResult {
	t.Helper()
	res, errs := tjIngest(t, srv, items...)
	if len(errs) > 0 {
		t.Fatalf("ingest: graphql errors: %+v", errs)
	}
	if len(res) != len(items) {
		t.Fatalf("ingest: %d results for %d items", len(res), len(items))
	}
	for i, r := range res {
		if r.Status == "FAILED" || r.Entry == nil {
			t.Fatalf("ingest item %d: status %s error %+v", i, r.Status, r.Error)
		}
		if r.Index != i {
			t.Fatalf("ingest item %d: index %d", i, r.Index)
		}
	}
	return res
}

// tjOne ingests one item that must succeed.
func tjOne(t *testing.T, srv gqlClient, item map[string]any) tjResult {
	t.Helper()
	return tjMustIngest(t, srv, item)[0]
}

// tjReceipt builds a JournalInput; extra fields override the defaults.
func tjReceipt(term pulid.ID, ext, kind string, at time.Time, extra map[string]any) map[string]any {
	m := map[string]any{
		"terminalID": string(term),
		"externalID": ext,
		"kind":       kind,
		"occurredAt": at.Format(time.RFC3339Nano),
		"receiptNo":  "R-" + ext,
		"registerNo": "1",
		"staffName":  "山田",
		"total":      1000,
		"deposit":    1000,
		"change":     0,
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// tjEntryByID reads one entry through node(id).
func tjEntryByID(t *testing.T, srv gqlClient, id string) tjEntry {
	t.Helper()
	var out struct {
		Node *tjEntry `json:"node"`
	}
	srv.MustQuery(t, `query($id: ID!) { node(id: $id) { ... on JournalEntry { `+tjEntryFields+` } } }`,
		map[string]any{"id": id}, &out)
	if out.Node == nil {
		t.Fatalf("entry %s not found", id)
	}
	return *out.Node
}

type tjPage struct {
	Edges []struct {
		Cursor string  `json:"cursor"`
		Node   tjEntry `json:"node"`
	} `json:"edges"`
	PageInfo struct {
		HasNextPage bool    `json:"hasNextPage"`
		EndCursor   *string `json:"endCursor"`
	} `json:"pageInfo"`
}

func (p tjPage) ids() []string {
	out := make([]string, len(p.Edges))
	for i, e := range p.Edges {
		out[i] = e.Node.ID
	}
	return out
}

const tjJournalQuery = `query($where: JournalWhere, $first: Int, $after: String) {
  journal(where: $where, first: $first, after: $after) {
    edges { cursor node { ` + tjEntryFields + ` } }
    pageInfo { hasNextPage endCursor }
  }
}`

// tjJournalRaw runs Query.journal; first 0 and after "" mean "not given".
func tjJournalRaw(t *testing.T, srv gqlClient, where map[string]any, first int, after string) (tjPage, []testenv.GQLError) {
	t.Helper()
	vars := map[string]any{}
	if where != nil {
		vars["where"] = where
	}
	if first != 0 {
		vars["first"] = first
	}
	if after != "" {
		vars["after"] = after
	}
	r := srv.Query(t, tjJournalQuery, vars)
	var data struct {
		Journal tjPage `json:"journal"`
	}
	if len(r.Errors) == 0 {
		if err := json.Unmarshal(r.Data, &data); err != nil {
			t.Fatalf("decode journal: %v", err)
		}
	}
	return data.Journal, r.Errors
}

func tjJournal(t *testing.T, srv gqlClient, where map[string]any, first int, after string) tjPage {
	t.Helper()
	p, errs := tjJournalRaw(t, srv, where, first, after)
	if len(errs) > 0 {
		t.Fatalf("journal(%v): %+v", where, errs)
	}
	return p
}

// tjAll walks every page of the journal for where and returns the ids.
func tjAll(t *testing.T, srv gqlClient, where map[string]any) []string {
	t.Helper()
	var ids []string
	after := ""
	for range 100 {
		p := tjJournal(t, srv, where, 200, after)
		ids = append(ids, p.ids()...)
		if !p.PageInfo.HasNextPage {
			return ids
		}
		after = *p.PageInfo.EndCursor
	}
	t.Fatal("journal: too many pages")
	return nil
}

// tjRows counts journal entries and events in the database.
func tjRows(t *testing.T, c *ent.Client) (entries, events int) {
	t.Helper()
	ctx := context.Background()
	var err error
	if entries, err = c.JournalEntry.Query().Count(ctx); err != nil {
		t.Fatal(err)
	}
	if events, err = c.Event.Query().Count(ctx); err != nil {
		t.Fatal(err)
	}
	return entries, events
}

// tjBase is a whole hour two days ago: old enough that nothing is "in the
// future", aligned so bucket boundaries are easy to reason about.
func tjBase() time.Time { return time.Now().UTC().Truncate(time.Hour).Add(-48 * time.Hour) }

func tjStr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func tjSameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// ---- ingestJournal ----

// TestIngestKinds ingests each kind the way a partner does and checks what
// the dashboard then shows: the entry, its tab, its camera and the mark on
// the sale it changes.
func TestIngestKinds(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		base := tjBase()

		type check func(t *testing.T, srv *gqlEnv, fx testenv.Fixture, sale tjResult, got tjResult)
		cases := []struct {
			name string
			// sale, when set, is ingested first (the PAYMENT a change refers to).
			sale func(fx testenv.Fixture) map[string]any
			item func(fx testenv.Fixture) map[string]any
			// wantKind/wantTab: the stored entry's kind and the only tab listing it.
			wantKind, wantLabel string
			wantAt              time.Time
			wantCamera          int // index into fx.CameraIDs
			check               check
		}{
			{
				name: "PAYMENT",
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "P1", "PAYMENT", base, nil)
				},
				wantKind:  "PAYMENT",
				wantLabel: "支払い",
				wantAt:    base,
				check: func(t *testing.T, srv *gqlEnv, fx testenv.Fixture, _ tjResult, got tjResult) {
					e := got.Entry
					if e.ReceiptNo != "R-P1" || e.RegisterNo != "1" || e.StaffName != "山田" || e.Total != 1000 || e.Deposit != 1000 {
						t.Errorf("stored fields: %+v", e)
					}
					if e.RelatedID != nil || e.CanceledAt != nil || e.ModifiedAt != nil || e.DeletedAt != nil {
						t.Errorf("a plain sale has no relation or marks: %+v", e)
					}
					if e.TerminalID != string(fx.TerminalIDs[0]) || e.ShopID != string(fx.ShopID) {
						t.Errorf("terminal/shop: %s %s", e.TerminalID, e.ShopID)
					}
				},
			},
			{
				name: "PAYMENT on terminal 2 resolves camera 1",
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[2], "P2", "PAYMENT", base.Add(time.Minute), nil)
				},
				wantKind: "PAYMENT", wantLabel: "支払い", wantAt: base.Add(time.Minute), wantCamera: 1,
			},
			{
				name: "CANCEL with the sale's own externalID",
				sale: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "S1", "PAYMENT", base, map[string]any{"total": 35000, "deposit": 35000})
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "S1", "CANCEL", base.Add(4*time.Minute), map[string]any{"total": 35000, "deposit": 35000})
				},
				wantKind: "CANCEL", wantLabel: "キャンセル", wantAt: base.Add(4 * time.Minute),
				check: func(t *testing.T, srv *gqlEnv, _ testenv.Fixture, sale, got tjResult) {
					if got.Entry.ID == sale.Entry.ID {
						t.Fatalf("the cancel must be its own entry, got the sale back")
					}
					if tjStr(got.Entry.RelatedID) != sale.Entry.ID {
						t.Errorf("cancel related = %s, want the sale %s", tjStr(got.Entry.RelatedID), sale.Entry.ID)
					}
					s := tjEntryByID(t, srv, sale.Entry.ID)
					if s.CanceledAt == nil || !s.CanceledAt.Equal(base.Add(4*time.Minute)) {
						t.Errorf("sale canceledAt = %v, want %v", s.CanceledAt, base.Add(4*time.Minute))
					}
					if s.Kind != "PAYMENT" || !s.OccurredAt.Equal(base) || s.DeletedAt != nil || s.ModifiedAt != nil {
						t.Errorf("sale otherwise unchanged: %+v", s)
					}
				},
			},
			{
				name: "CANCEL with its own id and relatedExternalID (Smaregi 打消)",
				sale: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[1], "S2", "PAYMENT", base, nil)
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[1], "D2", "CANCEL", base.Add(2*time.Minute), map[string]any{"relatedExternalID": "S2", "total": -1000})
				},
				wantKind: "CANCEL", wantLabel: "キャンセル", wantAt: base.Add(2 * time.Minute),
				check: func(t *testing.T, srv *gqlEnv, _ testenv.Fixture, sale, got tjResult) {
					if tjStr(got.Entry.RelatedID) != sale.Entry.ID {
						t.Errorf("related = %s, want %s", tjStr(got.Entry.RelatedID), sale.Entry.ID)
					}
					if got.Entry.ExternalID != "D2" {
						t.Errorf("externalID = %s, want the disposal's own id D2", got.Entry.ExternalID)
					}
					s := tjEntryByID(t, srv, sale.Entry.ID)
					if s.CanceledAt == nil || !s.CanceledAt.Equal(base.Add(2*time.Minute)) {
						t.Errorf("sale canceledAt = %v", s.CanceledAt)
					}
				},
			},
			{
				name: "DELETE",
				sale: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "S3", "PAYMENT", base, nil)
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "S3", "DELETE", base.Add(30*time.Minute), nil)
				},
				wantKind: "DELETE", wantLabel: "削除", wantAt: base.Add(30 * time.Minute),
				check: func(t *testing.T, srv *gqlEnv, _ testenv.Fixture, sale, got tjResult) {
					if tjStr(got.Entry.RelatedID) != sale.Entry.ID {
						t.Errorf("related = %s, want %s", tjStr(got.Entry.RelatedID), sale.Entry.ID)
					}
					s := tjEntryByID(t, srv, sale.Entry.ID)
					if s.DeletedAt == nil || !s.DeletedAt.Equal(base.Add(30*time.Minute)) {
						t.Errorf("sale deletedAt = %v", s.DeletedAt)
					}
					if s.CanceledAt != nil {
						t.Errorf("a deletion is not a cancel: canceledAt = %v", s.CanceledAt)
					}
				},
			},
			{
				name: "MODIFY explicit, at updatedAt",
				sale: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[2], "S4", "PAYMENT", base, nil)
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[2], "S4", "MODIFY", base, map[string]any{
						"updatedAt": base.Add(10 * time.Minute).Format(time.RFC3339), "total": 900, "staffName": "佐藤"})
				},
				wantKind: "MODIFY", wantLabel: "修正", wantAt: base.Add(10 * time.Minute), wantCamera: 1,
				check: func(t *testing.T, srv *gqlEnv, _ testenv.Fixture, sale, got tjResult) {
					if tjStr(got.Entry.RelatedID) != sale.Entry.ID {
						t.Errorf("related = %s, want %s", tjStr(got.Entry.RelatedID), sale.Entry.ID)
					}
					if got.Entry.Total != 900 || got.Entry.StaffName != "佐藤" {
						t.Errorf("the MODIFY entry holds the new content: %+v", got.Entry)
					}
					s := tjEntryByID(t, srv, sale.Entry.ID)
					if s.ModifiedAt == nil || !s.ModifiedAt.Equal(base.Add(10*time.Minute)) {
						t.Errorf("sale modifiedAt = %v", s.ModifiedAt)
					}
				},
			},
			{
				name: "PAYMENT re-sent with a changed total becomes MODIFY at updatedAt",
				sale: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "S5", "PAYMENT", base, map[string]any{"total": 1200, "deposit": 2000, "change": 800})
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "S5", "PAYMENT", base, map[string]any{
						"total": 1100, "deposit": 2000, "change": 900, "updatedAt": base.Add(15 * time.Minute).Format(time.RFC3339)})
				},
				wantKind: "MODIFY", wantLabel: "修正", wantAt: base.Add(15 * time.Minute),
				check: func(t *testing.T, srv *gqlEnv, _ testenv.Fixture, sale, got tjResult) {
					if got.Status != "CREATED" {
						t.Errorf("status %s, want CREATED", got.Status)
					}
					if got.Entry.ID == sale.Entry.ID {
						t.Fatalf("the change must be a new entry")
					}
					if tjStr(got.Entry.RelatedID) != sale.Entry.ID || got.Entry.Total != 1100 {
						t.Errorf("MODIFY entry: related %s total %d", tjStr(got.Entry.RelatedID), got.Entry.Total)
					}
					s := tjEntryByID(t, srv, sale.Entry.ID)
					if s.ModifiedAt == nil || !s.ModifiedAt.Equal(base.Add(15*time.Minute)) {
						t.Errorf("sale modifiedAt = %v", s.ModifiedAt)
					}
					if s.Kind != "PAYMENT" || s.Total != 1200 {
						t.Errorf("the original sale keeps its kind and amounts: %+v", s)
					}
				},
			},
			{
				name: "PAYMENT re-sent with another staff and no updatedAt becomes MODIFY at arrival",
				sale: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "S6", "PAYMENT", base, nil)
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "S6", "PAYMENT", base, map[string]any{"staffName": "鈴木"})
				},
				wantKind: "MODIFY", wantLabel: "修正", // wantAt zero: checked below
				check: func(t *testing.T, srv *gqlEnv, _ testenv.Fixture, sale, got tjResult) {
					if d := time.Since(got.Entry.OccurredAt); d < -time.Minute || d > time.Minute {
						t.Errorf("MODIFY without updatedAt at %v, want about now", got.Entry.OccurredAt)
					}
					if tjStr(got.Entry.RelatedID) != sale.Entry.ID {
						t.Errorf("related = %s", tjStr(got.Entry.RelatedID))
					}
				},
			},
			{
				name: "OTHER (入金) shows only under すべて",
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[1], "O1", "OTHER", base.Add(5*time.Second), map[string]any{"total": 5000})
				},
				wantKind: "OTHER", wantLabel: "その他", wantAt: base.Add(5 * time.Second),
			},
		}
		tabs := map[string]string{"PAYMENT": "支払い", "CANCEL": "キャンセル", "MODIFY": "修正", "DELETE": "削除"}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
				var sale tjResult
				if tc.sale != nil {
					sale = tjOne(t, srv, tc.sale(fx))
					if sale.Status != "CREATED" || sale.Entry.Kind != "PAYMENT" {
						t.Fatalf("sale: %+v", sale)
					}
				}
				got := tjOne(t, srv, tc.item(fx))
				if got.Status != "CREATED" {
					t.Errorf("status %s, want CREATED", got.Status)
				}
				e := got.Entry
				if e.Kind != tc.wantKind || e.KindLabel != tc.wantLabel {
					t.Errorf("kind %s (%s), want %s (%s)", e.Kind, e.KindLabel, tc.wantKind, tc.wantLabel)
				}
				if !tc.wantAt.IsZero() && !e.OccurredAt.Equal(tc.wantAt) {
					t.Errorf("occurredAt %v, want %v", e.OccurredAt, tc.wantAt)
				}
				if tjStr(e.CameraID) != string(fx.CameraIDs[tc.wantCamera]) {
					t.Errorf("camera %s, want camera %d (%s)", tjStr(e.CameraID), tc.wantCamera, fx.CameraIDs[tc.wantCamera])
				}
				// Which tab shows it: exactly its own kind's tab, and すべて.
				shop := map[string]any{"shopIDs": []string{string(fx.ShopID)}}
				if ids := tjAll(t, srv, shop); !containsStr(ids, e.ID) {
					t.Errorf("すべて does not list the entry")
				}
				for kind, label := range tabs {
					ids := tjAll(t, srv, map[string]any{"shopIDs": []string{string(fx.ShopID)}, "kinds": []string{kind}})
					if shown := containsStr(ids, e.ID); shown != (kind == tc.wantKind) {
						t.Errorf("tab %s lists the entry: %v", label, shown)
					}
				}
				if tc.check != nil {
					tc.check(t, srv, fx, sale, got)
				}
			})
		}
	})
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestIngestCameraFromLinkHistory checks that an entry shows the camera that
// watched its terminal at occurredAt, not the one linked when it arrived.
func TestIngestCameraFromLinkHistory(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		ctx := context.Background()
		c := srv.DB.Client
		base := tjBase()
		term := fx.TerminalIDs[0]

		// Re-bind terminal 0 from camera 0 to camera 1 at base, as the link
		// portal does: end the old link, start a new one.
		if _, err := c.Link.Update().Where(link.TerminalID(term), link.EndedAtIsNil()).SetEndedAt(base).Save(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Link.Create().SetAccountID(srv.AccountID).SetTerminalID(term).SetCameraID(fx.CameraIDs[1]).
			SetCreatedAt(base).Save(ctx); err != nil {
			t.Fatal(err)
		}
		// Terminal 1 was unlinked for an hour: [base+1h, base+2h) no camera.
		if _, err := c.Link.Update().Where(link.TerminalID(fx.TerminalIDs[1]), link.EndedAtIsNil()).
			SetEndedAt(base.Add(time.Hour)).Save(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Link.Create().SetAccountID(srv.AccountID).SetTerminalID(fx.TerminalIDs[1]).SetCameraID(fx.CameraIDs[0]).
			SetCreatedAt(base.Add(2 * time.Hour)).Save(ctx); err != nil {
			t.Fatal(err)
		}

		cam := func(i int) string { return string(fx.CameraIDs[i]) }
		cases := []struct {
			name string
			item map[string]any
			want string // camera id, "" for none
		}{
			{"before re-bind keeps the old camera", tjReceipt(term, "L1", "PAYMENT", base.Add(-time.Second), nil), cam(0)},
			{"at the re-bind instant takes the new camera", tjReceipt(term, "L2", "PAYMENT", base, nil), cam(1)},
			{"after re-bind", tjReceipt(term, "L3", "PAYMENT", base.Add(time.Minute), nil), cam(1)},
			{"before any link", tjReceipt(fx.TerminalIDs[2], "L4", "PAYMENT", testenv.LinkedSince.Add(-time.Hour), nil), ""},
			{"while unlinked", tjReceipt(fx.TerminalIDs[1], "L5", "PAYMENT", base.Add(90*time.Minute), nil), ""},
			{"linked again", tjReceipt(fx.TerminalIDs[1], "L6", "PAYMENT", base.Add(2*time.Hour+time.Second), nil), cam(0)},
			{"terminal 2 → camera 1", tjReceipt(fx.TerminalIDs[2], "L7", "PAYMENT", base, nil), cam(1)},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got := tjOne(t, srv, tc.item)
				if g := got.Entry.CameraID; (g == nil) != (tc.want == "") || g != nil && *g != tc.want {
					t.Errorf("camera %s, want %q", tjStr(g), tc.want)
				}
				// The camera filter agrees with the field.
				if tc.want != "" {
					ids := tjAll(t, srv, map[string]any{"cameraIDs": []string{tc.want}})
					if !containsStr(ids, got.Entry.ID) {
						t.Errorf("journal(cameraIDs: [%s]) misses the entry", tc.want)
					}
				}
			})
		}

		// A change to a sale made before the re-bind is pictured by the
		// camera watching at the change's own time.
		t.Run("cancel after re-bind of a sale before it", func(t *testing.T) {
			got := tjOne(t, srv, tjReceipt(term, "L1", "CANCEL", base.Add(2*time.Minute), nil))
			if tjStr(got.Entry.CameraID) != cam(1) {
				t.Errorf("cancel camera %s, want %s", tjStr(got.Entry.CameraID), cam(1))
			}
		})
	})
}

// TestIngestIdempotent re-sends records the way a retrying partner or a
// duplicated webhook does: nothing may appear twice.
func TestIngestIdempotent(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		base := tjBase()

		cases := []struct {
			name string
			// first is sent before the repeated item (once).
			first func(fx testenv.Fixture) []map[string]any
			// item is sent twice; the second must be DUPLICATE of the first.
			item     func(fx testenv.Fixture) map[string]any
			wantKind string
			// rows the whole case leaves for the fixture's shop.
			wantEntries int
		}{
			{
				name: "same PAYMENT twice",
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "I1", "PAYMENT", base, nil)
				},
				wantKind:    "PAYMENT",
				wantEntries: 1,
			},
			{
				name: "same CANCEL twice",
				first: func(fx testenv.Fixture) []map[string]any {
					return []map[string]any{tjReceipt(fx.TerminalIDs[0], "I3", "PAYMENT", base, nil)}
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "I3", "CANCEL", base.Add(time.Minute), nil)
				},
				wantKind:    "CANCEL",
				wantEntries: 2,
			},
			{
				name: "same DELETE twice",
				first: func(fx testenv.Fixture) []map[string]any {
					return []map[string]any{tjReceipt(fx.TerminalIDs[0], "I4", "PAYMENT", base, nil)}
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "I4", "DELETE", base.Add(time.Minute), nil)
				},
				wantKind:    "DELETE",
				wantEntries: 2,
			},
			{
				name: "same explicit MODIFY twice",
				first: func(fx testenv.Fixture) []map[string]any {
					return []map[string]any{tjReceipt(fx.TerminalIDs[0], "I5", "PAYMENT", base, nil)}
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "I5", "MODIFY", base, map[string]any{
						"total": 800, "updatedAt": base.Add(time.Minute).Format(time.RFC3339)})
				},
				wantKind:    "MODIFY",
				wantEntries: 2,
			},
			{
				name: "same changed PAYMENT re-sent twice",
				first: func(fx testenv.Fixture) []map[string]any {
					return []map[string]any{tjReceipt(fx.TerminalIDs[0], "I6", "PAYMENT", base, nil)}
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "I6", "PAYMENT", base, map[string]any{
						"total": 700, "updatedAt": base.Add(2 * time.Minute).Format(time.RFC3339)})
				},
				wantKind:    "MODIFY",
				wantEntries: 2,
			},
			{
				name: "same changed PAYMENT without updatedAt re-sent twice",
				first: func(fx testenv.Fixture) []map[string]any {
					return []map[string]any{tjReceipt(fx.TerminalIDs[0], "I7", "PAYMENT", base, nil)}
				},
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[0], "I7", "PAYMENT", base, map[string]any{"total": 600})
				},
				wantKind:    "MODIFY",
				wantEntries: 2,
			},
			{
				name: "same OTHER twice",
				item: func(fx testenv.Fixture) map[string]any {
					return tjReceipt(fx.TerminalIDs[1], "I8", "OTHER", base, nil)
				},
				wantKind:    "OTHER",
				wantEntries: 1,
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
				if tc.first != nil {
					tjMustIngest(t, srv, tc.first(fx)...)
				}
				entries0, events0 := tjRows(t, srv.DB.Client)
				one := tjOne(t, srv, tc.item(fx))
				if one.Status != "CREATED" || one.Entry.Kind != tc.wantKind {
					t.Fatalf("first send: %s %s, want CREATED %s", one.Status, one.Entry.Kind, tc.wantKind)
				}
				entries1, events1 := tjRows(t, srv.DB.Client)
				two := tjOne(t, srv, tc.item(fx))
				if two.Status != "DUPLICATE" {
					t.Errorf("second send: status %s, want DUPLICATE", two.Status)
				}
				if two.Entry.ID != one.Entry.ID {
					t.Errorf("second send returned entry %s (%s), want the first result %s (%s)",
						two.Entry.ID, two.Entry.Kind, one.Entry.ID, one.Entry.Kind)
				}
				entries2, events2 := tjRows(t, srv.DB.Client)
				if entries2 != entries1 || events2 != events1 {
					t.Errorf("the duplicate wrote rows: entries %d→%d, events %d→%d", entries1, entries2, events1, events2)
				}
				if entries1 != entries0+1 || events1 <= events0 {
					t.Errorf("the first send wrote %d entries and %d events, want 1 and at least 1", entries1-entries0, events1-events0)
				}
				// One more time inside a batch of its own.
				res := tjMustIngest(t, srv, tc.item(fx))
				if res[0].Status != "DUPLICATE" {
					t.Errorf("third send: %s", res[0].Status)
				}
				ids := tjAll(t, srv, map[string]any{"shopIDs": []string{string(fx.ShopID)}})
				if len(ids) != tc.wantEntries {
					t.Errorf("journal lists %d entries, want %d", len(ids), tc.wantEntries)
				}
				kinds := tjAll(t, srv, map[string]any{"shopIDs": []string{string(fx.ShopID)}, "kinds": []string{tc.wantKind}})
				if len(kinds) != 1 {
					t.Errorf("tab %s lists %d entries, want 1", tc.wantKind, len(kinds))
				}
			})
		}

		// The same instant written in JST is the same record.
		t.Run("same PAYMENT in another time zone notation", func(t *testing.T) {
			fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
			one := tjOne(t, srv, tjReceipt(fx.TerminalIDs[0], "I2", "PAYMENT", base.Add(123456*time.Microsecond), nil))
			jst := time.FixedZone("JST", 9*3600)
			two := tjOne(t, srv, tjReceipt(fx.TerminalIDs[0], "I2", "PAYMENT", base.Add(123456*time.Microsecond).In(jst), nil))
			if two.Status != "DUPLICATE" || two.Entry.ID != one.Entry.ID {
				t.Errorf("JST re-send: %s %s, want DUPLICATE %s", two.Status, two.Entry.ID, one.Entry.ID)
			}
		})

		// A provider retry of the original record arriving after the sale
		// was edited (Smaregi does not guarantee webhook order) is the
		// same provider record again: one entry, no second MODIFY.
		t.Run("late retry of the original after an edit", func(t *testing.T) {
			fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
			orig := tjReceipt(fx.TerminalIDs[0], "I9", "PAYMENT", base, map[string]any{
				"total": 1000, "updatedAt": base.Format(time.RFC3339)})
			edited := tjReceipt(fx.TerminalIDs[0], "I9", "PAYMENT", base, map[string]any{
				"total": 900, "updatedAt": base.Add(5 * time.Minute).Format(time.RFC3339)})
			p := tjOne(t, srv, orig)
			m := tjOne(t, srv, edited)
			if p.Entry.Kind != "PAYMENT" || m.Entry.Kind != "MODIFY" {
				t.Fatalf("setup: %s then %s", p.Entry.Kind, m.Entry.Kind)
			}
			late := tjOne(t, srv, orig)
			if late.Status != "DUPLICATE" {
				t.Errorf("late retry of the original (updatedAt %v, older than the edit at %v): status %s kind %s at %v, want DUPLICATE",
					base, base.Add(5*time.Minute), late.Status, late.Entry.Kind, late.Entry.OccurredAt)
			}
			if mods := tjAll(t, srv, map[string]any{"shopIDs": []string{string(fx.ShopID)}, "kinds": []string{"MODIFY"}}); len(mods) != 1 {
				t.Errorf("修正 tab lists %d entries, want 1", len(mods))
			}
		})

		// Two successive real edits are two MODIFY entries, both pointing at
		// the sale.
		t.Run("two edits are two MODIFY entries", func(t *testing.T) {
			fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
			p := tjOne(t, srv, tjReceipt(fx.TerminalIDs[0], "I10", "PAYMENT", base, nil))
			m1 := tjOne(t, srv, tjReceipt(fx.TerminalIDs[0], "I10", "PAYMENT", base, map[string]any{
				"total": 900, "updatedAt": base.Add(time.Minute).Format(time.RFC3339)}))
			m2 := tjOne(t, srv, tjReceipt(fx.TerminalIDs[0], "I10", "PAYMENT", base, map[string]any{
				"total": 800, "updatedAt": base.Add(2 * time.Minute).Format(time.RFC3339)}))
			if m1.Status != "CREATED" || m2.Status != "CREATED" || m1.Entry.ID == m2.Entry.ID {
				t.Fatalf("edits: %s %s / %s %s", m1.Status, m1.Entry.ID, m2.Status, m2.Entry.ID)
			}
			for _, m := range []tjResult{m1, m2} {
				if m.Entry.Kind != "MODIFY" || tjStr(m.Entry.RelatedID) != p.Entry.ID {
					t.Errorf("edit %s: kind %s related %s", m.Entry.ID, m.Entry.Kind, tjStr(m.Entry.RelatedID))
				}
			}
			if s := tjEntryByID(t, srv, p.Entry.ID); s.ModifiedAt == nil || !s.ModifiedAt.Equal(base.Add(2*time.Minute)) {
				t.Errorf("sale modifiedAt = %v, want the latest edit", s.ModifiedAt)
			}
		})
	})
}

// TestIngestBatchMixed sends valid and invalid items together: the valid
// ones are stored, each invalid one fails alone with its own field, and a
// failed item leaves no entry and no event behind.
func TestIngestBatchMixed(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		base := tjBase()
		term := fx.TerminalIDs[0]
		items := []map[string]any{
			tjReceipt(term, "B0", "PAYMENT", base, nil),
			tjReceipt(term, "B1", "PAYMENT", base, map[string]any{"deposit": -1}),
			tjReceipt(term, "B2", "CANCEL", base.Add(time.Minute), map[string]any{"relatedExternalID": "B0"}),
			tjReceipt(pulid.MustNew("TE"), "B3", "PAYMENT", base, nil),
			tjReceipt(term, "B4", "PAYMENT", base, map[string]any{"items": []any{
				map[string]any{"name": "コーヒー", "quantity": 1, "amount": 500},
				map[string]any{"name": "", "quantity": 1, "amount": 500},
			}}),
			tjReceipt(term, "B5", "OTHER", base, nil),
		}
		entries0, events0 := tjRows(t, srv.DB.Client)
		res, errs := tjIngest(t, srv, items...)
		if len(res) != len(items) {
			t.Fatalf("%d results for %d items (errors %+v)", len(res), len(items), errs)
		}
		want := []struct {
			status, code, field string
		}{
			{"CREATED", "", ""},
			{"FAILED", "BAD_USER_INPUT", "input[1].deposit"},
			{"CREATED", "", ""},
			{"FAILED", "NOT_FOUND", "input[3].terminalID"},
			{"FAILED", "BAD_USER_INPUT", "input[4].items[1].name"},
			{"CREATED", "", ""},
		}
		for i, w := range want {
			r := res[i]
			if r.Index != i || r.Status != w.status {
				t.Errorf("item %d: index %d status %s, want %s", i, r.Index, r.Status, w.status)
				continue
			}
			if w.status == "CREATED" {
				if r.Entry == nil || r.Error != nil {
					t.Errorf("item %d: entry %v error %+v", i, r.Entry, r.Error)
				}
				continue
			}
			if r.Entry != nil {
				t.Errorf("item %d failed but returned entry %s", i, r.Entry.ID)
			}
			if r.Error == nil || r.Error.Code != w.code || tjStr(r.Error.Field) != w.field || r.Error.Message == "" {
				t.Errorf("item %d error %+v, want %s at %s", i, r.Error, w.code, w.field)
			}
			// Generic clients see the failure as a GraphQL error too.
			found := false
			for _, e := range errs {
				if e.Field() == w.field && e.Code() == w.code {
					found = true
				}
			}
			if !found {
				t.Errorf("item %d: no top-level GraphQL error with code %s field %s (errors %+v)", i, w.code, w.field, errs)
			}
		}
		if len(errs) != 3 {
			t.Errorf("%d top-level errors, want one per failed item (3): %+v", len(errs), errs)
		}
		// The cancel in the same batch found the sale stored before it.
		if res[2].Entry != nil && tjStr(res[2].Entry.RelatedID) != res[0].Entry.ID {
			t.Errorf("cancel related %s, want %s", tjStr(res[2].Entry.RelatedID), res[0].Entry.ID)
		}
		entries1, events1 := tjRows(t, srv.DB.Client)
		// 3 entries; events: ADDED ×3 plus UPDATED for the canceled sale.
		if entries1-entries0 != 3 || events1-events0 != 4 {
			t.Errorf("rows written: %d entries, %d events; want 3 and 4", entries1-entries0, events1-events0)
		}
		ids := tjAll(t, srv, map[string]any{"terminalIDs": []string{string(term)}})
		for _, ext := range []string{"B1", "B4"} {
			for _, id := range ids {
				if e := tjEntryByID(t, srv, id); e.ExternalID == ext {
					t.Errorf("failed item %s was stored as %s", ext, id)
				}
			}
		}
		// Fixing the failed item and sending it again stores it.
		fixed := tjOne(t, srv, tjReceipt(term, "B1", "PAYMENT", base, nil))
		if fixed.Status != "CREATED" {
			t.Errorf("corrected item: %s", fixed.Status)
		}
	})
}

// TestIngestResultEdges asks for the edges of the entries ingestJournal
// returns, as a partner confirming what was stored would: the sale a cancel
// points at, the camera and the terminal.
func TestIngestResultEdges(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		base := tjBase()
		const q = `mutation($in: [JournalInput!]!) {
  ingestJournal(input: $in) { status entry { id kind related { id } camera { id } terminal { id } shop { id } } }
}`
		in := []any{
			tjReceipt(fx.TerminalIDs[2], "E1", "PAYMENT", base, nil),
			tjReceipt(fx.TerminalIDs[2], "E1", "CANCEL", base.Add(time.Minute), nil),
		}
		for _, round := range []string{"created", "duplicate"} {
			t.Run(round, func(t *testing.T) {
				r := srv.Query(t, q, map[string]any{"in": in})
				if len(r.Errors) > 0 {
					t.Fatalf("errors: %+v", r.Errors)
				}
				var out struct {
					IngestJournal []struct {
						Status string
						Entry  struct {
							ID, Kind                        string
							Related, Camera, Terminal, Shop *struct{ ID string }
						}
					}
				}
				if err := json.Unmarshal(r.Data, &out); err != nil {
					t.Fatal(err)
				}
				sale, cancel := out.IngestJournal[0].Entry, out.IngestJournal[1].Entry
				if sale.Related != nil || cancel.Related == nil || cancel.Related.ID != sale.ID {
					t.Errorf("related: sale %v cancel %v", sale.Related, cancel.Related)
				}
				for _, e := range []struct {
					ID, Kind                        string
					Related, Camera, Terminal, Shop *struct{ ID string }
				}{sale, cancel} {
					if e.Camera == nil || e.Camera.ID != string(fx.CameraIDs[1]) ||
						e.Terminal == nil || e.Terminal.ID != string(fx.TerminalIDs[2]) ||
						e.Shop == nil || e.Shop.ID != string(fx.ShopID) {
						t.Errorf("%s edges: camera %v terminal %v shop %v", e.Kind, e.Camera, e.Terminal, e.Shop)
					}
				}
			})
		}
	})
}
