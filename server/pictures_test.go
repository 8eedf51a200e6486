package server_test

// Issue 19: the selected receipt's evidence is the camera's own frame at
// full resolution (JournalEntry.picture), kept with the receipt beside its
// thumbnail: stored at full size, served with the thumbnail's
// authentication and tenancy, and expired with it, on both databases and
// both blob stores (files for SQLite, a table for PostgreSQL).

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image/jpeg"
	"net/http"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

type pictureEntry struct {
	ID        string `json:"id"`
	Thumbnail *struct {
		URL        string    `json:"url"`
		Width      int       `json:"width"`
		CapturedAt time.Time `json:"capturedAt"`
		CreatedAt  time.Time `json:"createdAt"`
	} `json:"thumbnail"`
	Picture *struct {
		URL        string    `json:"url"`
		Width      int       `json:"width"`
		Height     int       `json:"height"`
		CapturedAt time.Time `json:"capturedAt"`
	} `json:"picture"`
}

func pictureOf(t *testing.T, srv *testenv.Server, id string) pictureEntry {
	t.Helper()
	var out struct {
		Node pictureEntry `json:"node"`
	}
	srv.MustQuery(t, `query($id: ID!) { node(id: $id) { id ... on JournalEntry {
		thumbnail { url width capturedAt createdAt } picture { url width height capturedAt } } } }`,
		map[string]any{"id": id}, &out)
	if out.Node.ID != id {
		t.Fatalf("entry %s not found", id)
	}
	return out.Node
}

func TestEntryPicture(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		t.Parallel()
		srv, _ := thumbStart(t, b, func(c *app.Config) { c.RecorderInterval = 250 * time.Millisecond })
		ctx := t.Context()
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		cam, term := fx.CameraIDs[0], fx.TerminalIDs[0]
		thumbRecord(t, srv, cam, entcamera.SourceKindSIMULATED, "")
		waitBuffered(t, srv, cam, 1500*time.Millisecond)
		occurred := time.Now().Add(-time.Second).UTC().Truncate(time.Microsecond)
		id := thumbIngest(t, srv, term, occurred).ID

		e := pictureOf(t, srv, id)
		if e.Thumbnail == nil || e.Picture == nil {
			t.Fatalf("entry %s: thumbnail %+v, picture %+v", id, e.Thumbnail, e.Picture)
		}
		p := e.Picture
		if p.Width != camera.SimulatedWidth || p.Height != camera.SimulatedHeight || e.Thumbnail.Width >= p.Width {
			t.Fatalf("picture %d×%d, thumbnail %d wide; want the camera's %d×%d", p.Width, p.Height, e.Thumbnail.Width,
				camera.SimulatedWidth, camera.SimulatedHeight)
		}
		if !p.CapturedAt.Equal(e.Thumbnail.CapturedAt) {
			t.Fatalf("picture captured %s, thumbnail %s", p.CapturedAt, e.Thumbnail.CapturedAt)
		}

		row, err := srv.DB.Client.Thumbnail.Query().Where(thumbnail.EntryID(pulid.ID(id))).Only(viewer.System(ctx))
		if err != nil || row.PictureKey == "" {
			t.Fatalf("thumbnail row of %s: %+v, %v", id, row, err)
		}

		t.Run("stored_at_full_size", func(t *testing.T) {
			resp, body := thumbGet(t, srv, p.URL, nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
				t.Fatalf("GET %s: %s %q", p.URL, resp.Status, resp.Header.Get("Content-Type"))
			}
			if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != row.PictureSha256 {
				t.Fatalf("served picture sha256 %x, row says %s", sum, row.PictureSha256)
			}
			if resp.Header.Get("ETag") != thumbETag(body) || resp.Header.Get("Cache-Control") != thumbCacheControl {
				t.Fatalf("ETag %q Cache-Control %q", resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(body))
			if err != nil || cfg.Width != p.Width || cfg.Height != p.Height {
				t.Fatalf("served picture %d×%d (%v), GraphQL says %d×%d", cfg.Width, cfg.Height, err, p.Width, p.Height)
			}
			if shows := thumbShows(t, body); !shows.Equal(p.CapturedAt) {
				t.Fatalf("picture shows %s, capturedAt %s", shows, p.CapturedAt)
			}
			// Kept as the camera sent it: the stored blob is the served one,
			// at the simulated camera's quality (90), not re-encoded at 75.
			stored, err := srv.Blobs.Get(ctx, row.PictureKey)
			if err != nil || !bytes.Equal(stored, body) {
				t.Fatalf("stored picture: %d bytes, %v; served %d", len(stored), err, len(body))
			}
			_, th := thumbGet(t, srv, e.Thumbnail.URL, nil)
			if len(body) <= len(th) {
				t.Fatalf("picture %d bytes, thumbnail %d", len(body), len(th))
			}
			if resp, b := thumbGet(t, srv, p.URL, map[string]string{"If-None-Match": resp.Header.Get("ETag")}); resp.StatusCode != http.StatusNotModified || len(b) != 0 {
				t.Fatalf("revalidation: %s", resp.Status)
			}
		})

		// The camera's bytes come from the app's origin: never sniffed into
		// HTML or script, and nothing runs in a document made of them.
		t.Run("served_inert", func(t *testing.T) {
			for _, u := range []string{p.URL, e.Thumbnail.URL} {
				resp, _ := thumbGet(t, srv, u, nil)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
					resp.Header.Get("Content-Security-Policy") != "default-src 'none'; sandbox" {
					t.Errorf("GET %s: %s, X-Content-Type-Options %q, Content-Security-Policy %q", u, resp.Status,
						resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("Content-Security-Policy"))
				}
			}
		})

		t.Run("auth_and_tenancy", func(t *testing.T) {
			if resp, _ := thumbGet(t, srv.As(testenv.Anonymous), p.URL, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("anonymous: %s, want 401", resp.Status)
			}
			_, writer := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalWrite)
			if resp, _ := thumbGet(t, writer, p.URL, nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("API key without journal:read: %s, want 403", resp.Status)
			}
			_, reader := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
			if resp, _ := thumbGet(t, reader, p.URL, nil); resp.StatusCode != http.StatusOK {
				t.Errorf("API key with journal:read: %s, want 200", resp.Status)
			}
			_, other := srv.NewAccount(t, "other shop")
			if resp, b := thumbGet(t, other, p.URL, nil); resp.StatusCode != http.StatusNotFound || resp.Header.Get("ETag") != "" {
				t.Errorf("another account: %s %.80q, ETag %q; want 404", resp.Status, b, resp.Header.Get("ETag"))
			}
			if resp, _ := thumbGet(t, srv, "/thumbnails/garbage/picture", nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("garbage id: %s, want 404", resp.Status)
			}
		})

		// A thumbnail from before frames were kept: no picture, and its
		// /picture is a 404.
		t.Run("row_without_picture", func(t *testing.T) {
			res := srv.Ingester.Ingest(viewer.System(ctx), srv.AccountID, thumbReceipt(fx.TerminalIDs[2], time.Now().Add(-time.Minute)))
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			th, err := srv.DB.Client.Thumbnail.Query().Where(thumbnail.EntryID(res.Entry.ID)).Only(viewer.System(ctx))
			if ent.IsNotFound(err) {
				th, err = srv.DB.Client.Thumbnail.Create().SetAccountID(srv.AccountID).SetEntryID(res.Entry.ID).
					SetCameraID(cam).SetRequestedAt(res.Entry.OccurredAt).SetCapturedAt(res.Entry.OccurredAt).
					SetSkewMs(0).SetWidth(320).SetHeight(180).SetBytes(1).
					SetStorageKey(thumbs.Key(string(srv.AccountID), string(res.Entry.ID))).SetSha256("x").Save(viewer.System(ctx))
			}
			if err != nil {
				t.Fatal(err)
			}
			if th.PictureKey != "" {
				t.Skipf("the entry's camera is recorded; its thumbnail %s has a picture", th.ID)
			}
			if got := pictureOf(t, srv, string(res.Entry.ID)); got.Thumbnail == nil || got.Picture != nil {
				t.Fatalf("old row: thumbnail %+v, picture %+v; want a thumbnail and no picture", got.Thumbnail, got.Picture)
			}
			if resp, b := thumbGet(t, srv, "/thumbnails/"+string(th.ID)+"/picture", nil); resp.StatusCode != http.StatusNotFound ||
				!bytes.Contains(b, []byte("picture not found")) {
				t.Fatalf("old row's picture: %s %.200q, want 404 picture not found", resp.Status, b)
			}
		})

		t.Run("expires_with_the_thumbnail", func(t *testing.T) {
			n, err := thumbs.Expire(ctx, srv.DB.Client, srv.Thumbs, e.Thumbnail.CreatedAt.Add(time.Millisecond))
			if err != nil || n < 1 {
				t.Fatalf("Expire = %d, %v", n, err)
			}
			if got := pictureOf(t, srv, id); got.Picture != nil || got.Thumbnail != nil {
				t.Fatalf("after retention: thumbnail %+v, picture %+v", got.Thumbnail, got.Picture)
			}
			if resp, _ := thumbGet(t, srv, p.URL, nil); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("expired picture: %s, want 404", resp.Status)
			}
			if _, err := srv.Blobs.Get(ctx, row.PictureKey); !errors.Is(err, thumbs.ErrNotFound) {
				t.Fatalf("expired picture blob: %v, want ErrNotFound", err)
			}
		})
	})
}
