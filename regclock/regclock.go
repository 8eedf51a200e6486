// Package regclock estimates how far a register's clock is off true time
// from pairs of times a POS provider gives for one record: the register's
// own time of the sale and the time the provider's server (or regicam, for
// a pushed webhook) first knew it, on a clock that is right.
//
// A sample is d = server − register. The register's offset (register −
// true, positive when it runs ahead) and the upload delay (≥ 0) add up to
// d = delay − offset, so the smallest d seen is the best bound: the lower
// envelope of d, as NTP's minimum-delay filter keeps the least delayed
// exchange. The window keeps the minimum of each 10-minute bucket of server
// time over the last 6 hours (at most 37 buckets, a couple of kilobytes of
// JSON: it is stored on the terminal row), and the estimate is a robust
// line through those minima (Theil–Sen slope, intercept at their lowest
// fifth), so a register that drifts (2 s per hour) is followed and a
// bucket whose only samples came minutes late does not move it. A clock
// set by hand (a step of more than 10 s lasting half an hour) drops the
// minima before it.
//
// Everything is a pure function of the window, the sample and an explicit
// now; docs/ARCHITECTURE.md places the package among the leaves.
package regclock

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Tuning. See the package comment and Estimate for why each is what it is.
const (
	// BucketWidth is the span of server time whose samples keep only
	// their minimum.
	BucketWidth = 10 * time.Minute
	// Window is how far back (from now) buckets are kept.
	Window = 6 * time.Hour
	// MaxBuckets bounds the stored window (Window/BucketWidth, plus the
	// bucket now is in).
	MaxBuckets = int(Window/BucketWidth) + 1
	// MinSamples is the fewest samples in the window for a known offset:
	// one or two receipts may all have come late (or one may be odd), so
	// below three the offset is unknown and nothing is corrected.
	MinSamples = 3
	// DeadBandBehind: an envelope above zero (server after register) up to
	// this much is taken for upload delay and the times' whole seconds,
	// never corrected. Providers give register and server times in whole
	// seconds (up to 1 s of the difference is rounding) and the least
	// delayed upload of a bucket is typically under a second; a register
	// whose clock is right thus shows an envelope of 0–2 s, and correcting
	// it by that would move its pictures away from the truth.
	DeadBandBehind = 3 * time.Second
	// DeadBandAhead: an envelope below zero (server before register) can
	// only be the register running ahead, but a second of it is the
	// rounding of whole-second times; within it nothing is corrected.
	DeadBandAhead = 1 * time.Second
	// MaxOffset: a larger |server − register| is not a clock that drifted
	// but a broken time (another zone mapped wrongly, a date typed by
	// hand); such a sample is refused.
	MaxOffset = 24 * time.Hour
	// MaxFuture is how far past now a server time may be (our own clock
	// and the provider's may differ a little; more is a broken time).
	MaxFuture = 10 * time.Minute
	// MinYear: earlier times are a register that lost its clock (the
	// year 2000 of a flat battery), not a sale.
	MinYear = 2015
	// maxDriftPerHour bounds the slope of the line: a quartz clock drifts
	// seconds per day, a bad one a few seconds per hour; a steeper slope
	// is a step (stepAt) or a run of late uploads (an offline register
	// uploading in a burst) tilting the line, and a flat line through the
	// minima is then the safer estimate.
	maxDriftPerHour = 10 * time.Second
	// minDriftSpan is the shortest span of bucket minima a slope is
	// fitted over, and half of it the shortest pair of minima a slope is
	// taken from: over shorter spans the seconds of upload delay swamp a
	// drift of a few seconds per hour, and the extrapolated line would be
	// worse than a flat one.
	minDriftSpan = 30 * time.Minute
	// minUncertainty is the floor of the stated uncertainty: the times
	// themselves are whole seconds.
	minUncertainty = 500 * time.Millisecond
)

// Why a sample was not used.
var (
	ErrMissing = errors.New("regclock: register or server time missing")
	ErrAncient = fmt.Errorf("regclock: time before %d", MinYear)
	ErrFuture  = errors.New("regclock: server time in the future")
	ErrTooFar  = errors.New("regclock: register and server times more than 24 hours apart")
	// ErrStale is a sample older than the window (a backfill of old
	// records): not wrong, just not about the clock now. Not refused.
	ErrStale = errors.New("regclock: sample older than the window")
)

// Bucket is the least delayed sample of one BucketWidth of server time.
type Bucket struct {
	// Start is the bucket's first instant (server time, Unix ms).
	Start int64 `json:"t"`
	// MinD is the smallest server − register of the bucket (ms), At the
	// server time of that sample (Unix ms).
	MinD int64 `json:"d"`
	At   int64 `json:"a"`
	// N counts the bucket's samples.
	N int `json:"n"`
}

// State is the estimator's window as stored (Terminal.clock_window).
type State struct {
	Buckets []Bucket `json:"b,omitempty"`
	// Refused counts samples refused as absurd since the terminal was
	// created, by reason (missing, ancient, future, too_far); Stale the
	// samples older than the window. The refusals are how the estimator
	// says it ignored a provider's times.
	Refused map[string]int64 `json:"refused,omitempty"`
	Stale   int64            `json:"stale,omitempty"`
}

// Refusals is the total of Refused.
func (s *State) Refusals() int64 {
	var n int64
	for _, v := range s.Refused {
		n += v
	}
	return n
}

// Parse reads a stored window; empty or unreadable JSON is an empty window
// (the estimate starts again rather than blocking ingest), and a window
// longer than MaxBuckets keeps its newest buckets.
func Parse(raw []byte) State {
	var s State
	if len(raw) == 0 || string(raw) == "null" {
		return s
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return State{}
	}
	s.Buckets = slices.DeleteFunc(s.Buckets, func(b Bucket) bool { return b.N <= 0 })
	slices.SortFunc(s.Buckets, func(a, b Bucket) int { return cmp.Compare(a.Start, b.Start) })
	if len(s.Buckets) > MaxBuckets {
		s.Buckets = s.Buckets[len(s.Buckets)-MaxBuckets:]
	}
	return s
}

// Marshal is the window as stored.
func (s State) Marshal() json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, ErrMissing):
		return "missing"
	case errors.Is(err, ErrAncient):
		return "ancient"
	case errors.Is(err, ErrFuture):
		return "future"
	default:
		return "too_far"
	}
}

// Check says whether a sample is usable: nil, or why it is refused.
func Check(register, server, now time.Time) error {
	switch {
	case register.IsZero() || server.IsZero():
		return ErrMissing
	case register.Year() < MinYear || server.Year() < MinYear:
		return ErrAncient
	case server.After(now.Add(MaxFuture)):
		return ErrFuture
	}
	if d := server.Sub(register); d > MaxOffset || d < -MaxOffset {
		return ErrTooFar
	}
	return nil
}

// Add puts one sample into the window and drops buckets that left it. A
// refused sample is counted and reported (the error); a stale one is
// counted apart (ErrStale). now is the caller's clock (the ingest time).
func (s *State) Add(register, server, now time.Time) error {
	s.prune(now)
	if err := Check(register, server, now); err != nil {
		if s.Refused == nil {
			s.Refused = make(map[string]int64)
		}
		s.Refused[reasonOf(err)]++
		return err
	}
	at := server.UnixMilli()
	if at < now.Add(-Window).UnixMilli() {
		s.Stale++
		return ErrStale
	}
	d := server.Sub(register).Milliseconds()
	if wholeSeconds(register) && wholeSeconds(server) {
		// Both times were cut to their second: the true difference lies
		// within a second either side of d, and the smallest d of many
		// is the one the cutting lowered most (by up to a second). Half
		// a second puts the envelope back in the middle.
		d += halfSecond
	}
	start := at - mod(at, BucketWidth.Milliseconds())
	i, found := slices.BinarySearchFunc(s.Buckets, start, func(b Bucket, t int64) int { return cmp.Compare(b.Start, t) })
	if found {
		b := &s.Buckets[i]
		b.N++
		if d < b.MinD {
			b.MinD, b.At = d, at
		}
	} else {
		s.Buckets = slices.Insert(s.Buckets, i, Bucket{Start: start, MinD: d, At: at, N: 1})
	}
	if len(s.Buckets) > MaxBuckets {
		s.Buckets = s.Buckets[len(s.Buckets)-MaxBuckets:]
	}
	return nil
}

// prune drops buckets wholly before now − Window.
func (s *State) prune(now time.Time) {
	cut := now.Add(-Window).UnixMilli()
	s.Buckets = slices.DeleteFunc(s.Buckets, func(b Bucket) bool { return b.Start+BucketWidth.Milliseconds() <= cut })
}

// Samples counts the samples in the window at now.
func (s State) Samples(now time.Time) int {
	c := s
	c.Buckets = slices.Clone(s.Buckets)
	c.prune(now)
	n := 0
	for _, b := range c.Buckets {
		n += b.N
	}
	return n
}

// Estimate is the register's clock as the window tells it.
type Estimate struct {
	// Known is false with fewer than MinSamples samples in the window:
	// the offset is unknown and nothing is corrected.
	Known bool
	// Offset is register − true time (positive: the register is ahead),
	// at the time the estimate was asked for.
	Offset time.Duration
	// Uncertainty is a ± bound of Offset.
	Uncertainty time.Duration
	// Samples in the window.
	Samples int
	// Correcting: Offset is outside the dead band, so the register's
	// times are corrected by it.
	Correcting bool
	// DriftPerHour is the slope of the clock's offset (positive: gaining).
	DriftPerHour time.Duration
}

// Estimate evaluates the window at server time now.
//
// With fewer than three buckets, the envelope is the smallest d seen (a
// drift cannot be told yet, nor matters over half an hour). From three on,
// the envelope is a line through the bucket minima at their lowest fifth
// (envelopeQuantile), so a fifth of the buckets may be odd (and any number
// may hold only late uploads) without moving it; its slope is Theil–Sen's
// (the median of the slopes between minima at least half their span
// apart) once the minima span half an hour and the slopes agree on it
// (their spread is smaller than the slope), flat otherwise. The uncertainty is the spread of the minima
// about the line (1.4826 × their median absolute deviation, a standard
// deviation for normal noise) plus the spread of the slopes carried from
// the minima's middle to now, at least half a second.
func (s State) Estimate(now time.Time) Estimate {
	c := s
	c.Buckets = slices.Clone(s.Buckets)
	c.prune(now)
	e := Estimate{Samples: c.Samples(now)}
	if e.Samples < MinSamples || len(c.Buckets) == 0 {
		return e
	}
	e.Known = true
	bs := c.Buckets[stepAt(c.Buckets):]
	t := now.UnixMilli()
	var envelope, spread float64
	if len(bs) < 3 {
		lo, hi := bs[0].MinD, bs[0].MinD
		for _, b := range bs[1:] {
			lo, hi = min(lo, b.MinD), max(hi, b.MinD)
		}
		envelope, spread = float64(lo), float64(hi-lo)/2
	} else {
		slope, slopeSpread := 0.0, 0.0
		if span := bs[len(bs)-1].At - bs[0].At; time.Duration(span)*time.Millisecond >= minDriftSpan {
			// Pairs across the halves of the span: a pair closer together
			// reads the whole-second noise of its minima as drift.
			minGap := max(float64(minDriftSpan.Milliseconds()), float64(span)) / 2
			var slopes []float64
			for i := range bs {
				for j := i + 1; j < len(bs); j++ {
					if dx := float64(bs[j].At - bs[i].At); math.Abs(dx) >= minGap {
						slopes = append(slopes, float64(bs[j].MinD-bs[i].MinD)/dx)
					}
				}
			}
			if len(slopes) > 0 {
				slope = median(slopes)
				dev := make([]float64, len(slopes))
				for i, x := range slopes {
					dev[i] = math.Abs(x - slope)
				}
				slopeSpread = 1.4826 * median(dev)
				// A slope the pairs disagree on by as much as its size is
				// the noise of the minima, not a drift: flat is safer
				// than extrapolating it.
				if math.Abs(slope) < slopeSpread {
					slope = 0
				}
			}
		}
		limit := float64(maxDriftPerHour) / float64(time.Hour)
		if math.Abs(slope) > limit {
			slope = 0
		}
		res := make([]float64, len(bs))
		for i, b := range bs {
			res[i] = float64(b.MinD) - slope*float64(b.At-t)
		}
		envelope = quantile(res, envelopeQuantile)
		dev := make([]float64, len(res))
		for i, r := range res {
			dev[i] = math.Abs(r - envelope)
		}
		spread = 1.4826 * median(dev)
		// What the slope may be off by, carried from the minima's middle
		// to now.
		var mid float64
		for _, b := range bs {
			mid += float64(b.At-t) / float64(len(bs))
		}
		spread += slopeSpread * math.Abs(mid)
		// d = −offset, so the offset gains what d loses.
		e.DriftPerHour = time.Duration(-slope * float64(time.Hour))
	}
	e.Offset = time.Duration(-math.Round(envelope)) * time.Millisecond
	e.Uncertainty = max(time.Duration(math.Round(spread))*time.Millisecond, minUncertainty)
	e.Correcting = Correcting(e.Offset)
	return e
}

// Correcting says whether an offset lies outside the dead band, so the
// register's receipts are corrected by it (the rule every reader of a
// stored offset applies too).
func Correcting(offset time.Duration) bool {
	return offset > DeadBandAhead || offset < -DeadBandBehind
}

// Steps: someone set the register's clock (or its time zone changed).
const (
	// stepMin is the least jump of the envelope taken for a step: more
	// than upload delay and whole seconds explain, and than a drift of a
	// few seconds per hour moves it over the window.
	stepMin = 10 * time.Second
	// stepBuckets and stepSamples are what the envelope must show after a
	// jump before the buckets before it are forgotten: half an hour and
	// five receipts, so a few late uploads in a row are not a step.
	stepBuckets = 3
	stepSamples = 5
)

// stepAt is the index of the first bucket after a step of the register's
// clock, 0 without one: the newest buckets (at least stepBuckets of them,
// stepSamples samples) all lie more than stepMin above or all below the
// envelope of the buckets before them. The old minima say nothing of the
// clock as it is now; left in, the robust line would follow the new clock
// only after most of the window had passed.
func stepAt(bs []Bucket) int {
	n := len(bs)
	if n < stepBuckets+2 {
		return 0
	}
	head := make([]float64, 0, n)
	for _, b := range bs[:n-stepBuckets] {
		head = append(head, float64(b.MinD))
	}
	ref := quantile(head, envelopeQuantile)
	gap := float64(stepMin.Milliseconds())
	side := func(b Bucket) int {
		switch d := float64(b.MinD); {
		case d > ref+gap:
			return 1
		case d < ref-gap:
			return -1
		}
		return 0
	}
	dir := side(bs[n-1])
	if dir == 0 {
		return 0
	}
	j, samples := n, 0
	for j > 1 && side(bs[j-1]) == dir {
		j--
		samples += bs[j].N
	}
	if n-j < stepBuckets || samples < stepSamples || j < 2 {
		return 0
	}
	return j
}

// Correct is the register time on true time: register − Offset when the
// estimate is correcting, else register unchanged (false). A register
// time in whole seconds stands for a moment somewhere in that second; the
// corrected time is put a quarter second into it, not half: the envelope's
// own half second (Add) is too much while few samples have straddled a
// second, and the quarter is what centred the pictures of the replayed
// registers (ingest/clock_test.go).
func (e Estimate) Correct(register time.Time) (time.Time, bool) {
	if !e.Known || !e.Correcting {
		return register, false
	}
	t := register.Add(-e.Offset)
	if wholeSeconds(register) {
		t = t.Add(quarterSecond)
	}
	return t, true
}

const (
	halfSecond    = 500 // ms
	quarterSecond = 250 * time.Millisecond
)

func wholeSeconds(t time.Time) bool { return t.Nanosecond() == 0 }

// envelopeQuantile is where among the bucket minima (about the line) the
// envelope is put. Not the smallest: one odd sample would move it. Not the
// median: a bucket's minimum is itself lowered by the cutting of times to
// whole seconds only when one of its samples happened to straddle a second,
// so most minima sit up to a second above the envelope, and a register
// with few receipts per bucket would be read a second late. The lowest
// fifth still lets a fifth of the buckets be odd.
const envelopeQuantile = 0.2

// quantile is the q-quantile of xs (linear between order statistics).
func quantile(xs []float64, q float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	pos := q * float64(len(xs)-1)
	i := int(pos)
	if i+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	return xs[i] + (pos-float64(i))*(xs[i+1]-xs[i])
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func mod(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}
