package bench

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// samples collects per-operation latencies; safe for concurrent use.
type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

func newSamples(n int) *samples { return &samples{d: make([]time.Duration, 0, n)} }

func (s *samples) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (s *samples) addAll(ds []time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, ds...)
	s.mu.Unlock()
}

func (s *samples) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.d)
}

// pct returns the q-quantile (0 < q <= 1) by nearest rank.
func (s *samples) pct(q float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return percentile(s.d, q)
}

func (s *samples) mean() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range s.d {
		sum += d
	}
	return sum / time.Duration(len(s.d))
}

// percentile sorts d in place and returns its q-quantile by nearest rank.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	rank := int(q*float64(len(d))+0.999999) - 1
	rank = max(0, min(rank, len(d)-1))
	return d[rank]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reportLatency adds <prefix>p50_ms and <prefix>p99_ms to the benchmark line.
func reportLatency(b *testing.B, prefix string, s *samples) {
	b.ReportMetric(ms(s.pct(0.50)), prefix+"p50_ms")
	b.ReportMetric(ms(s.pct(0.99)), prefix+"p99_ms")
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0.001, time.Millisecond}} {
		if got := percentile(d, c.q); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
	s := newSamples(3)
	s.addAll([]time.Duration{3, 1, 2})
	if s.pct(0.5) != 2 || s.mean() != 2 || s.len() != 3 {
		t.Errorf("samples: p50 %v mean %v len %d", s.pct(0.5), s.mean(), s.len())
	}
}
