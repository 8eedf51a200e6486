package smaregi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/smaregi"
	"github.com/regicam/regicam/pos/smaregi/fake"
)

func kindsOf(recs []pos.Record) map[string]string {
	m := map[string]string{}
	for _, r := range recs {
		k := r.Receipt.ExternalID
		if m[k] != "" {
			m[k] += "+"
		}
		m[k] += string(r.Receipt.Kind)
	}
	return m
}

func TestPollerCursorSeesLaterChangesOfOldSales(t *testing.T) {
	now := time.Now()
	clock := fake.NewManualClock(now)
	srv := newFake(t, fake.Options{Clock: clock.Now})
	// A sale from two days ago, before the connection existed.
	old := srv.RingUp(fake.TransactionSpec{Total: 900, At: now.Add(-48 * time.Hour), ServerAt: now.Add(-48 * time.Hour)})
	fresh := srv.RingUp(fake.TransactionSpec{Total: 100, TerminalID: "2"})

	ourNow := now
	p := smaregi.NewPoller(newClient(t, srv), smaregi.PollerOptions{Now: func() time.Time { return ourNow }})
	ctx := context.Background()
	recs, cursor, err := p.Poll(ctx, "")
	must(t, err)
	if k := kindsOf(recs); k[fresh] != "PAYMENT" || k[old] != "" || len(recs) != 1 {
		t.Fatalf("first poll: %v", k)
	}
	if recs[0].StoreName != "本店" || recs[0].TerminalExternalID != "2" {
		t.Fatalf("record: %+v", recs[0])
	}

	// The old sale is canceled today: its updDateTime moves into the next
	// window, so the poll sees the cancel of a sale it never saw.
	ourNow = ourNow.Add(30 * time.Second)
	clock.Set(ourNow)
	must(t, srv.Cancel(old, ourNow))
	recs, cursor2, err := p.Poll(ctx, cursor)
	must(t, err)
	if k := kindsOf(recs); k[old] != "PAYMENT+CANCEL" {
		t.Fatalf("second poll: %v", k)
	}
	c1, _ := smaregi.ParseCursor(cursor)
	c2, _ := smaregi.ParseCursor(cursor2)
	if !c2.After(c1) {
		t.Fatalf("cursor did not advance: %s → %s", cursor, cursor2)
	}

	// A garbled cursor starts over instead of failing forever.
	if _, _, err := p.Poll(ctx, "garbage"); err != nil {
		t.Fatal(err)
	}
	// A cursor from the future (skewed host) still reads something.
	recs, _, err = p.Poll(ctx, smaregi.Cursor(ourNow.Add(time.Hour)))
	must(t, err)
	if len(recs) == 0 {
		t.Fatal("future cursor read nothing")
	}
}

func TestPollerOverlapCoversLateCommits(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clock := fake.NewManualClock(now)
	srv := newFake(t, fake.Options{Clock: clock.Now})
	ourNow := now
	p := smaregi.NewPoller(newClient(t, srv), smaregi.PollerOptions{Now: func() time.Time { return ourNow }, Overlap: time.Minute})
	_, cursor, err := p.Poll(context.Background(), "")
	must(t, err)
	// Smaregi stamps a sale 20 s before our last window ended but commits it
	// after we read (or its clock lags ours).
	late := srv.RingUp(fake.TransactionSpec{Total: 100, At: now.Add(-20 * time.Second), ServerAt: now.Add(-20 * time.Second)})
	ourNow = now.Add(30 * time.Second)
	recs, _, err := p.Poll(context.Background(), cursor)
	must(t, err)
	if kindsOf(recs)[late] != "PAYMENT" {
		t.Fatalf("late commit lost: %v", kindsOf(recs))
	}
}

func TestPollerCatchesUpInBoundedSteps(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	srv := newFake(t, fake.Options{})
	var ids []string
	for d := 100; d >= 0; d -= 7 {
		at := now.Add(-time.Duration(d) * 24 * time.Hour)
		ids = append(ids, srv.RingUp(fake.TransactionSpec{Total: 100, At: at, ServerAt: at}))
	}
	p := smaregi.NewPoller(newClient(t, srv), smaregi.PollerOptions{Now: func() time.Time { return now }, MaxWindowsPerPoll: 2, Overlap: time.Second})
	cursor := smaregi.Cursor(now.Add(-101 * 24 * time.Hour))
	seen := map[string]bool{}
	polls := 0
	for {
		polls++
		recs, next, err := p.Poll(context.Background(), cursor)
		must(t, err)
		for _, r := range recs {
			seen[r.Receipt.ExternalID] = true
		}
		if next == cursor || polls > 10 {
			t.Fatalf("stuck at %s", next)
		}
		cursor = next
		if c, _ := smaregi.ParseCursor(next); !c.Before(now) {
			break
		}
	}
	if polls != 2 { // 101 days = 4 windows, 2 per poll
		t.Errorf("%d polls", polls)
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("sale %s never polled", id)
		}
	}
}

func TestPollerTerminalFilter(t *testing.T) {
	srv := newFake(t, fake.Options{})
	a := srv.RingUp(fake.TransactionSpec{Total: 100, TerminalID: "1"})
	srv.RingUp(fake.TransactionSpec{Total: 100, TerminalID: "2"})
	p := smaregi.NewPoller(newClient(t, srv), smaregi.PollerOptions{Terminal: func(id string) bool { return id == "1" }})
	recs, _, err := p.Poll(context.Background(), "")
	must(t, err)
	if len(recs) != 1 || recs[0].Receipt.ExternalID != a {
		t.Fatalf("%v", kindsOf(recs))
	}
}

func TestBackfillReportsProgress(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	srv := newFake(t, fake.Options{})
	var ids []string
	for d := 0; d < 80; d += 2 {
		at := now.Add(-time.Duration(d) * 24 * time.Hour)
		ids = append(ids, srv.RingUp(fake.TransactionSpec{Total: 100, At: at, ServerAt: at}))
	}
	p := smaregi.NewPoller(newClient(t, srv), smaregi.PollerOptions{})
	var progress []string
	seen := map[string]int{}
	err := p.Backfill(context.Background(), now.Add(-80*24*time.Hour), now, func(w, n int, recs []pos.Record) error {
		progress = append(progress, fmt.Sprintf("%d/%d", w, n))
		for _, r := range recs {
			seen[r.Receipt.ExternalID]++
		}
		return nil
	})
	must(t, err)
	if strings.Join(progress, " ") != "1/3 2/3 3/3" {
		t.Fatalf("progress %v", progress)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("sale %s seen %d times", id, seen[id])
		}
	}
}
