package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// TestDemoEntriesSayWhyTheyHaveNoPicture: the demo's Smaregi fake creates
// its register with its first webhook and the demo links it to a camera
// only afterwards, so its first receipt used to land with no camera, no
// thumbnail and an empty thumbnailReason. Every entry of the demo now has
// its picture or a reason: NO_LINK for a receipt of a register no camera
// watched at that moment.
func TestDemoEntriesSayWhyTheyHaveNoPicture(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := testenv.StartWith(t, b, "", func(cfg *app.Config, url string) {
			cfg.Demo, cfg.DemoPOS, cfg.DemoEvery = "true", true, 50*time.Millisecond
			cfg.Addr = strings.TrimPrefix(url, "http://")
		})
		waitSmaregiSales(t, srv, 5)
		srv.Ingester.WaitLate()
		ctx := viewer.System(t.Context())
		entries, err := smaregiEntries(t, srv).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		unlinked := 0
		for _, e := range entries {
			has, err := srv.DB.Client.Thumbnail.Query().Where(thumbnail.EntryID(e.ID)).Exist(ctx)
			if err != nil {
				t.Fatal(err)
			}
			code := ingest.CodeOf(e.ThumbnailReason)
			switch {
			case has && code != "":
				t.Errorf("entry %s has a thumbnail and the reason %q", e.ExternalID, e.ThumbnailReason)
			case !has && (code == "" || code == ingest.ReasonUnknown):
				t.Errorf("entry %s (camera %v) has no thumbnail and the reason %q", e.ExternalID, e.CameraID, e.ThumbnailReason)
			case e.CameraID == nil && code != ingest.ReasonNoLink:
				t.Errorf("entry %s without a camera: reason %q, want NO_LINK", e.ExternalID, e.ThumbnailReason)
			}
			if e.CameraID == nil {
				unlinked++
			}
		}
		t.Logf("%d demo entries, %d before the register was linked", len(entries), unlinked)
	})
}
