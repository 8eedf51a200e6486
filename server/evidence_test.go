package server_test

// Issue 18 part 2, through a started server: a case made through GraphQL
// (createCase, addCaseNote) downloads as a ZIP whose manifest hashes every
// file, whose receipts.csv is the journal export's, with the receipts'
// thumbnails as GET /thumbnails serves them, the notes and the history;
// the download is audited and in the case's history; other accounts,
// other shops' STAFF and anonymous callers get nothing.

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/evidence"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

type evidenceZip struct {
	files    map[string][]byte
	order    []string
	manifest evidence.Manifest
}

func evidenceGet(t *testing.T, c *testenv.Server, path string) (*http.Response, []byte) {
	t.Helper()
	res := c.Get(t, path)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return res, body
}

func evidenceUnzip(t *testing.T, body []byte) evidenceZip {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("not a ZIP (%d bytes): %v", len(body), err)
	}
	z := evidenceZip{files: map[string][]byte{}}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("open %s: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		if _, dup := z.files[f.Name]; dup {
			t.Fatalf("%s twice in the ZIP", f.Name)
		}
		z.files[f.Name] = b
		z.order = append(z.order, f.Name)
	}
	if len(z.order) == 0 || z.order[len(z.order)-1] != evidence.ManifestJSON {
		t.Fatalf("manifest.json is not the last file: %v", z.order)
	}
	if err := json.Unmarshal(z.files[evidence.ManifestJSON], &z.manifest); err != nil {
		t.Fatalf("manifest.json: %v\n%s", err, z.files[evidence.ManifestJSON])
	}
	// Every hash and size in the manifest, against the file; every other
	// file listed.
	listed := map[string]bool{}
	for _, f := range z.manifest.Files {
		b, ok := z.files[f.Path]
		if !ok {
			t.Errorf("manifest lists %s, not in the ZIP", f.Path)
			continue
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(b)) != f.Size {
			t.Errorf("%s: sha256 %x, %d bytes; manifest says %s, %d", f.Path, sum, len(b), f.SHA256, f.Size)
		}
		listed[f.Path] = true
	}
	for _, name := range z.order[:len(z.order)-1] {
		if !listed[name] {
			t.Errorf("%s is in the ZIP but not in the manifest", name)
		}
	}
	return z
}

func TestCaseEvidenceBundle(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		t.Parallel()
		srv, _ := thumbStart(t, b, func(c *app.Config) { c.RecorderInterval = 250 * time.Millisecond })
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		cam := fx.CameraIDs[0] // terminals 0 and 1; camera 1 (terminal 2) records nothing
		thumbRecord(t, srv, cam, entcamera.SourceKindSIMULATED, "")
		waitBuffered(t, srv, cam, 2500*time.Millisecond)

		// A sale and its cancel (one receipt number), and a sale whose camera
		// records nothing, through ingestJournal as a partner sends them.
		now := time.Now().Add(-2 * time.Second).UTC().Truncate(time.Millisecond)
		ext := thumbExt("ev")
		tricky := `ブレンド, "特製"` + "\n2杯目"
		var ing struct {
			IngestJournal []struct {
				Status string
				Entry  struct {
					ID              string
					ThumbnailReason string
					Thumbnail       *struct{ URL string }
				}
			}
		}
		srv.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) {
			status entry { id thumbnailReason thumbnail { url } } } }`, map[string]any{"in": []map[string]any{
			{"terminalID": fx.TerminalIDs[0], "externalID": ext, "kind": "PAYMENT", "occurredAt": now.Add(-time.Second).Format(time.RFC3339Nano),
				"receiptNo": "0042", "registerNo": "2", "staffName": "山田, 太郎", "total": 1800, "paymentMethod": "現金",
				"items": []map[string]any{{"name": tricky, "quantity": 2, "amount": 900}}},
			{"terminalID": fx.TerminalIDs[0], "externalID": ext, "kind": "CANCEL", "occurredAt": now.Format(time.RFC3339Nano),
				"receiptNo": "0042", "registerNo": "2", "staffName": `=HYPERLINK("x")`, "total": 1800, "paymentMethod": "現金"},
			{"terminalID": fx.TerminalIDs[2], "externalID": ext + "-b", "kind": "PAYMENT", "occurredAt": now.Format(time.RFC3339Nano),
				"receiptNo": "0043", "staffName": "佐藤", "total": 500, "paymentMethod": "クレジットカード"},
		}}, &ing)
		var ids []string
		for i, r := range ing.IngestJournal {
			if r.Status != "CREATED" {
				t.Fatalf("ingest %d: %+v", i, r)
			}
			ids = append(ids, r.Entry.ID)
		}
		if ing.IngestJournal[0].Entry.Thumbnail == nil || ing.IngestJournal[1].Entry.Thumbnail == nil || ing.IngestJournal[2].Entry.Thumbnail != nil {
			t.Fatalf("thumbnails: %+v", ing.IngestJournal)
		}

		var created struct {
			CreateCase struct{ ID, EvidenceURL string }
		}
		srv.MustQuery(t, `mutation($in: CreateCaseInput!) { createCase(input: $in) { id evidenceURL } }`,
			map[string]any{"in": map[string]any{"title": "レジ2 の取消: 山田/確認", "entryIDs": ids}}, &created)
		cs := created.CreateCase
		notes := []string{"防犯カメラで客の不在を確認", "店長に報告。\n翌日に本人へ聞き取り予定"}
		for _, n := range notes {
			srv.MustQuery(t, `mutation($id: ID!, $t: String!) { addCaseNote(caseID: $id, text: $t) { id } }`,
				map[string]any{"id": cs.ID, "t": n}, nil)
		}

		before := time.Now().UTC().Add(-time.Second)
		res, body := evidenceGet(t, srv, cs.EvidenceURL)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %s", cs.EvidenceURL, res.Status, body)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/zip" {
			t.Errorf("Content-Type %q", ct)
		}
		cd := res.Header.Get("Content-Disposition")
		if !strings.HasPrefix(cd, `attachment; filename="evidence-`+cs.ID+"-") ||
			!strings.Contains(cd, "filename*=UTF-8''%E8%A8%BC%E6%8B%A0_") || strings.Count(cd, ";") != 2 {
			t.Errorf("Content-Disposition %q", cd)
		}
		z := evidenceUnzip(t, body)
		m := z.manifest

		t.Run("manifest", func(t *testing.T) {
			if m.Format != evidence.Format || m.Case.ID != cs.ID || m.Case.Title != "レジ2 の取消: 山田/確認" || m.Case.Status != "OPEN" {
				t.Errorf("manifest case %+v format %q", m.Case, m.Format)
			}
			at, err := time.Parse(time.RFC3339, m.DownloadedAt)
			if err != nil || !strings.HasSuffix(m.DownloadedAt, "Z") || at.Before(before) || at.After(time.Now().Add(time.Second)) {
				t.Errorf("downloadedAt %q (%v)", m.DownloadedAt, err)
			}
			if m.DownloadedBy.Kind != "USER" || m.DownloadedBy.Name != srv.Owner.Name {
				t.Errorf("downloadedBy %+v, want the owner %q", m.DownloadedBy, srv.Owner.Name)
			}
			if len(m.Entries) != 3 {
				t.Fatalf("manifest entries %+v", m.Entries)
			}
			for _, e := range m.Entries {
				if e.Clip.Status != evidence.ClipNotRecorded {
					t.Errorf("%s clip %+v", e.ID, e.Clip)
				}
			}
		})

		t.Run("receipts_csv_is_the_export", func(t *testing.T) {
			// The account holds only the case's receipts: its whole export
			// is the same rows in the same order.
			res, exp := evidenceGet(t, srv, "/export/journal.csv")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("export: %s", res.Status)
			}
			if got := z.files[evidence.ReceiptsCSV]; !bytes.Equal(got, exp) {
				t.Errorf("receipts.csv differs from the export:\n%s\nexport:\n%s", got, exp)
			}
		})

		t.Run("pictures", func(t *testing.T) {
			byID := map[string]evidence.EntryInfo{}
			for _, e := range m.Entries {
				byID[e.ID] = e
			}
			for i, r := range ing.IngestJournal {
				e := byID[r.Entry.ID]
				if r.Entry.Thumbnail == nil {
					if e.Picture.Status != evidence.PictureNone || e.Picture.Reason == "" || e.Picture.File != "" {
						t.Errorf("receipt %d without picture: %+v (thumbnailReason %q)", i, e.Picture, r.Entry.ThumbnailReason)
					}
					continue
				}
				// A sale and its cancel share 0042: the names still differ.
				if e.Picture.Status != evidence.PictureIncluded || e.Picture.File != "pictures/0042_"+r.Entry.ID+".jpg" {
					t.Errorf("receipt %d picture %+v", i, e.Picture)
					continue
				}
				res, served := thumbGet(t, srv, r.Entry.Thumbnail.URL, nil)
				if res.StatusCode != http.StatusOK || !bytes.Equal(served, z.files[e.Picture.File]) {
					t.Errorf("%s: %d bytes, GET %s serves %d (%s)", e.Picture.File, len(z.files[e.Picture.File]), r.Entry.Thumbnail.URL, len(served), res.Status)
				}
			}
		})

		t.Run("html", func(t *testing.T) {
			page := string(z.files[evidence.ReceiptsHTML])
			for _, want := range []string{`<html lang="ja">`, "レジ2 の取消: 山田/確認", "0042", "0043", "山田, 太郎",
				"¥1,800", "キャンセル", "クレジットカード", "渋谷店", "レジ3", "ブレンド, &#34;特製&#34;",
				`src="pictures/0042_` + ids[0] + `.jpg"`, "写真なし", "録画された動画はありません"} {
				if !strings.Contains(page, want) {
					t.Errorf("receipts.html lacks %q", want)
				}
			}
			if strings.Contains(page, "<script") || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
				t.Errorf("receipts.html loads or runs something")
			}
		})

		t.Run("notes_and_history", func(t *testing.T) {
			nt := string(z.files[evidence.NotesTXT])
			if !strings.Contains(nt, notes[0]) || !strings.Contains(nt, "店長に報告。\r\n翌日に本人へ聞き取り予定") {
				t.Errorf("notes.txt:\n%s", nt)
			}
			h := string(z.files[evidence.HistoryTXT])
			for _, a := range []string{"\tCREATED\t", "\tNOTE\t", "\tEVIDENCE_DOWNLOADED\t" + srv.Owner.Name} {
				if !strings.Contains(h, a) {
					t.Errorf("history.txt lacks %q:\n%s", a, h)
				}
			}
		})

		// Recorded: the case's history and the audit log say so.
		var view struct {
			Node struct {
				History []struct{ Action, ActorName string }
			}
		}
		srv.MustQuery(t, `query($id: ID!) { node(id: $id) { ... on Case { history { action actorName } } } }`,
			map[string]any{"id": cs.ID}, &view)
		downloads := 0
		for _, h := range view.Node.History {
			if h.Action == "EVIDENCE_DOWNLOADED" && h.ActorName == srv.Owner.Name {
				downloads++
			}
		}
		if downloads != 1 {
			t.Errorf("history %+v: %d downloads", view.Node.History, downloads)
		}
		var audit struct {
			AuditLog struct {
				Edges []struct {
					Node struct{ Action, TargetID string }
				}
			}
		}
		srv.MustQuery(t, `{ auditLog(first: 100, action: "case.evidence_downloaded") { edges { node { action targetID } } } }`, nil, &audit)
		if len(audit.AuditLog.Edges) != 1 || audit.AuditLog.Edges[0].Node.TargetID != cs.ID {
			t.Errorf("audit rows of the download: %+v", audit.AuditLog.Edges)
		}

		t.Run("api_key", func(t *testing.T) {
			_, key := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
			res, body := evidenceGet(t, key, cs.EvidenceURL)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("API key: %s %s", res.Status, body)
			}
			z := evidenceUnzip(t, body)
			if by := z.manifest.DownloadedBy; by.Kind != "API_KEY" || by.Name != "testenv" {
				t.Errorf("downloadedBy %+v", by)
			}
			if h := string(z.files[evidence.HistoryTXT]); strings.Count(h, "\tEVIDENCE_DOWNLOADED\t") != 2 || !strings.Contains(h, "API キー「testenv」") {
				t.Errorf("history.txt after the key's download:\n%s", h)
			}
		})

		t.Run("staff", func(t *testing.T) {
			_, own := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, fx.ShopID)
			if res, body := evidenceGet(t, own, cs.EvidenceURL); res.StatusCode != http.StatusOK {
				t.Errorf("STAFF of the shop: %s %s", res.Status, body)
			}
			shop2, err := srv.DB.Client.Shop.Create().SetAccountID(srv.AccountID).SetName("新宿店").Save(viewer.System(t.Context()))
			if err != nil {
				t.Fatal(err)
			}
			_, other := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, shop2.ID)
			evidenceRefused(t, other, cs.EvidenceURL, http.StatusNotFound, "NOT_FOUND")
		})

		t.Run("refused", func(t *testing.T) {
			_, foreign := srv.NewAccount(t, "別の会社")
			evidenceRefused(t, foreign, cs.EvidenceURL, http.StatusNotFound, "NOT_FOUND")
			evidenceRefused(t, srv, "/cases/CS01ZZZZZZZZZZZZZZZZZZZZZZ/evidence.zip", http.StatusNotFound, "NOT_FOUND")
			evidenceRefused(t, srv, "/cases/"+ids[0]+"/evidence.zip", http.StatusNotFound, "NOT_FOUND")
			evidenceRefused(t, srv.As(testenv.Anonymous), cs.EvidenceURL, http.StatusUnauthorized, "UNAUTHENTICATED")
		})

		// None of the refused calls was recorded.
		srv.MustQuery(t, `{ auditLog(first: 100, action: "case.evidence_downloaded") { edges { node { action targetID } } } }`, nil, &audit)
		if len(audit.AuditLog.Edges) != 3 { // owner, API key, STAFF of the shop
			t.Errorf("audit rows of downloads: %d, want 3", len(audit.AuditLog.Edges))
		}
	})
}

func evidenceRefused(t *testing.T, c *testenv.Server, path string, status int, code string) {
	t.Helper()
	res, body := evidenceGet(t, c, path)
	var e struct {
		Errors []struct {
			Extensions struct{ Code string }
		}
	}
	if res.StatusCode != status || json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 || e.Errors[0].Extensions.Code != code {
		t.Errorf("GET %s: %s %s, want %d %s", path, res.Status, body, status, code)
	}
	if res.Header.Get("Content-Disposition") != "" {
		t.Errorf("GET %s: refused with Content-Disposition %q", path, res.Header.Get("Content-Disposition"))
	}
}
