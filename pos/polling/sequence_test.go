package polling

import (
	"testing"
	"time"
)

func TestSequenceGaps(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var s seqState
	// The first number seen starts the count: nothing before it is missing.
	if n, r := s.observe([]int64{100, 101}, t0); n != 0 || r != 0 || *s.last != 101 || len(s.ranges) != 0 {
		t.Fatalf("start: noticed %d recovered %d last %d ranges %+v", n, r, *s.last, s.ranges)
	}
	// Out of order within a batch is no gap; a skip is.
	if n, _ := s.observe([]int64{104, 102, 103, 109}, t0); n != 4 || len(s.ranges) != 1 || s.ranges[0].From != 105 || s.ranges[0].To != 108 {
		t.Fatalf("gap: noticed %d ranges %+v", n, s.ranges)
	}
	// Arrivals split and close the range; repeats count once.
	if _, r := s.observe([]int64{106, 106}, t0); r != 1 || len(s.ranges) != 2 || s.ranges[0].To != 105 || s.ranges[1].From != 107 {
		t.Fatalf("split: recovered %d ranges %+v", r, s.ranges)
	}
	if _, r := s.observe([]int64{105, 107, 108, 50}, t0); r != 3 || len(s.ranges) != 0 {
		t.Fatalf("closed: recovered %d ranges %+v", r, s.ranges)
	}
	// A jump wider than MaxGap is a renumbered register, not missing receipts.
	if n, _ := s.observe([]int64{109 + MaxGap + 2}, t0); n != 0 || len(s.ranges) != 0 {
		t.Fatalf("renumbered: noticed %d ranges %+v", n, s.ranges)
	}
	// Lost only after LostChecks looks and LostAfter.
	s.observe([]int64{*s.last + 3}, t0)
	for i := range LostChecks {
		if lost := s.checked(t0.Add(time.Hour)); lost != 0 {
			t.Fatalf("check %d declared %d lost within the first day", i+1, lost)
		}
	}
	if lost := s.checked(t0.Add(LostAfter)); lost != 2 || !s.ranges[0].Lost || OpenMissing(s.ranges) != 0 {
		t.Fatalf("a day later: lost %d ranges %+v", lost, s.ranges)
	}
	// Bounded: the newest MaxMissingRanges stay.
	for range MaxMissingRanges + 10 {
		s.observe([]int64{*s.last + 2}, t0)
	}
	if len(s.ranges) != MaxMissingRanges || s.ranges[len(s.ranges)-1].To != *s.last-1 {
		t.Fatalf("%d ranges kept, newest %+v", len(s.ranges), s.ranges[len(s.ranges)-1])
	}
	if got := MissingRanges([]byte(`junk`)); got != nil {
		t.Fatalf("junk decoded as %+v", got)
	}
}
