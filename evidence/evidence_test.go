package evidence_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/evidence"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// unzip reads a bundle and checks every hash and size its manifest gives.
func unzip(t *testing.T, b []byte) (map[string][]byte, evidence.Manifest) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var m evidence.Manifest
	if err := json.Unmarshal(files[evidence.ManifestJSON], &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != len(files)-1 {
		t.Errorf("manifest lists %d files, the ZIP has %d besides it", len(m.Files), len(files)-1)
	}
	for _, f := range m.Files {
		sum := sha256.Sum256(files[f.Path])
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(files[f.Path])) != f.Size {
			t.Errorf("%s: hash or size differs from the manifest", f.Path)
		}
	}
	return files, m
}

// TestExpiredPictures: a picture retention removed is said so in the
// manifest and on the page, whether its bytes went first (another
// replica's retention between rows and blobs) or its row did.
func TestExpiredPictures(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx, caseID, store := seedCase(t, d, 3)
		write := func() (map[string][]byte, evidence.Manifest) {
			t.Helper()
			b, err := evidence.Load(ctx, d.Client, string(caseID))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := b.Write(ctx, d.Client, &buf, store.Get, evidence.Downloader{Name: "店長", Kind: "USER", At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			return unzip(t, buf.Bytes())
		}
		sys := viewer.System(context.Background())
		rows, err := d.Client.Thumbnail.Query().Order(thumbnail.ByRequestedAt()).All(sys)
		if err != nil || len(rows) != 3 {
			t.Fatalf("thumbnails %d, %v", len(rows), err)
		}
		if err := store.Delete(sys, rows[0].StorageKey); err != nil {
			t.Fatal(err)
		}
		files, m := write()
		status := map[string]evidence.MediaInfo{}
		for _, e := range m.Entries {
			status[e.ID] = e.Picture
		}
		if p := status[string(rows[0].EntryID)]; p.Status != evidence.PictureExpired || p.File != "" || p.Reason != thumbs.ExpiredReason {
			t.Errorf("picture whose bytes are gone: %+v", p)
		}
		for _, r := range rows[1:] {
			if p := status[string(r.EntryID)]; p.Status != evidence.PictureIncluded || files[p.File] == nil {
				t.Errorf("kept picture: %+v", p)
			}
		}

		if _, err := thumbs.Expire(sys, d.Client, store, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		files, m = write()
		for _, e := range m.Entries {
			if e.Picture.Status != evidence.PictureExpired || e.Picture.File != "" {
				t.Errorf("after retention, %s: %+v", e.ID, e.Picture)
			}
		}
		for name := range files {
			if strings.HasPrefix(name, evidence.PictureDir) {
				t.Errorf("%s in the bundle after retention", name)
			}
		}
		if page := string(files[evidence.ReceiptsHTML]); strings.Count(page, "写真なし: ") != 3 || strings.Contains(page, "EXPIRED") {
			t.Errorf("receipts.html does not say the pictures expired in words:\n%s", page)
		}
	})
}

// TestLoadRefuses: a case of another account, and ids that name no case,
// are one NOT_FOUND on "id".
func TestLoadRefuses(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx, caseID, _ := seedCase(t, d, 1)
		sys := viewer.System(context.Background())
		other, err := d.Client.Account.Create().SetName("別の会社").Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		foreign := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: other.ID, Role: viewer.RoleOwner,
			Scopes: []viewer.Scope{viewer.ScopeJournalRead}})
		for name, c := range map[string]struct {
			ctx context.Context
			id  string
		}{"foreign": {foreign, string(caseID)}, "malformed": {ctx, "CS1"}, "entry id": {ctx, "JE" + string(caseID)[2:]}} {
			_, err := evidence.Load(c.ctx, d.Client, c.id)
			if e, ok := apperr.As(err); !ok || e.Code != apperr.NotFound || e.Field != "id" {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}
