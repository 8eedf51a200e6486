package presence_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testclock"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/presence"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// The services app wires in are what the checker depends on.
var (
	_ presence.Cloud     = (*camcloud.Service)(nil)
	_ presence.Recorder  = (*ingest.Ingester)(nil)
	_ presence.Evaluator = (*alerts.Service)(nil)
)

const device = "dev-counter"

// env: an account connected to the fake cloud whose one device films a
// register; the real camcloud service, ingester and alerts service.
type env struct {
	t      *testing.T
	d      *db.DB
	sys    context.Context
	clk    *testclock.Clock
	cloud  *fake.Safie
	in     *ingest.Ingester
	alerts *alerts.Service
	check  *presence.Checker
	acc    pulid.ID
	term   pulid.ID // the register the cloud camera films
	fx     testenv.Fixture
	n      int
}

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	e := &env{t: t, d: d, sys: viewer.System(context.Background()), clk: testclock.New(time.Now().UTC().Truncate(time.Second))}
	var stop func()
	e.cloud, stop = fake.Start(fake.Options{Now: e.clk.Now, RetryAfter: -1})
	t.Cleanup(stop)
	e.cloud.AddDevice(fake.Device{ID: device, Serial: "201000192", Name: "レジ上", Model: "CC-2L_SF", Streaming: true})
	box, err := secrets.New(secrets.NewKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	acc := d.Client.Account.Create().SetName("presence").SaveX(e.sys)
	e.acc = acc.ID
	e.fx = testenv.NewFixture(t, d.Client, acc.ID)
	owner := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: acc.ID, Role: viewer.RoleOwner, SessionID: pulid.MustNew("SE"),
		Scopes: []viewer.Scope{viewer.ScopeJournalRead, viewer.ScopeJournalWrite, viewer.ScopeLinksWrite, viewer.ScopeAdmin}})
	cc := camcloud.New(d.Client, box, camcloud.Config{BaseURL: e.cloud.URL(), Now: e.clk.Now,
		Client: safie.Config{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxRetries: 1, Rate: 1000, Burst: 1000}},
		testenv.Logger())
	if _, err := cc.Connect(owner, camcloud.ConnectInput{Name: "Safie", APIKey: e.cloud.APIKey()}); err != nil {
		t.Fatal(err)
	}
	cam := d.Client.Camera.Query().Where(entcamera.DeviceID(device)).OnlyX(e.sys)
	if cam.SourceKind == nil || *cam.SourceKind != entcamera.SourceKindCLOUD {
		t.Fatalf("camera %+v is not CLOUD", cam)
	}
	term0 := d.Client.Terminal.GetX(e.sys, e.fx.TerminalIDs[0])
	term := d.Client.Terminal.Create().SetAccountID(acc.ID).SetConnectionID(term0.ConnectionID).SetShopID(e.fx.ShopID).
		SetExternalID("cloud").SetName("レジ4").SaveX(e.sys)
	e.term = term.ID
	d.Client.Link.Create().SetAccountID(acc.ID).SetTerminalID(term.ID).SetCameraID(cam.ID).SetCreatedAt(testenv.LinkedSince).SaveX(e.sys)

	e.alerts = alerts.New(d.Client, d.Dialect, box, testenv.Logger(), alerts.Options{})
	e.alerts.Now = e.clk.Now
	if _, _, err := e.alerts.Create(owner, alerts.Input{Name: "人がいないキャンセル", Kind: alertrule.KindNO_PERSON}); err != nil {
		t.Fatal(err)
	}
	e.in = ingest.New(d.Client, d.Dialect, pubsub.NewMemory(), testenv.Logger())
	e.in.Observer = e.alerts
	e.check = presence.New(d.Client, cc, e.in, e.alerts, presence.Config{Now: e.clk.Now}, testenv.Logger())
	return e
}

// ring ingests a record on the cloud camera's register (term: another).
func (e *env) ring(kind journalentry.Kind, at time.Time, term ...pulid.ID) *ent.JournalEntry {
	e.t.Helper()
	e.n++
	tid := e.term
	if len(term) > 0 {
		tid = term[0]
	}
	r := e.in.Ingest(e.sys, e.acc, ingest.Receipt{TerminalID: tid, ExternalID: fmt.Sprintf("r%d", e.n), Kind: kind,
		OccurredAt: at, Total: 1200, StaffName: "山田", ReceiptNo: fmt.Sprint(e.n), RegisterNo: "4"})
	if r.Err != nil {
		e.t.Fatal(r.Err)
	}
	return r.Entry
}

// pass runs the checker at `at`.
func (e *env) pass(at time.Time) presence.Stats {
	e.t.Helper()
	e.clk.Set(at)
	st, err := e.check.Pass(e.sys)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) requests() int { return e.cloud.Requests("/v2/devices/" + device + "/standard_events") }

// persons returns an entry's count and whether it was checked.
func (e *env) persons(en *ent.JournalEntry) (*int, bool) {
	e.t.Helper()
	got := e.d.Client.JournalEntry.GetX(e.sys, en.ID)
	return got.PersonsNearby, got.PersonsCheckedAt != nil
}

func (e *env) updates(en *ent.JournalEntry) int {
	return e.d.Client.Event.Query().Where(event.EntryID(en.ID), event.TypeEQ(event.TypeUPDATED)).CountX(e.sys)
}

func (e *env) alertsOf(en *ent.JournalEntry) int {
	return e.d.Client.Alert.Query().Where(alert.EntryID(en.ID)).CountX(e.sys)
}

func (e *env) wantCount(what string, en *ent.JournalEntry, want int) {
	e.t.Helper()
	n, checked := e.persons(en)
	if !checked || n == nil || *n != want {
		e.t.Errorf("%s: persons %v checked %v, want %d", what, n, checked, want)
	}
	if u := e.updates(en); u != 1 {
		e.t.Errorf("%s: %d UPDATED events, want 1", what, u)
	}
}

func (e *env) wantUnchecked(what string, en *ent.JournalEntry) {
	e.t.Helper()
	if n, checked := e.persons(en); checked || n != nil {
		e.t.Errorf("%s: persons %v checked %v, want not checked", what, n, checked)
	}
	if u := e.updates(en); u != 0 {
		e.t.Errorf("%s: %d UPDATED events, want none", what, u)
	}
}

// TestPresenceCountsPersonsAroundEntries: counts land once the cloud can be
// asked (occurred + 30 s + 1 min), nearby entries share one request, the
// NO_PERSON rule fires on the cancel nobody attended and not on the one
// with a person exactly at the window's edge.
func TestPresenceCountsPersonsAroundEntries(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := newEnv(t, dbtest.Open(t, b.DatabaseURL))
		t0 := e.clk.Now().Add(-10 * time.Minute)
		a := e.ring(journalentry.KindCANCEL, t0)                       // nobody within ±30 s
		bb := e.ring(journalentry.KindPAYMENT, t0.Add(40*time.Second)) // a person 5 s later
		c := e.ring(journalentry.KindCANCEL, t0.Add(100*time.Second))  // a person exactly 30 s later
		other := e.ring(journalentry.KindCANCEL, t0, e.fx.TerminalIDs[0])
		e.cloud.AddEvent(device, safie.EventPerson, t0.Add(-31*time.Second))
		e.cloud.AddEvent(device, safie.EventMotion, t0.Add(5*time.Second))
		e.cloud.AddEvent(device, safie.EventPerson, t0.Add(45*time.Second))
		e.cloud.AddEvent(device, safie.EventPerson, t0.Add(130*time.Second))

		if st := e.pass(t0.Add(89 * time.Second)); st.Checked != 0 || e.requests() != 0 {
			t.Errorf("before occurred + 1 min 30 s: %+v, %d requests; want none", st, e.requests())
		}
		e.wantUnchecked("the cancel at 1:29", a)

		st := e.pass(t0.Add(90 * time.Second))
		if st.Checked != 1 || e.requests() != 1 {
			t.Errorf("at occurred + 1 min 30 s: %+v, %d requests; want the first entry checked by one request", st, e.requests())
		}
		e.wantCount("the unattended cancel", a, 0)
		if got := e.d.Client.JournalEntry.GetX(e.sys, a.ID).PersonsCheckedAt; got == nil || !got.Equal(t0.Add(90*time.Second)) {
			t.Errorf("checked at %v, want the clock's %s", got, t0.Add(90*time.Second))
		}
		if n := e.alertsOf(a); n != 1 {
			t.Errorf("the unattended cancel: %d alerts, want 1", n)
		}
		e.wantUnchecked("the sale, not due yet", bb)

		st = e.pass(t0.Add(190 * time.Second))
		if st.Checked != 2 || e.requests() != 2 {
			t.Errorf("two nearby entries: %+v, %d requests in all; want both checked by one more request", st, e.requests())
		}
		e.wantCount("the sale with a person 5 s later", bb, 1)
		e.wantCount("the cancel with a person exactly 30 s later", c, 1)
		if n := e.alertsOf(c) + e.alertsOf(bb); n != 0 {
			t.Errorf("attended entries: %d alerts, want none", n)
		}
		e.wantUnchecked("an entry of a camera that is not in the cloud", other)

		if st := e.pass(t0.Add(10 * time.Minute)); st.Checked != 0 || e.requests() != 2 {
			t.Errorf("nothing left: %+v, %d requests", st, e.requests())
		}
		for _, en := range []*ent.JournalEntry{a, bb, c} {
			if u := e.updates(en); u != 1 {
				t.Errorf("%s: %d UPDATED events after another pass, want 1", en.Kind, u)
			}
		}
		if n := e.alertsOf(a); n != 1 {
			t.Errorf("the unattended cancel after another pass: %d alerts, want 1", n)
		}

		// A receipt that arrives half an hour late is beyond the recent
		// look; the next full look (10 min after the last) counts it.
		late := e.ring(journalentry.KindCANCEL, t0.Add(-30*time.Minute))
		if st := e.pass(t0.Add(10*time.Minute + 30*time.Second)); st.Checked != 0 {
			t.Errorf("a recent look: %+v, want the late receipt left for the full look", st)
		}
		if st := e.pass(t0.Add(89*time.Second + 10*time.Minute)); st.Checked != 1 {
			t.Errorf("the full look: %+v, want the late receipt checked", st)
		}
		e.wantCount("the late receipt", late, 0)
		if n := e.alertsOf(late); n != 1 {
			t.Errorf("the late unattended cancel: %d alerts, want 1", n)
		}
	})
}

// TestPresenceFaults: a 429 storm leaves the entry for the next pass; a
// refused key skips the connection for the pass (one request, nothing
// marked); an entry past the cloud's retention is checked with no count.
func TestPresenceFaults(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := newEnv(t, dbtest.Open(t, b.DatabaseURL))
		t0 := e.clk.Now().Add(-4 * time.Hour) // the late entries must still be in the past for ingest

		d := e.ring(journalentry.KindCANCEL, t0)
		e.cloud.AddEvent(device, safie.EventPerson, t0.Add(3*time.Second))
		e.cloud.FailNext(2, 429) // the first try and the client's one retry
		if st := e.pass(t0.Add(2 * time.Minute)); st.Checked != 0 || st.Failed != 1 {
			t.Errorf("429: %+v, want the entry failed", st)
		}
		e.wantUnchecked("after 429", d)
		if st := e.pass(t0.Add(150 * time.Second)); st.Checked != 1 {
			t.Errorf("the next pass: %+v, want the entry checked", st)
		}
		e.wantCount("retried after 429", d, 1)
		if n := e.alertsOf(d); n != 0 {
			t.Errorf("a person was there: %d alerts", n)
		}

		// Seven days and an hour ago, with the cloud keeping seven: unknown,
		// no alert (found by the next full look).
		old := e.ring(journalentry.KindCANCEL, t0.Add(-7*24*time.Hour-time.Hour))
		before := e.requests()
		if st := e.pass(t0.Add(15 * time.Minute)); st.Unknown != 1 || e.requests() != before {
			t.Errorf("past retention: %+v, %d requests (was %d); want it marked without asking", st, e.requests(), before)
		}
		if n, checked := e.persons(old); !checked || n != nil || e.updates(old) != 1 || e.alertsOf(old) != 0 {
			t.Errorf("past retention: persons %v checked %v, %d events, %d alerts; want checked, unknown, one event, no alert",
				n, checked, e.updates(old), e.alertsOf(old))
		}

		// Two entries two hours apart (two requests' worth) and a revoked key.
		f := e.ring(journalentry.KindCANCEL, t0.Add(10*time.Minute))
		g := e.ring(journalentry.KindCANCEL, t0.Add(130*time.Minute))
		e.cloud.RevokeKey(e.cloud.APIKey())
		before = e.requests()
		if st := e.pass(t0.Add(3 * time.Hour)); st.Checked != 0 || st.Failed != 2 || e.requests() != before+1 {
			t.Errorf("refused key: %+v, %d requests; want both failed after one request", st, e.requests()-before)
		}
		e.wantUnchecked("refused key", f)
		e.wantUnchecked("refused key", g)
		e.cloud.AddKey(e.cloud.APIKey())
		// The failed full look is repeated at once, not 10 minutes later.
		if st := e.pass(t0.Add(3*time.Hour + 30*time.Second)); st.Checked != 2 || e.requests() != before+3 {
			t.Errorf("key valid again: %+v, %d requests; want both checked by two", st, e.requests()-before)
		}
		e.wantCount("after the key came back", f, 0)
		e.wantCount("after the key came back", g, 0)
		if n := e.alertsOf(f) + e.alertsOf(g); n != 2 {
			t.Errorf("two unattended cancels: %d alerts, want 2", n)
		}
	})
}

// TestPresenceWaitsForACameraTheSyncRetired: the sync retired the camera
// (its device left the cloud's list): it may come back, so its entries
// are not marked unknown within the retention; they are counted once it
// is back. A camera the owner retired is marked unknown at once.
func TestPresenceWaitsForACameraTheSyncRetired(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := newEnv(t, dbtest.Open(t, b.DatabaseURL))
		t0 := e.clk.Now().Add(-time.Hour)
		en := e.ring(journalentry.KindPAYMENT, t0)
		e.cloud.AddEvent(device, safie.EventPerson, t0.Add(2*time.Second))
		cam := e.d.Client.Camera.Query().Where(entcamera.DeviceID(device)).OnlyX(e.sys)
		status := cam.SourceStatus
		e.d.Client.Camera.UpdateOneID(cam.ID).SetRetiredAt(t0.Add(time.Minute)).
			SetSourceStatus("CLOUD_GONE: Safie の一覧にないか、POS オプションが外れたため退役しました").ExecX(e.sys)
		if st := e.pass(t0.Add(5 * time.Minute)); st.Unknown != 0 || st.Checked != 0 {
			t.Errorf("retired by the sync: %+v, want the entry left waiting", st)
		}
		e.wantUnchecked("retired by the sync", en)
		e.d.Client.Camera.UpdateOneID(cam.ID).ClearRetiredAt().SetSourceStatus(status).ExecX(e.sys)
		if st := e.pass(t0.Add(20 * time.Minute)); st.Checked != 1 {
			t.Errorf("back: %+v, want the entry counted", st)
		}
		e.wantCount("after the camera came back", en, 1)

		by := e.ring(journalentry.KindPAYMENT, t0.Add(time.Minute))
		e.d.Client.Camera.UpdateOneID(cam.ID).SetRetiredAt(t0.Add(2 * time.Minute)).SetSourceStatus("").ExecX(e.sys)
		if st := e.pass(t0.Add(40 * time.Minute)); st.Unknown != 1 {
			t.Errorf("retired by the owner: %+v, want the entry marked unknown", st)
		}
		if n, checked := e.persons(by); !checked || n != nil {
			t.Errorf("retired by the owner: persons %v checked %v", n, checked)
		}
	})
}

// TestPresenceForbiddenDeviceSkipsOnlyThatDevice: a 403 on one device's
// events is that device's problem: the connection's other camera is
// counted in the same pass, and the full look still completes (the next
// pass is a recent look, not another full one).
func TestPresenceForbiddenDeviceSkipsOnlyThatDevice(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := newEnv(t, dbtest.Open(t, b.DatabaseURL))
		first := e.d.Client.Camera.Query().Where(entcamera.DeviceID(device)).OnlyX(e.sys)
		e.cloud.AddDevice(fake.Device{ID: "dev-2", Serial: "201000193", Name: "入口", Model: "CC-2L_SF", Streaming: true})
		second := e.d.Client.Camera.Create().SetAccountID(e.acc).SetName("入口").SetDeviceID("dev-2").SetPosOption(true).
			SetSourceKind(entcamera.SourceKindCLOUD).SetCloudConnectionID(*first.CloudConnectionID).SaveX(e.sys)
		term0 := e.d.Client.Terminal.GetX(e.sys, e.fx.TerminalIDs[0])
		term2 := e.d.Client.Terminal.Create().SetAccountID(e.acc).SetConnectionID(term0.ConnectionID).SetShopID(e.fx.ShopID).
			SetExternalID("cloud-2").SetName("レジ5").SaveX(e.sys)
		e.d.Client.Link.Create().SetAccountID(e.acc).SetTerminalID(term2.ID).SetCameraID(second.ID).SetCreatedAt(testenv.LinkedSince).ExecX(e.sys)

		t0 := e.clk.Now().Add(-time.Hour)
		a := e.ring(journalentry.KindPAYMENT, t0)
		bb := e.ring(journalentry.KindPAYMENT, t0, term2.ID)
		e.cloud.AddEvent("dev-2", safie.EventPerson, t0.Add(time.Second))
		e.cloud.FailNext(1, 403) // the first camera's events request
		st := e.pass(t0.Add(20 * time.Minute))
		if st.Checked != 1 || st.Failed != 1 {
			t.Errorf("one device forbidden: %+v, want the other camera's entry checked", st)
		}
		e.wantUnchecked("the forbidden device's entry", a)
		e.wantCount("the other camera's entry", bb, 1)
		before := e.requests()
		// 30 s later: a recent look (15 min), which does not reach back to
		// the forbidden device's entry 20 minutes ago.
		if st := e.pass(t0.Add(20*time.Minute + 30*time.Second)); st.Checked != 0 || e.requests() != before {
			t.Errorf("the next pass: %+v; want a recent look (the full look completed)", st)
		}
	})
}
