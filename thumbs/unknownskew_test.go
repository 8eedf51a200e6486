package thumbs_test

import (
	"context"
	"testing"
	"time"

	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
)

// cloudLike answers like a camera cloud: a frame with no capture time, or
// a no-frame error that may or may not be worth retrying.
type cloudLike struct {
	jpeg  []byte
	err   error
	block bool // wait for the caller's deadline, then fail with err
}

func (c cloudLike) FrameAt(ctx context.Context, _ pulid.ID, _ time.Time) ([]byte, time.Time, error) {
	if c.block {
		<-ctx.Done()
		return nil, time.Time{}, c.err
	}
	return c.jpeg, time.Time{}, c.err
}

type notYet struct {
	reason string
	retry  bool
}

func (e notYet) Error() string         { return e.reason }
func (e notYet) NoFrameReason() string { return e.reason }
func (e notYet) RetryLater() bool      { return e.retry }

// TestUnknownSkew: a frame whose source cannot say when it was taken is
// the asked second with its skew reported as unknown, never guessed.
func TestUnknownSkew(t *testing.T) {
	at := time.Date(2026, 12, 2, 6, 5, 21, 0, time.UTC)
	store, err := thumbs.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	th := thumbs.New(cloudLike{jpeg: simFrame(t, at)}, store, testenv.Logger(), thumbs.Options{})
	shot, reason, pending := th.Capture(t.Context(), pulid.MustNew("AC"), pulid.MustNew("JE"), pulid.MustNew("CA"), at)
	if shot == nil || reason != "" || pending {
		t.Fatalf("Capture = %+v, %q, %v", shot, reason, pending)
	}
	if !shot.SkewUnknown || !shot.CapturedAt.Equal(at) {
		t.Errorf("shot skew unknown %v captured %s; want unknown, %s", shot.SkewUnknown, shot.CapturedAt, at)
	}
}

// TestRetryLaterReason: a source that will try again keeps its own coded
// reason on the entry (not "no picture of that moment"), a final one
// keeps its code too, a source's free text is said as NO_FRAME with that
// text, and a retryable source still slow when ingest's wait ends leaves
// the picture pending for the late capture.
func TestRetryLaterReason(t *testing.T) {
	at := time.Now().Add(-time.Hour)
	store, err := thumbs.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	acc, entry, cam := pulid.MustNew("AC"), pulid.MustNew("JE"), pulid.MustNew("CA")
	later, never := thumbs.Reason(thumbs.CloudRetry, ""), thumbs.Reason(thumbs.NoRecording, "")

	th := thumbs.New(cloudLike{err: notYet{later, true}}, store, testenv.Logger(), thumbs.Options{})
	if shot, reason, pending := th.Capture(t.Context(), acc, entry, cam, at); shot != nil || reason != later || pending {
		t.Errorf("retryable: Capture = %v, %q, %v; want nil, %q, false", shot, reason, pending, later)
	}
	if shot, reason := th.CaptureLate(t.Context(), acc, entry, cam, at); shot != nil || reason != later {
		t.Errorf("retryable: CaptureLate = %v, %q; want nil, %q", shot, reason, later)
	}

	th = thumbs.New(cloudLike{err: notYet{never, false}}, store, testenv.Logger(), thumbs.Options{})
	if _, reason, pending := th.Capture(t.Context(), acc, entry, cam, at); reason != never || pending {
		t.Errorf("final: reason %q pending %v", reason, pending)
	}
	th = thumbs.New(cloudLike{err: notYet{"lens cap on", false}}, store, testenv.Logger(), thumbs.Options{})
	if _, reason, pending := th.Capture(t.Context(), acc, entry, cam, at); reason != "NO_FRAME: 該当時刻の映像がありません (lens cap on)" || pending {
		t.Errorf("free text: reason %q pending %v", reason, pending)
	}

	th = thumbs.New(cloudLike{err: notYet{later, true}, block: true}, store, testenv.Logger(),
		thumbs.Options{Wait: 20 * time.Millisecond, LateWait: 20 * time.Millisecond})
	if shot, reason, pending := th.Capture(t.Context(), acc, entry, cam, at); shot != nil || reason != "" || !pending {
		t.Errorf("slow retryable: Capture = %v, %q, %v; want pending", shot, reason, pending)
	}
	if _, reason := th.CaptureLate(t.Context(), acc, entry, cam, at); reason != later {
		t.Errorf("slow retryable: CaptureLate reason %q, want %q", reason, later)
	}
}
