package pos

import (
	"context"
	"time"

	"github.com/regicam/regicam/retry"
)

// Sleep waits d or until ctx ends; provider clients back off with it
// (retry.Sleep, shared with the camera cloud's client).
func Sleep(ctx context.Context, d time.Duration) error { return retry.Sleep(ctx, d) }

// RetryAfter reads a Retry-After header (retry.After): 0 when absent or
// unusable, at most a day.
func RetryAfter(v string, now time.Time) time.Duration { return retry.After(v, now) }
