package alerts_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pubsub"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Camera states of the fake thumbnailer.
const (
	recording   = "recording"    // a picture at once
	offline     = "offline"      // CAMERA_OFFLINE at once
	lateOK      = "late-ok"      // pending, then the late capture gets it
	lateTimeout = "late-timeout" // pending, then the late capture gives up
	cloudRetry  = "cloud-retry"  // the cloud cannot say yet
)

// cameras is an ingest.Thumbnailer whose cameras are in the state a test
// sets: the picture pipeline's verdicts, without a recorder.
type cameras struct {
	mu    sync.Mutex
	state map[pulid.ID]string
}

func (c *cameras) set(cam pulid.ID, s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state[cam] = s
}

func (c *cameras) get(cam pulid.ID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.state[cam]; ok {
		return s
	}
	return recording
}

func shotOf(cam pulid.ID, t time.Time) *ingest.Shot {
	return &ingest.Shot{CameraID: cam, Key: "k/" + string(pulid.MustNew("TH")), RequestedAt: t, CapturedAt: t,
		Width: 320, Height: 180, Bytes: 1, SHA256: "x"}
}

func (c *cameras) Capture(_ context.Context, _, _, cam pulid.ID, t time.Time) (*ingest.Shot, string, bool) {
	switch c.get(cam) {
	case offline:
		return nil, ingest.Reason(ingest.ReasonCameraOffline, "カメラがオフラインでした（最も近い映像は 42秒 離れています）"), false
	case cloudRetry:
		return nil, ingest.Reason(ingest.ReasonCloudRetry, ""), false
	case lateOK, lateTimeout:
		return nil, "", true
	}
	return shotOf(cam, t), "", false
}

func (c *cameras) CaptureLate(_ context.Context, _, _, cam pulid.ID, t time.Time) (*ingest.Shot, string) {
	if c.get(cam) == lateTimeout {
		return nil, "" // ingest words it TIMEOUT
	}
	return shotOf(cam, t), ""
}

// episodes are the RECEIPTS_NOT_RECORDED alerts of a camera, oldest first.
func episodes(t *testing.T, e *env, cam pulid.ID) []*ent.Alert {
	t.Helper()
	as, err := e.db.Client.Alert.Query().Where(alert.CameraID(cam),
		alert.RuleKind(string(alertrule.KindRECEIPTS_NOT_RECORDED))).Order(ent.Asc(alert.FieldSeq)).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func wantEpisodes(t *testing.T, what string, as []*ent.Alert, n int, lastOpen bool) {
	t.Helper()
	if len(as) != n {
		t.Fatalf("%s: %d alerts, want %d", what, len(as), n)
	}
	if n > 0 && (as[n-1].ResolvedAt == nil) != lastOpen {
		t.Fatalf("%s: last alert resolved at %v, want open=%v", what, as[n-1].ResolvedAt, lastOpen)
	}
}

// TestReceiptsNotRecordedEpisodes: receipts that arrive while the linked
// camera does not record raise one alert per camera and episode, with its
// outbox event; a receipt pictured again resolves it (also when its
// picture lands late), and the next outage is a new episode. Silent at
// the edges: pictured receipts, receipts of another camera, of a register
// without a camera, still pending or waiting on the cloud raise nothing;
// a camera no rule covers raises nothing.
func TestReceiptsNotRecordedEpisodes(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		cams := &cameras{state: map[pulid.ID]string{}}
		e.in.Thumbnails = cams
		cam0, cam1 := e.fx.CameraIDs[0], e.fx.CameraIDs[1] // cam0 watches registers 0 and 1, cam1 register 2
		r := e.rule(t, alerts.Input{Kind: alertrule.KindRECEIPTS_NOT_RECORDED})
		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
		sale := func(term, min int) *ent.JournalEntry {
			t.Helper()
			en, _ := e.ring(t, rec{kind: journalentry.KindPAYMENT, at: at(min), term: term, total: 500})
			e.in.WaitLate()
			return en
		}

		sale(0, 0)
		wantEpisodes(t, "a pictured receipt", episodes(t, e, cam0), 0, false)

		cams.set(cam0, offline)
		first := sale(0, 1)
		sale(1, 2)
		sale(0, 3)
		cams.set(cam1, cloudRetry)
		sale(2, 3) // the cloud will say later: no verdict
		as := episodes(t, e, cam0)
		wantEpisodes(t, "three receipts while offline", as, 1, true)
		if a := as[0]; a.EntryID == nil || *a.EntryID != first.ID || !a.OccurredAt.Equal(at(1)) || a.RuleID != r.ID ||
			!strings.Contains(a.Message, "自宅カメラ") || !strings.Contains(a.Message, "オフライン") {
			t.Errorf("alert entry %v at %s: %q; want the first unrecorded receipt, naming the camera and why", a.EntryID, a.OccurredAt, a.Message)
		}
		wantEpisodes(t, "the other camera", episodes(t, e, cam1), 0, false)
		n, err := e.db.Client.Event.Query().Where(event.TypeEQ(event.TypeALERT), event.AlertID(as[0].ID)).Count(context.Background())
		if err != nil || n != 1 {
			t.Errorf("%d ALERT events for the episode (%v), want 1", n, err)
		}

		cams.set(cam0, recording)
		sale(1, 5)
		as = episodes(t, e, cam0)
		wantEpisodes(t, "pictured again", as, 1, false)
		if !as[0].ResolvedAt.Equal(at(5)) {
			t.Errorf("resolved at %s, want %s (the pictured receipt)", as[0].ResolvedAt, at(5))
		}
		cams.set(cam0, offline)
		sale(0, 4) // older than the recovery, seen late: does not reopen it
		wantEpisodes(t, "an unrecorded receipt older than the recovery", episodes(t, e, cam0), 1, false)

		// Episode 2: offline, then back with a picture that lands late.
		sale(0, 10)
		wantEpisodes(t, "offline again", episodes(t, e, cam0), 2, true)
		cams.set(cam0, lateOK)
		sale(0, 11)
		wantEpisodes(t, "a late picture", episodes(t, e, cam0), 2, false)

		// Episode 3: the late capture gives up (TIMEOUT) — known only after
		// the entry was committed, still an outage.
		cams.set(cam0, lateTimeout)
		pending := sale(1, 20)
		if got, err := e.db.Client.JournalEntry.Get(context.Background(), pending.ID); err != nil || ingest.CodeOf(got.ThumbnailReason) != ingest.ReasonTimeout {
			t.Fatalf("late capture gave up: reason %q (%v)", got.ThumbnailReason, err)
		}
		wantEpisodes(t, "a late capture that gave up", episodes(t, e, cam0), 3, true)

		// No camera: nothing to say about recording.
		unlinked, err := e.db.Client.Terminal.Create().SetAccountID(e.acct).SetConnectionID(pendingConn(t, e)).
			SetShopID(e.fx.ShopID).SetExternalID("new-register").SetName("新しいレジ").Save(viewer.System(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		en, as2 := e.ring(t, rec{kind: journalentry.KindPAYMENT, at: at(21), termID: unlinked.ID})
		if en.CameraID != nil || ingest.CodeOf(en.ThumbnailReason) != ingest.ReasonNoLink || len(as2) != 0 {
			t.Errorf("new register: camera %v, reason %q, %d alerts", en.CameraID, en.ThumbnailReason, len(as2))
		}
		total, err := e.db.Client.Alert.Query().Where(alert.RuleID(r.ID)).Count(context.Background())
		if err != nil || total != 3 {
			t.Errorf("%d alerts of the rule in all (%v), want 3", total, err)
		}
	})
}

// pendingConn is the fixture's POS connection.
func pendingConn(t *testing.T, e *env) pulid.ID {
	t.Helper()
	term, err := e.db.Client.Terminal.Get(viewer.System(context.Background()), e.fx.TerminalIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	return term.ConnectionID
}

// TestReceiptsNotRecordedNeedsARule: a camera no rule covers raises
// nothing, whether the account has no rule of the kind or its rule is
// scoped to another camera.
func TestReceiptsNotRecordedNeedsARule(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		cams := &cameras{state: map[pulid.ID]string{}}
		e.in.Thumbnails = cams
		cam0, cam1 := e.fx.CameraIDs[0], e.fx.CameraIDs[1]
		cams.set(cam0, offline)
		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		e.ring(t, rec{kind: journalentry.KindPAYMENT, at: base, term: 0})
		wantEpisodes(t, "no rule", episodes(t, e, cam0), 0, false)

		e.rule(t, alerts.Input{Kind: alertrule.KindRECEIPTS_NOT_RECORDED, Scope: &journal.Filter{CameraIDs: []pulid.ID{cam1}}})
		e.ring(t, rec{kind: journalentry.KindPAYMENT, at: base.Add(time.Minute), term: 0})
		wantEpisodes(t, "a rule of another camera", episodes(t, e, cam0), 0, false)
		cams.set(cam1, offline)
		e.ring(t, rec{kind: journalentry.KindPAYMENT, at: base.Add(time.Minute), term: 2})
		wantEpisodes(t, "the rule's camera", episodes(t, e, cam1), 1, true)
	})
}

// TestReceiptsNotRecordedOnceWithTwoServers: two servers (alerts service
// and ingester each) on one database ingest the same outage's receipts at
// once: one alert for the episode; a pictured receipt on either closes
// it, and the next outage is again exactly one alert.
func TestReceiptsNotRecordedOnceWithTwoServers(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		cams := &cameras{state: map[pulid.ID]string{}}
		e.in.Thumbnails = cams
		other := alerts.New(e.db.Client, e.db.Dialect, e.svc.Box, testenv.Logger(), alerts.Options{})
		in2 := ingest.New(e.db.Client, e.db.Dialect, pubsub.NewMemory(), testenv.Logger())
		in2.Observer, in2.Thumbnails = other, cams
		servers := []*ingest.Ingester{e.in, in2}
		cam0 := e.fx.CameraIDs[0]
		e.rule(t, alerts.Input{Kind: alertrule.KindRECEIPTS_NOT_RECORDED})
		base := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)

		var seq int
		burst := func(from time.Time) {
			t.Helper()
			var wg sync.WaitGroup
			for i := range 16 {
				seq++
				ext := fmt.Sprintf("b%d", seq)
				wg.Add(1)
				go func() {
					defer wg.Done()
					res := servers[i%2].Ingest(context.Background(), e.acct, ingest.Receipt{TerminalID: e.fx.TerminalIDs[i%2],
						ExternalID: ext, Kind: journalentry.KindPAYMENT, OccurredAt: from.Add(time.Duration(i) * time.Second), ReceiptNo: ext, RegisterNo: "1"})
					if res.Err != nil {
						t.Errorf("ingest: %v", res.Err)
					}
				}()
			}
			wg.Wait()
		}
		cams.set(cam0, offline)
		burst(base)
		wantEpisodes(t, "first outage, two servers", episodes(t, e, cam0), 1, true)

		cams.set(cam0, recording)
		seq++
		if res := in2.Ingest(context.Background(), e.acct, ingest.Receipt{TerminalID: e.fx.TerminalIDs[0], ExternalID: fmt.Sprintf("b%d", seq),
			Kind: journalentry.KindPAYMENT, OccurredAt: base.Add(10 * time.Minute), ReceiptNo: "r", RegisterNo: "1"}); res.Err != nil {
			t.Fatal(res.Err)
		}
		wantEpisodes(t, "pictured on the other server", episodes(t, e, cam0), 1, false)

		cams.set(cam0, offline)
		burst(base.Add(20 * time.Minute))
		as := episodes(t, e, cam0)
		wantEpisodes(t, "second outage, two servers", as, 2, true)
		n, err := e.db.Client.Event.Query().Where(event.TypeEQ(event.TypeALERT)).Count(context.Background())
		if err != nil || n != 2 {
			t.Errorf("%d ALERT events (%v), want one per episode", n, err)
		}
	})
}
