package pictures

import (
	"context"
	"testing"
	"time"
)

// TestLiveCacheWeighsFrames: the frames kept weigh at most the budget
// (the least recently used go first), and a frame over the per-frame
// bound is handed out but never kept.
func TestLiveCacheWeighsFrames(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := newCache[string, []byte](100).weighed(func(b []byte) int { return len(b) }, 100, 60)
	fetches := map[string]int{}
	get := func(key string, size int) {
		t.Helper()
		b, err := c.get(context.Background(), key, clock, time.Hour, time.Hour, nil, func(context.Context) ([]byte, error) {
			fetches[key]++
			return make([]byte, size), nil
		})
		if err != nil || len(b) != size {
			t.Fatalf("get %s: %d bytes, %v", key, len(b), err)
		}
	}
	get("a", 40)
	get("b", 40)
	get("a", 40) // a is now the most recent
	get("c", 40) // 120 bytes: b, the least recent, goes
	if c.bytes > 100 {
		t.Errorf("%d bytes kept, budget 100", c.bytes)
	}
	get("a", 40)
	get("c", 40)
	get("b", 40)
	if fetches["a"] != 1 || fetches["c"] != 1 || fetches["b"] != 2 {
		t.Errorf("fetches %v: want a and c kept, b fetched again", fetches)
	}
	get("big", 61)
	get("big", 61)
	if fetches["big"] != 2 {
		t.Errorf("a frame over the per-frame bound was fetched %d times for two gets, want 2 (not kept)", fetches["big"])
	}
	if c.bytes > 100 || c.bytes != 80 {
		t.Errorf("%d bytes kept, want 80", c.bytes)
	}
}
