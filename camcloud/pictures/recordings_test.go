package pictures_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

func near(a, b time.Time) bool {
	d := a.Sub(b)
	return d > -time.Second && d < time.Second
}

func sameSpans(got []pictures.Span, want ...pictures.Span) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !near(got[i].From, want[i].From) || !near(got[i].To, want[i].To) {
			return false
		}
	}
	return true
}

// TestRecordings: a CLOUD camera's timeline shows what the cloud recorded
// and the gap in it, up to a minute ago; a dashboard refreshing it costs
// the cloud one call a minute; a window past the retention says so; more
// than 72 hours is refused naming "to"; other cameras have no spans.
func TestRecordings(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		ctx := viewer.System(t.Context())
		now := e.clk.Now()
		g1, g2 := now.Add(-2*time.Hour), now.Add(-90*time.Minute)
		e.cloud.AddGap(device, g1, g2)
		media := func() int { return e.cloud.Requests("/v2/devices/" + device + "/media") }

		from := now.Add(-3 * time.Hour)
		rec, err := e.svc.Recordings(ctx, e.cam, from, now)
		if err != nil {
			t.Fatal(err)
		}
		latest := now.Add(-time.Minute)
		if rec.Source != pictures.SourceCloud || rec.Message != "" ||
			!sameSpans(rec.Spans, pictures.Span{From: from, To: g1}, pictures.Span{From: g2, To: latest}) ||
			!sameSpans(rec.Gaps, pictures.Span{From: g1, To: g2}) {
			t.Fatalf("recordings %+v; want spans [%s, %s) [%s, %s) and the gap between", rec, from, g1, g2, latest)
		}
		calls := media()

		// Refreshing within the minute asks the cloud nothing, and the
		// seconds it has not asked about are not called a gap.
		for range 5 {
			e.clk.Add(5 * time.Second)
			again, err := e.svc.Recordings(ctx, e.cam, from, e.clk.Now())
			if err != nil || len(again.Gaps) != 1 || len(again.Spans) != 2 {
				t.Fatalf("refresh: %+v, %v", again, err)
			}
		}
		if n := media() - calls; n != 0 {
			t.Errorf("%d media calls for refreshes within a minute, want 0", n)
		}
		e.clk.Add(time.Minute)
		fresh, err := e.svc.Recordings(ctx, e.cam, from, e.clk.Now())
		if err != nil || media() == calls || !near(fresh.Spans[1].To, e.clk.Now().Add(-time.Minute)) {
			t.Errorf("after a minute: %+v, %v, %d new calls; want the newest minute asked for", fresh, err, media()-calls)
		}

		old := e.clk.Now().Add(-8 * 24 * time.Hour)
		past, err := e.svc.Recordings(ctx, e.cam, old, old.Add(72*time.Hour))
		oldest := e.clk.Now().Add(-7 * 24 * time.Hour)
		if err != nil || past.Message != "保存期間（7日）より前は表示できません" ||
			!sameSpans(past.Spans, pictures.Span{From: oldest, To: old.Add(72 * time.Hour)}) || len(past.Gaps) != 0 {
			t.Errorf("window from 8 days ago: %+v, %v", past, err)
		}

		for _, c := range []struct {
			from, to time.Time
			reason   string
		}{
			{now.Add(-73 * time.Hour), now, apperr.RECORDINGS_RANGE},
			{now, now, apperr.RANGE_REVERSED},
			{now, now.Add(-time.Hour), apperr.RANGE_REVERSED},
		} {
			_, err := e.svc.Recordings(ctx, e.cam, c.from, c.to)
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.BadUserInput || ae.Field != "to" || apperr.ReasonOf(ae) != c.reason {
				t.Errorf("Recordings(%s, %s) = %v; want bad input on to, %s", c.from, c.to, err, c.reason)
			}
		}

		none, err := e.svc.Recordings(ctx, e.plain, from, now)
		if err != nil || none.Source != pictures.SourceNone || len(none.Spans) != 0 || len(none.Gaps) != 0 {
			t.Errorf("camera without a cloud: %+v, %v", none, err)
		}
	})
}

// TestLive: many viewers of a CLOUD camera's live frame within two
// seconds cost the cloud one call; the frame is the cloud's latest; other
// cameras are not the cloud's; a refused key is said plainly.
func TestLive(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		ctx := viewer.System(t.Context())
		thumbs := func() int { return e.cloud.Requests("/v2/devices/" + device + "/thumbnail") }
		for range 10 {
			jpeg, err := e.svc.Live(ctx, e.cam)
			if err != nil {
				t.Fatal(err)
			}
			if shown, err := camera.DecodeTime(jpeg); err != nil || !near(shown, e.clk.Now()) {
				t.Fatalf("live frame shows %s (%v), now %s", shown, err, e.clk.Now())
			}
		}
		if n := thumbs(); n != 1 {
			t.Errorf("%d cloud calls for 10 quick views, want 1", n)
		}

		// Viewers arriving together while the cloud is slow share the call.
		e.clk.Add(3 * time.Second)
		e.cloud.Delay(100 * time.Millisecond)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.svc.Live(ctx, e.cam); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		e.cloud.Delay(0)
		if n := thumbs(); n != 2 {
			t.Errorf("%d cloud calls after 8 concurrent views 3 s later, want 2", n)
		}

		if _, err := e.svc.Live(ctx, e.plain); !errors.Is(err, camcloud.ErrNotCloud) {
			t.Errorf("live of a camera without a cloud: %v, want ErrNotCloud", err)
		}

		e.cloud.RevokeKey(e.key)
		e.clk.Add(3 * time.Second)
		_, err := e.svc.Live(ctx, e.cam)
		ae, ok := apperr.As(err)
		if !ok || apperr.ReasonOf(ae) != apperr.SAFIE_AUTH || strings.Contains(err.Error(), e.key) {
			t.Errorf("live with a revoked key: %v; want SAFIE_AUTH without the key", err)
		}
	})
}

// TestExpiredWhileRetrying: an entry the cloud kept refusing until its
// second left the retention gets the retention reason from the sweeper
// (no call to the cloud for it), and is then left alone.
func TestExpiredWhileRetrying(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		e.cloud.FailNext(2, 500)
		got := e.ring("expiring", e.clk.Now().Add(-7*24*time.Hour+10*time.Minute))
		if got.ThumbnailReason != pictures.RetryReason {
			t.Fatalf("reason %q, want %q", got.ThumbnailReason, pictures.RetryReason)
		}
		e.cloud.FailNext(1000, 429) // the cloud never recovers in time
		sw := pictures.NewSweeper(d.Client, e.in, pictures.SweeperOptions{Now: e.clk.Now, Log: testenv.Logger()})
		e.clk.Add(20 * time.Minute)
		before := e.images()
		if n, err := sw.Pass(t.Context()); err != nil || n != 1 {
			t.Fatalf("pass: %d, %v", n, err)
		}
		if r := e.entry(got.ID).ThumbnailReason; !strings.Contains(r, pictures.RetentionReason(7)) {
			t.Errorf("reason after the retention passed: %q, want %q", r, pictures.RetentionReason(7))
		}
		if n := e.images() - before; n != 0 {
			t.Errorf("%d image calls for an expired second, want 0", n)
		}
		e.clk.Add(time.Hour)
		if n, _ := sw.Pass(t.Context()); n != 0 {
			t.Errorf("a pass after the final reason retook %d", n)
		}
	})
}
