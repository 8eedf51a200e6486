package pictures_test

import (
	"testing"
	"time"

	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// TestOnlyLeaseHolderSweeps: of two replicas sweeping, only the one
// holding the connection's sync lease asks the cloud for its pictures;
// once that lease has lapsed (its holder stopped), the other takes over.
func TestOnlyLeaseHolderSweeps(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		ctx := viewer.System(t.Context())
		e.cloud.FailNext(2, 503)
		got := e.ring("leased", e.clk.Now().Add(-time.Hour))
		if got.ThumbnailReason != pictures.RetryReason {
			t.Fatalf("reason %q, want %q", got.ThumbnailReason, pictures.RetryReason)
		}
		cam, err := d.Client.Camera.Get(ctx, e.cam)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Client.CameraCloudConnection.UpdateOneID(*cam.CloudConnectionID).SetSyncOwner("replica-a").
			SetSyncLeaseUntil(e.clk.Now().Add(5 * time.Minute)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		sweeper := func(owner string) *pictures.Sweeper {
			return pictures.NewSweeper(d.Client, e.in, pictures.SweeperOptions{Now: e.clk.Now, Log: testenv.Logger(), Owner: owner})
		}
		a, b := sweeper("replica-a"), sweeper("replica-b")
		e.clk.Add(2 * time.Minute)
		before := e.images()
		if n, err := b.Pass(t.Context()); err != nil || n != 0 {
			t.Fatalf("replica without the lease retook %d (%v)", n, err)
		}
		if n := e.images() - before; n != 0 {
			t.Fatalf("replica without the lease asked the cloud %d times", n)
		}

		if n, err := a.Pass(t.Context()); err != nil || n != 1 {
			t.Fatalf("the lease holder retook %d (%v), want 1", n, err)
		}
		if n := e.images() - before; n != 1 {
			t.Errorf("%d image calls for one entry, want 1", n)
		}
		e.checkOwnSecond(e.entry(got.ID))

		// The holder stopped: its lease lapses and the other replica sweeps.
		e.cloud.FailNext(2, 503)
		later := e.ring("lapsed", e.clk.Now().Add(-time.Hour))
		e.clk.Add(10 * time.Minute)
		if n, err := b.Pass(t.Context()); err != nil || n != 1 {
			t.Fatalf("after the lease lapsed: %d, %v", n, err)
		}
		e.checkOwnSecond(e.entry(later.ID))
	})
}
