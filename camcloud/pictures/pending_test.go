package pictures_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// TestPendingAndOlderReasonsAreSwept: an entry of a CLOUD camera left
// PENDING (its server stopped before the late capture) is the sweeper's,
// as are entries whose retry reason was written before the reason codes;
// each gets the picture of its own second.
func TestPendingAndOlderReasonsAreSwept(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		fs, err := thumbs.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		store := &brokenStore{FS: fs, broken: true}
		e.store = store
		e.in.Thumbnails = thumbs.New(e.frames, store, testenv.Logger(), thumbs.Options{})
		ctx := viewer.System(t.Context())
		var left []pulid.ID
		for i, reason := range []string{thumbs.PendingReason, "クラウドから映像を取得中です（再試行します）"} {
			got := e.ring(fmt.Sprintf("left-%d", i), e.clk.Now().Add(-time.Hour))
			if err := d.Client.JournalEntry.UpdateOneID(got.ID).SetThumbnailReason(reason).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			left = append(left, got.ID)
		}
		store.set(false)
		sw := pictures.NewSweeper(d.Client, e.in, pictures.SweeperOptions{Now: e.clk.Now, Log: testenv.Logger()})
		e.clk.Add(2 * time.Minute)
		if n, err := sw.Pass(t.Context()); err != nil || n != 2 {
			t.Fatalf("pass: %d, %v; want both entries retaken", n, err)
		}
		for _, id := range left {
			e.checkOwnSecond(e.entry(id))
		}
	})
}
