package pictures_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
)

// brokenStore refuses every write while broken.
type brokenStore struct {
	*thumbs.FS
	mu     sync.Mutex
	broken bool
}

func (s *brokenStore) set(b bool) { s.mu.Lock(); s.broken = b; s.mu.Unlock() }

func (s *brokenStore) Put(ctx context.Context, key string, data []byte) error {
	s.mu.Lock()
	b := s.broken
	s.mu.Unlock()
	if b {
		return errors.New("disk full")
	}
	return s.FS.Put(ctx, key, data)
}

// TestStoreFailureIsRetried: a cloud picture the blob store refused is
// still in the cloud: the entry says so, and once the store takes writes
// again the sweeper records the picture of its own second.
func TestStoreFailureIsRetried(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		fs, err := thumbs.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		store := &brokenStore{FS: fs, broken: true}
		e.store = store
		e.in.Thumbnails = thumbs.New(e.frames, store, testenv.Logger(), thumbs.Options{})
		got := e.ring("disk-full", e.clk.Now().Add(-time.Hour))
		if got.ThumbnailReason != thumbs.StoreFailedReason || len(e.thumbnails(got.ID)) != 0 {
			t.Fatalf("reason %q, want %q", got.ThumbnailReason, thumbs.StoreFailedReason)
		}
		sw := pictures.NewSweeper(d.Client, e.in, pictures.SweeperOptions{Now: e.clk.Now, Log: testenv.Logger()})
		e.clk.Add(2 * time.Minute)
		if n, err := sw.Pass(t.Context()); err != nil || n != 1 {
			t.Fatalf("pass with the store still broken: %d, %v", n, err)
		}
		if r := e.entry(got.ID).ThumbnailReason; r != thumbs.StoreFailedReason {
			t.Fatalf("reason %q after a failed retry, want %q", r, thumbs.StoreFailedReason)
		}
		store.set(false)
		e.clk.Add(time.Hour) // past the entry's backoff
		if n, err := sw.Pass(t.Context()); err != nil || n != 1 {
			t.Fatalf("pass: %d, %v", n, err)
		}
		e.checkOwnSecond(e.entry(got.ID))
	})
}

// cutFrames hands out the first bad frames cut short (not a JPEG Make
// can read), as a cloud answer broken on its way may be.
type cutFrames struct {
	thumbs.Frames
	mu  sync.Mutex
	bad int
}

func (f *cutFrames) FrameAt(ctx context.Context, cam pulid.ID, at time.Time) ([]byte, time.Time, error) {
	jpeg, when, err := f.Frames.FrameAt(ctx, cam, at)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && f.bad > 0 {
		f.bad--
		jpeg = jpeg[:len(jpeg)/3]
	}
	return jpeg, when, err
}

// TestUnreadablePictureRetriedThenFinal: a cloud picture that cannot be
// read is asked for again; one that comes whole records the picture, one
// that never does stops at a final reason after MaxUnreadable asks.
func TestUnreadablePictureRetriedThenFinal(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, fake.Options{})
		frames := &cutFrames{Frames: e.frames, bad: 1}
		e.in.Thumbnails = thumbs.New(frames, e.store, testenv.Logger(), thumbs.Options{})
		sw := pictures.NewSweeper(d.Client, e.in, pictures.SweeperOptions{Now: e.clk.Now, Log: testenv.Logger()})

		once := e.ring("cut-once", e.clk.Now().Add(-time.Hour))
		if len(e.thumbnails(once.ID)) != 0 {
			t.Fatalf("a cut frame made a thumbnail")
		}
		e.clk.Add(2 * time.Minute)
		if n, err := sw.Pass(t.Context()); err != nil || n != 1 {
			t.Fatalf("pass: %d, %v", n, err)
		}
		e.checkOwnSecond(e.entry(once.ID))

		frames.mu.Lock()
		frames.bad = 1000
		frames.mu.Unlock()
		never := e.ring("cut-always", e.clk.Now().Add(-time.Hour))
		e.clk.Add(2 * time.Minute)
		before := e.images()
		for range 5 {
			if _, err := sw.Pass(t.Context()); err != nil {
				t.Fatal(err)
			}
			e.clk.Add(2 * time.Hour) // past any backoff
		}
		if r := e.entry(never.ID).ThumbnailReason; r != pictures.UnreadableFinalReason {
			t.Errorf("reason %q, want %q", r, pictures.UnreadableFinalReason)
		}
		if n := e.images() - before; n != pictures.MaxUnreadable-1 {
			t.Errorf("%d more asks after the first, want %d", n, pictures.MaxUnreadable-1)
		}
	})
}
