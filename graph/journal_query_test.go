package graph_test

import (
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
)

// tjStored is a seeded entry with what the journal must report for it.
type tjStored struct {
	name   string
	id     string
	at     time.Time
	kind   string
	shop   int // fixture index
	camera pulid.ID
}

// tjOrder sorts ids the way the journal lists them: newest first, ties on
// occurredAt broken by id (descending).
func tjOrder(es []tjStored) []string {
	s := append([]tjStored(nil), es...)
	sort.Slice(s, func(i, j int) bool {
		if !s[i].at.Equal(s[j].at) {
			return s[i].at.After(s[j].at)
		}
		return s[i].id > s[j].id
	})
	out := make([]string, len(s))
	for i, e := range s {
		out[i] = e.id
	}
	return out
}

// TestJournalTabsAndSearch seeds two shops with every kind and checks that
// each dashboard tab, the search box and the filters return exactly the
// right entries, newest first.
func TestJournalTabsAndSearch(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fa := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		fb := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		base := tjBase()
		at := func(d time.Duration) time.Time { return base.Add(d) }
		m := time.Minute

		type seed struct {
			name     string
			fx       int // 0: shop A, 1: shop B
			term     int
			ext      string
			kind     string
			at       time.Time
			extra    map[string]any
			wantKind string
		}
		fields := func(receipt, register, staff string, more ...any) map[string]any {
			out := map[string]any{"receiptNo": receipt, "registerNo": register, "staffName": staff}
			for i := 0; i+1 < len(more); i += 2 {
				out[more[i].(string)] = more[i+1]
			}
			return out
		}
		seeds := []seed{
			{"p1", 0, 0, "P1", "PAYMENT", at(1 * m), fields("0042", "2", "Yamada Taro"), "PAYMENT"},
			{"q1", 1, 0, "Q1", "PAYMENT", at(90 * time.Second), fields("0042", "7", "YAMADA"), "PAYMENT"},
			{"p2", 0, 1, "P2", "PAYMENT", at(2 * m), fields("0043", "1", "山田 花子"), "PAYMENT"},
			{"p3", 0, 2, "P3", "PAYMENT", at(3 * m), fields("1042", "3", "Suzuki"), "PAYMENT"},
			{"c1", 0, 0, "P1", "CANCEL", at(4 * m), fields("0042", "2", "Yamada Taro"), "CANCEL"},
			{"m1", 0, 1, "P2", "PAYMENT", at(2 * m), fields("0043", "1", "山田 花子", "total", 800,
				"updatedAt", at(5*m).Format(time.RFC3339)), "MODIFY"},
			{"d1", 0, 2, "P3", "DELETE", at(6 * m), fields("1042", "3", "Suzuki"), "DELETE"},
			{"o1", 0, 0, "O1", "OTHER", at(7 * m), fields("", "2", "Tanaka"), "OTHER"},
			{"q2", 1, 2, "Q2D", "CANCEL", at(8 * m), fields("R_%", "7", "100%_off", "relatedExternalID", "Q1"), "CANCEL"},
			{"p4", 0, 0, "P4", "PAYMENT", at(9 * m), fields("A_1", "2", "Ito"), "PAYMENT"},
			{"t1", 0, 1, "T1", "PAYMENT", at(10 * m), fields("5001", "5", "Kato"), "PAYMENT"},
			{"t2", 0, 1, "T2", "PAYMENT", at(10 * m), fields("5002", "5", "Kato"), "PAYMENT"},
			{"t3", 0, 1, "T3", "PAYMENT", at(10 * m), fields("5003", "5", "Kato"), "PAYMENT"},
		}
		fxs := []testenv.Fixture{fa, fb}
		stored := map[string]tjStored{}
		var all []tjStored
		for _, s := range seeds {
			fx := fxs[s.fx]
			r := tjOne(t, srv, tjReceipt(fx.TerminalIDs[s.term], s.ext, s.kind, s.at, s.extra))
			if r.Status != "CREATED" || r.Entry.Kind != s.wantKind {
				t.Fatalf("seed %s: %s %s, want CREATED %s", s.name, r.Status, r.Entry.Kind, s.wantKind)
			}
			cam := fx.CameraIDs[0]
			if s.term == 2 {
				cam = fx.CameraIDs[1]
			}
			e := tjStored{name: s.name, id: r.Entry.ID, at: r.Entry.OccurredAt, kind: s.wantKind, shop: s.fx, camera: cam}
			stored[s.name] = e
			all = append(all, e)
		}
		pick := func(names ...string) []string {
			var es []tjStored
			for _, n := range names {
				es = append(es, stored[n])
			}
			return tjOrder(es)
		}
		ids := func(list []pulid.ID) []string {
			out := make([]string, len(list))
			for i, id := range list {
				out[i] = string(id)
			}
			return out
		}
		shopA, shopB := []string{string(fa.ShopID)}, []string{string(fb.ShopID)}

		cases := []struct {
			name  string
			where map[string]any
			want  []string
		}{
			// The five tabs.
			{"すべて (no where)", nil, tjOrder(all)},
			{"すべて (empty kinds)", map[string]any{"kinds": []string{}}, tjOrder(all)},
			{"支払い", map[string]any{"kinds": []string{"PAYMENT"}}, pick("p1", "q1", "p2", "p3", "p4", "t1", "t2", "t3")},
			{"キャンセル", map[string]any{"kinds": []string{"CANCEL"}}, pick("c1", "q2")},
			{"修正", map[string]any{"kinds": []string{"MODIFY"}}, pick("m1")},
			{"削除", map[string]any{"kinds": []string{"DELETE"}}, pick("d1")},
			{"その他", map[string]any{"kinds": []string{"OTHER"}}, pick("o1")},
			{"キャンセル+削除", map[string]any{"kinds": []string{"CANCEL", "DELETE"}}, pick("c1", "q2", "d1")},

			// The search box.
			{"receipt no", map[string]any{"search": "0042"}, pick("p1", "q1", "c1")},
			{"receipt no substring", map[string]any{"search": "042"}, pick("p1", "q1", "c1", "p3", "d1")},
			{"register no", map[string]any{"search": "7"}, pick("q1", "q2")},
			{"staff name, ASCII case-insensitive", map[string]any{"search": "yamada"}, pick("p1", "q1", "c1")},
			{"staff name, upper case query", map[string]any{"search": "YAMADA TARO"}, pick("p1", "c1")},
			{"staff name, Japanese", map[string]any{"search": "山田"}, pick("p2", "m1")},
			{"search is trimmed", map[string]any{"search": "  suzuki  "}, pick("p3", "d1")},
			{"blank search is no search", map[string]any{"search": "   "}, tjOrder(all)},
			{"percent is literal", map[string]any{"search": "%"}, pick("q2")},
			{"underscore is literal", map[string]any{"search": "_"}, pick("q2", "p4")},
			{"backslash is literal", map[string]any{"search": `\`}, nil},
			{"no match", map[string]any{"search": "ZZZ"}, nil},

			// Search combined with the tabs and filters.
			{"search + tab", map[string]any{"search": "0042", "kinds": []string{"CANCEL"}}, pick("c1")},
			{"search + camera", map[string]any{"search": "0042", "cameraIDs": []string{string(fa.CameraIDs[0])}}, pick("p1", "c1")},
			{"search + shop", map[string]any{"search": "0042", "shopIDs": shopB}, pick("q1")},
			{"search + terminals", map[string]any{"search": "42", "terminalIDs": []string{string(fa.TerminalIDs[0]), string(fa.TerminalIDs[2])}},
				pick("p1", "c1", "p3", "d1")},
			{"search + from", map[string]any{"search": "0042", "from": at(90 * time.Second).Format(time.RFC3339)}, pick("q1", "c1")},
			{"search + tab + camera + range", map[string]any{"search": "kato", "kinds": []string{"PAYMENT"},
				"cameraIDs": []string{string(fa.CameraIDs[0])}, "from": at(10 * m).Format(time.RFC3339), "to": at(11 * m).Format(time.RFC3339)},
				pick("t1", "t2", "t3")},

			// Filters.
			{"camera A0", map[string]any{"cameraIDs": []string{string(fa.CameraIDs[0])}}, pick("p1", "p2", "c1", "m1", "o1", "p4", "t1", "t2", "t3")},
			{"camera A1", map[string]any{"cameraIDs": []string{string(fa.CameraIDs[1])}}, pick("p3", "d1")},
			{"cameras A0+B1, cancels", map[string]any{"cameraIDs": []string{string(fa.CameraIDs[0]), string(fb.CameraIDs[1])}, "kinds": []string{"CANCEL"}},
				pick("c1", "q2")},
			{"shop A, payments, camera A0", map[string]any{"shopIDs": shopA, "kinds": []string{"PAYMENT"}, "cameraIDs": []string{string(fa.CameraIDs[0])}},
				pick("p1", "p2", "p4", "t1", "t2", "t3")},
			{"shop A, cancels and deletes", map[string]any{"shopIDs": shopA, "kinds": []string{"CANCEL", "DELETE"}}, pick("c1", "d1")},
			{"shops A+B", map[string]any{"shopIDs": append(append([]string{}, shopA...), shopB...)}, tjOrder(all)},
			{"terminal B0", map[string]any{"terminalIDs": ids(fb.TerminalIDs[:1])}, pick("q1")},
			{"terminal listed twice", map[string]any{"terminalIDs": []string{string(fb.TerminalIDs[0]), string(fb.TerminalIDs[0])}}, pick("q1")},
			{"from inclusive, to exclusive", map[string]any{"from": at(2 * m).Format(time.RFC3339), "to": at(6 * m).Format(time.RFC3339)},
				pick("p2", "p3", "c1", "m1")},
			{"from/to in JST", map[string]any{"from": at(2 * m).In(time.FixedZone("JST", 9*3600)).Format(time.RFC3339),
				"to": at(6 * m).In(time.FixedZone("JST", 9*3600)).Format(time.RFC3339)}, pick("p2", "p3", "c1", "m1")},
			{"from = to is empty", map[string]any{"from": at(2 * m).Format(time.RFC3339), "to": at(2 * m).Format(time.RFC3339)}, nil},
			{"range + tab", map[string]any{"from": at(0).Format(time.RFC3339), "to": at(5 * m).Format(time.RFC3339), "kinds": []string{"PAYMENT"}},
				pick("p1", "q1", "p2", "p3")},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got := tjAll(t, srv, tc.where)
				tjSameIDs(t, "journal", got, tc.want)
				// A small first page is the head of the same list.
				p := tjJournal(t, srv, tc.where, 2, "")
				head := tc.want
				if len(head) > 2 {
					head = head[:2]
				}
				tjSameIDs(t, "first page", p.ids(), head)
				if p.PageInfo.HasNextPage != (len(tc.want) > 2) {
					t.Errorf("hasNextPage %v with %d matches", p.PageInfo.HasNextPage, len(tc.want))
				}
				// totalCount counts every page, not the one asked for.
				r := srv.Query(t, `query($w: JournalWhere) { journal(where: $w, first: 2) { totalCount { count more } } }`,
					map[string]any{"w": tc.where})
				var c struct {
					Journal struct {
						TotalCount struct {
							Count int  `json:"count"`
							More  bool `json:"more"`
						} `json:"totalCount"`
					} `json:"journal"`
				}
				if len(r.Errors) > 0 {
					t.Fatalf("totalCount: %+v", r.Errors)
				}
				if err := json.Unmarshal(r.Data, &c); err != nil {
					t.Fatal(err)
				}
				if c.Journal.TotalCount.Count != len(tc.want) || c.Journal.TotalCount.More {
					t.Errorf("totalCount %+v, want %d", c.Journal.TotalCount, len(tc.want))
				}
			})
		}

		t.Run("entries carry their tab label", func(t *testing.T) {
			p := tjJournal(t, srv, nil, 50, "")
			labels := map[string]string{"PAYMENT": "支払い", "CANCEL": "キャンセル", "MODIFY": "修正", "DELETE": "削除", "OTHER": "その他"}
			for _, e := range p.Edges {
				if e.Node.KindLabel != labels[e.Node.Kind] {
					t.Errorf("%s: kind %s label %s", e.Node.ID, e.Node.Kind, e.Node.KindLabel)
				}
			}
		})

		t.Run("ties on occurredAt are broken by id", func(t *testing.T) {
			got := tjAll(t, srv, map[string]any{"search": "kato"})
			want := []string{stored["t1"].id, stored["t2"].id, stored["t3"].id}
			sort.Sort(sort.Reverse(sort.StringSlice(want)))
			tjSameIDs(t, "ties", got, want)
			// Paging through the tie one by one loses nothing.
			var walked []string
			after := ""
			for range 5 {
				p := tjJournal(t, srv, map[string]any{"search": "kato"}, 1, after)
				walked = append(walked, p.ids()...)
				if !p.PageInfo.HasNextPage {
					break
				}
				after = *p.PageInfo.EndCursor
			}
			tjSameIDs(t, "ties one per page", walked, want)
		})
	})
}

// TestJournalPaginationWhileIngesting walks the journal seven entries at a
// time while new sales keep arriving on top (and a late one far below):
// every entry that existed when the walk began is seen exactly once.
func TestJournalPaginationWhileIngesting(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		base := tjBase()

		// 45 entries over 15 instants (three per instant, so pages split
		// ties), on all terminals, payments with every 5th a cancel.
		var items []map[string]any
		for i := range 45 {
			at := base.Add(time.Duration(i/3) * time.Minute)
			ext := "PG" + string(rune('A'+i/26)) + string(rune('a'+i%26))
			kind := "PAYMENT"
			items = append(items, tjReceipt(fx.TerminalIDs[i%3], ext, kind, at, nil))
			if i%5 == 4 {
				items = append(items, tjReceipt(fx.TerminalIDs[i%3], ext, "CANCEL", at.Add(30*time.Second), nil))
			}
		}
		pre := tjMustIngest(t, srv, items...)
		type key struct {
			at time.Time
			id string
		}
		preKeys := map[string]key{}
		for _, r := range pre {
			preKeys[r.Entry.ID] = key{r.Entry.OccurredAt, r.Entry.ID}
		}

		walks := []struct {
			name  string
			where map[string]any
			want  func(id string) bool
		}{
			{"すべて", nil, func(string) bool { return true }},
			{"支払い on camera 0", map[string]any{"kinds": []string{"PAYMENT"}, "cameraIDs": []string{string(fx.CameraIDs[0])}},
				func(id string) bool {
					for _, r := range pre {
						if r.Entry.ID == id {
							return r.Entry.Kind == "PAYMENT" && tjStr(r.Entry.CameraID) == string(fx.CameraIDs[0])
						}
					}
					return false
				}},
		}
		n := 0
		for _, w := range walks {
			t.Run(w.name, func(t *testing.T) {
				seen := map[string]int{}
				var order []key
				after := ""
				pages := 0
				for {
					p := tjJournal(t, srv, w.where, 7, after)
					pages++
					if len(p.Edges) > 7 {
						t.Fatalf("page of %d edges with first: 7", len(p.Edges))
					}
					for _, e := range p.Edges {
						seen[e.Node.ID]++
						if k, ok := preKeys[e.Node.ID]; ok {
							order = append(order, k)
						}
					}
					if len(p.Edges) > 0 && (p.PageInfo.EndCursor == nil || *p.PageInfo.EndCursor != p.Edges[len(p.Edges)-1].Cursor) {
						t.Errorf("endCursor %v is not the last edge's cursor", p.PageInfo.EndCursor)
					}
					// New sales arrive between page fetches: two newer than
					// everything, one at the same instant as the newest
					// pre-existing entries, and a late one from long ago.
					n++
					tjMustIngest(t, srv,
						tjReceipt(fx.TerminalIDs[0], "NEW-A-"+itoa(n), "PAYMENT", time.Now().Add(-time.Second), nil),
						tjReceipt(fx.TerminalIDs[2], "NEW-B-"+itoa(n), "PAYMENT", base.Add(time.Hour+time.Duration(n)*time.Second), nil),
						tjReceipt(fx.TerminalIDs[1], "NEW-C-"+itoa(n), "PAYMENT", base.Add(14*time.Minute), nil),
						tjReceipt(fx.TerminalIDs[0], "NEW-D-"+itoa(n), "PAYMENT", base.Add(-time.Duration(n)*time.Hour), nil),
					)
					if !p.PageInfo.HasNextPage {
						break
					}
					if pages > 50 {
						t.Fatal("the walk does not end")
					}
					after = *p.PageInfo.EndCursor
				}
				wantN := 0
				for id := range preKeys {
					if !w.want(id) {
						continue
					}
					wantN++
					if seen[id] != 1 {
						t.Errorf("pre-existing entry %s seen %d times", id, seen[id])
					}
				}
				for id, c := range seen {
					if c != 1 {
						t.Errorf("entry %s seen %d times", id, c)
					}
				}
				for i := 1; i < len(order); i++ {
					a, b := order[i-1], order[i]
					if a.at.Before(b.at) || a.at.Equal(b.at) && a.id <= b.id {
						t.Errorf("order broken at %d: (%v %s) before (%v %s)", i, a.at, a.id, b.at, b.id)
					}
				}
				if len(order) != wantN {
					t.Errorf("walk yielded %d pre-existing entries, want %d", len(order), wantN)
				}
				if pages < wantN/7 {
					t.Errorf("only %d pages for %d entries", pages, wantN)
				}
			})
		}
	})
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

type tjBucket struct {
	Start   time.Time `json:"start"`
	Payment int       `json:"payment"`
	Cancel  int       `json:"cancel"`
	Modify  int       `json:"modify"`
	Delete  int       `json:"delete"`
	Other   int       `json:"other"`
	Total   int       `json:"total"`
}

const tjBucketsQuery = `query($cam: ID!, $from: Time!, $to: Time!, $bucket: BucketSize) {
  timelineBuckets(cameraID: $cam, from: $from, to: $to, bucket: $bucket) { start payment cancel modify delete other total }
}`

func tjBucketsRaw(t *testing.T, srv gqlClient, cam pulid.ID, from, to time.Time, bucket string) ([]tjBucket, []testenv.GQLError) {
	t.Helper()
	vars := map[string]any{"cam": string(cam), "from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano)}
	if bucket != "" {
		vars["bucket"] = bucket
	}
	r := srv.Query(t, tjBucketsQuery, vars)
	var out struct {
		TimelineBuckets []tjBucket `json:"timelineBuckets"`
	}
	if len(r.Errors) == 0 {
		if err := json.Unmarshal(r.Data, &out); err != nil {
			t.Fatal(err)
		}
	}
	return out.TimelineBuckets, r.Errors
}

// TestTimelineBuckets checks the counts behind the 72H…10M bar: per kind,
// per aligned bucket, only the asked camera.
func TestTimelineBuckets(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := startSchema(t, b, schemaOptions{})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		h := tjBase() // a whole hour
		cam0, cam1 := fx.TerminalIDs[0], fx.TerminalIDs[2]
		us := time.Microsecond
		tjMustIngest(t, srv,
			tjReceipt(cam0, "A", "PAYMENT", h.Add(5*time.Second), nil),
			tjReceipt(cam0, "B", "PAYMENT", h.Add(time.Minute-us), nil),
			tjReceipt(fx.TerminalIDs[1], "C", "PAYMENT", h.Add(time.Minute), nil),
			tjReceipt(cam0, "A", "CANCEL", h.Add(90*time.Second), nil),
			tjReceipt(cam0, "B", "PAYMENT", h.Add(time.Minute-us), map[string]any{
				"total": 1, "updatedAt": h.Add(130 * time.Second).Format(time.RFC3339)}), // → MODIFY at 2:10
			tjReceipt(fx.TerminalIDs[1], "C", "DELETE", h.Add(3*time.Minute), nil),
			tjReceipt(cam0, "O", "OTHER", h.Add(4*time.Minute-time.Second), nil),
			// Outside [h, h+5m).
			tjReceipt(cam0, "EARLY", "PAYMENT", h.Add(-us), nil),
			tjReceipt(cam0, "LATE", "PAYMENT", h.Add(5*time.Minute), nil),
			// Camera 1: must never be counted for camera 0.
			tjReceipt(cam1, "X1", "PAYMENT", h.Add(10*time.Second), nil),
			tjReceipt(cam1, "X2", "CANCEL", h.Add(2*time.Minute), map[string]any{"relatedExternalID": "X1"}),
		)
		B := func(start time.Time, p, c, m, d, o int) tjBucket {
			return tjBucket{Start: start, Payment: p, Cancel: c, Modify: m, Delete: d, Other: o, Total: p + c + m + d + o}
		}
		min := func(i int) time.Time { return h.Add(time.Duration(i) * time.Minute) }
		sec := func(i int) time.Time { return h.Add(time.Duration(i) * time.Second) }

		cases := []struct {
			name     string
			camera   pulid.ID
			from, to time.Time
			bucket   string
			want     []tjBucket
		}{
			{"1 minute buckets", fx.CameraIDs[0], h, min(5), "MINUTE_1", []tjBucket{
				B(min(0), 2, 0, 0, 0, 0), B(min(1), 1, 1, 0, 0, 0), B(min(2), 0, 0, 1, 0, 0), B(min(3), 0, 0, 0, 1, 1), B(min(4), 0, 0, 0, 0, 0)}},
			{"other camera not counted", fx.CameraIDs[1], h, min(5), "MINUTE_1", []tjBucket{
				B(min(0), 1, 0, 0, 0, 0), B(min(1), 0, 0, 0, 0, 0), B(min(2), 0, 1, 0, 0, 0), B(min(3), 0, 0, 0, 0, 0), B(min(4), 0, 0, 0, 0, 0)}},
			{"10 second buckets", fx.CameraIDs[0], min(1), min(2), "SECONDS_10", []tjBucket{
				B(sec(60), 1, 0, 0, 0, 0), B(sec(70), 0, 0, 0, 0, 0), B(sec(80), 0, 0, 0, 0, 0),
				B(sec(90), 0, 1, 0, 0, 0), B(sec(100), 0, 0, 0, 0, 0), B(sec(110), 0, 0, 0, 0, 0)}},
			{"5 minute bucket", fx.CameraIDs[0], h, min(5), "MINUTES_5", []tjBucket{B(min(0), 3, 1, 1, 1, 1)}},
			{"15 minute bucket holds the late one", fx.CameraIDs[0], h, min(15), "MINUTES_15", []tjBucket{B(min(0), 4, 1, 1, 1, 1)}},
			{"hour buckets around h", fx.CameraIDs[0], h.Add(-time.Hour), h.Add(time.Hour), "HOUR_1", []tjBucket{
				B(h.Add(-time.Hour), 1, 0, 0, 0, 0), B(h, 4, 1, 1, 1, 1)}},
			// Buckets are aligned to the width, whatever from and to are; a
			// bucket counts its whole [start, start+width).
			{"unaligned range snaps to the grid", fx.CameraIDs[0], h.Add(30 * time.Second), h.Add(210 * time.Second), "MINUTE_1", []tjBucket{
				B(min(0), 2, 0, 0, 0, 0), B(min(1), 1, 1, 0, 0, 0), B(min(2), 0, 0, 1, 0, 0), B(min(3), 0, 0, 0, 1, 1)}},
			{"range in JST", fx.CameraIDs[0], h.In(time.FixedZone("JST", 9*3600)), min(2).In(time.FixedZone("JST", 9*3600)), "MINUTE_1", []tjBucket{
				B(min(0), 2, 0, 0, 0, 0), B(min(1), 1, 1, 0, 0, 0)}},
			{"quiet camera window", fx.CameraIDs[0], h.Add(-3 * time.Hour), h.Add(-2 * time.Hour), "HOUR_1", []tjBucket{
				B(h.Add(-3*time.Hour), 0, 0, 0, 0, 0)}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, errs := tjBucketsRaw(t, srv, tc.camera, tc.from, tc.to, tc.bucket)
				if len(errs) > 0 {
					t.Fatalf("errors: %+v", errs)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%d buckets, want %d: %+v", len(got), len(tc.want), got)
				}
				for i := range got {
					if !got[i].Start.Equal(tc.want[i].Start) || got[i].Payment != tc.want[i].Payment || got[i].Cancel != tc.want[i].Cancel ||
						got[i].Modify != tc.want[i].Modify || got[i].Delete != tc.want[i].Delete || got[i].Other != tc.want[i].Other ||
						got[i].Total != tc.want[i].Total {
						t.Errorf("bucket %d:\n got  %+v\n want %+v", i, got[i], tc.want[i])
					}
				}
			})
		}

		// Without a bucket the bar gets the narrowest width giving at most
		// 360 bars per span: 10M/1H → 10 s, 6H → 1 min, 24H → 5 min,
		// 72H → 15 min.
		auto := []struct {
			name  string
			span  time.Duration
			width time.Duration
		}{
			{"10M", 10 * time.Minute, 10 * time.Second},
			{"1H", time.Hour, 10 * time.Second},
			{"6H", 6 * time.Hour, time.Minute},
			{"24H", 24 * time.Hour, 5 * time.Minute},
			{"72H", 72 * time.Hour, 15 * time.Minute},
		}
		for _, a := range auto {
			// The dashboard asks for [now-span, now): rarely aligned.
			for _, offset := range []time.Duration{0, 7*time.Second + 123*time.Millisecond} {
				to := h.Add(5*time.Minute + offset)
				from := to.Add(-a.span)
				t.Run("auto "+a.name+" offset "+offset.String(), func(t *testing.T) {
					got, errs := tjBucketsRaw(t, srv, fx.CameraIDs[0], from, to, "")
					if len(errs) > 0 {
						t.Fatalf("errors: %+v", errs)
					}
					// At most 360 whole widths; an unaligned window adds the
					// one partial bar at its start.
					if maxBars := int(a.span/a.width) + 1; len(got) == 0 || len(got) > maxBars {
						t.Errorf("%d bars, want 1..%d", len(got), maxBars)
					}
					if len(got) == 0 {
						return
					}
					total := 0
					for i, bk := range got {
						if bk.Start.UnixNano()%int64(a.width) != 0 {
							t.Errorf("bucket %d starts at %v, not aligned to %v", i, bk.Start, a.width)
							break
						}
						if i > 0 && bk.Start.Sub(got[i-1].Start) != a.width {
							t.Errorf("bucket %d is %v after the previous, want %v", i, bk.Start.Sub(got[i-1].Start), a.width)
							break
						}
						total += bk.Total
					}
					if got[0].Start.After(from) || !got[len(got)-1].Start.Add(a.width).After(to.Add(-time.Nanosecond)) {
						t.Errorf("bars [%v, %v) do not cover [%v, %v)", got[0].Start, got[len(got)-1].Start.Add(a.width), from, to)
					}
					// Everything for camera 0 in [h-1µs, h+5m] is inside
					// every window that reaches back ≥10 minutes.
					if a.span >= time.Hour && total != 9 && offset > 0 {
						t.Errorf("total %d, want 9 (all of camera 0)", total)
					}
				})
			}
		}
	})
}
