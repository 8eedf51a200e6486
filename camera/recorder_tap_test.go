package camera

import (
	"sync"
	"testing"
	"time"
)

// A tap that asks for a faster rate gets every frame at that rate while
// the ring keeps its own cadence (so it reaches as far back in time as
// before); a tap that asks for nothing leaves the rate alone.
func TestRecorderTap(t *testing.T) {
	var mu sync.Mutex
	var tapped []time.Time
	want := 20 * time.Millisecond
	opt := RecorderOptions{Interval: 200 * time.Millisecond, Depth: 100, Tap: func(f Frame) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		tapped = append(tapped, f.CapturedAt)
		return want
	}}
	r, stop := runRecorder(t, NewSimulated("tap", nil), opt)
	eventually(t, 60*time.Second, "20 tapped frames", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(tapped) >= 20
	})
	stop()
	st := r.Status()
	mu.Lock()
	defer mu.Unlock()
	// Over the tapped stretch the ring kept about one frame per Interval.
	span := tapped[len(tapped)-1].Sub(tapped[0])
	if limit := int(span/opt.Interval) + 2; st.Frames > limit {
		t.Errorf("ring holds %d frames over %s, want at most %d (one per %s)", st.Frames, span, limit, opt.Interval)
	}
	for i := 1; i < len(tapped); i++ {
		if !tapped[i].After(tapped[i-1]) {
			t.Fatalf("frame %d tapped twice or out of order: %s after %s", i, tapped[i], tapped[i-1])
		}
	}
	ring := map[time.Time]bool{}
	for i := range st.Frames {
		ring[r.at(i).CapturedAt] = true
	}
	for at := range ring {
		found := false
		for _, t := range tapped {
			found = found || t.Equal(at)
		}
		if !found {
			t.Errorf("ring frame %s never tapped", at)
		}
	}
}
