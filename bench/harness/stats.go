package harness

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

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

// Load is the outcome of one closed-loop run.
type Load struct {
	Clients  int     `json:"clients"`
	Ops      int     `json:"ops"`
	Errors   int     `json:"errors"`
	PerSec   float64 `json:"per_sec"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	FirstErr string  `json:"first_error,omitempty"`
}

// closedLoop runs op from clients goroutines back to back for warm, then
// measures for dur. Each client waits for its answer before asking again,
// so throughput and latency come from the same run.
func closedLoop(ctx context.Context, clients int, warm, dur time.Duration, op func() error) Load {
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		all       []time.Duration
		errs      int
		firstErr  string
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var bad int
			var first string
			for !stop.Load() && ctx.Err() == nil {
				t := time.Now()
				err := op()
				d := time.Since(t)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					bad++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			all = append(all, mine...)
			errs += bad
			if firstErr == "" {
				firstErr = first
			}
			mu.Unlock()
		}()
	}
	sleepCtx(ctx, warm)
	measuring.Store(true)
	began := time.Now()
	sleepCtx(ctx, dur)
	measuring.Store(false)
	el := time.Since(began)
	stop.Store(true)
	wg.Wait()
	l := Load{Clients: clients, Ops: len(all), Errors: errs, PerSec: float64(len(all)) / el.Seconds(), FirstErr: firstErr}
	l.P50ms = ms(percentile(all, 0.50))
	l.P99ms = ms(percentile(all, 0.99))
	return l
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// hist is a latency histogram with 50 µs buckets up to 5 s, safe for
// concurrent use; enough resolution for p50/p99 of fan-out latencies
// without keeping millions of samples.
type hist struct {
	b    [100_001]atomic.Int64
	n    atomic.Int64
	over atomic.Int64
}

const histStep = 50 * time.Microsecond

func (h *hist) add(d time.Duration) {
	h.n.Add(1)
	i := int(d / histStep)
	if d < 0 {
		i = 0
	}
	if i >= len(h.b) {
		h.over.Add(1)
		i = len(h.b) - 1
	}
	h.b[i].Add(1)
}

func (h *hist) reset() {
	for i := range h.b {
		h.b[i].Store(0)
	}
	h.n.Store(0)
	h.over.Store(0)
}

// pct returns the q-quantile as the upper edge of its bucket.
func (h *hist) pct(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.999999)
	var seen int64
	for i := range h.b {
		seen += h.b[i].Load()
		if seen >= rank {
			return time.Duration(i+1) * histStep
		}
	}
	return time.Duration(len(h.b)) * histStep
}
