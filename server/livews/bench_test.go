package livews_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// BenchmarkStalledSubscribers measures the heap that 100 live views which
// stopped reading can make the server hold when a partner commits one
// batch of 500 thumbnail-sized events (about 33 KB each, 16 MB per view),
// each view in a group of its own (distinct variables), so nothing is
// shared between them: the worst case. The baseline is the same 100 views
// idle, measured in the same run. Reported: the peak live heap (after a
// forced GC, sampled during the flood) above the baseline, per stalled
// view and in total; the heap after the flood, views closed (what the
// server keeps anyway: the feed's window of recent events); and the peak
// bytes the send queues held.
//
// Through a real server the group executions, not the queues, dominate
// the heap peak on a small machine (their garbage is caught mid-cycle),
// and the 10 s write timeout closes stalled views early; peak-queued is
// the exact figure for the queues, and BenchmarkStalledQueues measures
// them alone.
//
// "20 per credential" is the attack through one stolen session (20
// connections, the per-credential cap); "1 per credential" is 100 users
// each with one stalled tab, bounded per connection.
//
//	go test -run '^$' -bench StalledSubscribers -benchtime 1x ./server/livews/
func BenchmarkStalledSubscribers(b *testing.B) {
	for _, per := range []int{20, 1} {
		b.Run(fmt.Sprintf("%d_per_credential", per), func(b *testing.B) {
			for range b.N {
				stalledHeap(b, 100, per, 500)
			}
		})
	}
}

func stalledHeap(b *testing.B, views, perCredential, events int) {
	srv := testenv.Start(b, testenv.Backend{Name: "sqlite"}, "")
	fx := testenv.NewFixture(b, srv.DB.Client, srv.AccountID)
	var sockets []*socket
	var client *testenv.Server
	for i := range views {
		if i%perCredential == 0 {
			_, client = srv.NewUser(b, srv.AccountID, viewer.RoleOwner)
		}
		s := dialWith(b, client, tinyBuffer)
		from := time.Date(2000, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339)
		s.write(b, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
			"query": heavy, "variables": map[string]any{"w": map[string]any{"from": from}}}})
		sockets = append(sockets, s)
	}
	waitMembersFor(b, srv, views, views, time.Minute)
	idle := liveHeap()

	var mu sync.Mutex
	peakHeap, peakQueued := idle, int64(0)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			h, q := liveHeap(), srv.Live.QueuedBytes()
			mu.Lock()
			peakHeap, peakQueued = max(peakHeap, h), max(peakQueued, q)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	b.ResetTimer()
	if err := ingestHeavy(context.Background(), srv, fx, "bench", events, 150, events); err != nil {
		b.Fatal(err)
	}
	// Let the group executions finish with the batch, and the stalled
	// views be closed.
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, m := srv.Live.Groups(); m == 0 {
			break
		}
	}
	time.Sleep(2 * time.Second)
	b.StopTimer()
	close(stop)
	<-sampled
	_, open := srv.Live.Groups()
	after := liveHeap() - idle
	mu.Lock()
	above := peakHeap - idle
	b.ReportMetric(float64(idle)/(1<<20), "idle-heap-MiB")
	b.ReportMetric(float64(above)/float64(views), "peak-B/stalled-view")
	b.ReportMetric(float64(above)/(1<<20), "peak-MiB-total")
	b.ReportMetric(float64(after)/(1<<20), "after-MiB")
	b.ReportMetric(float64(peakQueued)/(1<<20), "peak-queued-MiB")
	b.ReportMetric(float64(open), "views-left-open")
	mu.Unlock()
	for _, s := range sockets {
		_ = s.c.Close()
	}
}

// liveHeap is the heap in use after a collection: what is retained, not
// garbage waiting for the next cycle.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
