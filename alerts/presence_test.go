package alerts_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// presenceAlerts evaluates e's NO_PERSON rules with the persons seen
// (offsets from occurred_at) within ±30 s, and returns e's alerts.
func (e *env) presenceAlerts(t *testing.T, entry *ent.JournalEntry, offsets ...time.Duration) []*ent.Alert {
	t.Helper()
	var seen []time.Time
	for _, o := range offsets {
		seen = append(seen, entry.OccurredAt.Add(o))
	}
	if err := e.svc.EvaluatePresence(context.Background(), entry.ID, alerts.DefaultPresenceWindow, seen); err != nil {
		t.Fatalf("evaluate presence: %v", err)
	}
	as, err := e.db.Client.Alert.Query().Where(alert.EntryID(entry.ID)).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// TestNoPersonFiresAndStaysSilentAtItsEdges: "a cancel with no person
// detected at the counter", ±30 s inclusive.
func TestNoPersonFiresAndStaysSilentAtItsEdges(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		r := e.rule(t, alerts.Input{Kind: alertrule.KindNO_PERSON})
		if r.WindowSeconds != 30 || len(r.EntryKinds) != 1 || r.EntryKinds[0] != "CANCEL" {
			t.Errorf("defaults: window %d, kinds %v; want 30, [CANCEL]", r.WindowSeconds, r.EntryKinds)
		}
		at := tokyo("2026-11-23 12:00:00")
		for _, c := range []struct {
			what    string
			kind    journalentry.Kind
			persons []time.Duration
			want    bool
		}{
			{"a person exactly 30 s before", journalentry.KindCANCEL, []time.Duration{-30 * time.Second}, false},
			{"a person 31 s before only", journalentry.KindCANCEL, []time.Duration{-31 * time.Second}, true},
			{"a person exactly 30 s after", journalentry.KindCANCEL, []time.Duration{30 * time.Second}, false},
			{"a person 31 s after and 31 s before", journalentry.KindCANCEL, []time.Duration{-31 * time.Second, 31 * time.Second}, true},
			{"no person events", journalentry.KindCANCEL, nil, true},
			{"a sale with no person (kind not in entryKinds)", journalentry.KindPAYMENT, nil, false},
		} {
			entry, atIngest := e.ring(t, rec{kind: c.kind, at: at, total: 1200, staff: "山田"})
			fires(t, c.what+", at ingest (presence not known yet)", atIngest, false)
			as := e.presenceAlerts(t, entry, c.persons...)
			fires(t, c.what, as, c.want)
			if c.want && len(as) == 1 {
				a := as[0]
				if a.RuleKind != "NO_PERSON" || a.Amount != 1200 || a.StaffName != "山田" || !a.OccurredAt.Equal(at) ||
					a.ShopID == nil || *a.ShopID != e.fx.ShopID || a.CameraID == nil || *a.CameraID != e.fx.CameraIDs[0] ||
					!strings.Contains(a.Message, "人が検知されていないキャンセル") || !strings.Contains(a.Message, "¥1200") ||
					!strings.Contains(a.Message, "山田") {
					t.Errorf("%s: alert %+v", c.what, a)
				}
			}
		}

		t.Run("evaluated twice, one alert", func(t *testing.T) {
			entry, _ := e.ring(t, rec{kind: journalentry.KindCANCEL, at: at, total: 100, staff: "a"})
			e.presenceAlerts(t, entry)
			if as := e.presenceAlerts(t, entry); len(as) != 1 {
				t.Errorf("%d alerts after two evaluations, want 1", len(as))
			}
			n, err := e.db.Client.Event.Query().Where(event.TypeEQ(event.TypeALERT), event.AlertIDIn(alertIDs(t, e, entry.ID)...)).Count(context.Background())
			if err != nil || n != 1 {
				t.Errorf("%d ALERT events (%v), want 1", n, err)
			}
		})

		t.Run("scope excludes another shop", func(t *testing.T) {
			if _, err := e.db.Client.AlertRule.Delete().Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			e.svc.Forget(e.acct)
			ctx := context.Background()
			other, err := e.db.Client.Shop.Create().SetAccountID(e.acct).SetName("新宿店").Save(viewer.System(ctx))
			if err != nil {
				t.Fatal(err)
			}
			term0, _ := e.db.Client.Terminal.Get(ctx, e.fx.TerminalIDs[0])
			there, err := e.db.Client.Terminal.Create().SetAccountID(e.acct).SetConnectionID(term0.ConnectionID).SetShopID(other.ID).
				SetExternalID("shinjuku").SetName("新宿レジ").Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e.rule(t, alerts.Input{Kind: alertrule.KindNO_PERSON, Scope: &journal.Filter{ShopIDs: []pulid.ID{other.ID}}})
			here, _ := e.ring(t, rec{kind: journalentry.KindCANCEL, at: at, total: 100})
			fires(t, "a cancel in a shop outside the scope", e.presenceAlerts(t, here), false)
			away, _ := e.ring(t, rec{kind: journalentry.KindCANCEL, at: at, total: 100, termID: there.ID})
			fires(t, "a cancel in the scoped shop", e.presenceAlerts(t, away), true)
		})
	})
}

func alertIDs(t *testing.T, e *env, entry pulid.ID) []pulid.ID {
	t.Helper()
	ids, err := e.db.Client.Alert.Query().Where(alert.EntryID(entry)).IDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestNoPersonEachRuleOnItsOwnWindow: the checker looks within the widest
// window; each rule counts only within its own.
func TestNoPersonEachRuleOnItsOwnWindow(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		ctx := context.Background()
		if w, err := e.svc.PresenceWindow(ctx, e.acct); err != nil || w != 30*time.Second {
			t.Errorf("window without rules: %v (%v), want 30s", w, err)
		}
		narrow := e.rule(t, alerts.Input{Name: "narrow", Kind: alertrule.KindNO_PERSON, WindowSeconds: ptr(10),
			EntryKinds: []journalentry.Kind{journalentry.KindCANCEL, journalentry.KindDELETE}})
		wide := e.rule(t, alerts.Input{Name: "wide", Kind: alertrule.KindNO_PERSON, WindowSeconds: ptr(60)})
		w, err := e.svc.PresenceWindow(ctx, e.acct)
		if err != nil || w != time.Minute {
			t.Fatalf("window: %v (%v), want 1m", w, err)
		}
		entry, _ := e.ring(t, rec{kind: journalentry.KindCANCEL, at: tokyo("2026-11-23 12:00:00"), total: 100})
		if err := e.svc.EvaluatePresence(ctx, entry.ID, w, []time.Time{entry.OccurredAt.Add(20 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		as, _ := e.db.Client.Alert.Query().Where(alert.EntryID(entry.ID)).All(ctx)
		if len(as) != 1 || as[0].RuleID != narrow.ID {
			t.Errorf("a person 20 s after: alerts %+v, want only the ±10 s rule's", as)
		}
		// Looked within ±30 s only (the wide rule came later): the wide
		// rule is not decided, the narrow one is.
		del, _ := e.ring(t, rec{kind: journalentry.KindDELETE, at: tokyo("2026-11-23 12:05:00"), total: 100})
		cancel, _ := e.ring(t, rec{kind: journalentry.KindCANCEL, at: tokyo("2026-11-23 12:06:00"), total: 100})
		for _, en := range []*ent.JournalEntry{del, cancel} {
			if err := e.svc.EvaluatePresence(ctx, en.ID, 30*time.Second, nil); err != nil {
				t.Fatal(err)
			}
			as, _ := e.db.Client.Alert.Query().Where(alert.EntryID(en.ID)).All(ctx)
			if len(as) != 1 || as[0].RuleID != narrow.ID {
				t.Errorf("%s looked at ±30 s: alerts %+v, want only the narrow rule's (wide %s undecided)", en.Kind, as, wide.ID)
			}
		}
	})
}

func TestPresenceRuleValidation(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		for _, c := range []struct {
			in    alerts.Input
			field string
		}{
			{alerts.Input{Kind: alertrule.KindNO_PERSON, WindowSeconds: ptr(0)}, "input.windowSeconds"},
			{alerts.Input{Kind: alertrule.KindNO_PERSON, WindowSeconds: ptr(301)}, "input.windowSeconds"},
			{alerts.Input{Kind: alertrule.KindNO_PERSON, EntryKinds: []journalentry.Kind{journalentry.KindPAYMENT}}, "input.entryKinds"},
		} {
			c.in.Name = "r"
			_, _, err := e.svc.Create(e.ctx, c.in)
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.BadUserInput || ae.Field != c.field {
				t.Errorf("%+v: got %v, want BAD_USER_INPUT on %s", c.in, err, c.field)
			}
		}
		for _, in := range []alerts.Input{
			{Name: "ok", Kind: alertrule.KindNO_PERSON, WindowSeconds: ptr(300), EntryKinds: []journalentry.Kind{journalentry.KindMODIFY}},
			{Name: "cam", Kind: alertrule.KindCAMERA_NOT_RECORDING},
		} {
			if _, _, err := e.svc.Create(e.ctx, in); err != nil {
				t.Errorf("%s: %v", in.Kind, err)
			}
		}
	})
}

// TestNoPersonTwoReplicas: two servers deciding the same entry at once
// raise one alert.
func TestNoPersonTwoReplicas(t *testing.T) {
	e := open(t, testenv.Postgres(t))
	e.rule(t, alerts.Input{Kind: alertrule.KindNO_PERSON})
	second := alerts.New(e.db.Client, e.db.Dialect, e.svc.Box, testenv.Logger(), alerts.Options{})
	var entries []*ent.JournalEntry
	for i := range 10 {
		en, _ := e.ring(t, rec{kind: journalentry.KindCANCEL, at: tokyo("2026-11-23 12:00:00").Add(time.Duration(i) * time.Minute), total: 100})
		entries = append(entries, en)
	}
	var wg sync.WaitGroup
	for _, s := range []*alerts.Service{e.svc, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, en := range entries {
				if err := s.EvaluatePresence(context.Background(), en.ID, 30*time.Second, nil); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	n, _ := e.db.Client.Alert.Query().Count(context.Background())
	if n != len(entries) {
		t.Errorf("%d alerts for %d entries, want one each", n, len(entries))
	}
}

// TestCameraNotRecordingOncePerEpisode: one alert per episode, resolved
// when the camera records again; a new episode is a new alert.
func TestCameraNotRecordingOncePerEpisode(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		ctx := context.Background()
		r := e.rule(t, alerts.Input{Kind: alertrule.KindCAMERA_NOT_RECORDING, WebhookURL: ptr("https://hooks.example.com/x")})
		cam, err := e.db.Client.Camera.Get(ctx, e.fx.CameraIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		open := func() []*ent.Alert {
			t.Helper()
			as, err := e.db.Client.Alert.Query().Where(alert.RuleID(r.ID)).Order(ent.Asc(alert.FieldSeq)).All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return as
		}
		since := tokyo("2026-11-23 14:05:30")
		for range 2 {
			if err := e.svc.CameraNotRecording(ctx, cam, since); err != nil {
				t.Fatal(err)
			}
		}
		as := open()
		if len(as) != 1 {
			t.Fatalf("%d alerts after two calls for one episode, want 1", len(as))
		}
		a := as[0]
		if a.CameraID == nil || *a.CameraID != cam.ID || a.ShopID == nil || *a.ShopID != e.fx.ShopID || a.EntryID != nil ||
			a.ResolvedAt != nil || !a.OccurredAt.Equal(since) || a.WebhookState != alert.WebhookStatePENDING ||
			a.Message != "カメラ "+cam.Name+" が録画していません（14:05 から）" {
			t.Errorf("alert %+v", a)
		}
		if n, _ := e.db.Client.Event.Query().Where(event.AlertID(a.ID), event.TypeEQ(event.TypeALERT)).Count(ctx); n != 1 {
			t.Errorf("%d ALERT events, want 1", n)
		}

		back := tokyo("2026-11-23 14:20:00")
		if err := e.svc.CameraRecording(ctx, cam, back); err != nil {
			t.Fatal(err)
		}
		if as := open(); len(as) != 1 || as[0].ResolvedAt == nil || !as[0].ResolvedAt.Equal(back) {
			t.Errorf("after recovery: %+v, want resolved at %s", as, back)
		}

		again := tokyo("2026-11-23 16:00:00")
		if err := e.svc.CameraNotRecording(ctx, cam, again); err != nil {
			t.Fatal(err)
		}
		as = open()
		if len(as) != 2 || as[1].ResolvedAt != nil || !as[1].OccurredAt.Equal(again) || as[0].ResolvedAt == nil {
			t.Errorf("a new episode: %+v, want a second, open alert", as)
		}
		if err := e.svc.CameraRecording(ctx, cam, again.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if as = open(); as[0].ResolvedAt == nil || !as[0].ResolvedAt.Equal(back) || as[1].ResolvedAt == nil {
			t.Errorf("the first episode's end moved or the second is open: %+v", as)
		}
	})
}

// TestCameraNotRecordingScope: a camera watching no register, or only
// registers outside the rule's scope, raises nothing.
func TestCameraNotRecordingScope(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		ctx := context.Background()
		other, err := e.db.Client.Shop.Create().SetAccountID(e.acct).SetName("新宿店").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e.rule(t, alerts.Input{Kind: alertrule.KindCAMERA_NOT_RECORDING, Scope: &journal.Filter{ShopIDs: []pulid.ID{other.ID}}})
		e.rule(t, alerts.Input{Kind: alertrule.KindCAMERA_NOT_RECORDING, Scope: &journal.Filter{TerminalIDs: []pulid.ID{e.fx.TerminalIDs[2]}}})
		lone, err := e.db.Client.Camera.Create().SetAccountID(e.acct).SetName("倉庫").SetModel("m").SetDeviceID("lone").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cam0, _ := e.db.Client.Camera.Get(ctx, e.fx.CameraIDs[0])
		cam1, _ := e.db.Client.Camera.Get(ctx, e.fx.CameraIDs[1])
		since := tokyo("2026-11-23 14:00:00")
		for _, c := range []*ent.Camera{lone, cam0, cam1} {
			if err := e.svc.CameraNotRecording(ctx, c, since); err != nil {
				t.Fatal(err)
			}
		}
		as, _ := e.db.Client.Alert.Query().All(ctx)
		if len(as) != 1 || *as[0].CameraID != cam1.ID {
			t.Errorf("alerts %+v, want one, for the camera of the scoped register", as)
		}
	})
}
