package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/pulid"
)

// Many viewers of one RTSP camera cost one decode; a failed decode right
// after a good one keeps the good picture; a failed decode is shared for a
// moment (a camera that is not recording is not decoded again for every
// ask); a viewer who leaves does not wait for a decode
// stuck on another camera; at most rtspLiveDecodes cameras decode at once.
func TestRTSPLiveSharesDecodes(t *testing.T) {
	var c rtspLiveCache
	var calls atomic.Int32
	release := make(chan struct{})
	slow := func(ctx context.Context) ([]byte, time.Time, error) {
		calls.Add(1)
		select {
		case <-release:
			return []byte{0xff, 0xd8}, time.Now(), nil
		case <-ctx.Done():
			return nil, time.Time{}, ctx.Err()
		}
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if f := c.latest(context.Background(), "CA-one", slow); f.err != nil || len(f.jpeg) != 2 {
				t.Errorf("shared picture: %+v", f)
			}
		})
	}
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("20 viewers of one camera: %d decodes, want 1", n)
	}

	// A decode that fails moments after a good one keeps the good picture
	// on the live view instead of blanking it.
	c.mu.Lock()
	good := c.frames["CA-one"]
	good.decoded = time.Now().Add(-3 * time.Second) // past sharing: decoded again
	c.frames["CA-one"] = good
	c.mu.Unlock()
	if f := c.latest(context.Background(), "CA-one", func(context.Context) ([]byte, time.Time, error) {
		return nil, time.Time{}, errors.New("newest second not on disk yet")
	}); f.err != nil || len(f.jpeg) != 2 {
		t.Errorf("a failed decode after a good one: %+v, want the good picture", f)
	}

	calls.Store(0)
	broken := func(context.Context) ([]byte, time.Time, error) {
		calls.Add(1)
		return nil, time.Time{}, errors.New("nothing recorded")
	}
	for range 5 {
		if f := c.latest(context.Background(), "CA-broken", broken); f.err == nil {
			t.Fatal("a failed decode answered a picture")
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("5 asks of a camera whose decode failed: %d decodes, want 1", n)
	}

	// Two cameras stuck decoding hold every decode slot; a third camera's
	// viewer gives up with its own request.
	stuck := make(chan struct{})
	defer close(stuck)
	hang := func(ctx context.Context) ([]byte, time.Time, error) {
		select {
		case <-stuck:
		case <-ctx.Done():
		}
		return nil, time.Time{}, errors.New("stuck")
	}
	for _, id := range []pulid.ID{"CA-stuck1", "CA-stuck2"} {
		go c.latest(context.Background(), id, hang)
	}
	for len(c.decodes) < rtspLiveDecodes {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var third atomic.Bool
	f := c.latest(ctx, "CA-third", func(context.Context) ([]byte, time.Time, error) {
		third.Store(true)
		return []byte{1}, time.Now(), nil
	})
	if !errors.Is(f.err, context.DeadlineExceeded) || third.Load() {
		t.Errorf("third camera while both slots are held: %+v (decoded: %v)", f, third.Load())
	}
}
