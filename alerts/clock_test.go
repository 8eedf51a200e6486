package alerts_test

import (
	"context"
	"fmt"
	"strings"
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
	"github.com/regicam/regicam/pulid"
)

// TestRegisterClockOff: a register whose clock runs 45 s ahead raises one
// REGISTER_CLOCK_OFF alert (with its outbox event) once its offset is
// known, however many receipts follow; set right, the alert is resolved
// half an hour later (a step of the clock); off again, a new episode. A register 10 s off stays under the default
// 30 s, one with too few samples raises nothing, and the threshold is the
// rule's windowSeconds.
func TestRegisterClockOff(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		ctx := context.Background()
		r := e.rule(t, alerts.Input{Kind: alertrule.KindREGISTER_CLOCK_OFF})
		if r.WindowSeconds != alerts.DefaultClockOffSeconds {
			t.Fatalf("default threshold %d", r.WindowSeconds)
		}
		clock := time.Now().Add(time.Minute).UTC().Truncate(time.Second) // after the rule
		e.in.SetClock(func() time.Time { return clock })
		n := 0
		// ring rings a sale on term true-time at, its register off by
		// off, uploaded half a second later.
		ring := func(term pulid.ID, at time.Time, off time.Duration) {
			t.Helper()
			n++
			server := at.Add(500 * time.Millisecond).Truncate(time.Second)
			res := e.in.Ingest(ctx, e.acct, ingest.Receipt{TerminalID: term, ExternalID: fmt.Sprintf("c%d", n),
				Kind: journalentry.KindPAYMENT, OccurredAt: at.Add(off).Truncate(time.Second), ServerAt: &server,
				Total: 100, ReceiptNo: "1", RegisterNo: "1"})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
		}
		episodes := func(term pulid.ID) []*ent.Alert {
			t.Helper()
			as, err := e.db.Client.Alert.Query().Where(alert.TerminalID(term), alert.RuleKind(string(alertrule.KindREGISTER_CLOCK_OFF))).
				Order(ent.Asc(alert.FieldSeq)).All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return as
		}
		ahead, small, few := e.fx.TerminalIDs[0], e.fx.TerminalIDs[1], e.fx.TerminalIDs[2]
		// Samples a minute apart, in the past of the clock (inside the window).
		base := clock
		at := func(i int) time.Time { return base.Add(time.Duration(i-300) * time.Minute) }

		for i := range 2 {
			ring(ahead, at(i), 45*time.Second)
		}
		if as := episodes(ahead); len(as) != 0 {
			t.Fatalf("two samples: %d alerts", len(as))
		}
		for i := 2; i < 10; i++ {
			ring(ahead, at(i), 45*time.Second)
		}
		as := episodes(ahead)
		if len(as) != 1 || as[0].ResolvedAt != nil || !strings.Contains(as[0].Message, "秒進んでいます") {
			t.Fatalf("45 s ahead: %+v", as)
		}
		if n, err := e.db.Client.Event.Query().Where(event.TypeEQ(event.TypeALERT), event.AlertID(as[0].ID)).Count(ctx); err != nil || n != 1 {
			t.Fatalf("alert events: %d %v", n, err)
		}
		// Set right: half an hour later the step is seen, the estimate is
		// back and the episode resolved, and stays so.
		for i := 10; i < 45; i++ {
			ring(ahead, at(i), 0)
		}
		as = episodes(ahead)
		if len(as) != 1 || as[0].ResolvedAt == nil {
			t.Fatalf("clock set right: %+v", as)
		}
		for i := 45; i < 200; i++ {
			ring(ahead, at(i), 0)
		}
		clock = clock.Add(2 * time.Hour)
		for i := 300; i < 330; i++ {
			ring(ahead, at(i), 0)
		}
		if as = episodes(ahead); len(as) != 1 {
			t.Fatalf("right for hours: %+v", as)
		}
		// Off again, the other way (the clock set wrong by hand): a new
		// episode once the step has lasted half an hour.
		for i := 330; i < 375; i++ { // 45 min: a step shows after half an hour
			ring(ahead, at(i), -2*time.Minute)
		}
		as = episodes(ahead)
		if len(as) != 2 || as[1].ResolvedAt != nil || !strings.Contains(as[1].Message, "遅れています") {
			t.Fatalf("two minutes behind: %+v", as)
		}

		for i := range 20 {
			ring(small, at(300+i), 10*time.Second)
		}
		if as := episodes(small); len(as) != 0 {
			t.Fatalf("10 s ahead under 30 s: %+v", as)
		}
		strict := e.rule(t, alerts.Input{Kind: alertrule.KindREGISTER_CLOCK_OFF, WindowSeconds: ptr(5)})
		ring(small, at(321), 10*time.Second)
		if as := episodes(small); len(as) != 1 || as[0].RuleID != strict.ID {
			t.Fatalf("10 s ahead over 5 s: %+v", as)
		}
		for i := range 2 {
			ring(few, at(300+i), time.Hour)
		}
		if as := episodes(few); len(as) != 0 {
			t.Fatalf("an hour ahead, two samples: %+v", as)
		}
		if _, _, err := e.svc.Create(e.ctx, alerts.Input{Name: "x", Kind: alertrule.KindREGISTER_CLOCK_OFF, WindowSeconds: ptr(0)}); err == nil {
			t.Fatal("a threshold of 0 s was accepted")
		}
	})
}
