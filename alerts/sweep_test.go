package alerts_test

import (
	"context"
	"testing"
	"time"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// TestSweepRecoversAlertsOfACrash: the process dies after an entry's
// ingest committed but before its rules were evaluated; the restarted
// service raises the alert exactly once, and sweeping again (or an entry
// observed before the crash) never doubles one.
func TestSweepRecoversAlertsOfACrash(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		e.rule(t, alerts.Input{Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(1000))})
		ctx := viewer.System(context.Background())
		// First start of the service on this database.
		if n, err := e.svc.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("first sweep: %d alerts, %v", n, err)
		}
		seen, as := e.ring(t, rec{kind: journalentry.KindCANCEL, at: tokyo("2026-11-23 12:00:00"), total: 5000, staff: "a"})
		fires(t, "observed before the crash", as, true)
		e.in.Observer = nil // the crash: committed, never observed
		lost, as := e.ring(t, rec{kind: journalentry.KindCANCEL, at: tokyo("2026-11-23 12:01:00"), total: 7000, staff: "a"})
		fires(t, "ingest without observer", as, false)

		restarted := alerts.New(e.db.Client, e.db.Dialect, e.svc.Box, testenv.Logger(), alerts.Options{SweepGrace: time.Nanosecond})
		runCtx, stop := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() {
			restarted.Run(runCtx)
			close(stopped)
		}()
		count := func(entry pulid.ID) int {
			t.Helper()
			n, err := e.db.Client.Alert.Query().Where(alert.EntryID(entry)).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		deadline := time.Now().Add(20 * time.Second)
		for count(lost.ID) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		<-stopped // Run returns once its context ends (app.Close)
		for i := range 2 {
			if n, err := restarted.Sweep(ctx); err != nil || n != 0 {
				t.Errorf("sweep %d after recovery: %d new alerts, %v", i+1, n, err)
			}
		}
		if n := count(lost.ID); n != 1 {
			t.Errorf("alerts of the entry ingested before the crash: %d, want 1", n)
		}
		if n := count(seen.ID); n != 1 {
			t.Errorf("alerts of the entry observed before the crash: %d, want 1", n)
		}
	})
}

// TestSweepLeavesEntriesOlderThanTheRule: a rule applies to entries that
// arrive after it; the sweep does not reach back to ones before it.
func TestSweepLeavesEntriesOlderThanTheRule(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		ctx := viewer.System(context.Background())
		if _, err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		before, _ := e.ring(t, rec{kind: journalentry.KindCANCEL, at: tokyo("2026-11-23 12:00:00"), total: 5000, staff: "a"})
		time.Sleep(10 * time.Millisecond) // the rule's created_at is strictly later
		e.rule(t, alerts.Input{Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(1000))})
		restarted := alerts.New(e.db.Client, e.db.Dialect, e.svc.Box, testenv.Logger(), alerts.Options{SweepGrace: time.Nanosecond})
		if n, err := restarted.Sweep(ctx); err != nil || n != 0 {
			t.Errorf("sweep: %d alerts, %v; want none for an entry older than the rule", n, err)
		}
		if n, _ := e.db.Client.Alert.Query().Where(alert.EntryID(before.ID)).Count(ctx); n != 0 {
			t.Errorf("%d alerts for the entry older than the rule", n)
		}
	})
}
