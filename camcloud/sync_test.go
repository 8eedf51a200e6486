package camcloud_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/internal/dbtest"
)

// TestSyncFollowsTheCloud: renamed → renamed; removed or option dropped →
// retired, its links ended and its entries kept; back in the list → the
// same row in use again. A camera the owner retired by hand stays retired.
func TestSyncFollowsTheCloud(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		home := e.cameras()[devHome.ID]
		l := e.link(home)
		sync := func() {
			t.Helper()
			e.clock.Add(5 * time.Minute)
			got, err := e.svc.SyncNow(e.owner, conn.ID)
			// An empty list while cameras are in their grace is ERROR.
			if err != nil || (got.Status != cameracloudconnection.StatusOK && !strings.Contains(got.LastError, "一覧が空")) {
				t.Fatalf("sync: %+v, %v", got, err)
			}
		}

		renamed := devHome
		renamed.Name = "玄関カメラ"
		e.cloud.SetDevice(renamed)
		sync()
		if c := e.cameras()[devHome.ID]; c.Name != "玄関カメラ (CC-2L_SF : 201000192)" || c.ID != home.ID {
			t.Fatalf("after a rename: %+v", c)
		}

		e.cloud.RemoveDevice(devHome.ID)
		dropped := devReg
		dropped.ItemIDs = []int{7}
		e.cloud.SetDevice(dropped)
		// Missing from two syncs over 5 minutes: in their grace, still
		// live, their links open.
		sync()
		sync()
		cams := e.cameras()
		if !live(cams[devHome.ID]) || !live(cams[devReg.ID]) || !strings.HasPrefix(cams[devHome.ID].SourceStatus, "CLOUD_MISSING:") {
			t.Fatalf("retired within the grace: %+v", cams)
		}
		if got := e.c.Link.GetX(e.sys, l.ID); got.EndedAt != nil {
			t.Fatal("a link ended within the grace")
		}
		sync() // the third sync, 10 minutes after the first miss
		cams = e.cameras()
		if live(cams[devHome.ID]) || live(cams[devReg.ID]) || len(cams) != 2 {
			t.Fatalf("removed / option dropped not retired: %+v", cams)
		}
		if got := e.c.Link.GetX(e.sys, l.ID); got.EndedAt == nil {
			t.Fatal("the retired camera's link did not end")
		}
		if n := cams[devHome.ID].QueryJournalEntries().CountX(e.sys); n != 1 {
			t.Fatalf("the retired camera has %d entries, want its 1", n)
		}
		if _, err := e.svc.Camera(e.sys, home.ID); !errors.Is(err, camcloud.ErrNotCloud) {
			t.Fatalf("a retired camera resolves: %v", err)
		}

		e.cloud.AddDevice(renamed)
		e.cloud.SetDevice(devReg)
		sync()
		cams = e.cameras()
		if !live(cams[devHome.ID]) || cams[devHome.ID].ID != home.ID || !live(cams[devReg.ID]) {
			t.Fatalf("back in the list, not in use again: %+v", cams)
		}
		if got := e.c.Link.GetX(e.sys, l.ID); got.EndedAt == nil {
			t.Fatal("an ended link was rewritten")
		}
		// The register it watched when the sync retired it is watched again,
		// by a new link from now (the gone time stays without a camera).
		relinked, err := e.c.Link.Query().Where(link.TerminalID(l.TerminalID), link.EndedAtIsNil()).Only(e.sys)
		if err != nil || relinked.CameraID != home.ID || relinked.ID == l.ID || !relinked.CreatedAt.Equal(e.clock.Now()) {
			t.Fatalf("the link the sync ended is not restored: %+v, %v", relinked, err)
		}

		// Retired by hand: the owner's word stands.
		if _, err := registry.New(e.c, nil, registry.Options{}).Retire(e.owner, cams[devReg.ID].ID, true); err != nil {
			t.Fatal(err)
		}
		sync()
		if live(e.cameras()[devReg.ID]) {
			t.Fatal("the sync brought back a camera the owner retired")
		}
	})
}

// TestSyncSkipsATakenDeviceID: a device whose id another camera of the
// account has is not made a camera, and last_error says which.
func TestSyncSkipsATakenDeviceID(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		e.c.Camera.Create().SetAccountID(e.account).SetName("手で追加").SetDeviceID(devReg.ID).ExecX(e.sys)
		conn := e.connect()
		if !strings.Contains(conn.LastError, devReg.ID) || conn.Status != cameracloudconnection.StatusOK {
			t.Fatalf("connection %+v: want the taken device named", conn)
		}
		c := e.cameras()[devReg.ID]
		if isCloud(c) || c.Name != "手で追加" {
			t.Fatalf("the other camera changed: %+v", c)
		}
		if _, err := e.svc.Camera(e.sys, c.ID); !errors.Is(err, camcloud.ErrNotCloud) {
			t.Fatalf("a camera of no cloud resolves: %v", err)
		}
	})
}

// TestRevokedKey: the cloud refuses the key → NEEDS_REAUTH with the reason
// and nothing else changes; the client is refused without asking the
// cloud; a new key brings it back.
func TestRevokedKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		before := e.cameras()
		e.cloud.RevokeKey(e.cloud.APIKey())
		e.cloud.RemoveDevice(devHome.ID) // must not retire it: the list was never read
		e.clock.Add(time.Minute)
		got, err := e.svc.SyncNow(e.owner, conn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != cameracloudconnection.StatusNEEDS_REAUTH || !strings.Contains(got.LastError, "APIキーを受け付けませんでした") {
			t.Fatalf("after revocation: %+v", got)
		}
		after := e.cameras()
		for id, c := range before {
			if a := after[id]; a.Name != c.Name || !live(a) {
				t.Fatalf("camera %s changed: %+v", id, a)
			}
		}
		asked := e.cloud.Requests("/v2/")
		if _, err := e.svc.Client(e.sys, conn.ID); !errors.Is(err, safie.ErrAuth) {
			t.Fatalf("client of a NEEDS_REAUTH connection: %v", err)
		}
		e.svc.SyncDue(context.Background()) // not due for an hour
		if e.cloud.Requests("/v2/") != asked {
			t.Fatal("the cloud was asked again with the refused key")
		}

		e.cloud.AddKey("renewed-key-0003")
		up, err := e.svc.Update(e.owner, conn.ID, updateKey("renewed-key-0003"))
		if err != nil || up.Status != cameracloudconnection.StatusOK || up.LastError != "" {
			t.Fatalf("new key: %+v, %v", up, err)
		}
		if live(e.cameras()[devHome.ID]) {
			t.Fatal("the device removed meanwhile was not retired by the check of the new key")
		}
		if _, err := e.svc.Client(e.sys, conn.ID); err != nil {
			t.Fatal(err)
		}
		e.noSecretsLogged(e.cloud.APIKey(), "renewed-key-0003")
	})
}

func updateKey(k string) camcloud.UpdateInput { return camcloud.UpdateInput{APIKey: &k} }

// TestCloudFailuresBackOff: 5xx after the client's retries → ERROR with
// next_retry_at 1 min, then 2 min; not asked before; recovers to OK. A
// garbage answer is an ERROR too and changes no camera.
func TestCloudFailuresBackOff(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		ctx := context.Background()

		e.cloud.FailNext(5, http.StatusInternalServerError) // the first try and 4 retries
		e.svc.SyncDue(ctx)
		got := e.conn(conn.ID)
		if got.Status != cameracloudconnection.StatusERROR || got.NextRetryAt == nil || !got.NextRetryAt.Equal(e.clock.Now().Add(time.Minute)) ||
			!strings.Contains(got.LastError, "Safie に接続できませんでした") {
			t.Fatalf("after 500s: %+v", got)
		}
		asked := e.cloud.Requests("/v2/")
		e.clock.Add(30 * time.Second)
		e.svc.SyncDue(ctx)
		if e.cloud.Requests("/v2/") != asked {
			t.Fatal("asked before next_retry_at")
		}
		e.clock.Add(30 * time.Second)
		e.cloud.FailNext(5, http.StatusServiceUnavailable)
		e.svc.SyncDue(ctx)
		if got = e.conn(conn.ID); got.Status != cameracloudconnection.StatusERROR || !got.NextRetryAt.Equal(e.clock.Now().Add(2*time.Minute)) {
			t.Fatalf("second failure: %+v, want the backoff doubled", got)
		}
		e.clock.Add(2 * time.Minute)
		e.svc.SyncDue(ctx)
		if got = e.conn(conn.ID); got.Status != cameracloudconnection.StatusOK || got.NextRetryAt != nil || got.LastError != "" {
			t.Fatalf("recovery: %+v", got)
		}

		e.cloud.FailNext(5, http.StatusTooManyRequests)
		e.clock.Add(time.Minute)
		got, err := e.svc.SyncNow(e.owner, conn.ID)
		if err != nil || got.Status != cameracloudconnection.StatusERROR || !strings.Contains(got.LastError, "429") {
			t.Fatalf("429 storm: %+v, %v", got, err)
		}

		e.cloud.FailNext(1, 0)
		e.cloud.RemoveDevice(devHome.ID)
		got, err = e.svc.SyncNow(e.owner, conn.ID)
		if err != nil || got.Status != cameracloudconnection.StatusERROR || !strings.Contains(got.LastError, "想定外の応答") {
			t.Fatalf("garbage: %+v, %v", got, err)
		}
		if !live(e.cameras()[devHome.ID]) {
			t.Fatal("a garbage answer retired a camera")
		}
		e.noSecretsLogged(e.cloud.APIKey())
	})
}

// TestOneReplicaSyncsAConnection: two services on one database (two
// replicas) sync each connection once per round, the lease holder; when
// it stops, the other takes over once the lease has run out.
func TestOneReplicaSyncsAConnection(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		cfg2 := e.cfg
		cfg2.Owner = "replica-2"
		other := e.service(cfg2)
		replicas := []*camcloud.Service{e.svc, other}
		round := func(rs ...*camcloud.Service) int {
			before := e.cloud.Requests("/v2/devices")
			var wg sync.WaitGroup
			for _, r := range rs {
				wg.Add(1)
				go func() { defer wg.Done(); r.SyncDue(context.Background()) }()
			}
			wg.Wait()
			return e.cloud.Requests("/v2/devices") - before
		}
		if n := round(replicas...); n != 1 {
			t.Fatalf("first round: %d syncs, want 1", n)
		}
		holder := e.conn(conn.ID).SyncOwner
		for range 3 {
			e.clock.Add(time.Minute)
			if n := round(replicas...); n != 1 {
				t.Fatalf("%d syncs in a round, want 1", n)
			}
			if o := e.conn(conn.ID).SyncOwner; o != holder {
				t.Fatalf("the lease moved from %s to %s while its holder runs", holder, o)
			}
		}
		// The holder stops; the other waits out the lease, then syncs.
		survivor := other
		if holder == "replica-2" {
			survivor = e.svc
		}
		e.clock.Add(time.Minute)
		if n := round(survivor); n != 0 {
			t.Fatalf("took over a lease still running: %d syncs", n)
		}
		e.clock.Add(3 * time.Minute)
		if n := round(survivor); n != 1 || e.conn(conn.ID).SyncOwner == holder {
			t.Fatalf("after the lease ran out: %d syncs, owner %s", n, e.conn(conn.ID).SyncOwner)
		}
	})
}

// TestNotRecordingEpisodes: a linked camera whose stream stops is one
// episode (one alert, dated by the cloud's disconnect event) until it
// streams again (one recovery); an unlinked camera raises none.
func TestNotRecordingEpisodes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		home := e.cameras()[devHome.ID]
		e.link(home)
		sync := func() {
			t.Helper()
			if _, err := e.svc.SyncNow(e.owner, conn.ID); err != nil {
				t.Fatal(err)
			}
		}
		stoppedAt := e.clock.Now()
		e.cloud.SetStreaming(devHome.ID, false) // logs a disconnect now
		e.cloud.SetStreaming(devReg.ID, false)  // not linked: no alert
		e.clock.Add(2 * time.Minute)
		sync()
		if s, r := e.alerts.counts(); s != 1 || r != 0 {
			t.Fatalf("alerts after the stop: %d stopped, %d recovered", s, r)
		}
		if ep := e.alerts.stopped[0]; ep.camera != home.ID || !ep.at.Equal(stoppedAt) {
			t.Fatalf("episode %+v, want camera %s since %s (the disconnect event)", ep, home.ID, stoppedAt)
		}
		c := e.cameras()[devHome.ID]
		if c.Streaming == nil || *c.Streaming || c.NotRecordingSince == nil || !c.NotRecordingSince.Equal(stoppedAt) {
			t.Fatalf("camera during the episode: %+v", c)
		}
		for range 2 {
			e.clock.Add(time.Minute)
			sync()
		}
		if s, _ := e.alerts.counts(); s != 1 {
			t.Fatalf("%d alerts for one episode", s)
		}
		e.cloud.SetStreaming(devHome.ID, true)
		e.clock.Add(time.Minute)
		sync()
		sync()
		if s, r := e.alerts.counts(); s != 1 || r != 1 || e.alerts.recovered[0].camera != home.ID {
			t.Fatalf("after recovery: %d stopped, %d recovered", s, r)
		}
		if c := e.cameras()[devHome.ID]; c.NotRecordingSince != nil || c.Streaming == nil || !*c.Streaming {
			t.Fatalf("camera after recovery: %+v", c)
		}
		// A second episode is a second alert.
		e.cloud.SetStreaming(devHome.ID, false)
		e.clock.Add(time.Minute)
		sync()
		if s, _ := e.alerts.counts(); s != 2 {
			t.Fatalf("second episode: %d alerts, want 2", s)
		}
	})
}

// TestOneOffEmptyListRetiresNothing: the cloud answers one empty list (or a
// short one) while cameras are live: nothing is retired, no link ends, the
// connection says ERROR with the reason; the next full list puts
// everything back to OK. An empty list that lasts the grace retires them.
func TestOneOffEmptyListRetiresNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		home := e.cameras()[devHome.ID]
		l := e.link(home)
		e.cloud.RemoveDevice(devHome.ID)
		e.cloud.RemoveDevice(devReg.ID)
		e.clock.Add(time.Minute)
		got, err := e.svc.SyncNow(e.owner, conn.ID)
		if err != nil || got.Status != cameracloudconnection.StatusERROR || !strings.Contains(got.LastError, "一覧が空") {
			t.Fatalf("an empty list: %+v, %v", got, err)
		}
		cams := e.cameras()
		if !live(cams[devHome.ID]) || !live(cams[devReg.ID]) {
			t.Fatalf("an empty list retired cameras: %+v", cams)
		}
		if e.c.Link.GetX(e.sys, l.ID).EndedAt != nil {
			t.Fatal("an empty list ended a link")
		}
		e.cloud.AddDevice(devHome)
		e.cloud.AddDevice(devReg)
		e.clock.Add(time.Minute)
		if got, err = e.svc.SyncNow(e.owner, conn.ID); err != nil || got.Status != cameracloudconnection.StatusOK || got.LastError != "" {
			t.Fatalf("the list back: %+v, %v", got, err)
		}
		if c := e.cameras()[devHome.ID]; c.SourceStatus != "OK" || !live(c) {
			t.Fatalf("camera after the list came back: %+v", c)
		}

		// Gone for good: missing in 3 syncs over 10 minutes → retired.
		e.cloud.RemoveDevice(devHome.ID)
		e.cloud.RemoveDevice(devReg.ID)
		for range 3 {
			e.clock.Add(5 * time.Minute)
			if _, err := e.svc.SyncNow(e.owner, conn.ID); err != nil {
				t.Fatal(err)
			}
		}
		cams = e.cameras()
		if live(cams[devHome.ID]) || live(cams[devReg.ID]) || e.c.Link.GetX(e.sys, l.ID).EndedAt == nil {
			t.Fatalf("gone for the grace, not retired: %+v", cams)
		}
		if c := e.conn(conn.ID); c.Status != cameracloudconnection.StatusOK {
			t.Fatalf("after the grace: %+v", c)
		}
	})
}
