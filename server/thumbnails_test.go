package server_test

// Issue 4 "Done when", end to end through a started server: a receipt's
// thumbnail shows its own second (read back from the JPEG served over HTTP
// and from the data URL a subscriber receives), the /thumbnails endpoint's
// caching and 404-for-foreign-ids, the bounded wait before ADDED and the
// THUMBNAIL event that follows it, retention, and cameras that stall, lie
// or cannot be reached leaving ingest unaffected.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/server"
	"github.com/regicam/regicam/thumbs"
)

const thumbCacheControl = "private, max-age=31536000, immutable"

// thumbFields is what a client selects of an entry's picture.
const thumbFields = `id occurredAt thumbnailReason
  thumbnail { id url width height requestedAt capturedAt skewMs createdAt dataURL }`

type thumbPic struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Width       int       `json:"width"`
	Height      int       `json:"height"`
	RequestedAt time.Time `json:"requestedAt"`
	CapturedAt  time.Time `json:"capturedAt"`
	SkewMs      int64     `json:"skewMs"`
	CreatedAt   time.Time `json:"createdAt"`
	DataURL     *string   `json:"dataURL"`
}

type thumbEntry struct {
	ID              string    `json:"id"`
	OccurredAt      time.Time `json:"occurredAt"`
	ThumbnailReason string    `json:"thumbnailReason"`
	Thumbnail       *thumbPic `json:"thumbnail"`
}

type thumbEvent struct {
	Cursor string     `json:"cursor"`
	Type   string     `json:"type"`
	Entry  thumbEntry `json:"entry"`
	at     time.Time  // when the client read it
}

const thumbSubscription = `subscription { journal { cursor type entry { ` + thumbFields + ` } } }`

const thumbIngestMutation = `mutation($in: [JournalInput!]!) {
  ingestJournal(input: $in) { index status error { code message } entry { ` + thumbFields + ` } }
}`

const thumbNodeQuery = `query($id: ID!) { node(id: $id) {
  ... on JournalEntry { ` + thumbFields + ` }
  ... on Thumbnail { id }
} }`

const thumbCameraQuery = `query($id: ID!) { node(id: $id) { ... on Camera {
  id status { recording online lastSeenAt lastError bufferedFrom }
} } }`

type thumbCamStatus struct {
	Recording    bool       `json:"recording"`
	Online       bool       `json:"online"`
	LastSeenAt   *time.Time `json:"lastSeenAt"`
	LastError    *string    `json:"lastError"`
	BufferedFrom *time.Time `json:"bufferedFrom"`
}

var thumbStartMu sync.Mutex

// thumbStart is testenv.Start with recorder settings of the test's choice;
// the returned stop (also a cleanup) closes the server and may be called
// early to count what it leaves behind.
func thumbStart(t testing.TB, b testenv.Backend, tweak func(*app.Config)) (*testenv.Server, func()) {
	t.Helper()
	cfg := app.Config{
		DataDir: t.TempDir(), DatabaseURL: b.DatabaseURL, Demo: "false",
		Config: server.Config{CORSOrigins: []string{"http://allowed.example"}, Introspection: true},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Two servers migrating at once race inside ent's migration (it
	// rewrites the package-level table descriptions), so parallel subtests
	// start one at a time.
	thumbStartMu.Lock()
	app, err := app.Start(ctx, cfg, testenv.Logger())
	thumbStartMu.Unlock()
	if err != nil {
		t.Fatalf("start server on %s: %v", b.Name, err)
	}
	hs := httptest.NewServer(app.Handler)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			hs.CloseClientConnections()
			hs.Close()
			app.Close()
		})
	}
	t.Cleanup(stop)
	return testenv.Wrap(t, app, hs.URL), stop
}

// thumbRecord gives a camera a frame source and has the server record it.
func thumbRecord(t testing.TB, srv *testenv.Server, cam pulid.ID, kind entcamera.SourceKind, rawURL string) {
	t.Helper()
	ctx := context.Background()
	upd := srv.DB.Client.Camera.UpdateOneID(cam).SetSourceKind(kind)
	if rawURL != "" {
		upd.SetSourceURL(rawURL)
	}
	if err := upd.Exec(ctx); err != nil {
		t.Fatalf("set camera source: %v", err)
	}
	if err := srv.Recorders.Sync(ctx); err != nil {
		t.Fatalf("sync recorders: %v", err)
	}
}

var thumbSeq atomic.Int64

func thumbExt(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), thumbSeq.Add(1))
}

// thumbIngest sends one sale through the ingestJournal mutation.
func thumbIngest(t testing.TB, srv *testenv.Server, term pulid.ID, at time.Time) thumbEntry {
	t.Helper()
	var out struct {
		IngestJournal []struct {
			Status string `json:"status"`
			Error  *struct {
				Code, Message string
			} `json:"error"`
			Entry *thumbEntry `json:"entry"`
		} `json:"ingestJournal"`
	}
	srv.MustQuery(t, thumbIngestMutation, map[string]any{"in": []map[string]any{{
		"terminalID": term, "externalID": thumbExt("sale"), "kind": "PAYMENT",
		"occurredAt": at.Format(time.RFC3339Nano), "receiptNo": "R-1", "staffName": "山田",
		"total": 1080, "paymentMethod": "現金",
	}}}, &out)
	if len(out.IngestJournal) != 1 || out.IngestJournal[0].Status != "CREATED" || out.IngestJournal[0].Entry == nil {
		t.Fatalf("ingestJournal: %+v", out.IngestJournal)
	}
	return *out.IngestJournal[0].Entry
}

// thumbLookup asks node(id) and returns the node, or nil when the answer
// is null or NOT_FOUND.
func thumbLookup(t testing.TB, srv *testenv.Server, query, id string) json.RawMessage {
	t.Helper()
	r := srv.Query(t, query, map[string]any{"id": id})
	for _, e := range r.Errors {
		if e.Code() != "NOT_FOUND" {
			t.Fatalf("node(%s): %+v", id, r.Errors)
		}
	}
	var out struct {
		Node json.RawMessage `json:"node"`
	}
	if err := json.Unmarshal(r.Data, &out); err != nil {
		t.Fatalf("node(%s): %s: %v", id, r.Data, err)
	}
	if len(r.Errors) > 0 || string(out.Node) == "null" {
		return nil
	}
	return out.Node
}

// thumbEntryOf reads an entry as the journal list shows it.
func thumbEntryOf(t testing.TB, srv *testenv.Server, id string) thumbEntry {
	t.Helper()
	// Pages of 50: a page of 200 inline pictures is over the cost limit.
	var after *string
	for {
		var page struct {
			Journal struct {
				Edges []struct {
					Node thumbEntry `json:"node"`
				} `json:"edges"`
				PageInfo struct {
					HasNextPage bool    `json:"hasNextPage"`
					EndCursor   *string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"journal"`
		}
		srv.MustQuery(t, `query($after: String) { journal(first: 50, after: $after) {
			edges { node { `+thumbFields+` } } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"after": after}, &page)
		for _, e := range page.Journal.Edges {
			if e.Node.ID == id {
				return e.Node
			}
		}
		if !page.Journal.PageInfo.HasNextPage {
			t.Fatalf("entry %s is not in the journal", id)
		}
		after = page.Journal.PageInfo.EndCursor
	}
}

func thumbCamera(t testing.TB, srv *testenv.Server, id pulid.ID) thumbCamStatus {
	t.Helper()
	var out struct {
		Node struct {
			ID     string         `json:"id"`
			Status thumbCamStatus `json:"status"`
		} `json:"node"`
	}
	srv.MustQuery(t, thumbCameraQuery, map[string]any{"id": id}, &out)
	if out.Node.ID != string(id) {
		t.Fatalf("camera %s not found", id)
	}
	return out.Node.Status
}

// thumbGet fetches a path of the server with its own transport, so the
// connection does not outlive the test.
func thumbGet(t testing.TB, srv *testenv.Server, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Credential().Apply(req.Header)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp, body
}

func thumbETag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// thumbShows decodes the time the simulated camera drew into a picture.
func thumbShows(t testing.TB, jpegData []byte) time.Time {
	t.Helper()
	at, err := camera.DecodeTime(jpegData)
	if err != nil {
		t.Fatalf("time code of the thumbnail: %v", err)
	}
	return at
}

func thumbFromDataURL(t testing.TB, s *string) []byte {
	t.Helper()
	const prefix = "data:image/jpeg;base64,"
	if s == nil || !strings.HasPrefix(*s, prefix) {
		t.Fatalf("dataURL %.40v is not a base64 JPEG data URL", s)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*s, prefix))
	if err != nil {
		t.Fatalf("dataURL: %v", err)
	}
	return b
}

func thumbAbs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// thumbWithin fails unless the picture shows a moment within 1 s of want.
func thumbWithin(t testing.TB, what string, shows, want time.Time) {
	t.Helper()
	if d := shows.Sub(want); thumbAbs(d) > time.Second {
		t.Fatalf("%s shows %s, receipt occurred %s: off by %s (> 1s)", what,
			shows.UTC().Format(time.StampMilli), want.UTC().Format(time.StampMilli), d)
	}
}

// checkPic checks the GraphQL view of a picture taken for occurred.
func checkPic(t testing.TB, p *thumbPic, occurred time.Time) {
	t.Helper()
	if p == nil {
		t.Fatal("entry has no thumbnail")
	}
	if p.Width != 320 || p.Height != 180 {
		t.Fatalf("thumbnail %dx%d, want 320x180", p.Width, p.Height)
	}
	if p.SkewMs > 1000 || p.SkewMs < -1000 {
		t.Fatalf("skewMs %d: |skew| > 1s", p.SkewMs)
	}
	if !p.RequestedAt.Equal(occurred) {
		t.Fatalf("requestedAt %s, want occurredAt %s", p.RequestedAt, occurred)
	}
	if got := p.CapturedAt.Sub(p.RequestedAt).Milliseconds(); got != p.SkewMs {
		t.Fatalf("skewMs %d but capturedAt−requestedAt = %dms", p.SkewMs, got)
	}
	if p.URL != "/thumbnails/"+p.ID {
		t.Fatalf("url %q", p.URL)
	}
}

// thumbStream reads a subscription in the background.
type thumbStream struct {
	ch  chan thumbEvent
	sub *testenv.Subscription
}

func thumbSubscribe(t testing.TB, srv *testenv.Server) *thumbStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := srv.Subscribe(ctx, thumbSubscription, nil)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	s := &thumbStream{ch: make(chan thumbEvent, 256), sub: sub}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.ch)
		for {
			data, errs, err := sub.Next(time.Minute)
			if err != nil {
				return
			}
			if len(errs) > 0 {
				s.ch <- thumbEvent{Type: "ERROR: " + errs[0].Message}
				return
			}
			var msg struct {
				Journal thumbEvent `json:"journal"`
			}
			if err := json.Unmarshal(data, &msg); err != nil {
				s.ch <- thumbEvent{Type: "ERROR: " + err.Error()}
				return
			}
			msg.Journal.at = time.Now()
			s.ch <- msg.Journal
		}
	}()
	t.Cleanup(func() { sub.Close(); <-done })
	return s
}

// next returns the next event of entry id, skipping others.
func (s *thumbStream) next(t testing.TB, id string, timeout time.Duration) thumbEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-s.ch:
			if !ok {
				t.Fatalf("subscription ended while waiting for an event of %s", id)
			}
			if strings.HasPrefix(ev.Type, "ERROR") {
				t.Fatalf("subscription: %s", ev.Type)
			}
			if ev.Entry.ID == id {
				return ev
			}
		case <-deadline:
			t.Fatalf("no event of %s within %s", id, timeout)
		}
	}
}

// live makes sure the subscription is attached to the feed (a live-only
// subscription starts at the feed head once its resolver runs, which a
// client cannot observe) by ingesting probes until one arrives.
func (s *thumbStream) live(t testing.TB, srv *testenv.Server, term pulid.ID) {
	t.Helper()
	for range 20 {
		r := thumbReceipt(term, time.Now().Add(-time.Hour))
		res := srv.Ingester.Ingest(context.Background(), srv.AccountID, r)
		if res.Err != nil {
			t.Fatalf("probe: %v", res.Err)
		}
		deadline := time.After(time.Second)
	wait:
		for {
			select {
			case ev, ok := <-s.ch:
				if !ok {
					t.Fatal("subscription ended")
				}
				if ev.Entry.ID == string(res.Entry.ID) {
					return
				}
			case <-deadline:
				break wait
			}
		}
	}
	t.Fatal("subscription never went live")
}

func thumbReceipt(term pulid.ID, at time.Time) ingest.Receipt {
	ext := thumbExt("probe")
	return ingest.Receipt{
		TerminalID: term, ExternalID: ext, Kind: journalentry.KindPAYMENT, OccurredAt: at,
		ReceiptNo: ext, RegisterNo: "1", StaffName: "山田", Total: 1080, PaymentMethod: "現金",
	}
}

// waitBuffered waits until the camera's recorder reaches back at least
// back from now.
func waitBuffered(t testing.TB, srv *testenv.Server, cam pulid.ID, back time.Duration) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, ok := srv.Recorders.Status(cam)
		if ok && st.Online && !st.Oldest.IsZero() && !st.Oldest.After(time.Now().Add(-back)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorder of %s does not reach back %s: %+v (recorded %v)", cam, back, st, ok)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestThumbnailEndToEnd covers sections 2, 4 and the ADDED half of 5 of
// issue 4 on a simulated camera recorded by the server in real time.
func TestThumbnailEndToEnd(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		t.Parallel()
		const wait = 2 * time.Second // the default ThumbnailWait
		srv, _ := thumbStart(t, b, func(c *app.Config) { c.RecorderInterval = 250 * time.Millisecond })
		ctx := context.Background()
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		cam, term, probeTerm := fx.CameraIDs[0], fx.TerminalIDs[0], fx.TerminalIDs[2]
		thumbRecord(t, srv, cam, entcamera.SourceKindSIMULATED, "")
		stream := thumbSubscribe(t, srv)
		stream.live(t, srv, probeTerm)

		// (1) A receipt that reaches the server three seconds after the sale.
		waitBuffered(t, srv, cam, 3500*time.Millisecond)
		occurred := time.Now().Add(-3 * time.Second).UTC().Truncate(time.Microsecond)
		late := thumbIngest(t, srv, term, occurred)
		var body []byte
		t.Run("journal_and_http", func(t *testing.T) {
			if late.ThumbnailReason != "" {
				t.Fatalf("thumbnailReason %q", late.ThumbnailReason)
			}
			checkPic(t, late.Thumbnail, occurred)

			listed := thumbEntryOf(t, srv, late.ID)
			checkPic(t, listed.Thumbnail, occurred)
			if listed.Thumbnail.ID != late.Thumbnail.ID || !listed.Thumbnail.CapturedAt.Equal(late.Thumbnail.CapturedAt) {
				t.Fatalf("journal thumbnail %+v, ingest returned %+v", listed.Thumbnail, late.Thumbnail)
			}

			resp, b := thumbGet(t, srv, late.Thumbnail.URL, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s %q", late.Thumbnail.URL, resp.Status, b)
			}
			body = b
			if ct := resp.Header.Get("Content-Type"); ct != "image/jpeg" {
				t.Fatalf("Content-Type %q", ct)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != thumbCacheControl {
				t.Fatalf("Cache-Control %q, want %q", cc, thumbCacheControl)
			}
			etag := resp.Header.Get("ETag")
			if etag != thumbETag(body) {
				t.Fatalf("ETag %s, want the quoted sha256 of the body %s", etag, thumbETag(body))
			}
			shows := thumbShows(t, body)
			thumbWithin(t, "served thumbnail", shows, occurred)
			if !shows.Equal(late.Thumbnail.CapturedAt) {
				t.Fatalf("served thumbnail shows %s, capturedAt says %s", shows, late.Thumbnail.CapturedAt)
			}
			if !bytes.Equal(thumbFromDataURL(t, late.Thumbnail.DataURL), body) {
				t.Fatal("dataURL and the served JPEG differ")
			}

			resp, b = thumbGet(t, srv, late.Thumbnail.URL, map[string]string{"If-None-Match": etag})
			if resp.StatusCode != http.StatusNotModified || len(b) != 0 || resp.Header.Get("ETag") != etag {
				t.Fatalf("revalidation: %s, %d bytes, ETag %q; want 304 without body", resp.Status, len(b), resp.Header.Get("ETag"))
			}
			resp, b = thumbGet(t, srv, late.Thumbnail.URL, map[string]string{"If-None-Match": `"0000"`})
			if resp.StatusCode != http.StatusOK || !bytes.Equal(b, body) {
				t.Fatalf("stale ETag: %s, %d bytes; want 200 with the picture", resp.Status, len(b))
			}
		})

		// (3) A subscriber gets the picture inline with the entry.
		t.Run("subscription_dataURL", func(t *testing.T) {
			ev := stream.next(t, late.ID, 10*time.Second)
			if ev.Type != "ADDED" {
				t.Fatalf("first event of %s is %s", late.ID, ev.Type)
			}
			checkPic(t, ev.Entry.Thumbnail, occurred)
			pic := thumbFromDataURL(t, ev.Entry.Thumbnail.DataURL)
			thumbWithin(t, "data URL thumbnail", thumbShows(t, pic), occurred)
			if body != nil && !bytes.Equal(pic, body) {
				t.Fatal("the data URL holds another picture than /thumbnails serves")
			}
		})

		// (4) A receipt sent the moment it happens: the frame of its second
		// is taken within the bounded wait, and ADDED carries it.
		var now thumbEntry
		t.Run("now_within_bounded_wait", func(t *testing.T) {
			start := time.Now()
			occurred := start.UTC().Truncate(time.Microsecond)
			now = thumbIngest(t, srv, term, occurred)
			took := time.Since(start)
			if took > wait+time.Second {
				t.Fatalf("ingest took %s, more than the %s wait + 1s", took, wait)
			}
			ev := stream.next(t, now.ID, wait+5*time.Second)
			if ev.Type != "ADDED" {
				t.Fatalf("first event of %s is %s", now.ID, ev.Type)
			}
			if d := ev.at.Sub(start); d > wait+time.Second {
				t.Fatalf("ADDED arrived %s after the receipt was sent", d)
			}
			checkPic(t, ev.Entry.Thumbnail, occurred)
			thumbWithin(t, "ADDED thumbnail", thumbShows(t, thumbFromDataURL(t, ev.Entry.Thumbnail.DataURL)), occurred)
			t.Logf("ingest took %s, ADDED after %s, skew %dms", took.Round(time.Millisecond), ev.at.Sub(start).Round(time.Millisecond), ev.Entry.Thumbnail.SkewMs)
		})

		// (2) Another tenant's picture is a 404, as is anything not an id.
		var foreign *ent.Thumbnail
		t.Run("foreign_and_garbage_ids_404", func(t *testing.T) {
			client := srv.DB.Client
			other, err := client.Account.Create().SetName("other shop").Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ofx := testenv.NewFixture(t, client, other.ID)
			res := srv.Ingester.Ingest(ctx, other.ID, thumbReceipt(ofx.TerminalIDs[0], time.Now().Add(-time.Minute)))
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			pic := body
			if pic == nil {
				pic = simulatedJPEG(t, time.Now())
			}
			sum := sha256.Sum256(pic)
			key := thumbs.Key(string(other.ID), string(res.Entry.ID))
			if err := srv.Blobs.Put(ctx, key, pic); err != nil {
				t.Fatal(err)
			}
			foreign, err = client.Thumbnail.Create().SetAccountID(other.ID).SetEntryID(res.Entry.ID).
				SetCameraID(ofx.CameraIDs[0]).SetRequestedAt(res.Entry.OccurredAt).SetCapturedAt(res.Entry.OccurredAt).
				SetSkewMs(0).SetWidth(320).SetHeight(180).SetBytes(int64(len(pic))).
				SetStorageKey(key).SetSha256(hex.EncodeToString(sum[:])).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, hdr := range []map[string]string{nil, {"If-None-Match": `"` + foreign.Sha256 + `"`}} {
				resp, b := thumbGet(t, srv, "/thumbnails/"+string(foreign.ID), hdr)
				if resp.StatusCode != http.StatusNotFound || bytes.Contains(b, pic[:64]) ||
					resp.Header.Get("ETag") != "" || resp.Header.Get("Cache-Control") == thumbCacheControl {
					t.Fatalf("another account's thumbnail (headers %v): %s, ETag %q, Cache-Control %q",
						hdr, resp.Status, resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
				}
			}
			if n := thumbLookup(t, srv, thumbNodeQuery, string(foreign.ID)); n != nil {
				t.Fatalf("node(another account's thumbnail) = %s", n)
			}
			if n := thumbLookup(t, srv, thumbNodeQuery, string(res.Entry.ID)); n != nil {
				t.Fatalf("node(another account's entry) = %s", n)
			}
			for _, id := range []string{
				"garbage", "TH", string(pulid.MustNew("TH")), late.ID, string(cam),
				url.PathEscape("TH' OR '1'='1"), "..%2F..%2Fetc%2Fpasswd", strings.Repeat("A", 4000),
				url.PathEscape(string(foreign.ID) + "/../" + late.Thumbnail.ID),
			} {
				resp, b := thumbGet(t, srv, "/thumbnails/"+id, nil)
				if resp.StatusCode != http.StatusNotFound || resp.Header.Get("ETag") != "" {
					t.Errorf("GET /thumbnails/%.60s: %s %.80q, ETag %q; want 404", id, resp.Status, b, resp.Header.Get("ETag"))
				}
			}
		})

		// (6) Retention removes old pictures; the journal entry stays.
		t.Run("retention", func(t *testing.T) {
			if late.Thumbnail == nil || now.Thumbnail == nil {
				t.Skip("needs the thumbnails of the earlier subtests")
			}
			older, newer := late.Thumbnail.CreatedAt, now.Thumbnail.CreatedAt
			if !older.Before(newer) {
				t.Fatalf("thumbnails created at %s and %s", older, newer)
			}
			cutoff := older.Add(newer.Sub(older) / 2)
			want, err := srv.DB.Client.Thumbnail.Query().Where(thumbnail.CreatedAtLT(cutoff.UTC())).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n, err := thumbs.Expire(ctx, srv.DB.Client, srv.Blobs, cutoff)
			if err != nil || n != want || n < 1 {
				t.Fatalf("Expire = %d, %v; want %d", n, err, want)
			}
			e := thumbEntryOf(t, srv, late.ID)
			if e.Thumbnail != nil {
				t.Fatalf("expired thumbnail still listed: %+v", e.Thumbnail)
			}
			if !e.OccurredAt.Equal(occurred) {
				t.Fatalf("entry changed: %+v", e)
			}
			if resp, _ := thumbGet(t, srv, late.Thumbnail.URL, nil); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("expired thumbnail: %s, want 404", resp.Status)
			}
			if _, err := srv.Blobs.Get(ctx, thumbs.Key(string(srv.AccountID), late.ID)); !errors.Is(err, thumbs.ErrNotFound) {
				t.Fatalf("expired blob: %v, want ErrNotFound", err)
			}
			// The newer picture is untouched.
			if resp, b := thumbGet(t, srv, now.Thumbnail.URL, nil); resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != thumbETag(b) {
				t.Fatalf("newer thumbnail after retention: %s", resp.Status)
			}
			if e := thumbEntryOf(t, srv, now.ID); e.Thumbnail == nil || e.Thumbnail.DataURL == nil {
				t.Fatalf("newer thumbnail after retention: %+v", e.Thumbnail)
			}

			// A row whose blob is gone (another replica expired it, the
			// disk was cleaned): no picture, and nothing cached for a year.
			key := thumbs.Key(string(srv.AccountID), now.ID)
			if err := srv.Blobs.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			srv.Thumbs.Forget(key)
			if e := thumbEntryOf(t, srv, now.ID); e.Thumbnail == nil || e.Thumbnail.DataURL != nil {
				t.Fatalf("thumbnail without blob: %+v, want dataURL null", e.Thumbnail)
			}
			resp, _ := thumbGet(t, srv, now.Thumbnail.URL, nil)
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Cache-Control") == thumbCacheControl || resp.Header.Get("ETag") != "" {
				t.Fatalf("thumbnail without blob: %s, Cache-Control %q, ETag %q; want an uncached 404",
					resp.Status, resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
			}
		})
	})
}

func simulatedJPEG(t testing.TB, at time.Time) []byte {
	t.Helper()
	f, err := camera.NewSimulated("test", func() time.Time { return at }).Grab(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return f.JPEG
}

// TestThumbnailLateEvent: with a bounded wait too short for the frame of
// the receipt's second, ADDED goes out without a picture and a THUMBNAIL
// event for the same entry brings it once it is taken.
func TestThumbnailLateEvent(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		t.Parallel()
		srv, _ := thumbStart(t, b, func(c *app.Config) {
			c.RecorderInterval = 250 * time.Millisecond
			c.ThumbnailWait = time.Millisecond
		})
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		cam, term := fx.CameraIDs[0], fx.TerminalIDs[0]
		thumbRecord(t, srv, cam, entcamera.SourceKindSIMULATED, "")
		waitBuffered(t, srv, cam, 0)
		stream := thumbSubscribe(t, srv)
		stream.live(t, srv, fx.TerminalIDs[2])

		// "Now" by a register clock 300 ms ahead of the server's: its frame
		// cannot have been taken before ingest gives up waiting.
		start := time.Now()
		occurred := start.Add(300 * time.Millisecond).UTC().Truncate(time.Microsecond)
		e := thumbIngest(t, srv, term, occurred)
		if took := time.Since(start); took > time.Second {
			t.Fatalf("ingest took %s with a 1ms thumbnail wait", took)
		}
		if e.Thumbnail != nil || ingest.CodeOf(e.ThumbnailReason) != ingest.ReasonPending {
			t.Fatalf("ingest result: thumbnail %+v, reason %q; want no thumbnail yet and PENDING", e.Thumbnail, e.ThumbnailReason)
		}
		added := stream.next(t, e.ID, 10*time.Second)
		if added.Type != "ADDED" || added.Entry.Thumbnail != nil {
			t.Fatalf("first event %s with thumbnail %+v; want ADDED without one", added.Type, added.Entry.Thumbnail)
		}
		late := stream.next(t, e.ID, 10*time.Second)
		if late.Type != "THUMBNAIL" {
			t.Fatalf("second event of %s is %s, want THUMBNAIL", e.ID, late.Type)
		}
		checkPic(t, late.Entry.Thumbnail, occurred)
		thumbWithin(t, "THUMBNAIL event picture", thumbShows(t, thumbFromDataURL(t, late.Entry.Thumbnail.DataURL)), occurred)
		if late.Entry.ThumbnailReason != "" {
			t.Fatalf("thumbnailReason %q next to a thumbnail", late.Entry.ThumbnailReason)
		}
		t.Logf("ADDED after %s, THUMBNAIL after %s, skew %dms", added.at.Sub(start).Round(time.Millisecond),
			late.at.Sub(start).Round(time.Millisecond), late.Entry.Thumbnail.SkewMs)

		srv.Ingester.WaitLate()
		stored := thumbEntryOf(t, srv, e.ID)
		checkPic(t, stored.Thumbnail, occurred)
		if stored.Thumbnail.ID != late.Entry.Thumbnail.ID {
			t.Fatalf("stored thumbnail %s, event carried %s", stored.Thumbnail.ID, late.Entry.Thumbnail.ID)
		}
		select {
		case ev := <-stream.ch:
			if ev.Entry.ID == e.ID {
				t.Fatalf("third event %s for %s", ev.Type, e.ID)
			}
		case <-time.After(300 * time.Millisecond):
		}
	})
}

// faultCamera is one misbehaving frame source and what its status must say.
type faultCamera struct {
	name, url string
	kind      entcamera.SourceKind
	wantErr   string
	cam, term pulid.ID
}

// hugeFrame is a 5 MB "JPEG" whose header claims 10000×10000 pixels.
func hugeFrame(t testing.TB) []byte {
	t.Helper()
	b := bytes.Clone(simulatedJPEG(t, time.Now()))
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0 in the simulated frame")
	}
	binary.BigEndian.PutUint16(b[i+5:], 10000) // height
	binary.BigEndian.PutUint16(b[i+7:], 10000) // width
	return append(b, make([]byte, 5<<20-len(b))...)
}

// TestThumbnailCameraFaults: cameras that are not http(s), answer with
// HTML, with 5 MB, stall, or fail TLS show why on their status, keep no
// frames, and never hold up ingest; closing the server leaves no
// goroutine behind.
func TestThumbnailCameraFaults(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		const wait = 2 * time.Second
		base := runtime.NumGoroutine()

		release := make(chan struct{})
		var releaseOnce sync.Once
		unblock := func() { releaseOnce.Do(func() { close(release) }) }
		stallHandler := func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
		huge := hugeFrame(t)
		var servers []*httptest.Server
		serve := func(h http.HandlerFunc) *httptest.Server {
			s := httptest.NewServer(h)
			servers = append(servers, s)
			return s
		}
		html := serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html><body>Please log in</body></html>")
		})
		stall := serve(stallHandler)
		big := serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write(huge)
		})
		mjpegStall := serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=frame")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			stallHandler(w, r)
		})
		tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write(huge[:1024])
		}))
		tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are the point
		tlsSrv.StartTLS()
		servers = append(servers, tlsSrv)
		closeCameras := func() {
			unblock()
			for _, s := range servers {
				s.CloseClientConnections()
				s.Close()
			}
		}
		t.Cleanup(closeCameras)

		faults := []*faultCamera{
			{name: "not http", url: "ftp://192.0.2.10/snapshot.jpg", kind: entcamera.SourceKindSNAPSHOT, wantErr: "not http or https"},
			{name: "html", url: html.URL + "/snap.jpg", kind: entcamera.SourceKindSNAPSHOT, wantErr: "not a JPEG"},
			{name: "5 MB frame", url: big.URL + "/snap.jpg", kind: entcamera.SourceKindSNAPSHOT, wantErr: "too large"},
			{name: "stalls", url: stall.URL + "/snap.jpg", kind: entcamera.SourceKindSNAPSHOT, wantErr: "timed out"},
			{name: "self-signed TLS", url: tlsSrv.URL + "/snap.jpg", kind: entcamera.SourceKindSNAPSHOT, wantErr: "certificate"},
			{name: "stalled stream", url: mjpegStall.URL + "/video.cgi", kind: entcamera.SourceKindMJPEG, wantErr: "no frame"},
		}

		srv, stop := thumbStart(t, b, func(c *app.Config) { c.RecorderInterval = 200 * time.Millisecond })
		ctx := context.Background()
		client := srv.DB.Client
		fx := testenv.NewFixture(t, client, srv.AccountID)
		term0, err := client.Terminal.Get(ctx, fx.TerminalIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range faults {
			c, err := client.Camera.Create().SetAccountID(srv.AccountID).SetName(f.name).
				SetDeviceID(fmt.Sprintf("fault-%d-%s", i, pulid.MustNew("dv"))).SetPosOption(true).
				SetSourceKind(f.kind).SetSourceURL(f.url).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			term, err := client.Terminal.Create().SetAccountID(srv.AccountID).SetConnectionID(term0.ConnectionID).
				SetShopID(fx.ShopID).SetExternalID(fmt.Sprintf("fault-%d", i)).SetName(f.name).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := client.Link.Create().SetAccountID(srv.AccountID).SetTerminalID(term.ID).SetCameraID(c.ID).
				SetCreatedAt(testenv.LinkedSince).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			f.cam, f.term = c.ID, term.ID
		}
		if err := srv.Recorders.Sync(ctx); err != nil {
			t.Fatal(err)
		}

		var entries []string
		ingestAll := func(round string) {
			t.Helper()
			var slowest time.Duration
			for _, f := range faults {
				start := time.Now()
				e := thumbIngest(t, srv, f.term, start.Add(-time.Second))
				took := time.Since(start)
				slowest = max(slowest, took)
				if took > wait+time.Second {
					t.Errorf("%s: ingest %s took %s (thumbnail wait %s)", round, f.name, took, wait)
				}
				if e.Thumbnail != nil {
					t.Errorf("%s: %s produced a thumbnail", round, f.name)
				}
				entries = append(entries, e.ID)
			}
			t.Logf("%s: slowest ingest %s", round, slowest.Round(time.Millisecond))
		}
		// While the recorders are still finding out.
		ingestAll("at start")

		deadline := time.Now().Add(20 * time.Second)
		for _, f := range faults {
			for {
				st := thumbCamera(t, srv, f.cam)
				if st.Recording && !st.Online && st.LastError != nil && strings.Contains(*st.LastError, f.wantErr) {
					if st.BufferedFrom != nil || st.LastSeenAt != nil {
						t.Errorf("%s: status %+v claims pictures", f.name, st)
					}
					t.Logf("%-16s lastError: %s", f.name, *st.LastError)
					break
				}
				if time.Now().After(deadline) {
					msg := "<nil>"
					if st.LastError != nil {
						msg = *st.LastError
					}
					t.Fatalf("%s: status online=%v recording=%v lastError %q; want offline with %q", f.name, st.Online, st.Recording, msg, f.wantErr)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if st, _ := srv.Recorders.Status(f.cam); st.Frames != 0 || st.Bytes != 0 {
				t.Errorf("%s: recorder holds %d frames / %d bytes", f.name, st.Frames, st.Bytes)
			}
		}

		// Once they are known to be broken.
		ingestAll("offline")
		srv.Ingester.WaitLate()
		for _, id := range entries {
			if e := thumbEntryOf(t, srv, id); e.Thumbnail != nil || e.ThumbnailReason == "" {
				t.Errorf("entry %s: thumbnail %+v, reason %q; want a reason", id, e.Thumbnail, e.ThumbnailReason)
			}
		}
		e := thumbEntryOf(t, srv, entries[len(entries)-1])
		t.Logf("thumbnailReason of a stalled-stream receipt: %s", e.ThumbnailReason)

		// Nothing left running once the server and the cameras are gone.
		stop()
		closeCameras()
		if tr, ok := http.DefaultTransport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
		deadline = time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				break
			}
			if time.Now().After(deadline) {
				var buf bytes.Buffer
				_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
				t.Fatalf("%d goroutines after close, %d before start:\n%s", n, base, buf.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestThumbnailNode: Thumbnail and JournalEntry are Relay nodes; the
// viewer's own must be found by node(id), another account's must not.
func TestThumbnailNode(t *testing.T) {
	srv, _ := thumbStart(t, testenv.Backend{Name: "sqlite"}, nil)
	ctx := context.Background()
	client := srv.DB.Client
	pic := simulatedJPEG(t, time.Now())
	sum := sha256.Sum256(pic)
	mk := func(acct pulid.ID) (entry pulid.ID, th pulid.ID) {
		fx := testenv.NewFixture(t, client, acct)
		res := srv.Ingester.Ingest(ctx, acct, thumbReceipt(fx.TerminalIDs[0], time.Now().Add(-time.Minute)))
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		key := thumbs.Key(string(acct), string(res.Entry.ID))
		if err := srv.Blobs.Put(ctx, key, pic); err != nil {
			t.Fatal(err)
		}
		row, err := client.Thumbnail.Create().SetAccountID(acct).SetEntryID(res.Entry.ID).
			SetCameraID(fx.CameraIDs[0]).SetRequestedAt(res.Entry.OccurredAt).SetCapturedAt(res.Entry.OccurredAt).
			SetSkewMs(0).SetWidth(640).SetHeight(360).SetBytes(int64(len(pic))).
			SetStorageKey(key).SetSha256(hex.EncodeToString(sum[:])).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return res.Entry.ID, row.ID
	}
	entry, th := mk(srv.AccountID)
	other, err := client.Account.Create().SetName("other shop").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, foreign := mk(other.ID)

	for _, q := range []struct{ query, id string }{
		{`query($id: ID!) { node(id: $id) { id } }`, string(th)},
		{`query($id: ID!) { node(id: $id) { ... on Thumbnail { id width height skewMs url } } }`, string(th)},
		{`query($id: ID!) { node(id: $id) { id } }`, string(entry)},
		{`query($id: ID!) { node(id: $id) { ... on JournalEntry { id thumbnail { id url } } } }`, string(entry)},
		{thumbNodeQuery, string(entry)},
	} {
		if n := thumbLookup(t, srv, q.query, q.id); n == nil || !strings.Contains(string(n), q.id) {
			t.Errorf("own node %s not found by %s", q.id, q.query)
		}
	}
	if n := thumbLookup(t, srv, `query($id: ID!) { node(id: $id) { id } }`, string(foreign)); n != nil {
		t.Errorf("another account's thumbnail found: %s", n)
	}
}
