package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bluenviron/mediacommon/pkg/codecs/h264"

	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/footage/ffmpeg"
	"github.com/regicam/regicam/footage/rtspsrc"
	"github.com/regicam/regicam/footage/segment"
)

// RTSPProber is the camera registry's RTSPStream over footage/rtspsrc, so a
// source test reads an RTSP camera exactly as its recorder will (camera/
// may not import footage/, which imports camera).
type RTSPProber struct{}

var _ registry.RTSPStream = RTSPProber{}

func (RTSPProber) ProbeRTSP(ctx context.Context, rawURL, user, pass string, timeout time.Duration, dialer *net.Dialer) (registry.RTSPProbe, error) {
	sess, err := rtspsrc.Dial(ctx, rawURL, rtspsrc.Options{User: user, Password: pass,
		DialTimeout: timeout, ReadTimeout: timeout, Dialer: dialer})
	if err != nil {
		return registry.RTSPProbe{}, probeError(err)
	}
	defer sess.Close()
	var out registry.RTSPProbe
	var sps h264.SPS
	if err := sps.Unmarshal(sess.SPS()); err == nil {
		out.Width, out.Height = sps.Width(), sps.Height()
	}
	// Without a preview the test still passes: it is there to show the
	// owner the right camera, not to decide.
	if jpeg, err := rtspKeyframe(ctx, sess); err == nil {
		out.Keyframe = jpeg
	}
	return out, nil
}

// probeError keeps rtspsrc's cause (the RTSP status code, a deadline) and
// adds the registry's kind.
func probeError(err error) error {
	switch {
	case errors.Is(err, rtspsrc.ErrBadURL):
		return fmt.Errorf("%w: %w", registry.ErrRTSPBadURL, err)
	case errors.Is(err, rtspsrc.ErrAuth):
		return fmt.Errorf("%w: %w", registry.ErrRTSPAuth, err)
	case errors.Is(err, rtspsrc.ErrNoH264):
		return fmt.Errorf("%w: %w", registry.ErrRTSPNoH264, err)
	}
	return err
}

// rtspKeyframe is the stream's first keyframe as a JPEG: the access unit
// put in a one-frame fMP4 and decoded by ffmpeg. It waits at most until
// ctx ends (the test's timeout), so a camera with long keyframe intervals
// is still OK, without a preview.
func rtspKeyframe(ctx context.Context, sess *rtspsrc.Session) ([]byte, error) {
	if _, ok := ffmpeg.Path(); !ok {
		return nil, ffmpeg.ErrNoFFmpeg
	}
	var buf bytes.Buffer
	w, err := segment.NewH264Writer(&buf, time.Now(), sess.SPS(), sess.PPS())
	if err != nil {
		return nil, err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var werr error
	got := false
	err = sess.Read(rctx, func(at time.Time, au [][]byte) {
		if got || !isIDR(au) {
			return
		}
		got, werr = true, w.WriteAccessUnit(at, au)
		stop()
	})
	if !got {
		return nil, fmt.Errorf("no keyframe: %w", err)
	}
	if werr != nil {
		return nil, werr
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return ffmpeg.FrameAt(ctx, &buf, 0)
}

func isIDR(au [][]byte) bool {
	for _, n := range au {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
			return true
		}
	}
	return false
}
