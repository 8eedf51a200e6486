package pictures

import (
	"context"
	"errors"
	"time"

	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// Frames serves thumbs.Frames: a CLOUD camera's picture of the asked
// second comes from the cloud's recording, every other camera's from Next
// (camera/fleet's recorders).
type Frames struct {
	s    *Service
	Next thumbs.Frames
}

var _ thumbs.Frames = (*Frames)(nil)

// Frames returns the thumbs.Frames of the cloud in front of next; next
// nil: only CLOUD cameras have pictures.
func (s *Service) Frames(next thumbs.Frames) *Frames {
	return &Frames{s: s, Next: next}
}

// FrameAt implements thumbs.Frames. The cloud answers for the asked
// second without saying when its frame was taken, so capturedAt is zero:
// the thumbnail reports its skew as unknown. Without a picture the error
// says why (NoFrameReason), and whether it may still come (RetryLater:
// the Sweeper tries again).
func (f *Frames) FrameAt(ctx context.Context, cameraID pulid.ID, at time.Time) ([]byte, time.Time, error) {
	ref, err := f.s.cloud.Camera(ctx, cameraID)
	if errors.Is(err, camcloud.ErrNotCloud) {
		if nf, err := f.s.unresolvedCloud(ctx, cameraID); nf != nil || err != nil {
			if err != nil {
				return nil, time.Time{}, f.s.noFrame(cameraID, at, err)
			}
			return nil, time.Time{}, nf
		}
		if f.Next == nil {
			return nil, time.Time{}, thumbs.ErrNotRecorded
		}
		return f.Next.FrameAt(ctx, cameraID, at)
	}
	if err != nil {
		return nil, time.Time{}, f.s.noFrame(cameraID, at, err)
	}
	now := f.s.opt.Now()
	days, keep := retention(ref)
	if at.Before(now.Add(-keep)) {
		return nil, time.Time{}, &NoFrame{Reason: RetentionReason(days)}
	}
	c, err := f.s.cloud.Client(ctx, ref.ConnectionID)
	if err != nil {
		return nil, time.Time{}, f.s.noFrame(cameraID, at, err)
	}
	jpeg, err := c.Image(ctx, ref.DeviceID, at)
	if err == nil {
		return jpeg, time.Time{}, nil
	}
	if !errors.Is(err, safie.ErrNotFound) {
		return nil, time.Time{}, f.s.noFrame(cameraID, at, err)
	}
	return nil, time.Time{}, f.s.notFound(ctx, c, ref, at, now)
}

// SourceKind implements thumbs.SourceKinder: the recorders' kind (Next's);
// a CLOUD camera's skew is never known, so it is never asked for one.
func (f *Frames) SourceKind(cameraID pulid.ID) string {
	if sk, ok := f.Next.(thumbs.SourceKinder); ok {
		return sk.SourceKind(cameraID)
	}
	return ""
}

// unresolvedCloud answers for a camera Cloud does not resolve whose row
// says CLOUD: the recorders never record it, and sending it to them would
// record 「このカメラは録画されていません」 as final while the cloud still
// holds the second. Retired by the sync (device gone, option dropped,
// connection removed) or without a connection: it may come back, so
// retry (the Sweeper takes it up once the camera is back, within the
// retention). Retired by hand: final. nil, nil: not a CLOUD camera.
func (s *Service) unresolvedCloud(ctx context.Context, cameraID pulid.ID) (*NoFrame, error) {
	if s.opt.DB == nil {
		return nil, nil
	}
	cam, err := s.opt.DB.Camera.Query().Where(entcamera.ID(cameraID)).
		Select(entcamera.FieldSourceKind, entcamera.FieldRetiredAt, entcamera.FieldSourceStatus).
		Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if cam.SourceKind == nil || *cam.SourceKind != entcamera.SourceKindCLOUD {
		return nil, nil
	}
	if cam.RetiredAt != nil && !camcloud.RetiredBySync(cam) {
		return &NoFrame{Reason: RetiredReason}, nil
	}
	return &NoFrame{Reason: RetryReason, Retry: true}, nil
}

// Recent is how long after a second the cloud may still not hold it
// (uploads lag): a missing picture that recent is asked for again.
const Recent = 2 * time.Minute

// notFound tells a gap in the recording (final) from a picture the cloud
// does not have yet (retried) by the recorded spans around at.
func (s *Service) notFound(ctx context.Context, c *safie.Client, ref camcloud.CameraRef, at, now time.Time) error {
	if now.Sub(at) < Recent {
		return &NoFrame{Reason: RetryReason, Retry: true}
	}
	// The media API wants 1 minute to 1 day ending at least 1 minute ago:
	// at is at least Recent old, so [at−1m, at+1m] always qualifies.
	spans, err := c.Media(ctx, ref.DeviceID, at.Add(-time.Minute), at.Add(time.Minute))
	if err != nil {
		return s.noFrame(ref.CameraID, at, err)
	}
	for _, sp := range spans {
		if !at.Before(sp.Start) && !at.After(sp.End()) {
			// Recorded, yet no picture: the cloud's answer, not the
			// recording, is missing. Ask again later.
			s.log.Warn("cloud has a recording but no picture of the second", "camera", ref.CameraID, "at", at)
			return &NoFrame{Reason: RetryReason, Retry: true}
		}
	}
	return &NoFrame{Reason: GapReason}
}

// noFrame is a failed cloud call as a picture that may still come.
func (s *Service) noFrame(cameraID pulid.ID, at time.Time, err error) error {
	if errors.Is(err, safie.ErrAuth) {
		return &NoFrame{Reason: AuthReason, Retry: true, Err: err}
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		// The safie client's errors name the status, never the credential.
		s.log.Warn("cloud picture not taken yet", "camera", cameraID, "at", at, "err", err)
	}
	return &NoFrame{Reason: RetryReason, Retry: true, Err: err}
}

// NoFrame is FrameAt's error without a picture (see thumbs.Frames).
type NoFrame struct {
	Reason string
	Retry  bool  // the picture may still come: the Sweeper asks again
	Err    error // the cloud's failure, if any
}

func (e *NoFrame) Error() string {
	if e.Err != nil {
		return "cloud picture: " + e.Reason + ": " + e.Err.Error()
	}
	return "cloud picture: " + e.Reason
}

// NoFrameReason is the sentence kept on the entry.
func (e *NoFrame) NoFrameReason() string { return e.Reason }

// RetryLater says whether the picture may still come.
func (e *NoFrame) RetryLater() bool { return e.Retry }

func (e *NoFrame) Unwrap() error { return e.Err }
