package retry_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/regicam/regicam/retry"
)

func TestExpJitterAfterSleep(t *testing.T) {
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second} {
		if got := retry.Exp(time.Second, 10*time.Second, n); got != want {
			t.Errorf("Exp(1s, 10s, %d) = %s, want %s", n, got, want)
		}
	}
	if got := retry.Exp(time.Second, time.Hour, 1000); got != time.Hour {
		t.Errorf("Exp of a huge attempt = %s, want the cap", got)
	}
	for range 100 {
		if d := retry.Jitter(time.Second); d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("Jitter(1s) = %s", d)
		}
	}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "-1": 0, "100000": 0, "soon": 0,
		now.Add(time.Minute).Format(http.TimeFormat): time.Minute,
	} {
		if got := retry.After(v, now); got != want {
			t.Errorf("After(%q) = %s, want %s", v, got, want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := retry.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep after cancel: %v", err)
	}
}
