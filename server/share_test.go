package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent/auditlog"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/ent/schema/schematype"
	entsharelink "github.com/regicam/regicam/ent/sharelink"
	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/footage/ffmpeg"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/footage/segment"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/server"
	"github.com/regicam/regicam/sharelink"
	"github.com/regicam/regicam/viewer"
)

// fakePlayer stands in for footage/playback's Player: it answers a few
// bytes and remembers what it was asked and as whom.
type fakePlayer struct {
	mu    sync.Mutex
	calls []playCall
}

type playCall struct {
	camera   pulid.ID
	from, to time.Time
	download bool
	viewer   viewer.Viewer
	system   bool
}

func (p *fakePlayer) Serve(w http.ResponseWriter, r *http.Request, cameraID pulid.ID, from, to time.Time, download bool) {
	v, _ := viewer.FromContext(r.Context())
	p.mu.Lock()
	p.calls = append(p.calls, playCall{camera: cameraID, from: from, to: to, download: download, viewer: v, system: viewer.IsSystem(r.Context())})
	p.mu.Unlock()
	w.Header().Set("Content-Type", "video/mp4")
	_, _ = w.Write([]byte("FAKECLIP"))
}

func (p *fakePlayer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

func (p *fakePlayer) last(t *testing.T) playCall {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) == 0 {
		t.Fatal("the player was not asked")
	}
	return p.calls[len(p.calls)-1]
}

const slCreate = `mutation($in: CreateShareLinkInput!) { createShareLink(input: $in) {
  url link { id active clipFrom clipTo expiresAt revokedAt note views createdByName entry { id } } } }`

type slLink struct {
	ID            string
	Active        bool
	ClipFrom      time.Time
	ClipTo        time.Time
	ExpiresAt     time.Time
	RevokedAt     *time.Time
	Note          string
	Views         int
	CreatedByName string
	Entry         *struct{ ID string }
}

// get fetches u with no cookie and no key: a visitor without an account.
func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestShareLinks(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		sys := viewer.System(context.Background())
		at := time.Now().Add(-10 * time.Minute).Truncate(time.Second).UTC()
		res := srv.Ingester.Ingest(sys, srv.AccountID, ingest.Receipt{
			TerminalID: fx.TerminalIDs[0], ExternalID: "share-1", Kind: journalentry.KindCANCEL, OccurredAt: at,
			ReceiptNo: "R-0042", RegisterNo: "2", StaffName: "山田花子", Total: 1980,
			Items: []schematype.Item{{Name: "おにぎり鮭", Quantity: 2, Amount: 1980}},
		})
		if res.Status != ingest.Created {
			t.Fatalf("ingest: %+v", res)
		}
		entry := res.Entry
		other := srv.Ingester.Ingest(sys, srv.AccountID, ingest.Receipt{
			TerminalID: fx.TerminalIDs[0], ExternalID: "share-2", Kind: journalentry.KindPAYMENT, OccurredAt: at.Add(5 * time.Second),
			ReceiptNo: "R-0043", RegisterNo: "2", StaffName: "別の人", Total: 777,
		})

		player := &fakePlayer{}
		share := &server.Share{Links: &sharelink.Service{Client: srv.DB.Client}, Player: player, Log: testenv.Logger()}
		mux := http.NewServeMux()
		share.Register(mux)
		hs := httptest.NewServer(mux)
		t.Cleanup(hs.Close)

		// Made by the owner through GraphQL: the URL is shown once.
		var created struct {
			CreateShareLink struct {
				URL  string
				Link slLink
			}
		}
		srv.MustQuery(t, slCreate, map[string]any{"in": map[string]any{"entryID": entry.ID, "note": "警察に提出"}}, &created)
		link := created.CreateShareLink.Link
		u := created.CreateShareLink.URL
		i := strings.Index(u, sharelink.PathPrefix)
		if i < 0 {
			t.Fatalf("url %q has no %s", u, sharelink.PathPrefix)
		}
		// No log line may hold it (checked when the test ends).
		token := testenv.Secret(u[i+len(sharelink.PathPrefix):])
		if !link.Active || link.Note != "警察に提出" || link.Entry == nil || link.Entry.ID != string(entry.ID) {
			t.Errorf("created link: %+v", link)
		}
		if want := at.Add(-10 * time.Second); !link.ClipFrom.Equal(want) || !link.ClipTo.Equal(at.Add(20*time.Second)) {
			t.Errorf("clip %s–%s, want the account's lead-in/out around %s", link.ClipFrom, link.ClipTo, at)
		}
		if d := time.Until(link.ExpiresAt); d < 71*time.Hour || d > 73*time.Hour {
			t.Errorf("expires in %s, want the default 72 h", d)
		}

		// The database holds the token's SHA-256, never the token or URL.
		row, err := srv.DB.Client.ShareLink.Get(sys, pulid.ID(link.ID))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(row.TokenHash, sharelink.HashOf(token)) {
			t.Error("the stored hash is not the token's SHA-256")
		}
		logs, err := srv.DB.Client.AuditLog.Query().Where(auditlog.AccountID(srv.AccountID)).All(sys)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range logs {
			if strings.Contains(l.Detail, token) || strings.Contains(l.TargetID, token) {
				t.Errorf("audit row %s holds the token", l.Action)
			}
		}

		// A visitor without an account opens it.
		resp, page := get(t, hs.URL+sharelink.PathPrefix+token)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page: %s %s", resp.Status, page)
		}
		for _, want := range []string{"渋谷店", "R-0042", "¥1,980", "山田花子", "おにぎり鮭", "キャンセル", "<video",
			sharelink.PathPrefix + token + "/clip", sharelink.PathPrefix + token + "/clip?download=1"} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		// The receipt is 10 s into the clip; the shop is in Tokyo.
		if !strings.Contains(page, "0:10 ("+at.In(time.FixedZone("JST", 9*3600)).Format("15:04:05")+")") {
			t.Errorf("page does not mark the receipt's second at 0:10 (shop time)")
		}
		for _, leak := range []string{string(srv.AccountID), string(entry.ID), string(fx.CameraIDs[0]), string(fx.ShopID),
			string(link.ID), "R-0043", "別の人"} {
			if strings.Contains(page, leak) {
				t.Errorf("page shows %q", leak)
			}
		}
		if other.Entry == nil {
			t.Fatal("second receipt not ingested")
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "http") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
		if resp.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(resp.Header.Get("X-Robots-Tag"), "noindex") ||
			!strings.Contains(page, `name="robots" content="noindex`) || strings.Contains(page, "src=\"http") {
			t.Errorf("page headers %v", resp.Header)
		}

		// Its clip plays through the player, as a read-only viewer of the
		// account confined to the receipt's shop, for the link's camera
		// and window only.
		resp, body := get(t, hs.URL+sharelink.PathPrefix+token+"/clip")
		if resp.StatusCode != http.StatusOK || body != "FAKECLIP" {
			t.Fatalf("clip: %s %q", resp.Status, body)
		}
		c := player.last(t)
		if c.camera != fx.CameraIDs[0] || !c.from.Equal(link.ClipFrom) || !c.to.Equal(link.ClipTo) || c.download {
			t.Errorf("player asked %+v", c)
		}
		if c.system || c.viewer.AccountID != srv.AccountID || !c.viewer.Restricted || c.viewer.UserID != "" ||
			len(c.viewer.ShopIDs) != 1 || c.viewer.ShopIDs[0] != fx.ShopID || c.viewer.Allows(viewer.ScopeAdmin) {
			t.Errorf("player ran as %+v (system %v)", c.viewer, c.system)
		}
		if resp, _ = get(t, hs.URL+sharelink.PathPrefix+token+"/clip?download=1"); resp.StatusCode != http.StatusOK || !player.last(t).download {
			t.Errorf("download: %s", resp.Status)
		}

		// The owner's list: one page load counted, clip requests not.
		var list struct {
			ShareLinks struct {
				TotalCount int
				Edges      []struct{ Node slLink }
			}
		}
		const slList = `query($e: ID) { shareLinks(entryID: $e) { totalCount edges { node { id active views revokedAt entry { id } } } } }`
		srv.MustQuery(t, slList, map[string]any{"e": entry.ID}, &list)
		if list.ShareLinks.TotalCount != 1 || list.ShareLinks.Edges[0].Node.ID != link.ID || list.ShareLinks.Edges[0].Node.Views != 1 {
			t.Errorf("owner's list: %+v", list.ShareLinks)
		}

		// Another account's admin neither lists nor revokes it.
		bAcct, _ := srv.NewAccount(t, "B社")
		_, bAdmin := srv.NewUser(t, bAcct, viewer.RoleAdmin)
		bAdmin.MustQuery(t, slList, nil, &list)
		if list.ShareLinks.TotalCount != 0 {
			t.Errorf("B's admin lists %d links", list.ShareLinks.TotalCount)
		}
		for _, q := range []struct {
			doc  string
			vars map[string]any
		}{
			{slList, map[string]any{"e": entry.ID}},
			{`mutation($id: ID!) { revokeShareLink(id: $id) { id } }`, map[string]any{"id": link.ID}},
			{`query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": link.ID}},
			{slCreate, map[string]any{"in": map[string]any{"entryID": entry.ID}}},
		} {
			if r := bAdmin.Query(t, q.doc, q.vars); !hasCode(r, "NOT_FOUND") {
				t.Errorf("B's admin: %s: want NOT_FOUND, got %s %+v", q.doc, r.Data, r.Errors)
			}
		}
		// STAFF of the account are refused.
		_, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, fx.ShopID)
		for _, q := range []struct {
			doc  string
			vars map[string]any
		}{
			{slList, nil},
			{slCreate, map[string]any{"in": map[string]any{"entryID": entry.ID}}},
			{`mutation($id: ID!) { revokeShareLink(id: $id) { id } }`, map[string]any{"id": link.ID}},
		} {
			if r := staff.Query(t, q.doc, q.vars); !hasCode(r, "FORBIDDEN") {
				t.Errorf("STAFF: %s: want FORBIDDEN, got %s %+v", q.doc, r.Data, r.Errors)
			}
		}

		// Bad input: lifetime out of range, a receipt with no camera.
		for _, h := range []int{0, 721} {
			r := srv.Query(t, slCreate, map[string]any{"in": map[string]any{"entryID": entry.ID, "expiresInHours": h}})
			if len(r.Errors) == 0 || r.Errors[0].Field() != "expiresInHours" {
				t.Errorf("expiresInHours %d: %+v", h, r.Errors)
			}
		}
		term, err := srv.DB.Client.Terminal.Get(sys, fx.TerminalIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		lone, err := srv.DB.Client.Terminal.Create().SetAccountID(srv.AccountID).SetConnectionID(term.ConnectionID).
			SetShopID(fx.ShopID).SetExternalID("lone").SetName("カメラなしレジ").Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		noCam := srv.Ingester.Ingest(sys, srv.AccountID, ingest.Receipt{TerminalID: lone.ID, ExternalID: "nocam", Kind: journalentry.KindPAYMENT, OccurredAt: at})
		if noCam.Entry == nil || noCam.Entry.CameraID != nil {
			t.Fatalf("receipt without camera: %+v", noCam)
		}
		if r := srv.Query(t, slCreate, map[string]any{"in": map[string]any{"entryID": noCam.Entry.ID}}); len(r.Errors) == 0 ||
			r.Errors[0].Field() != "entryID" || r.Errors[0].Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "カメラ") {
			t.Errorf("receipt without camera: %+v", r.Errors)
		}

		// Revoked: 410 for the page and the clip; a second revoke changes nothing.
		const slRevoke = `mutation($id: ID!) { revokeShareLink(id: $id) { id active revokedAt } }`
		var rv1, rv2 struct{ RevokeShareLink slLink }
		srv.MustQuery(t, slRevoke, map[string]any{"id": link.ID}, &rv1)
		srv.MustQuery(t, slRevoke, map[string]any{"id": link.ID}, &rv2)
		if rv1.RevokeShareLink.Active || rv1.RevokeShareLink.RevokedAt == nil || rv2.RevokeShareLink.RevokedAt == nil ||
			!rv2.RevokeShareLink.RevokedAt.Equal(*rv1.RevokeShareLink.RevokedAt) {
			t.Errorf("revokes: %+v then %+v", rv1.RevokeShareLink, rv2.RevokeShareLink)
		}
		calls := player.count()
		for _, p := range []string{"", "/clip"} {
			resp, body := get(t, hs.URL+sharelink.PathPrefix+token+p)
			if resp.StatusCode != http.StatusGone || !strings.Contains(body, "取り消されました") {
				t.Errorf("revoked %q: %s %s", p, resp.Status, body)
			}
		}
		if player.count() != calls {
			t.Error("a revoked link's clip reached the player")
		}

		// Expired: a second link, seen from past its 1 h.
		srv.MustQuery(t, slCreate, map[string]any{"in": map[string]any{"entryID": entry.ID, "expiresInHours": 1}}, &created)
		u = created.CreateShareLink.URL
		token2 := testenv.Secret(u[strings.Index(u, sharelink.PathPrefix)+len(sharelink.PathPrefix):])
		if resp, _ := get(t, hs.URL+sharelink.PathPrefix+token2); resp.StatusCode != http.StatusOK {
			t.Errorf("fresh 1 h link: %s", resp.Status)
		}
		later := &server.Share{Links: &sharelink.Service{Client: srv.DB.Client, Now: func() time.Time { return time.Now().Add(61 * time.Minute) }}, Player: player}
		lmux := http.NewServeMux()
		later.Register(lmux)
		lhs := httptest.NewServer(lmux)
		t.Cleanup(lhs.Close)
		if resp, body := get(t, lhs.URL+sharelink.PathPrefix+token2); resp.StatusCode != http.StatusGone || !strings.Contains(body, "有効期限") {
			t.Errorf("expired: %s %s", resp.Status, body)
		}

		// Unknown and malformed tokens: 404.
		for _, tok := range []string{strings.Repeat("A", 43), "nope", token + "x"} {
			if resp, body := get(t, hs.URL+sharelink.PathPrefix+tok); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "見つかりません") {
				t.Errorf("token %q: %s", tok, resp.Status)
			}
		}

		// Audited: one created per link, one revoked, a view.
		count := func(action string) int {
			n, err := srv.DB.Client.AuditLog.Query().Where(auditlog.AccountID(srv.AccountID), auditlog.Action(action)).Count(sys)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if c, r, v := count(sharelink.ActionCreated), count(sharelink.ActionRevoked), count(sharelink.ActionViewed); c != 2 || r != 1 || v != 2 {
			t.Errorf("audit rows: created %d revoked %d viewed %d, want 2 1 2", c, r, v)
		}
		n, err := srv.DB.Client.ShareLink.Query().Where(entsharelink.AccountID(srv.AccountID)).Count(sys)
		if err != nil || n != 2 {
			t.Errorf("%d links stored (%v)", n, err)
		}
	})
}

// TestShareRateLimit: an address that guesses tokens is told to wait
// before the database is asked again.
func TestShareRateLimit(t *testing.T) {
	srv := testenv.Start(t, testenv.Backend{Name: "sqlite"}, "")
	share := &server.Share{Links: &sharelink.Service{Client: srv.DB.Client},
		Limit: server.ShareLimit{Burst: 20, PerSecond: 0.01, MissCost: 10, MaxAddresses: 4}}
	mux := http.NewServeMux()
	share.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	var codes []int
	for range 4 {
		resp, _ := get(t, hs.URL+sharelink.PathPrefix+strings.Repeat("B", 43))
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != http.StatusNotFound || codes[1] != http.StatusNotFound || codes[2] != http.StatusTooManyRequests || codes[3] != http.StatusTooManyRequests {
		t.Errorf("statuses %v: want two 404 then 429", codes)
	}
}

func hasCode(r testenv.Response, code string) bool {
	for _, e := range r.Errors {
		if e.Code() == code {
			return true
		}
	}
	return false
}

// TestShareLinkPlaysRecording: a visitor without an account plays and
// downloads the clip through footage/playback's Player from a recording
// on disk, as the link's restricted viewer.
func TestShareLinkPlaysRecording(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		sys := viewer.System(context.Background())
		dir := t.TempDir()
		rec := footage.New(srv.DB.Client, srv.Secrets, footage.Config{Dir: dir}, testenv.Logger())
		player := playback.New(srv.DB.Client, rec, testenv.Logger(), playback.Options{TempDir: t.TempDir()})
		at := time.Now().Add(-5 * time.Minute).Truncate(time.Second).UTC()
		res := srv.Ingester.Ingest(sys, srv.AccountID, ingest.Receipt{
			TerminalID: fx.TerminalIDs[0], ExternalID: "rec-1", Kind: journalentry.KindPAYMENT, OccurredAt: at, ReceiptNo: "R-7",
		})
		if res.Entry == nil {
			t.Fatalf("ingest: %+v", res)
		}
		// The simulated camera's pictures of [at−15 s, at+25 s), 5 a second,
		// as footage's recorder writes them.
		cam := fx.CameraIDs[0]
		rel := string(srv.AccountID) + "/" + string(cam) + "/" + string(pulid.MustNew("sg")) + ".jseq"
		full := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(full)
		if err != nil {
			t.Fatal(err)
		}
		w, err := segment.NewJPEGWriter(f)
		if err != nil {
			t.Fatal(err)
		}
		start, n := at.Add(-15*time.Second), 0
		var last time.Time
		for ts := start; ts.Before(at.Add(25 * time.Second)); ts = ts.Add(200 * time.Millisecond) {
			jpeg, err := camera.RenderAt(camera.SimulatedConfig{Name: "share"}, ts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.WriteFrame(ts, jpeg); err != nil {
				t.Fatal(err)
			}
			last, n = ts, n+1
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.DB.Client.RecordingSegment.Create().SetAccountID(srv.AccountID).SetCameraID(cam).
			SetFormat(recordingsegment.FormatJPEG_SEQ).SetPath(rel).SetStartAt(start).SetEndAt(last).
			SetBytes(w.Bytes()).SetFrames(n).SetState(recordingsegment.StateCOMPLETE).Save(sys); err != nil {
			t.Fatal(err)
		}

		var created struct{ CreateShareLink struct{ URL string } }
		srv.MustQuery(t, slCreate, map[string]any{"in": map[string]any{"entryID": res.Entry.ID}}, &created)
		u := created.CreateShareLink.URL
		token := testenv.Secret(u[strings.Index(u, sharelink.PathPrefix)+len(sharelink.PathPrefix):])
		share := &server.Share{Links: &sharelink.Service{Client: srv.DB.Client}, Player: player, Log: testenv.Logger()}
		mux := http.NewServeMux()
		share.RegisterWith(mux, time.Minute)
		hs := httptest.NewServer(mux)
		t.Cleanup(hs.Close)

		resp, body := get(t, hs.URL+sharelink.PathPrefix+token+"/clip?download=1")
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Fatalf("download: %s %.200s", resp.Status, body)
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "receipt-R-7-") || strings.Contains(cd, string(res.Entry.ID)) {
			t.Errorf("download named %q", cd)
		}
		if _, ok := ffmpeg.Path(); ok {
			resp, body = get(t, hs.URL+sharelink.PathPrefix+token+"/clip")
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "video/mp4") || len(body) == 0 {
				t.Errorf("play: %s %s %.200s", resp.Status, resp.Header.Get("Content-Type"), body)
			}
		}
	})
}
