package pictures_test

import (
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// TestViewerCloudBudget: one user (or API key) asking the cloud again and
// again is refused with RATE_LIMITED once its 20 calls are spent, without
// the cloud being asked; another user, an API key and the background work
// keep theirs, and the budget comes back with time.
func TestViewerCloudBudget(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		// A live frame kept for a millisecond: every call below, a
		// millisecond apart, is a cloud call.
		svc := pictures.New(cloudOf{d.Client, e.client}, pictures.Options{Now: e.clk.Now, Log: testenv.Logger(),
			LiveTTL: time.Millisecond})
		as := func(v viewer.Viewer) func() error {
			ctx := viewer.NewContext(t.Context(), v)
			return func() error {
				e.clk.Add(time.Millisecond)
				_, err := svc.Live(ctx, e.cam)
				return err
			}
		}
		thumbs := func() int { return e.cloud.Requests("/v2/devices/" + device + "/thumbnail") }
		alice := as(viewer.Viewer{AccountID: e.acc, UserID: pulid.ID("US1"), Role: viewer.RoleStaff})
		for i := range 20 {
			if err := alice(); err != nil {
				t.Fatalf("call %d of 20: %v", i+1, err)
			}
		}
		before := thumbs()
		err := alice()
		if ae, ok := apperr.As(err); !ok || ae.Code != apperr.RateLimited || apperr.ReasonOf(ae) != apperr.RATE_LIMITED {
			t.Fatalf("21st call within a minute: %v, want RATE_LIMITED", err)
		}
		if n := thumbs() - before; n != 0 {
			t.Errorf("the refused call asked the cloud %d times", n)
		}
		// The refusal is the viewer's own, not the camera's: others are
		// served (and are not handed alice's refusal from the cache).
		bob := as(viewer.Viewer{AccountID: e.acc, UserID: pulid.ID("US2"), Role: viewer.RoleStaff})
		key := as(viewer.Viewer{AccountID: e.acc, UserID: pulid.ID("US1"), APIKeyID: pulid.ID("AK1")})
		sys := func() error {
			e.clk.Add(time.Millisecond)
			_, err := svc.Live(viewer.System(t.Context()), e.cam)
			return err
		}
		for name, call := range map[string]func() error{"another user": bob, "an API key": key, "the system": sys} {
			if err := call(); err != nil {
				t.Errorf("%s after alice ran out: %v", name, err)
			}
		}
		if err := alice(); err == nil {
			t.Errorf("alice served again at once")
		}
		// 20 a minute: three seconds give one call back.
		e.clk.Add(3 * time.Second)
		if err := alice(); err != nil {
			t.Errorf("alice 3 s later: %v", err)
		}
		if err := alice(); err == nil {
			t.Errorf("alice served twice 3 s later")
		}

		// Recordings spend the same budget, one call per day not cached.
		now := e.clk.Now()
		ctx := viewer.NewContext(t.Context(), viewer.Viewer{AccountID: e.acc, UserID: pulid.ID("US1")})
		_, err = svc.Recordings(ctx, e.cam, now.Add(-2*time.Hour), now.Add(-time.Hour))
		if ae, ok := apperr.As(err); !ok || apperr.ReasonOf(ae) != apperr.RATE_LIMITED {
			t.Errorf("recordings once the budget is spent: %v, want RATE_LIMITED", err)
		}
	})
}
