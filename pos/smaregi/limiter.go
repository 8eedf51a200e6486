package smaregi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/regicam/regicam/pos"
)

// bucket is a token bucket with reservations: a caller takes its token at
// once (possibly going into debt) and sleeps off the debt, so waiters are
// served in arrival order and none starves. Its burst is one request:
// Smaregi counts per second, and a burst on top of a full second's rate is
// exactly what earns a 429.
type bucket struct {
	mu        sync.Mutex
	rate      float64 // tokens per second
	burst     float64
	tokens    float64
	last      time.Time
	notBefore time.Time // set by a 429: nobody sends before then
}

var buckets sync.Map // "scheme://host|contract" → *bucket

// sharedBucket returns the bucket of one contract on one API host. Smaregi
// counts requests per contract, so the poller, backfills and webhook
// fetches of a contract must draw from the same budget.
func sharedBucket(key string, rate float64) *bucket {
	b, _ := buckets.LoadOrStore(key, &bucket{rate: rate, burst: 1, tokens: 1, last: time.Now()})
	bk := b.(*bucket)
	bk.mu.Lock()
	bk.rate = rate // the latest configuration wins
	bk.mu.Unlock()
	return bk
}

func (b *bucket) wait(ctx context.Context, maxWait time.Duration) error {
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens--
	d := time.Duration(0)
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	if until := b.notBefore.Sub(now); until > d {
		d = until
	}
	b.mu.Unlock()
	if d > maxWait*4 {
		// So much debt means many goroutines queue on one contract; failing
		// is better than holding a request for minutes.
		b.refund()
		return fmt.Errorf("smaregi: rate limit queue too long (%s)", d.Round(time.Millisecond))
	}
	if err := pos.Sleep(ctx, d); err != nil {
		b.refund()
		return err
	}
	return nil
}

func (b *bucket) refund() {
	b.mu.Lock()
	b.tokens = min(b.burst, b.tokens+1)
	b.mu.Unlock()
}

// pause holds every request of the contract for d, as Smaregi asked.
func (b *bucket) pause(d time.Duration) {
	b.mu.Lock()
	if t := time.Now().Add(d); t.After(b.notBefore) {
		b.notBefore = t
	}
	b.mu.Unlock()
}
