package thumbs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// oneFrame is a camera that has one frame for every moment.
type oneFrame struct {
	jpeg []byte
	at   time.Time
}

func (f oneFrame) FrameAt(context.Context, pulid.ID, time.Time) ([]byte, time.Time, error) {
	return f.jpeg, f.at, nil
}

// TestCaptureKeepsPicture: beside the thumbnail, the frame itself is
// stored byte for byte (no re-encode) under PictureKey, with its own size.
func TestCaptureKeepsPicture(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 5, 21, 0, time.UTC)
	frame := simFrame(t, at)
	store, err := thumbs.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	th := thumbs.New(oneFrame{frame, at}, store, testenv.Logger(), thumbs.Options{})
	acc, entry, cam := pulid.MustNew("AC"), pulid.MustNew("JE"), pulid.MustNew("CA")
	shot, reason, pending := th.Capture(t.Context(), acc, entry, cam, at)
	if shot == nil || reason != "" || pending {
		t.Fatalf("Capture = %+v, %q, %v", shot, reason, pending)
	}
	p := shot.Picture
	sum := sha256.Sum256(frame)
	if p == nil || p.Key != thumbs.PictureKey(string(acc), string(entry), hex.EncodeToString(sum[:])) || p.Width != camera.SimulatedWidth ||
		p.Height != camera.SimulatedHeight || p.Bytes != int64(len(frame)) || p.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("picture %+v of a %d-byte %d×%d frame", p, len(frame), camera.SimulatedWidth, camera.SimulatedHeight)
	}
	if shot.Width >= p.Width {
		t.Fatalf("thumbnail %d wide, picture %d", shot.Width, p.Width)
	}
	got, err := th.Picture(t.Context(), p.Key)
	if err != nil || !bytes.Equal(got, frame) {
		t.Fatalf("stored picture: %d bytes, %v; want the %d-byte frame as sent", len(got), err, len(frame))
	}
	if p.Key == shot.Key {
		t.Fatal("picture and thumbnail share a key")
	}
}

// TestExpireTakesPictures: retention deletes a thumbnail's kept frame with
// it, and asks for no picture where a row (from before pictures) has none.
func TestExpireTakesPictures(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := viewer.System(t.Context())
		d := dbtest.Open(t, b.DatabaseURL)
		acc, err := d.Client.Account.Create().SetName("pictures").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fx := testenv.NewFixture(t, d.Client, acc.ID)
		term, err := d.Client.Terminal.Get(ctx, fx.TerminalIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-2 * time.Hour).UTC()
		var want []string
		for i, withPicture := range []bool{true, false} {
			e, err := d.Client.JournalEntry.Create().SetAccountID(acc.ID).SetConnectionID(term.ConnectionID).
				SetTerminalID(term.ID).SetShopID(fx.ShopID).SetKind(journalentry.KindPAYMENT).
				SetOccurredAt(old).SetExternalID("p-" + string(rune('a'+i))).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			key := thumbs.Key(string(acc.ID), string(e.ID))
			c := d.Client.Thumbnail.Create().SetAccountID(acc.ID).SetEntryID(e.ID).SetCameraID(fx.CameraIDs[0]).
				SetRequestedAt(old).SetCapturedAt(old).SetSkewMs(0).SetWidth(320).SetHeight(180).SetBytes(1).
				SetStorageKey(key).SetSha256("x").SetCreatedAt(old)
			want = append(want, key)
			if withPicture {
				pk := thumbs.PictureKey(string(acc.ID), string(e.ID), "y")
				c.SetPictureKey(pk).SetPictureWidth(1920).SetPictureHeight(1080).SetPictureBytes(1).SetPictureSha256("y")
				want = append(want, pk)
			}
			if err := c.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		del := &rowsFirst{t: t, client: d.Client}
		if n, err := thumbs.Expire(ctx, d.Client, del, time.Now().Add(-time.Hour)); err != nil || n != 2 {
			t.Fatalf("Expire = %d, %v; want 2", n, err)
		}
		slices.Sort(want)
		got := slices.Sorted(slices.Values(del.keys))
		if !slices.Equal(got, want) {
			t.Fatalf("deleted keys %q, want %q", got, want)
		}
	})
}
