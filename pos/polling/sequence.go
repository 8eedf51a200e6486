package polling

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/pulid"
)

// A register numbers its own receipts (Smaregi terminalTranId,
// ingest.Receipt.Sequence). A number skipped in what reached us is a
// receipt the register rang but did not upload, or the provider lost: the
// terminal keeps those numbers as missing ranges until they arrive, and
// each reconciliation sweep looks for them again; ranges still open after
// LostAfter and LostChecks sweeps are declared lost.
const (
	// MaxMissingRanges bounds the ranges a terminal keeps (the newest).
	MaxMissingRanges = 50
	// MaxGap is the widest jump taken as missing receipts; a wider one is
	// the register being renumbered (reinstalled, reset), not a gap.
	MaxGap = 10000
	// LostAfter and LostChecks: a range is declared lost when it was first
	// noticed at least LostAfter ago and at least LostChecks sweeps looked
	// for it.
	LostAfter  = 24 * time.Hour
	LostChecks = 3
)

// MissingRange is one run of sequence numbers not received, inclusive, as
// stored in the terminal's missing_ranges (JSON).
type MissingRange struct {
	From           int64     `json:"from"`
	To             int64     `json:"to"`
	FirstNoticedAt time.Time `json:"firstNoticedAt"`
	Checks         int       `json:"checks"`
	Lost           bool      `json:"lost,omitempty"`
}

// Count is how many numbers the range holds.
func (m MissingRange) Count() int { return int(m.To - m.From + 1) }

// MissingRanges decodes a terminal's missing_ranges, newest first. Junk
// decodes as none.
func MissingRanges(raw json.RawMessage) []MissingRange {
	var out []MissingRange
	if len(raw) == 0 || json.Unmarshal(raw, &out) != nil {
		return nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From > out[j].From })
	return out
}

// OpenMissing is the count of numbers in ranges not declared lost.
func OpenMissing(rs []MissingRange) int {
	n := 0
	for _, r := range rs {
		if !r.Lost {
			n += r.Count()
		}
	}
	return n
}

// seqState is a terminal's sequence bookkeeping.
type seqState struct {
	last   *int64
	ranges []MissingRange // ascending by From while worked on
}

// observe takes the sequence numbers of stored receipts (any order, may
// repeat) and returns how many numbers were newly noticed missing and how
// many missing ones arrived.
func (s *seqState) observe(seqs []int64, now time.Time) (noticed, recovered int) {
	seqs = slices.Clone(seqs)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	for _, n := range seqs {
		if n <= 0 {
			continue
		}
		switch {
		case s.last == nil:
			v := n
			s.last = &v
		case n > *s.last:
			if gap := n - *s.last - 1; gap > 0 && gap <= MaxGap {
				s.ranges = append(s.ranges, MissingRange{From: *s.last + 1, To: n - 1, FirstNoticedAt: now.UTC()})
				noticed += int(gap)
			}
			*s.last = n
		default:
			if s.fill(n) {
				recovered++
			}
		}
	}
	if len(s.ranges) > MaxMissingRanges {
		s.ranges = s.ranges[len(s.ranges)-MaxMissingRanges:]
	}
	return noticed, recovered
}

// fill removes n from the range holding it, splitting it when n is inside.
func (s *seqState) fill(n int64) bool {
	for i, r := range s.ranges {
		if n < r.From || n > r.To {
			continue
		}
		var parts []MissingRange
		if n > r.From {
			a := r
			a.To = n - 1
			parts = append(parts, a)
		}
		if n < r.To {
			b := r
			b.From = n + 1
			parts = append(parts, b)
		}
		s.ranges = slices.Replace(s.ranges, i, i+1, parts...)
		return true
	}
	return false
}

// checked counts one more look for every open range and declares lost the
// ones looked for long enough; it returns the numbers declared lost.
func (s *seqState) checked(now time.Time) (lost int) {
	for i := range s.ranges {
		r := &s.ranges[i]
		if r.Lost {
			continue
		}
		r.Checks++
		if r.Checks >= LostChecks && now.Sub(r.FirstNoticedAt) >= LostAfter {
			r.Lost = true
			lost += r.Count()
		}
	}
	return lost
}

// feedUpdate is what one batch tells about one terminal.
type feedUpdate struct {
	seqs   []int64
	lastAt time.Time
}

// updateFeed applies a batch's sequence numbers and newest receipt time
// to a terminal, in a transaction that first takes the terminal's row
// (a no-op update) so replicas and webhooks on the same register do not
// overwrite each other's ranges.
func (rt *Runtime) updateFeed(ctx context.Context, tid pulid.ID, u feedUpdate, check bool) (noticed, recovered, lost int, err error) {
	now := rt.now()
	if !check {
		// Most batches are re-reads (the poller's overlap) that change
		// nothing: tell so without a write.
		t, err := rt.client.Terminal.Get(ctx, tid)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("load terminal: %w", err)
		}
		if !feedChanges(t, u) {
			return 0, 0, 0, nil
		}
	}
	err = db.InTx(ctx, rt.client, rt.log, "terminal feed health", func(tx *ent.Tx) error {
		if err := tx.Terminal.UpdateOneID(tid).AddClockSamples(0).Exec(ctx); err != nil {
			return fmt.Errorf("lock terminal: %w", err)
		}
		t, err := tx.Terminal.Get(ctx, tid)
		if err != nil {
			return fmt.Errorf("load terminal: %w", err)
		}
		st := seqState{last: t.LastSequence, ranges: MissingRanges(t.MissingRanges)}
		slices.Reverse(st.ranges) // ascending
		before := string(t.MissingRanges)
		noticed, recovered = st.observe(u.seqs, now)
		if check {
			lost = st.checked(now)
		}
		upd := tx.Terminal.UpdateOneID(tid)
		changed := false
		if st.last != nil && (t.LastSequence == nil || *st.last != *t.LastSequence) {
			upd.SetLastSequence(*st.last)
			changed = true
		}
		if !u.lastAt.IsZero() && (t.LastReceiptAt == nil || u.lastAt.After(*t.LastReceiptAt)) {
			upd.SetLastReceiptAt(u.lastAt.UTC())
			changed = true
		}
		if st.ranges == nil {
			st.ranges = []MissingRange{}
		}
		raw, err := json.Marshal(st.ranges)
		if err != nil {
			return err
		}
		if string(raw) != before && !(len(st.ranges) == 0 && len(t.MissingRanges) == 0) {
			upd.SetMissingRanges(raw)
			changed = true
		}
		if !changed {
			return nil
		}
		return upd.Exec(ctx)
	})
	return noticed, recovered, lost, err
}

// feedChanges tells whether u would change t: a newer receipt time, a
// number past the last one, or one inside a missing range.
func feedChanges(t *ent.Terminal, u feedUpdate) bool {
	if !u.lastAt.IsZero() && (t.LastReceiptAt == nil || u.lastAt.After(*t.LastReceiptAt)) {
		return true
	}
	ranges := MissingRanges(t.MissingRanges)
	for _, n := range u.seqs {
		if t.LastSequence == nil || n > *t.LastSequence {
			return true
		}
		for _, r := range ranges {
			if n >= r.From && n <= r.To {
				return true
			}
		}
	}
	return false
}
