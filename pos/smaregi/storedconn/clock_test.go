package storedconn_test

import (
	"context"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/smaregi/fake"
	"github.com/regicam/regicam/pulid"
)

// TestSmaregiRegisterClocks: the fake skews register 7 by +45 s and
// register 8 by −90 s, register 9 keeps right time but uploads two seconds
// late. Through the real poller and mapping, regicam's estimate of each
// (Terminal.clockOffset) comes out within two seconds (the sales are rung
// in a burst within one second, so the whole seconds of the times do not
// average out; ingest/clock_test.go measures spread-out sales), the
// skewed registers' entries keep their own time and get corrected_at,
// the right one is left alone (correcting false, no corrected_at), and
// before the third sample the offset is unknown (null).
func TestSmaregiRegisterClocks(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		e := newSmEnv(t, b, fake.Options{})
		e.start(0)
		e.connect(fSecret)
		sub := func(d time.Duration) func() time.Duration { return func() time.Duration { return d } }
		e.fk.SetRegisterClock("7", fake.RegisterClock{Offset: 45 * time.Second, Delay: sub(300 * time.Millisecond)})
		e.fk.SetRegisterClock("8", fake.RegisterClock{Offset: -90 * time.Second, Delay: sub(400 * time.Millisecond)})
		e.fk.SetRegisterClock("9", fake.RegisterClock{Delay: sub(2 * time.Second)})
		ring := func(term string, n int) {
			for range n {
				id := e.fk.RingUp(fake.TransactionSpec{StoreID: "1", TerminalID: term, StaffName: "山田", Total: 500})
				e.want[entryKey{id, journalentry.KindPAYMENT}] = true
			}
		}
		type offset struct {
			OffsetMs, UncertaintyMs, Samples int
			Correcting                       bool
		}
		clockOf := func(ext string) (*offset, pulid.ID) {
			t.Helper()
			term, err := e.srv.DB.Client.Terminal.Query().Where(terminal.ConnectionID(e.conn), terminal.ExternalID(ext)).Only(ctx)
			if err != nil {
				t.Fatalf("register %s: %v", ext, err)
			}
			var out struct {
				Node struct{ ClockOffset *offset }
			}
			e.srv.MustQuery(t, `query($id: ID!) { node(id: $id) { ... on Terminal { clockOffset { offsetMs uncertaintyMs samples correcting updatedAt } } } }`,
				map[string]any{"id": term.ID}, &out)
			return out.Node.ClockOffset, term.ID
		}

		ring("7", 2)
		e.syncUntilOK(1)
		if off, _ := clockOf("7"); off != nil {
			t.Fatalf("two samples: clockOffset %+v, want null", off)
		}
		ring("7", 4)
		ring("8", 6)
		ring("9", 6)
		e.syncUntilOK(1)
		e.checkOnce("skewed registers")
		for _, c := range []struct {
			ext        string
			want       time.Duration
			correcting bool
		}{{"7", 45 * time.Second, true}, {"8", -90 * time.Second, true}, {"9", -2 * time.Second, false}} {
			off, id := clockOf(c.ext)
			if off == nil || off.Correcting != c.correcting || off.Samples != 6 ||
				(time.Duration(off.OffsetMs)*time.Millisecond-c.want).Abs() > 2*time.Second {
				t.Fatalf("register %s: clockOffset %+v, want %v correcting %v", c.ext, off, c.want, c.correcting)
			}
			es, err := e.srv.DB.Client.JournalEntry.Query().Where(journalentry.TerminalID(id)).All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			corrected := 0
			for _, x := range es {
				if x.CorrectedAt != nil {
					corrected++
					if d := x.OccurredAt.Sub(*x.CorrectedAt) - c.want; d.Abs() > 2*time.Second {
						t.Errorf("register %s: occurred %v corrected %v", c.ext, x.OccurredAt, x.CorrectedAt)
					}
				}
			}
			if c.correcting && corrected < len(es)-2 || !c.correcting && corrected != 0 {
				t.Errorf("register %s: %d of %d entries corrected", c.ext, corrected, len(es))
			}
		}
	})
}
