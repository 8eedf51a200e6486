package ingest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/regclock"
	"github.com/regicam/regicam/viewer"
)

// The register's clock (regclock). Every new entry of a receipt whose
// provider gives the server's time (Receipt.ServerAt) adds one sample to
// its terminal's window, in the transaction that writes the entry, and the
// terminal's estimate is stored beside the window. When the estimate is
// known and correcting, the entry keeps the register's own time in
// occurred_at and gets corrected_at = occurred_at − offset; the picture is
// taken at corrected_at and its skew measured against it.
//
// The picture is taken before the transaction (ingest.go), so the
// correction is worked out from the window as loaded with the terminal
// plus the receipt's own sample (and, in a batch, the samples of the
// batch's earlier receipts of the same register); the transaction then
// adds the samples to the window as it is stored by then. Two ingests of
// one register at once may each miss the other's sample in their
// correction, never in the stored window beyond a lost update of one
// sample on PostgreSQL's read committed (the estimator is a minimum over
// many: one sample lost changes nothing noticeable).

// clockSample is one receipt's pair of times.
type clockSample struct {
	register, server time.Time
}

// sampleOf is the sample r gives when it becomes an entry of kind k: the
// register's time of a sale, a cancel, a deletion or another record
// against the server's. A MODIFY is at the provider's edit time, not the
// register's, and a re-sent sale's pair is the original's: neither says
// anything new.
func sampleOf(r *Receipt, k journalentry.Kind) (clockSample, bool) {
	if r.ServerAt == nil || k == journalentry.KindMODIFY {
		return clockSample{}, false
	}
	if r.RegisterAt != nil {
		return clockSample{register: *r.RegisterAt, server: *r.ServerAt}, true
	}
	return clockSample{register: r.OccurredAt, server: *r.ServerAt}, true
}

// correction is the true time of the entry decided on, given the
// terminal's window: nil when nothing is corrected. st is the window the
// correction starts from; the receipt's own sample is added to it (the
// caller's copy changes, so a batch's later receipts see it).
func (in *Ingester) correction(st *regclock.State, r *Receipt, d *decision) *time.Time {
	if d.kind == journalentry.KindMODIFY || d.kind == journalentry.KindDELETE {
		// At the provider's edit time, or (a deletion) when the provider or
		// the reconciliation noticed it: neither is the register's clock.
		return nil
	}
	now := in.now()
	s, ok := sampleOf(r, d.kind)
	valid := ok && regclock.Check(s.register, s.server, now) == nil
	if ok {
		_ = st.Add(s.register, s.server, now) // refusals are counted when stored
	}
	if r.RegisterAt != nil {
		return nil // OccurredAt is already the server's time
	}
	// The line is evaluated at the receipt's own moment: the server's
	// time when it is given (the same for both decides of one receipt).
	at := d.at
	if valid {
		at = s.server
	}
	if at.Before(now.Add(-regclock.Window)) {
		return nil // an old record (a backfill): the window says nothing about then
	}
	at = minTime(at, now)
	est := st.Estimate(at)
	if t, corrected := est.Correct(d.at); corrected {
		t = normTime(t)
		return &t
	}
	// Before the offset is known, a register more than regclock.MaxFuture
	// ahead of the server (which Validate lets through when the server's
	// time is given) is still pictured at the server's time: a sale cannot
	// be rung after the server received it, and the register's time has
	// not happened yet.
	if !est.Known && valid && s.register.Sub(s.server) > regclock.MaxFuture {
		t := normTime(s.server)
		return &t
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// windowOf reads a terminal's stored window.
func windowOf(t *ent.Terminal) regclock.State {
	return regclock.Parse(t.ClockWindow)
}

// clockChange is a terminal's new estimate, reported after commit.
type clockChange struct {
	terminal pulid.ID
	est      regclock.Estimate
}

// recordClock adds the samples to their terminals' stored windows in tx
// and stores each terminal's estimate. Terminals are written in id order
// (two batches touching the same registers lock them in the same order).
// The write is ingest's own bookkeeping of a terminal the caller's viewer
// already loaded, so it runs as the system: a viewer who may ingest need
// not be one who may edit terminals.
func (in *Ingester) recordClock(ctx context.Context, tx *ent.Tx, samples map[pulid.ID][]clockSample) ([]clockChange, error) {
	if len(samples) == 0 {
		return nil, nil
	}
	ctx = viewer.System(ctx)
	ids := make([]pulid.ID, 0, len(samples))
	for id := range samples {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	now := in.now()
	var out []clockChange
	for _, id := range ids {
		t, err := tx.Terminal.Query().Where(terminal.ID(id)).
			Select(terminal.FieldClockWindow).Only(ctx)
		if err != nil {
			return nil, fmt.Errorf("load clock of %s: %w", id, err)
		}
		st := windowOf(t)
		for _, s := range samples[id] {
			if err := st.Add(s.register, s.server, now); err != nil && err != regclock.ErrStale {
				in.log.DebugContext(ctx, "register clock sample refused", "terminal", id, "register", s.register, "server", s.server, "err", err)
			}
		}
		est := st.Estimate(now)
		upd := tx.Terminal.UpdateOneID(id).SetClockWindow(st.Marshal()).SetClockSamples(est.Samples).
			SetClockUpdatedAt(normTime(now))
		if est.Known {
			upd.SetClockOffsetMs(est.Offset.Milliseconds()).SetClockUncertaintyMs(est.Uncertainty.Milliseconds())
		} else {
			upd.ClearClockOffsetMs().ClearClockUncertaintyMs()
		}
		if err := upd.Exec(ctx); err != nil {
			return nil, fmt.Errorf("store clock of %s: %w", id, err)
		}
		out = append(out, clockChange{terminal: id, est: est})
	}
	return out, nil
}

// reportClock publishes committed estimates.
func reportClock(changes []clockChange) {
	for _, c := range changes {
		metrics.ClockOffset(string(c.terminal), c.est.Offset, c.est.Known)
	}
}

// ClockCorrecting says whether a terminal's stored estimate (offsetMs)
// corrects its receipts: regclock's dead band, as GraphQL's ClockOffset
// reads it.
func ClockCorrecting(offsetMs int64) bool {
	return regclock.Correcting(time.Duration(offsetMs) * time.Millisecond)
}

// samplesOf is the sample of the one receipt r decided as d, by terminal.
func samplesOf(termID pulid.ID, r *Receipt, d decision) map[pulid.ID][]clockSample {
	s, ok := sampleOf(r, d.kind)
	if !ok {
		return nil
	}
	return map[pulid.ID][]clockSample{termID: {s}}
}

// SetClock replaces the ingester's clock: tests and benchmarks that replay
// hours of receipts in moments (the clock samples and Validate's "future"
// read it). Call it before ingesting.
func (in *Ingester) SetClock(now func() time.Time) { in.now = now }
