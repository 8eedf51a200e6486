package pictures_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// checkOwnSecond: the entry has one thumbnail, its kept picture reads
// back the entry's own second, and its skew is reported as unknown.
func (e *env) checkOwnSecond(got *ent.JournalEntry) {
	e.t.Helper()
	rows := e.thumbnails(got.ID)
	if len(rows) != 1 {
		e.t.Fatalf("%d thumbnail rows (reason %q), want 1", len(rows), got.ThumbnailReason)
	}
	th := rows[0]
	if th.SkewKnown || th.SkewMs != 0 || !th.CapturedAt.Equal(th.RequestedAt) || !th.RequestedAt.Equal(got.OccurredAt) {
		e.t.Errorf("thumbnail skew_known %v skew %d ms captured %s requested %s; want unknown, 0, both %s",
			th.SkewKnown, th.SkewMs, th.CapturedAt, th.RequestedAt, got.OccurredAt)
	}
	if got.ThumbnailReason != "" {
		e.t.Errorf("reason %q next to a thumbnail", got.ThumbnailReason)
	}
	pic, err := e.store.Get(e.t.Context(), th.PictureKey)
	if err != nil {
		e.t.Fatalf("picture %q: %v", th.PictureKey, err)
	}
	drawn, err := camera.DecodeTime(pic)
	if err != nil {
		e.t.Fatalf("decode the picture's clock: %v", err)
	}
	if d := drawn.Sub(got.OccurredAt); d < -time.Second || d > time.Second {
		e.t.Errorf("picture shows %s, receipt at %s (off by %s)", drawn, got.OccurredAt, d)
	}
}

// TestLateReceiptGetsItsOwnSecond: a receipt that reaches regicam two
// hours after the sale still gets the picture of its own second, from the
// cloud's recording, with its skew reported as unknown (never guessed).
func TestLateReceiptGetsItsOwnSecond(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		at := e.clk.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
		got := e.ring("late-2h", at)
		e.checkOwnSecond(got)
		if n := e.thumbnailEvents(got.ID); n != 0 {
			t.Errorf("%d THUMBNAIL events for a picture taken with the entry, want 0", n)
		}
	})
}

// TestNoPictureSaysWhy: a sale older than the cloud keeps, and one in a
// gap of the recording, say so; the first costs no call to the cloud.
// A camera that is not a cloud camera is left to the recorders.
func TestNoPictureSaysWhy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		now := e.clk.Now()

		old := e.ring("old", now.Add(-8*24*time.Hour))
		if want := pictures.RetentionReason(7); !strings.Contains(old.ThumbnailReason, want) || len(e.thumbnails(old.ID)) != 0 {
			t.Errorf("8 days old: reason %q, want %q", old.ThumbnailReason, want)
		}
		if n := e.images(); n != 0 {
			t.Errorf("%d image calls for a second past retention, want 0", n)
		}

		gapAt := now.Add(-3 * time.Hour)
		e.cloud.AddGap(device, gapAt.Add(-5*time.Minute), gapAt.Add(5*time.Minute))
		gap := e.ring("gap", gapAt)
		if !strings.Contains(gap.ThumbnailReason, pictures.GapReason) || len(e.thumbnails(gap.ID)) != 0 {
			t.Errorf("in a gap: reason %q, want %q", gap.ThumbnailReason, pictures.GapReason)
		}

		plain := e.ringOn(e.fx.TerminalIDs[2], "plain", now.Add(-time.Hour))
		if plain.CameraID == nil || *plain.CameraID != e.plain || !strings.Contains(plain.ThumbnailReason, "録画されていません") {
			t.Errorf("camera without a source: camera %v reason %q", plain.CameraID, plain.ThumbnailReason)
		}
	})
}

// TestRecentSecondIsRetried: a sale seconds ago whose picture the cloud
// has not uploaded yet is not called a gap: it is retried, and gets its
// picture once the cloud has it.
func TestRecentSecondIsRetried(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{UploadDelay: 3 * time.Minute})
		got := e.ring("just-now", e.clk.Now().Add(-30*time.Second))
		if got.ThumbnailReason != pictures.RetryReason || len(e.thumbnails(got.ID)) != 0 {
			t.Fatalf("reason %q, want %q", got.ThumbnailReason, pictures.RetryReason)
		}
		sw := pictures.NewSweeper(d.Client, e.in, pictures.SweeperOptions{Now: e.clk.Now, Log: testenv.Logger()})
		e.clk.Add(4 * time.Minute)
		if n, err := sw.Pass(t.Context()); err != nil || n != 1 {
			t.Fatalf("pass: %d, %v; want 1 retake", n, err)
		}
		e.checkOwnSecond(e.entry(got.ID))
		if n := e.thumbnailEvents(got.ID); n != 1 {
			t.Errorf("%d THUMBNAIL events, want 1", n)
		}
	})
}

// TestRevokedKeyIsRetried: while the cloud refuses the key the entry
// says to reconnect; after the owner reconnects, the sweeper gets it.
func TestRevokedKeyIsRetried(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		e.cloud.RevokeKey(e.key)
		got := e.ring("revoked", e.clk.Now().Add(-10*time.Minute))
		if got.ThumbnailReason != pictures.AuthReason {
			t.Fatalf("reason %q, want %q", got.ThumbnailReason, pictures.AuthReason)
		}
		e.cloud.AddKey(e.key)
		sw := pictures.NewSweeper(d.Client, e.in, pictures.SweeperOptions{Now: e.clk.Now, Log: testenv.Logger()})
		e.clk.Add(2 * time.Minute)
		if _, err := sw.Pass(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.checkOwnSecond(e.entry(got.ID))
	})
}

// TestRateLimitStorm: a cloud answering 429 to everything leaves the
// receipt waiting for its picture, retried with a growing backoff and one
// call a pass; once the storm ends the sweeper gets the picture of its
// own second, recorded once (one row, one THUMBNAIL event) however often
// and by however many replicas it is retaken afterwards.
func TestRateLimitStorm(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		// Each image call is 2 requests (MaxRetries 1): both ingests and
		// two sweeps fail.
		e.cloud.FailNext(8, 429)
		got := e.ring("storm", e.clk.Now().Add(-30*time.Minute))
		if got.ThumbnailReason != pictures.RetryReason || len(e.thumbnails(got.ID)) != 0 {
			t.Fatalf("during the storm: reason %q, %d rows; want %q and none", got.ThumbnailReason, len(e.thumbnails(got.ID)), pictures.RetryReason)
		}
		other := e.ring("storm-2", e.clk.Now().Add(-20*time.Minute)) // fails on the storm's second pair of requests
		if other.ThumbnailReason != pictures.RetryReason {
			t.Fatalf("second receipt: reason %q", other.ThumbnailReason)
		}
		sw := pictures.NewSweeper(d.Client, e.in, pictures.SweeperOptions{Now: e.clk.Now, Log: testenv.Logger()})
		if n, _ := sw.Pass(t.Context()); n != 0 {
			t.Fatalf("a pass before the entries settled retook %d", n)
		}
		e.clk.Add(2 * time.Minute)
		// While the connection fails, one call a pass: the entry nearest
		// its retention limit first, then (the first backing off) the other.
		for i, want := range []pulid.ID{got.ID, other.ID} {
			before := e.images()
			n, err := sw.Pass(t.Context())
			if err != nil || n != 1 || e.images()-before != 2 {
				t.Fatalf("failing pass %d: %d retakes, %d requests, %v; want 1 retake of 2 requests", i, n, e.images()-before, err)
			}
			if r := e.entry(want).ThumbnailReason; r != pictures.RetryReason {
				t.Fatalf("failing pass %d: reason %q", i, r)
			}
		}
		// Within both entries' backoff nothing is asked.
		e.clk.Add(10 * time.Second)
		before := e.images()
		if n, _ := sw.Pass(t.Context()); n != 0 || e.images() != before {
			t.Fatalf("pass inside the backoff: %d retakes, %d requests", n, e.images()-before)
		}
		e.clk.Add(25 * time.Second)
		if n, err := sw.Pass(t.Context()); err != nil || n != 2 {
			t.Fatalf("pass after the storm: %d retakes, %v; want 2", n, err)
		}
		for _, id := range []*ent.JournalEntry{got, other} {
			now := e.entry(id.ID)
			e.checkOwnSecond(now)
			if n := e.thumbnailEvents(id.ID); n != 1 {
				t.Errorf("%s: %d THUMBNAIL events, want 1", id.ExternalID, n)
			}
		}
		// Nothing left to sweep; retaking by hand or from two replicas at
		// once records nothing more.
		e.clk.Add(time.Hour)
		if n, _ := sw.Pass(t.Context()); n != 0 {
			t.Errorf("a pass after all pictures retook %d", n)
		}
		if ok, err := e.in.RetakeThumbnail(t.Context(), got.ID); ok || err != nil {
			t.Errorf("RetakeThumbnail of a pictured entry = %v, %v; want false, nil", ok, err)
		}
		if rows := e.thumbnails(got.ID); len(rows) != 1 || e.thumbnailEvents(got.ID) != 1 {
			t.Errorf("after retakes: %d rows, %d events", len(rows), e.thumbnailEvents(got.ID))
		}
	})
}

// TestReplicasRetakeOnce: two replicas retaking the same entry at the
// same moment record one thumbnail and one THUMBNAIL event.
func TestReplicasRetakeOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		e.cloud.FailNext(2, 503)
		got := e.ring("replicas", e.clk.Now().Add(-time.Hour))
		if got.ThumbnailReason != pictures.RetryReason {
			t.Fatalf("reason %q, want %q", got.ThumbnailReason, pictures.RetryReason)
		}
		// The second replica has its own ingester and thumbnailer over the
		// same database and blob store.
		e2 := ingest.New(d.Client, d.Dialect, pubsub.NewMemory(), testenv.Logger())
		e2.Thumbnails = thumbs.New(e.frames, e.store, testenv.Logger(), thumbs.Options{})
		var wg sync.WaitGroup
		oks := make([]bool, 2)
		for i, in := range []pictures.Retaker{e.in, e2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := in.RetakeThumbnail(viewer.System(t.Context()), got.ID)
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
				oks[i] = ok
			}()
		}
		wg.Wait()
		if !oks[0] && !oks[1] {
			t.Errorf("neither replica reports the picture")
		}
		e.checkOwnSecond(e.entry(got.ID))
		if n := e.thumbnailEvents(got.ID); n != 1 {
			t.Errorf("%d THUMBNAIL events, want 1", n)
		}
	})
}
