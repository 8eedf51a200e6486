package regclock_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/regicam/regicam/regclock"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

// feed adds n samples, one every gap of true time from start, of a
// register whose offset at true time t is off(t), uploaded after delay(i).
func feed(s *regclock.State, start time.Time, n int, gap time.Duration, off func(time.Time) time.Duration, delay func(i int) time.Duration) time.Time {
	at := start
	for i := range n {
		at = start.Add(time.Duration(i) * gap)
		register := at.Add(off(at)).Truncate(time.Second)
		server := at.Add(delay(i)).Truncate(time.Second)
		_ = s.Add(register, server, server)
	}
	return at
}

func fixed(d time.Duration) func(time.Time) time.Duration {
	return func(time.Time) time.Duration { return d }
}

// realistic: mostly sub-second, one in ten seconds late, one in thirty
// minutes late.
func realistic(seed uint64) func(int) time.Duration {
	r := rand.New(rand.NewPCG(seed, 1))
	return func(int) time.Duration {
		switch x := r.IntN(30); {
		case x == 0:
			return time.Duration(60+r.IntN(240)) * time.Second
		case x < 4:
			return time.Duration(1000+r.IntN(9000)) * time.Millisecond
		default:
			return time.Duration(50+r.IntN(800)) * time.Millisecond
		}
	}
}

func TestEstimate(t *testing.T) {
	drift := func(t time.Time) time.Duration {
		return time.Duration(float64(t.Sub(t0)) / float64(time.Hour) * float64(2*time.Second))
	}
	for _, tc := range []struct {
		name       string
		n          int
		gap        time.Duration
		off        func(time.Time) time.Duration
		delay      func(int) time.Duration
		want       time.Duration // offset at the last sample
		known      bool
		correcting bool
	}{
		{"ahead 45 s", 200, 90 * time.Second, fixed(45 * time.Second), realistic(1), 45 * time.Second, true, true},
		{"behind 90 s", 200, 90 * time.Second, fixed(-90 * time.Second), realistic(2), -90 * time.Second, true, true},
		{"drift 2 s/h over 8 h", 320, 90 * time.Second, drift, realistic(3), 16 * time.Second, true, true},
		// A steady delay of 1.5 s looks like a register 1.5 s behind: the
		// dead band leaves it alone.
		{"right clock, delays of seconds", 200, 90 * time.Second, fixed(0), func(int) time.Duration { return 1500 * time.Millisecond }, -1500 * time.Millisecond, true, false},
		{"right clock, realistic delays", 200, 90 * time.Second, fixed(0), realistic(4), 0, true, false},
		{"two samples: unknown", 2, time.Minute, fixed(45 * time.Second), realistic(5), 0, false, false},
		{"three samples all late by a minute: known, not corrected", 3, time.Minute, fixed(0), func(int) time.Duration { return 0 }, 0, true, false},
		{"quiet register, one sale an hour", 6, time.Hour, fixed(45 * time.Second), func(int) time.Duration { return 300 * time.Millisecond }, 45 * time.Second, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s regclock.State
			last := feed(&s, t0, tc.n, tc.gap, tc.off, tc.delay)
			e := s.Estimate(last)
			if e.Known != tc.known || e.Correcting != tc.correcting {
				t.Fatalf("known %v correcting %v, want %v %v (%+v)", e.Known, e.Correcting, tc.known, tc.correcting, e)
			}
			if !tc.known {
				if got, ok := e.Correct(last); ok || !got.Equal(last) {
					t.Fatalf("unknown estimate corrected %v to %v", last, got)
				}
				return
			}
			if diff := (e.Offset - tc.want).Abs(); diff > time.Second {
				t.Fatalf("offset %v, want %v ±1 s (%+v)", e.Offset, tc.want, e)
			}
			if e.Uncertainty < 500*time.Millisecond || e.Uncertainty > 10*time.Second {
				t.Fatalf("uncertainty %v", e.Uncertainty)
			}
			if len(s.Marshal()) > 4096 {
				t.Fatalf("window is %d bytes", len(s.Marshal()))
			}
		})
	}
}

// TestRefused: absurd provider times are refused and counted, never used.
func TestRefused(t *testing.T) {
	now := t0
	var s regclock.State
	for _, tc := range []struct {
		name             string
		register, server time.Time
		want             error
	}{
		{"no register time", time.Time{}, now, regclock.ErrMissing},
		{"no server time", now, time.Time{}, regclock.ErrMissing},
		{"year 2000", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), now, regclock.ErrAncient},
		{"server a day in the future", now.Add(24 * time.Hour), now.Add(24 * time.Hour), regclock.ErrFuture},
		{"register a day and a second ahead", now.Add(24*time.Hour + time.Second), now, regclock.ErrTooFar},
		{"register two days behind", now.Add(-48 * time.Hour), now, regclock.ErrTooFar},
		{"old record of a backfill", now.Add(-7 * time.Hour), now.Add(-7 * time.Hour), regclock.ErrStale},
	} {
		if err := s.Add(tc.register, tc.server, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if s.Refusals() != 6 || s.Stale != 1 || s.Samples(now) != 0 {
		t.Fatalf("refused %v stale %d samples %d", s.Refused, s.Stale, s.Samples(now))
	}
	// An hour ahead (beyond ingest's 10 minutes for other times) is a
	// clock to correct, not a refusal.
	for i := range 3 {
		at := now.Add(time.Duration(i) * time.Minute)
		if err := s.Add(at.Add(time.Hour), at, at); err != nil {
			t.Fatal(err)
		}
	}
	e := s.Estimate(now.Add(2 * time.Minute))
	if !e.Known || (e.Offset-time.Hour).Abs() > time.Second || !e.Correcting {
		t.Fatalf("%+v", e)
	}
	// The stored window round-trips, refusals included.
	back := regclock.Parse(s.Marshal())
	if back.Refusals() != 6 || back.Estimate(now.Add(2*time.Minute)) != e {
		t.Fatalf("round trip: %+v", back)
	}
}

// TestWindowSlides: after the window has passed, the old clock is
// forgotten, and a clock set right is followed.
func TestWindowSlides(t *testing.T) {
	var s regclock.State
	last := feed(&s, t0, 100, time.Minute, fixed(45*time.Second), realistic(7))
	if e := s.Estimate(last); e.Offset.Round(time.Second) != 45*time.Second {
		t.Fatalf("%+v", e)
	}
	if e := s.Estimate(last.Add(7 * time.Hour)); e.Known {
		t.Fatalf("seven quiet hours later: %+v", e)
	}
	last = feed(&s, last.Add(7*time.Hour), 100, time.Minute, fixed(0), realistic(8))
	if e := s.Estimate(last); e.Correcting {
		t.Fatalf("clock set right: %+v", e)
	}
	if n := len(regclock.Parse(s.Marshal()).Buckets); n > regclock.MaxBuckets {
		t.Fatalf("%d buckets", n)
	}
}

// TestStep: a clock set by hand is followed within the hour, not after
// the six hours of the window; a few late uploads in a row are no step.
func TestStep(t *testing.T) {
	var s regclock.State
	last := feed(&s, t0, 180, time.Minute, fixed(45*time.Second), realistic(21))
	if e := s.Estimate(last); (e.Offset - 45*time.Second).Abs() > time.Second {
		t.Fatalf("before: %+v", e)
	}
	late := s
	late.Buckets = append([]regclock.Bucket(nil), s.Buckets...)
	feed(&late, last.Add(time.Minute), 4, 10*time.Minute, fixed(45*time.Second), func(int) time.Duration { return 3 * time.Minute })
	if e := late.Estimate(last.Add(40 * time.Minute)); (e.Offset - 45*time.Second).Abs() > time.Second {
		t.Fatalf("late uploads taken for a step: %+v", e)
	}
	last = feed(&s, last.Add(time.Minute), 40, time.Minute, fixed(0), realistic(22))
	if e := s.Estimate(last); e.Correcting || e.Offset.Abs() > time.Second {
		t.Fatalf("set right 40 min ago: %+v", e)
	}
}

// TestParseGarbage: a broken stored window is an empty one.
func TestParseGarbage(t *testing.T) {
	for _, raw := range []string{"", "null", "{", `{"b":"x"}`, `[]`} {
		if s := regclock.Parse([]byte(raw)); len(s.Buckets) != 0 {
			t.Errorf("%q: %+v", raw, s)
		}
	}
}

// FuzzEstimate: whatever the samples, the window stays bounded, counts
// stay consistent, and with a constant offset and delays ≥ 0 the estimate
// is never more ahead than the true offset (delay can only make the
// register look behind) by more than its stated uncertainty and a second.
func FuzzEstimate(f *testing.F) {
	f.Add(int64(45000), uint64(1), uint16(50))
	f.Add(int64(-90000), uint64(2), uint16(3))
	f.Add(int64(0), uint64(3), uint16(400))
	f.Fuzz(func(t *testing.T, offMs int64, seed uint64, n uint16) {
		off := time.Duration(offMs%int64(30*time.Hour/time.Millisecond)) * time.Millisecond
		r := rand.New(rand.NewPCG(seed, 9))
		var s regclock.State
		now := t0
		added := 0
		for range int(n % 500) {
			now = now.Add(time.Duration(r.IntN(600_000)) * time.Millisecond)
			delay := time.Duration(r.IntN(5_000)) * time.Millisecond
			if r.IntN(20) == 0 {
				delay = time.Duration(r.IntN(3_600_000)) * time.Millisecond
			}
			err := s.Add(now.Add(off), now.Add(delay), now.Add(delay))
			if err == nil {
				added++
			}
			if len(s.Buckets) > regclock.MaxBuckets {
				t.Fatalf("%d buckets", len(s.Buckets))
			}
		}
		if off.Abs() > regclock.MaxOffset && added > 0 {
			t.Fatalf("offset %v: %d samples accepted", off, added)
		}
		e := s.Estimate(now)
		if e.Samples > added || e.Known != (e.Samples >= regclock.MinSamples) {
			t.Fatalf("%+v after %d added", e, added)
		}
		if e.Known && e.Offset > off+e.Uncertainty+time.Second {
			t.Fatalf("offset %v estimated %v ± %v: more ahead than the clock is", off, e.Offset, e.Uncertainty)
		}
		if e.Known && e.Uncertainty <= 0 {
			t.Fatalf("%+v", e)
		}
	})
}

func BenchmarkAddEstimate(b *testing.B) {
	var s regclock.State
	delay := realistic(11)
	at := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		at = at.Add(90 * time.Second)
		d := delay(i)
		_ = s.Add(at.Add(45*time.Second), at.Add(d), at.Add(d))
		_ = s.Estimate(at.Add(d))
	}
}
