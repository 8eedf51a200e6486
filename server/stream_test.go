package server_test

// Live stream tests (issue 2, section 6; docs/ARCHITECTURE.md §3, the
// event record and the cursors): everything goes through the real websocket
// path of a started server, and every received sequence is checked against what was
// ingested and against the events table.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lib/pq"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
)

const journalSub = `subscription($where: JournalWhere, $after: String) {
  journal(where: $where, after: $after) {
    cursor
    type
    entry { id kind cameraID externalID relatedID canceledAt modifiedAt }
  }
}`

// journalSubEdges also selects the entry's edges, resolved per subscriber
// on the entry object the feed shares between them.
const journalSubEdges = `subscription($where: JournalWhere, $after: String) {
  journal(where: $where, after: $after) {
    cursor
    type
    entry {
      id kind kindLabel cameraID externalID relatedID canceledAt modifiedAt
      camera { id name } terminal { id } shop { id name }
      related { id kind canceledAt } changes { id kind }
    }
  }
}`

type ref struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Kind       string  `json:"kind"`
	CanceledAt *string `json:"canceledAt"`
}

// evMsg is one JournalEvent as a client decodes it.
type evMsg struct {
	Cursor string `json:"cursor"`
	Type   string `json:"type"`
	Entry  struct {
		ID         string  `json:"id"`
		Kind       string  `json:"kind"`
		CameraID   *string `json:"cameraID"`
		ExternalID string  `json:"externalID"`
		RelatedID  *string `json:"relatedID"`
		CanceledAt *string `json:"canceledAt"`
		ModifiedAt *string `json:"modifiedAt"`
		KindLabel  string  `json:"kindLabel"`
		Camera     *ref    `json:"camera"`
		Terminal   *ref    `json:"terminal"`
		Shop       *ref    `json:"shop"`
		Related    *ref    `json:"related"`
		Changes    []ref   `json:"changes"`
	} `json:"entry"`
}

func (e evMsg) key() evKey { return evKey{Entry: e.Entry.ID, Type: e.Type} }

// evKey is what an event means to a client: which entry, what happened.
type evKey struct {
	Entry string
	Type  string
}

func (k evKey) String() string { return k.Type + ":" + k.Entry }

type recv struct {
	ev   *evMsg
	errs []testenv.GQLError
	err  error
}

// stream is one subscription whose messages a background reader puts on a
// channel, so many subscriptions can be watched at once.
type stream struct {
	name  string
	ch    chan recv
	close func()
}

func openStream(t testing.TB, srv *testenv.Server, name string, where map[string]any, after string) *stream {
	t.Helper()
	return openStreamQuery(t, srv, name, journalSub, where, after)
}

func openStreamQuery(t testing.TB, srv *testenv.Server, name, query string, where map[string]any, after string) *stream {
	t.Helper()
	s, err := dialStreamQuery(srv, name, query, where, after)
	if err != nil {
		t.Fatalf("%s: subscribe: %v", name, err)
	}
	t.Cleanup(s.close)
	return s
}

func subVars(where map[string]any, after string) map[string]any {
	vars := map[string]any{}
	if where != nil {
		vars["where"] = where
	}
	if after != "" {
		vars["after"] = after
	}
	return vars
}

func dialStream(srv *testenv.Server, name string, where map[string]any, after string) (*stream, error) {
	return dialStreamQuery(srv, name, journalSub, where, after)
}

func dialStreamQuery(srv *testenv.Server, name, query string, where map[string]any, after string) (*stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := srv.Subscribe(ctx, query, subVars(where, after))
	if err != nil {
		return nil, err
	}
	stop, done := make(chan struct{}), make(chan struct{})
	s := &stream{name: name, ch: make(chan recv, 4096)}
	go func() {
		defer close(done)
		for {
			data, errs, err := sub.Next(time.Hour)
			r := recv{errs: errs, err: err}
			if err == nil && len(data) > 0 && string(data) != "null" {
				var d struct{ Journal *evMsg }
				if e := json.Unmarshal(data, &d); e != nil {
					r.err = e
				}
				r.ev = d.Journal
			}
			select {
			case s.ch <- r:
			case <-stop:
				return
			}
			if r.err != nil {
				return
			}
		}
	}()
	var once sync.Once
	s.close = func() {
		once.Do(func() {
			close(stop)
			sub.Close() // abrupt: no complete, no close frame
			<-done
		})
	}
	return s, nil
}

// next returns the next event, failing on errors or silence.
func (s *stream) next(t testing.TB, timeout time.Duration) evMsg {
	t.Helper()
	ev, ok := s.poll(t, timeout)
	if !ok {
		t.Fatalf("%s: no event within %v", s.name, timeout)
	}
	return ev
}

// poll is next that reports silence instead of failing.
func (s *stream) poll(t testing.TB, timeout time.Duration) (evMsg, bool) {
	t.Helper()
	select {
	case r := <-s.ch:
		if r.err != nil || len(r.errs) > 0 || r.ev == nil {
			t.Fatalf("%s: want an event, got err=%v errors=%+v", s.name, r.err, r.errs)
		}
		return *r.ev, true
	case <-time.After(timeout):
		return evMsg{}, false
	}
}

// take reads n events.
func (s *stream) take(t testing.TB, n int) []evMsg {
	t.Helper()
	out := make([]evMsg, 0, n)
	for range n {
		out = append(out, s.next(t, 20*time.Second))
	}
	return out
}

// quiet asserts nothing more arrives for d.
func (s *stream) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case r := <-s.ch:
		if r.ev != nil {
			t.Fatalf("%s: unexpected extra event %s (cursor %s)", s.name, r.ev.key(), r.ev.Cursor)
		}
		t.Fatalf("%s: unexpected message: err=%v errors=%+v", s.name, r.err, r.errs)
	case <-time.After(d):
	}
}

// firstError waits for the error a rejected subscription gets.
func (s *stream) firstError(t testing.TB) testenv.GQLError {
	t.Helper()
	select {
	case r := <-s.ch:
		if len(r.errs) == 0 {
			t.Fatalf("%s: want a GraphQL error, got event=%v err=%v", s.name, r.ev, r.err)
		}
		return r.errs[0]
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no error within 20s", s.name)
	}
	panic("unreachable")
}

// awaitLive makes sure every stream (opened without `after`) is attached to
// the feed: a live-only subscription starts at the feed head when the server
// runs its resolver, which a client cannot observe, so probe events (which
// must match every stream's filter) are ingested until each stream has seen
// one, and then every stream is drained up to the last probe. It returns the
// cursor of the last probe.
func awaitLive(t testing.TB, probe func() string, streams ...*stream) string {
	t.Helper()
	pending := make(map[*stream]bool, len(streams))
	for _, s := range streams {
		pending[s] = true
	}
	// The probe each stream saw first; it is the last probe only if no
	// further probe was needed.
	first := map[*stream]evMsg{}
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d subscriptions never received a probe event", len(pending), len(streams))
		}
		last = probe()
		wait := time.After(300 * time.Millisecond)
	poll:
		for len(pending) > 0 {
			for s := range pending {
				select {
				case r := <-s.ch:
					if r.ev == nil {
						t.Fatalf("%s: while waiting for probes: err=%v errors=%+v", s.name, r.err, r.errs)
					}
					delete(pending, s)
					first[s] = *r.ev
				default:
				}
			}
			select {
			case <-wait:
				break poll
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	var cursor string
	for _, s := range streams {
		ev := first[s]
		for ev.Entry.ID != last {
			ev = s.next(t, 20*time.Second)
			if !strings.HasPrefix(ev.Entry.ExternalID, "probe-") {
				t.Fatalf("%s: non-probe event %s while draining probes", s.name, ev.key())
			}
		}
		c := ev.Cursor
		if cursor != "" && c != cursor {
			t.Fatalf("%s: cursor of the same probe differs: %s vs %s", s.name, c, cursor)
		}
		cursor = c
	}
	return cursor
}

var seq atomic.Int64

func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), seq.Add(1))
}

func sale(term pulid.ID, ext string) ingest.Receipt {
	return ingest.Receipt{
		TerminalID: term, ExternalID: ext, Kind: journalentry.KindPAYMENT,
		OccurredAt: time.Now().Add(-time.Hour), ReceiptNo: ext, RegisterNo: "1",
		StaffName: "山田", Total: 1080, Deposit: 2000, Change: 920, PaymentMethod: "現金",
		Items: []schematype.Item{{Name: "おにぎり", Quantity: 2, Amount: 1080}},
	}
}

func cancelOf(term pulid.ID, ext string) ingest.Receipt {
	r := sale(term, ext)
	r.Kind = journalentry.KindCANCEL
	r.Total = -1080
	return r
}

// ingestOne stores r and returns the events a client must see for it.
func ingestOne(ctx context.Context, srv *testenv.Server, r ingest.Receipt) ([]evKey, *ent.JournalEntry, error) {
	res := srv.Ingester.Ingest(ctx, srv.AccountID, r)
	if res.Err != nil {
		return nil, nil, fmt.Errorf("ingest %s %s: %w", r.Kind, r.ExternalID, res.Err)
	}
	if res.Status != ingest.Created {
		return nil, nil, fmt.Errorf("ingest %s %s: status %s", r.Kind, r.ExternalID, res.Status)
	}
	keys := []evKey{{Entry: string(res.Entry.ID), Type: "ADDED"}}
	if res.Entry.RelatedID != nil {
		keys = append(keys, evKey{Entry: string(*res.Entry.RelatedID), Type: "UPDATED"})
	}
	return keys, res.Entry, nil
}

func mustIngest(t testing.TB, srv *testenv.Server, r ingest.Receipt) ([]evKey, *ent.JournalEntry) {
	t.Helper()
	keys, e, err := ingestOne(context.Background(), srv, r)
	if err != nil {
		t.Fatal(err)
	}
	return keys, e
}

// batch ingests a mix: sales, every third one canceled right after, so the
// stream carries both ADDED and UPDATED events. It returns the expected
// events in commit order.
func batch(t testing.TB, srv *testenv.Server, fx testenv.Fixture, tag string, n int) []evKey {
	t.Helper()
	var want []evKey
	termOf := func(i int) pulid.ID { return fx.TerminalIDs[(i+i/3)%len(fx.TerminalIDs)] } // every terminal gets sales
	for i := range n {
		term := termOf(i)
		ext := fmt.Sprintf("%s-%d", tag, i)
		if i%3 == 2 {
			k, _ := mustIngest(t, srv, cancelOf(termOf(i-1), fmt.Sprintf("%s-%d", tag, i-1)))
			want = append(want, k...)
			continue
		}
		k, _ := mustIngest(t, srv, sale(term, ext))
		want = append(want, k...)
	}
	return want
}

func probeOn(t testing.TB, srv *testenv.Server, term pulid.ID, kind journalentry.Kind) func() string {
	return func() string {
		r := sale(term, uniq("probe"))
		r.Kind = kind
		_, e := mustIngest(t, srv, r)
		return string(e.ID)
	}
}

func cursorID(t testing.TB, c string) int64 {
	t.Helper()
	id, err := feed.DecodeCursor(c, "after")
	if err != nil {
		t.Fatalf("cursor %q does not decode: %v", c, err)
	}
	return id
}

func keysOf(evs []evMsg) []evKey {
	out := make([]evKey, len(evs))
	for i, e := range evs {
		out[i] = e.key()
	}
	return out
}

// sameKeys compares event sequences, reporting the first difference.
func sameKeys(t testing.TB, what string, got, want []evKey) {
	t.Helper()
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d is %s, want %s (got %d events, want %d)", what, i, got[i], want[i], len(got), len(want))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events, want %d", what, len(got), len(want))
	}
}

// increasing checks cursors are present and strictly increasing, starting
// after `after` (a cursor, or "" for no bound).
func increasing(t testing.TB, what, after string, evs []evMsg) {
	t.Helper()
	var prev int64 = -1
	if after != "" {
		prev = cursorID(t, after)
	}
	for i, e := range evs {
		if e.Cursor == "" {
			t.Fatalf("%s: event %d has no cursor", what, i)
		}
		id := cursorID(t, e.Cursor)
		if id <= prev {
			t.Fatalf("%s: cursor of event %d (%d) is not after %d: duplicate or reordered", what, i, id, prev)
		}
		prev = id
	}
}

// table reads the events table after `after` as the stream must present it.
func table(t testing.TB, client *ent.Client, after string) ([]evKey, []string) {
	t.Helper()
	q := client.Event.Query().Order(ent.Asc(event.FieldID))
	if after != "" {
		q = q.Where(event.IDGT(cursorID(t, after)))
	}
	rows, err := q.All(context.Background())
	if err != nil {
		t.Fatalf("read events table: %v", err)
	}
	keys := make([]evKey, len(rows))
	cursors := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = evKey{Entry: string(r.EntryID), Type: r.Type.String()}
		cursors[i] = feed.EncodeCursor(r.ID)
	}
	return keys, cursors
}

// missing fails with the events the table has that the client never got.
func missing(t testing.TB, what string, client *ent.Client, after string, got []evMsg) {
	t.Helper()
	_, cursors := table(t, client, after)
	have := make(map[string]bool, len(got))
	for _, e := range got {
		have[e.Cursor] = true
	}
	var lost []int64
	for _, c := range cursors {
		if !have[c] {
			lost = append(lost, cursorID(t, c))
		}
	}
	if len(lost) > 20 {
		lost = lost[:20]
	}
	t.Fatalf("%s: stream stalled after %d of %d events; never delivered event ids (first 20) %v",
		what, len(got), len(cursors), lost)
}

// matchesTable checks the received events are exactly the table's events
// after `after`, cursor by cursor.
func matchesTable(t testing.TB, what string, client *ent.Client, after string, got []evMsg) {
	t.Helper()
	keys, cursors := table(t, client, after)
	sameKeys(t, what+" vs events table", keysOf(got), keys)
	for i := range got {
		if got[i].Cursor != cursors[i] {
			t.Fatalf("%s: event %d cursor %s, table says %s", what, i, got[i].Cursor, cursors[i])
		}
	}
}

func concat(parts ...[]evKey) []evKey {
	var out []evKey
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestStreamLiveFiltered: a filtered subscription receives exactly the
// matching events; an unfiltered one sees the cancel as ADDED (new entry)
// then UPDATED (the sale, now canceled), every message with a cursor.
func TestStreamLiveFiltered(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		cam0 := string(fx.CameraIDs[0])
		t0, t2 := fx.TerminalIDs[0], fx.TerminalIDs[2] // camera 0, camera 1

		all := openStreamQuery(t, srv, "all", journalSubEdges, nil, "")
		cancels := openStreamQuery(t, srv, "cam0-cancels", journalSubEdges, map[string]any{
			"cameraIDs": []string{cam0}, "kinds": []string{"CANCEL"}}, "")
		// Probes are cam0 CANCELs without an original: they match both.
		start := awaitLive(t, probeOn(t, srv, t0, journalentry.KindCANCEL), all, cancels)

		// Ingest through the partner mutation, one call per receipt so the
		// commit order is the call order.
		ingestGQL := func(r map[string]any) string {
			t.Helper()
			r["occurredAt"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
			r["total"] = 1080
			var out struct {
				IngestJournal []struct {
					Status string
					Entry  *struct{ ID string }
					Error  *struct{ Code, Field, Message string }
				}
			}
			srv.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) {
				status entry { id } error { code field message } } }`,
				map[string]any{"in": []any{r}}, &out)
			res := out.IngestJournal[0]
			if res.Status != "CREATED" || res.Entry == nil {
				t.Fatalf("ingest %v: %+v %+v", r, res.Status, res.Error)
			}
			return res.Entry.ID
		}
		s0 := ingestGQL(map[string]any{"terminalID": t0, "externalID": "S0", "kind": "PAYMENT"})
		s2 := ingestGQL(map[string]any{"terminalID": t2, "externalID": "S2", "kind": "PAYMENT"})
		c2 := ingestGQL(map[string]any{"terminalID": t2, "externalID": "S2", "kind": "CANCEL"}) // camera 1: filtered out
		c0 := ingestGQL(map[string]any{"terminalID": t0, "externalID": "S0", "kind": "CANCEL"}) // matches
		m0 := ingestGQL(map[string]any{"terminalID": t0, "externalID": "M0", "kind": "MODIFY",
			"relatedExternalID": "S0", "staffName": "佐藤"}) // cam0 but MODIFY: filtered out
		end := ingestGQL(map[string]any{"terminalID": t0, "externalID": "END", "kind": "CANCEL"}) // matches

		want := []evKey{
			{s0, "ADDED"}, {s2, "ADDED"},
			{c2, "ADDED"}, {s2, "UPDATED"},
			{c0, "ADDED"}, {s0, "UPDATED"},
			{m0, "ADDED"}, {s0, "UPDATED"},
			{end, "ADDED"},
		}
		got := all.take(t, len(want))
		sameKeys(t, "unfiltered", keysOf(got), want)
		increasing(t, "unfiltered", start, got)
		matchesTable(t, "unfiltered", srv.DB.Client, start, got)
		if got[3].Entry.CanceledAt == nil || got[3].Entry.Kind != "PAYMENT" {
			t.Errorf("UPDATED after cancel: want the PAYMENT with canceledAt, got %+v", got[3].Entry)
		}
		if e := got[4].Entry; e.Kind != "CANCEL" || e.KindLabel != "キャンセル" || e.RelatedID == nil || *e.RelatedID != s0 ||
			e.Related == nil || e.Related.ID != s0 || e.Related.Kind != "PAYMENT" || e.Related.CanceledAt == nil ||
			e.Camera == nil || e.Camera.ID != cam0 || e.Terminal == nil || e.Terminal.ID != string(t0) ||
			e.Shop == nil || e.Shop.ID != string(fx.ShopID) {
			t.Errorf("ADDED cancel: want CANCEL/キャンセル on camera 0, terminal 0, related to the canceled %s, got %+v", s0, e)
		}
		if e := got[5].Entry; e.Kind != "PAYMENT" || e.KindLabel != "支払い" || !hasRef(e.Changes, c0) {
			t.Errorf("UPDATED sale: want PAYMENT/支払い whose changes include %s, got %+v", c0, e)
		}
		if e := got[7].Entry; e.ModifiedAt == nil || !hasRef(e.Changes, m0) {
			t.Errorf("UPDATED sale after modify: want modifiedAt and changes including %s, got %+v", m0, e)
		}
		all.quiet(t, 300*time.Millisecond)

		fgot := cancels.take(t, 2)
		sameKeys(t, "filtered", keysOf(fgot), []evKey{{c0, "ADDED"}, {end, "ADDED"}})
		for _, e := range fgot {
			if e.Entry.CameraID == nil || *e.Entry.CameraID != cam0 || e.Entry.Kind != "CANCEL" {
				t.Errorf("filtered stream got entry outside its filter: %+v", e.Entry)
			}
		}
		// Same event, same cursor, whichever subscription carries it.
		if fgot[0].Cursor != got[4].Cursor || fgot[1].Cursor != got[8].Cursor {
			t.Errorf("filtered cursors %s,%s differ from unfiltered %s,%s",
				fgot[0].Cursor, fgot[1].Cursor, got[4].Cursor, got[8].Cursor)
		}
		cancels.quiet(t, 300*time.Millisecond)
	})
}

func hasRef(refs []ref, id string) bool {
	for _, r := range refs {
		if r.ID == id {
			return true
		}
	}
	return false
}

// TestStreamResumeAfterDisconnect: a client dropped mid-stream resumes with
// the cursor of the last event it processed and gets every missed event
// exactly once, in order, then live ones.
func TestStreamResumeAfterDisconnect(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)

		first := openStream(t, srv, "first", nil, "")
		start := awaitLive(t, probeOn(t, srv, fx.TerminalIDs[2], journalentry.KindPAYMENT), first)

		phase1 := batch(t, srv, fx, "p1", 9) // 6 sales, 3 cancels: 12 events
		got1 := first.take(t, 5)             // the client processes only 5 ...
		sameKeys(t, "before drop", keysOf(got1), phase1[:5])
		last := got1[len(got1)-1].Cursor
		first.close() // ... and the network fails with the rest in flight

		phase2 := batch(t, srv, fx, "p2", 30) // while disconnected

		resumed := openStream(t, srv, "resumed", nil, last)
		missed := concat(phase1[5:], phase2)
		got2 := resumed.take(t, len(missed))
		sameKeys(t, "replay", keysOf(got2), missed)
		increasing(t, "replay", last, got2)

		phase3 := batch(t, srv, fx, "p3", 6) // live again
		got3 := resumed.take(t, len(phase3))
		sameKeys(t, "live after replay", keysOf(got3), phase3)
		increasing(t, "live after replay", got2[len(got2)-1].Cursor, got3)
		resumed.quiet(t, 300*time.Millisecond)

		// The whole story, as seen by the client, is the events table.
		var seen []evMsg
		seen = append(append(append(seen, got1...), got2...), got3...)
		matchesTable(t, "client view", srv.DB.Client, start, seen)

		// A filtered client resuming from the start gets exactly its
		// camera's events, in order.
		cam1 := openStream(t, srv, "cam1 from start", map[string]any{"cameraIDs": []string{string(fx.CameraIDs[1])}}, start)
		var want1 []evKey
		rows, err := srv.DB.Client.Event.Query().Where(event.IDGT(cursorID(t, start)), event.CameraID(fx.CameraIDs[1])).
			Order(ent.Asc(event.FieldID)).All(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			want1 = append(want1, evKey{string(r.EntryID), r.Type.String()})
		}
		if len(want1) == 0 {
			t.Fatal("no camera 1 events to replay")
		}
		got1cam := cam1.take(t, len(want1))
		sameKeys(t, "filtered replay", keysOf(got1cam), want1)
		increasing(t, "filtered replay", start, got1cam)
		cam1.quiet(t, 200*time.Millisecond)

		// Resuming from the very last cursor repeats nothing.
		tail := got3[len(got3)-1].Cursor
		resumed.close()
		again := openStream(t, srv, "again", nil, tail)
		again.quiet(t, 300*time.Millisecond)
		k, _ := mustIngest(t, srv, sale(fx.TerminalIDs[0], uniq("after-tail")))
		sameKeys(t, "after tail", keysOf(again.take(t, 1)), k)
		again.quiet(t, 200*time.Millisecond)
	})
}

// TestStreamResumeAcrossServers: two server processes on one PostgreSQL
// database; a client moves between them with `after` and loses nothing.
func TestStreamResumeAcrossServers(t *testing.T) {
	b := testenv.Postgres(t)
	a := testenv.Start(t, b, "")
	fx := testenv.NewFixture(t, a.DB.Client, a.AccountID)
	bb := testenv.Start(t, b, "")
	if bb.AccountID != a.AccountID {
		t.Fatalf("servers act as different accounts: %s vs %s", a.AccountID, bb.AccountID)
	}

	// Subscriber on A, writes on B (through B's GraphQL API).
	onA := openStream(t, a, "on A", nil, "")
	start := awaitLive(t, probeOn(t, bb, fx.TerminalIDs[1], journalentry.KindPAYMENT), onA)
	var viaB []evKey
	var items []any
	for i := range 6 {
		items = append(items, map[string]any{"terminalID": fx.TerminalIDs[i%3], "externalID": fmt.Sprintf("b-%d", i),
			"kind": "PAYMENT", "occurredAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano), "total": 500})
	}
	items = append(items, map[string]any{"terminalID": fx.TerminalIDs[1], "externalID": "b-1",
		"kind": "CANCEL", "occurredAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano), "total": -500})
	var out struct {
		IngestJournal []struct {
			Status string
			Entry  *struct{ ID, RelatedID string }
		}
	}
	bb.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status entry { id relatedID } } }`,
		map[string]any{"in": items}, &out)
	for i, r := range out.IngestJournal {
		if r.Status != "CREATED" || r.Entry == nil {
			t.Fatalf("item %d: %s", i, r.Status)
		}
		viaB = append(viaB, evKey{r.Entry.ID, "ADDED"})
		if r.Entry.RelatedID != "" {
			viaB = append(viaB, evKey{r.Entry.RelatedID, "UPDATED"})
		}
	}
	got1 := onA.take(t, 4)
	sameKeys(t, "A before drop", keysOf(got1), viaB[:4])
	onA.close()

	// Disconnected: writes on A. Reconnect to B.
	whileAway := batch(t, a, fx, "awayA", 12)
	onB := openStream(t, bb, "on B", nil, got1[3].Cursor)
	want := concat(viaB[4:], whileAway)
	got2 := onB.take(t, len(want))
	sameKeys(t, "B replay", keysOf(got2), want)
	liveA := batch(t, a, fx, "liveA", 6) // written on A, streamed by B
	got3 := onB.take(t, len(liveA))
	sameKeys(t, "B live", keysOf(got3), liveA)

	// And back: drop B mid-stream, write on B, resume on A.
	liveB := batch(t, bb, fx, "liveB", 6)
	got4 := onB.take(t, 3)
	sameKeys(t, "B before drop", keysOf(got4), liveB[:3])
	onB.close()
	awayB := batch(t, bb, fx, "awayB", 9)
	onA2 := openStream(t, a, "on A again", nil, got4[2].Cursor)
	want = concat(liveB[3:], awayB)
	got5 := onA2.take(t, len(want))
	sameKeys(t, "A replay", keysOf(got5), want)
	liveB2 := batch(t, bb, fx, "liveB2", 3)
	got6 := onA2.take(t, len(liveB2))
	sameKeys(t, "A live", keysOf(got6), liveB2)
	onA2.quiet(t, 300*time.Millisecond)

	var seen []evMsg
	for _, part := range [][]evMsg{got1, got2, got3, got4, got5, got6} {
		seen = append(seen, part...)
	}
	increasing(t, "client across servers", start, seen)
	matchesTable(t, "client across servers", a.DB.Client, start, seen)

	// A third process started after all this has none of it in memory: a
	// resume from the beginning is served from the table, in order.
	c := testenv.Start(t, b, "")
	full := openStream(t, c, "on C from start", nil, start)
	gotAll := full.take(t, len(seen))
	matchesTable(t, "C catch-up", c.DB.Client, start, gotAll)
	k, _ := mustIngest(t, a, sale(fx.TerminalIDs[2], uniq("toC")))
	sameKeys(t, "C live", keysOf(full.take(t, 1)), k)
	full.quiet(t, 300*time.Millisecond)
}

// TestStreamListenerRestart: lib/pq's listener drops notifications while
// it reconnects (docs/ARCHITECTURE.md §1). Each round cuts every server's
// LISTEN connection and keeps it down (the database refuses new connections; the
// servers' pools keep theirs) while the newest event is committed, so its
// NOTIFY is lost for good. Both servers' subscribers must still get it
// promptly: well inside the hub's 5 s safety poll, i.e. through the re-read
// after reconnecting. (A hub that relied on the poll alone would pass a
// round only when a tick happened to fall in time, so three rounds catch it
// almost always.) The stream then goes on live.
func TestStreamListenerRestart(t *testing.T) {
	b := testenv.Postgres(t)
	a := testenv.Start(t, b, "")
	fx := testenv.NewFixture(t, a.DB.Client, a.AccountID)
	bb := testenv.Start(t, b, "")
	ctx := context.Background()

	var dbname string
	if err := a.DB.SQL.QueryRowContext(ctx, "SELECT current_database()").Scan(&dbname); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL refuses ALTER DATABASE ... ALLOW_CONNECTIONS on the
	// database one is connected to: do it from the maintenance database.
	u, err := url.Parse(b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	admin, err := sql.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	allowConnections := func(on bool) {
		t.Helper()
		if _, err := admin.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t",
			pq.QuoteIdentifier(dbname), on)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { allowConnections(true) })
	listeners := func() int {
		t.Helper()
		var n int
		if err := a.DB.SQL.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'regicam-listener' AND datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	onA := openStream(t, a, "on A", nil, "")
	onB := openStream(t, bb, "on B", nil, "")
	start := awaitLive(t, probeOn(t, a, fx.TerminalIDs[0], journalentry.KindPAYMENT), onA, onB)

	const prompt = 2 * time.Second
	var gotA, gotB []evMsg
	var want []evKey
	// receive expects n events on both streams within prompt of since.
	receive := func(what string, since time.Time, n int) {
		t.Helper()
		for _, s := range []*stream{onA, onB} {
			for range n {
				ev, ok := s.poll(t, time.Until(since.Add(prompt)))
				if !ok {
					t.Fatalf("%s: %s: event not delivered within %v", s.name, what, prompt)
				}
				if s == onA {
					gotA = append(gotA, ev)
				} else {
					gotB = append(gotB, ev)
				}
			}
		}
		t.Logf("%s: on both servers after %v", what, time.Since(since))
	}
	for round := range 3 {
		writer := a
		if round%2 == 1 {
			writer = bb
		}
		allowConnections(false)
		var killed int
		if err := a.DB.SQL.QueryRowContext(ctx, `
			SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))
			FROM pg_stat_activity
			WHERE application_name = 'regicam-listener' AND datname = current_database()`).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed != 2 {
			t.Fatalf("round %d: terminated %d listener backends, want 2", round, killed)
		}
		if n := listeners(); n != 0 {
			t.Fatalf("round %d: %d listeners still connected", round, n)
		}
		k, _ := mustIngest(t, writer, sale(fx.TerminalIDs[round%3], uniq("unheard")))
		committed := time.Now()
		if n := listeners(); n != 0 {
			t.Fatalf("round %d: a listener reconnected before the commit", round)
		}
		allowConnections(true)
		want = append(want, k...)
		deadline := time.Now().Add(15 * time.Second)
		for listeners() != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: listeners did not reconnect", round)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("round %d: listeners back %v after the commit", round, time.Since(committed))
		receive(fmt.Sprintf("round %d, NOTIFY lost, since reconnect", round), time.Now(), len(k))

		live := batch(t, writer, fx, fmt.Sprintf("live%d", round), 3)
		want = append(want, live...)
		receive(fmt.Sprintf("round %d, after reconnect", round), time.Now(), len(live))
	}
	for _, s := range []*stream{onA, onB} {
		s.quiet(t, 200*time.Millisecond)
	}
	sameKeys(t, "on A", keysOf(gotA), want)
	sameKeys(t, "on B", keysOf(gotB), want)
	matchesTable(t, "on A", a.DB.Client, start, gotA)
	matchesTable(t, "on B", a.DB.Client, start, gotB)
}

// TestStreamConcurrentIngestersNoGap: the gap-free event cursor
// (docs/ARCHITECTURE.md §3, the event record).
// Eight writers on two server processes commit concurrently while a live
// subscriber and a late one (resuming from an early cursor) must each see
// every event exactly once, in cursor order.
func TestStreamConcurrentIngestersNoGap(t *testing.T) {
	b := testenv.Postgres(t)
	a := testenv.Start(t, b, "")
	fx := testenv.NewFixture(t, a.DB.Client, a.AccountID)
	bb := testenv.Start(t, b, "")

	live := openStream(t, a, "live on A", nil, "")
	start := awaitLive(t, probeOn(t, a, fx.TerminalIDs[0], journalentry.KindPAYMENT), live)

	const writers, perWriter = 8, 100
	var wg sync.WaitGroup
	var failed atomic.Bool
	errc := make(chan error, writers)
	began := time.Now()
	for w := range writers {
		srv := a
		if w%2 == 1 {
			srv = bb
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := range perWriter {
				if failed.Load() {
					return
				}
				r := sale(fx.TerminalIDs[(w+i)%3], fmt.Sprintf("w%d-%d", w, i))
				if i%10 == 9 { // cancel the previous sale: two events in one tx
					r = cancelOf(fx.TerminalIDs[(w+i-1)%3], fmt.Sprintf("w%d-%d", w, i-1))
				}
				if _, _, err := ingestOne(ctx, srv, r); err != nil {
					failed.Store(true)
					errc <- err
					return
				}
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	t.Cleanup(func() { failed.Store(true); <-writersDone }) // before the servers close

	const total = writers * (perWriter + perWriter/10)
	var got []evMsg
	var late *stream
	var lateFrom string
	for len(got) < total {
		select {
		case err := <-errc:
			t.Fatalf("writer: %v", err)
		default:
		}
		ev, ok := live.poll(t, 20*time.Second)
		if !ok {
			missing(t, "live", a.DB.Client, start, got)
		}
		got = append(got, ev)
		if late == nil && len(got) == 200 {
			// Mid-way, a client resumes on B from an early cursor.
			lateFrom = got[49].Cursor
			late = openStream(t, bb, "late on B", nil, lateFrom)
		}
	}
	<-writersDone
	close(errc)
	for err := range errc {
		t.Fatalf("writer: %v", err)
	}
	t.Logf("%d events from %d concurrent writers streamed in %v", total, writers, time.Since(began))
	live.quiet(t, 300*time.Millisecond)
	increasing(t, "live", start, got)
	matchesTable(t, "live", a.DB.Client, start, got)

	// The writers' own order per writer is preserved inside the global order.
	pos := make(map[string]int, len(got))
	for i, e := range got {
		if e.Type == "ADDED" {
			pos[e.Entry.ExternalID+"/"+e.Entry.Kind] = i
		}
	}
	for w := range writers {
		prev := -1
		for i := range perWriter {
			k := fmt.Sprintf("w%d-%d/PAYMENT", w, i)
			if i%10 == 9 {
				k = fmt.Sprintf("w%d-%d/CANCEL", w, i-1)
			}
			p, ok := pos[k]
			if !ok || p < prev {
				t.Fatalf("writer %d item %d (%s): position %d (present %v) after %d", w, i, k, p, ok, prev)
			}
			prev = p
		}
	}

	if late == nil {
		t.Fatal("late subscriber never started")
	}
	lateWant := total - 50
	lateGot := late.take(t, lateWant)
	late.quiet(t, 300*time.Millisecond)
	increasing(t, "late", lateFrom, lateGot)
	matchesTable(t, "late", bb.DB.Client, lateFrom, lateGot)
}

// muxSocket carries many graphql-transport-ws subscriptions on one socket.
type muxSocket struct {
	conn *websocket.Conn
	subs map[string]*stream
	done chan struct{}
}

func openMux(t testing.TB, srv *testenv.Server, n int, name string) (*muxSocket, []*stream) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	header := http.Header{}
	srv.Credential().Apply(header)
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	m := &muxSocket{conn: conn, subs: map[string]*stream{}, done: make(chan struct{})}
	if err := conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	var ack struct{ Type string }
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("handshake: %v %q", err, ack.Type)
	}
	_ = conn.SetReadDeadline(time.Time{})
	var streams []*stream
	for i := range n {
		id := fmt.Sprint(i + 1)
		s := &stream{name: fmt.Sprintf("%s#%s", name, id), ch: make(chan recv, 256), close: m.close}
		m.subs[id] = s
		streams = append(streams, s)
	}
	go m.read()
	for i := range n {
		if err := conn.WriteJSON(map[string]any{"id": fmt.Sprint(i + 1), "type": "subscribe",
			"payload": map[string]any{"query": journalSub, "variables": map[string]any{}}}); err != nil {
			t.Fatalf("subscribe %d: %v", i+1, err)
		}
	}
	t.Cleanup(m.close)
	return m, streams
}

func (m *muxSocket) read() {
	defer close(m.done)
	for {
		var msg struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := m.conn.ReadJSON(&msg); err != nil {
			return
		}
		s := m.subs[msg.ID]
		r := recv{}
		switch msg.Type {
		case "ping":
			_ = m.conn.WriteJSON(map[string]any{"type": "pong"})
			continue
		case "next":
			var resp struct {
				Data   struct{ Journal *evMsg }
				Errors []testenv.GQLError
			}
			r.err = json.Unmarshal(msg.Payload, &resp)
			r.ev, r.errs = resp.Data.Journal, resp.Errors
		case "error":
			_ = json.Unmarshal(msg.Payload, &r.errs)
		case "complete":
			r.err = fmt.Errorf("complete")
		default:
			continue
		}
		if s == nil {
			continue
		}
		select {
		case s.ch <- r:
		default: // a test that stops reading must not wedge the socket
		}
	}
}

func (m *muxSocket) close() {
	_ = m.conn.Close()
	<-m.done
}

// TestStream1000Subscriptions: one process carries 1,000 live
// subscriptions (500 sockets with one each, 5 sockets with 100 each), every
// one receives an ingested entry, and when the clients vanish the server
// releases everything it held for them.
func TestStream1000Subscriptions(t *testing.T) {
	testenv.Backends(t, thousandSubscriptions)
}

func thousandSubscriptions(t *testing.T, b testenv.Backend) {
	// One session opens them all: lift the per-credential cap (20).
	srv := testenv.StartWith(t, b, "", func(cfg *app.Config, _ string) { cfg.WSConnsPerCredential = -1 })
	fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)

	runtime.GC()
	baseline := runtime.NumGoroutine()
	began := time.Now()

	const single, socks, perSock = 500, 5, 100
	streams := make([]*stream, 0, single+socks*perSock)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var dialErr atomic.Value
	sem := make(chan struct{}, 32)
	for i := range single {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := dialStream(srv, fmt.Sprintf("single#%d", i), nil, "")
			if err != nil {
				dialErr.Store(err)
				return
			}
			mu.Lock()
			streams = append(streams, s)
			mu.Unlock()
		}()
	}
	wg.Wait()
	closeAll := func() {
		for _, s := range streams {
			s.close()
		}
	}
	t.Cleanup(closeAll)
	if err, _ := dialErr.Load().(error); err != nil {
		t.Fatalf("dial: %v", err)
	}
	var muxes []*muxSocket
	for i := range socks {
		m, ss := openMux(t, srv, perSock, fmt.Sprintf("mux%d", i))
		muxes = append(muxes, m)
		streams = append(streams, ss...)
	}
	opened := time.Since(began)

	awaitLive(t, probeOn(t, srv, fx.TerminalIDs[2], journalentry.KindPAYMENT), streams...)
	live := time.Since(began)

	sent := time.Now()
	k, _ := mustIngest(t, srv, sale(fx.TerminalIDs[0], uniq("for-all")))
	var slowest time.Duration
	for _, s := range streams {
		sameKeys(t, s.name, keysOf([]evMsg{s.next(t, 20*time.Second)}), k)
		if d := time.Since(sent); d > slowest {
			slowest = d
		}
	}
	t.Logf("1000 subscriptions: opened in %v, live in %v, last delivery %v after ingest",
		opened, live, slowest)

	// Unsubscribing on a socket that stays open releases the subscription's
	// server side at once. Live subscriptions share their execution
	// (livews groups), so an idle one owns no goroutine: what it holds is
	// its group membership, and the goroutine count must not grow.
	before := runtime.NumGoroutine()
	_, membersBefore := srv.Live.Groups()
	for _, m := range muxes[:2] {
		for id := range m.subs {
			if err := m.conn.WriteJSON(map[string]any{"id": id, "type": "complete"}); err != nil {
				t.Fatalf("complete %s: %v", id, err)
			}
		}
	}
	const completed = 2 * perSock
	deadline := time.Now().Add(15 * time.Second)
	_, members := srv.Live.Groups()
	for members > membersBefore-completed && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		_, members = srv.Live.Groups()
	}
	if members > membersBefore-completed {
		t.Fatalf("live subscriptions: %d after %d completed, %d before", members, completed, membersBefore)
	}
	if n := runtime.NumGoroutine(); n > before+10 {
		t.Fatalf("goroutines: %d after %d subscriptions completed, %d before", n, completed, before)
	}

	closed := time.Now()
	closeAll()
	for _, m := range muxes {
		m.close()
	}
	deadline = time.Now().Add(15 * time.Second)
	n := runtime.NumGoroutine()
	for n > baseline+10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > baseline+10 {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1) // grouped by stack, with counts
		dump := buf.String()
		if len(dump) > 16<<10 {
			dump = dump[:16<<10] + "\n…"
		}
		t.Fatalf("goroutines: %d after closing 1000 subscriptions, baseline %d\n%s", n, baseline, dump)
	}
	t.Logf("goroutines back to %d (baseline %d) %v after close", n, baseline, time.Since(closed))
}

// TestStreamBadInput: subscribe-time mistakes get a clear GraphQL error
// with extensions.code and extensions.field.
func TestStreamBadInput(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		other, err := srv.DB.Client.Account.Create().SetName("other").Save(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ofx := testenv.NewFixture(t, srv.DB.Client, other.ID)

		for _, tc := range []struct {
			name, after string
			where       map[string]any
			code, field string
		}{
			{name: "after not base64", after: "!!not a cursor!!", code: "BAD_USER_INPUT", field: "after"},
			{name: "after other prefix", after: "ZXY6YWJj" /* ev:abc */, code: "BAD_USER_INPUT", field: "after"},
			{name: "after negative", after: "ZXY6LTE" /* ev:-1 */, code: "BAD_USER_INPUT", field: "after"},
			{name: "after journal cursor", after: "eyJpZCI6IkpFMDEifQ", code: "BAD_USER_INPUT", field: "after"},
			{name: "unknown camera", where: map[string]any{"cameraIDs": []string{string(pulid.MustNew("CA"))}},
				code: "NOT_FOUND", field: "where.cameraIDs"},
			{name: "camera of another account", where: map[string]any{"cameraIDs": []string{string(fx.CameraIDs[0]), string(ofx.CameraIDs[0])}},
				code: "NOT_FOUND", field: "where.cameraIDs"},
			{name: "terminal id as camera id", where: map[string]any{"cameraIDs": []string{string(fx.TerminalIDs[0])}},
				code: "NOT_FOUND", field: "where.cameraIDs"},
			{name: "unknown kind", where: map[string]any{"kinds": []string{"REFUND"}},
				code: "BAD_USER_INPUT", field: "where.kinds[0]"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := openStream(t, srv, tc.name, tc.where, tc.after)
				e := s.firstError(t)
				if e.Code() != tc.code || e.Field() != tc.field || e.Message == "" {
					t.Errorf("got code=%q field=%q message=%q, want code=%q field=%q",
						e.Code(), e.Field(), e.Message, tc.code, tc.field)
				}
			})
		}

		// A valid subscription on the same server still works.
		s := openStream(t, srv, "valid", map[string]any{"cameraIDs": []string{string(fx.CameraIDs[1])}}, "")
		awaitLive(t, probeOn(t, srv, fx.TerminalIDs[2], journalentry.KindPAYMENT), s)
	})
}
