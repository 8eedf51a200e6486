package pictures

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/viewer"
)

// errViewerBudget answers a viewer whose cloud calls ran out. It is never
// kept in a cache: another viewer asking the same camera a moment later
// has a budget of its own.
var errViewerBudget = apperr.RateLimitedf(
	"カメラクラウドへの問い合わせが多すぎます。1分ほど待ってからもう一度お試しください (too many camera-cloud requests for this user or API key)").
	Because(apperr.RATE_LIMITED)

// budgets is a token bucket per viewer (user or API key) for the cloud
// calls made on its behalf (recordings, live). A connection's client paces
// every call of the connection at the cloud's rate, so without this one
// viewer asking for hundreds of days of recordings would queue ahead of
// the sweeper, presence and every other viewer for minutes, and spend the
// account's daily quota at the cloud. Calls answered from a cache cost
// nothing; background work (the system viewer) is not counted here.
type budgets struct {
	mu      sync.Mutex
	perMin  float64
	burst   float64
	max     int
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newBudgets(perMinute, burst, max int) *budgets {
	return &budgets{perMin: float64(perMinute), burst: float64(burst), max: max, buckets: map[string]*bucket{}}
}

// viewerKey names whose budget a call spends: the API key, else the user,
// else the account; "" for background work.
func viewerKey(ctx context.Context) string {
	v, ok := viewer.FromContext(ctx)
	switch {
	case !ok:
		return ""
	case v.APIKeyID != "":
		return "k:" + string(v.APIKeyID)
	case v.UserID != "":
		return "u:" + string(v.UserID)
	}
	return "a:" + string(v.AccountID)
}

// take spends one call of the viewer in ctx, or answers errViewerBudget.
func (b *budgets) take(ctx context.Context, now time.Time) error {
	key := viewerKey(ctx)
	if key == "" {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.buckets[key]
	if bk == nil {
		b.evict(now)
		bk = &bucket{tokens: b.burst, at: now}
		b.buckets[key] = bk
	}
	b.refill(bk, now)
	if bk.tokens < 1 {
		return errViewerBudget
	}
	bk.tokens--
	return nil
}

func (b *budgets) refill(bk *bucket, now time.Time) {
	if el := now.Sub(bk.at); el > 0 {
		bk.tokens = min(b.burst, bk.tokens+el.Minutes()*b.perMin)
		bk.at = now
	}
}

// evict makes room for one more viewer: buckets that have refilled are
// the same as new ones and go first; if every viewer is still spending,
// arbitrary ones go (they start again with a full burst, which the bound
// on viewers keeps small next to the connection's pace).
func (b *budgets) evict(now time.Time) {
	if len(b.buckets) < b.max {
		return
	}
	for k, bk := range b.buckets {
		b.refill(bk, now)
		if bk.tokens >= b.burst {
			delete(b.buckets, k)
		}
	}
	for k := range b.buckets {
		if len(b.buckets) < b.max {
			break
		}
		delete(b.buckets, k)
	}
}

// notKept: an outcome a cache must not hand to other callers (a caller's
// own cancellation or budget).
func notKept(err error) bool {
	return cut(err) || errors.Is(err, errViewerBudget)
}
