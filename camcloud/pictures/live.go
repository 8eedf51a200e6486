package pictures

import (
	"context"

	"github.com/regicam/regicam/pulid"
)

// Live is a CLOUD camera's latest frame (the cloud's thumbnail), as the
// viewer in ctx may see it; camcloud.ErrNotCloud for any other camera
// (its live frame is camera/fleet's). Every viewer of the camera within
// Options.LiveTTL shares one cloud call. Failures are apperr errors
// (SAFIE_AUTH, SAFIE_UNREACHABLE, SAFIE_BAD_RESPONSE; RATE_LIMITED when
// the viewer's own cloud calls ran out, see budgets).
func (s *Service) Live(ctx context.Context, cameraID pulid.ID) ([]byte, error) {
	// Resolved per call, not cached: it is also the check that the viewer
	// may see the camera.
	ref, err := s.cloud.Camera(ctx, cameraID)
	if err != nil {
		return nil, err
	}
	jpeg, err := s.live.get(ctx, cameraID, s.opt.Now, s.opt.LiveTTL, s.opt.LiveTTL, nil, func(ctx context.Context) ([]byte, error) {
		if err := s.calls.take(ctx, s.opt.Now()); err != nil {
			return nil, err
		}
		c, err := s.cloud.Client(ctx, ref.ConnectionID)
		if err != nil {
			return nil, err
		}
		return c.Thumbnail(ctx, ref.DeviceID)
	})
	if err != nil {
		if !notKept(err) {
			s.log.Warn("cloud live frame", "camera", cameraID, "err", err)
		}
		return nil, userError(err)
	}
	return jpeg, nil
}
