package thumbs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/pgtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
)

// failingPut is an FS store whose Put fails for the keys fail picks.
type failingPut struct {
	*thumbs.FS
	fail func(key string) bool
}

func (s failingPut) Put(ctx context.Context, key string, data []byte) error {
	if s.fail(key) {
		return errors.New("disk full")
	}
	return s.FS.Put(ctx, key, data)
}

func isPicture(key string) bool { return strings.HasSuffix(key, "-picture") }

// TestCaptureKeepsThumbnailWithoutPicture: a frame that cannot be stored
// costs the picture only; the thumbnail is stored and returned for its row.
func TestCaptureKeepsThumbnailWithoutPicture(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 5, 21, 0, time.UTC)
	fs, err := thumbs.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	th := thumbs.New(oneFrame{simFrame(t, at), at}, failingPut{fs, isPicture}, testenv.Logger(), thumbs.Options{})
	shot, reason, pending := th.Capture(t.Context(), pulid.MustNew("AC"), pulid.MustNew("JE"), pulid.MustNew("CA"), at)
	if shot == nil || reason != "" || pending {
		t.Fatalf("Capture = %+v, %q, %v; want the thumbnail", shot, reason, pending)
	}
	if shot.Picture != nil {
		t.Fatalf("picture %+v recorded though it was not stored", shot.Picture)
	}
	if b, err := fs.Get(t.Context(), shot.Key); err != nil || len(b) != int(shot.Bytes) {
		t.Fatalf("stored thumbnail: %d bytes, %v; shot says %d", len(b), err, shot.Bytes)
	}
}

// TestCaptureLeavesNoOrphanPicture: when the thumbnail cannot be stored no
// row is written, so the frame stored beside it is deleted (retention only
// finds blobs through rows). The picture itself was fine: Capture says it
// may still come (pending), and the late try records the store's reason,
// which camcloud/pictures retries.
func TestCaptureLeavesNoOrphanPicture(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 5, 21, 0, time.UTC)
	frame := simFrame(t, at)
	fs, err := thumbs.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := failingPut{fs, func(k string) bool { return !isPicture(k) }}
	th := thumbs.New(oneFrame{frame, at}, store, testenv.Logger(), thumbs.Options{})
	acc, entry := pulid.MustNew("AC"), pulid.MustNew("JE")
	shot, reason, pending := th.Capture(t.Context(), acc, entry, pulid.MustNew("CA"), at)
	if shot != nil || !pending {
		t.Fatalf("Capture = %+v, %q, %v; want no shot, pending", shot, reason, pending)
	}
	if shot, reason := th.CaptureLate(t.Context(), acc, entry, pulid.MustNew("CA"), at); shot != nil || reason != thumbs.StoreFailedReason {
		t.Fatalf("CaptureLate = %+v, %q; want no shot and %q", shot, reason, thumbs.StoreFailedReason)
	}
	sum := sha256.Sum256(frame)
	pkey := thumbs.PictureKey(string(acc), string(entry), hex.EncodeToString(sum[:]))
	if _, err := fs.Get(t.Context(), pkey); !errors.Is(err, thumbs.ErrNotFound) {
		t.Fatalf("picture of a capture without thumbnail: %v, want ErrNotFound", err)
	}
}

// TestRetakeStoresItsOwnFrame: a second capture for the same entry (a shot
// taken for another moment is taken again) stores its own frame, so the
// bytes under the key it returns are the ones its digest describes.
func TestRetakeStoresItsOwnFrame(t *testing.T) {
	for _, backend := range []string{"fs", "postgres"} {
		t.Run(backend, func(t *testing.T) { retake(t, blobStore(t, backend)) })
	}
}

func retake(t *testing.T, store thumbs.Store) {
	{
		acc, entry, cam := pulid.MustNew("AC"), pulid.MustNew("JE"), pulid.MustNew("CA")
		first := time.Date(2026, 12, 2, 6, 5, 21, 0, time.UTC)
		for _, at := range []time.Time{first, first.Add(3 * time.Second)} {
			th := thumbs.New(oneFrame{simFrame(t, at), at}, store, testenv.Logger(), thumbs.Options{})
			shot, reason, pending := th.Capture(t.Context(), acc, entry, cam, at)
			if shot == nil || shot.Picture == nil || reason != "" || pending {
				t.Fatalf("Capture at %s = %+v, %q, %v", at, shot, reason, pending)
			}
			got, err := th.Picture(t.Context(), shot.Picture.Key)
			sum := sha256.Sum256(got)
			if err != nil || hex.EncodeToString(sum[:]) != shot.Picture.SHA256 || !bytes.Equal(got, simFrame(t, at)) {
				t.Fatalf("capture at %s: stored picture sha256 %x (%v), row would say %s", at, sum, err, shot.Picture.SHA256)
			}
		}
	}
}

// blobStore opens one of the two blob stores the server runs on.
func blobStore(t *testing.T, backend string) thumbs.Store {
	t.Helper()
	if backend == "fs" {
		s, err := thumbs.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	db, err := sql.Open("postgres", pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := thumbs.NewPostgres(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
