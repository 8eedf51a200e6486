package footage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/pkg/codecs/h264"

	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/footage/rtspsrc"
	"github.com/regicam/regicam/footage/segment"
	"github.com/regicam/regicam/secrets"
)

// errDiskFull ends an RTSP session for want of space.
var errDiskFull = errors.New("footage: disk full")

const (
	rtspTimeout     = 10 * time.Second
	rtspMaxBackoff  = 30 * time.Second
	authMaxBackoff  = 2 * time.Minute // a camera may lock out an account tried too often
	healthyAfter    = 30 * time.Second
	diskCheckPeriod = 2 * time.Second
)

// recordRTSP records an RTSP camera: connect, write its H.264 access
// units into FMP4_H264 segments, and on a dropped connection close the
// segment (DISCONNECT) and reconnect with backoff.
func (r *recorder) recordRTSP(ctx context.Context) {
	r.setState(ctx, StateStarting, "")
	backoff := time.Second
	for ctx.Err() == nil {
		if r.paused {
			if r.diskLow() {
				if !sleep(ctx, diskCheckPeriod) {
					return
				}
				continue
			}
			r.resume(ctx)
			r.setState(ctx, StateStarting, "")
		}
		began := time.Now()
		err := r.rtspSession(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > healthyAfter {
			backoff = time.Second
		}
		limit := rtspMaxBackoff
		switch {
		case errors.Is(err, errDiskFull) || isDiskFull(err):
			r.pause(ctx)
			continue
		case errors.Is(err, rtspsrc.ErrAuth):
			r.setState(ctx, StateAuthFailed, reasonAuth)
			limit = authMaxBackoff
		case errors.Is(err, rtspsrc.ErrNoH264):
			r.setState(ctx, StateError, reasonNoH264)
		case errors.Is(err, rtspsrc.ErrBadURL):
			r.setState(ctx, StateError, reasonBadURL)
		case errors.Is(err, rtspsrc.ErrUnreachable):
			r.setState(ctx, StateOffline, reasonUnreached)
		case errors.Is(err, errWrite):
			r.setState(ctx, StateError, reasonWrite)
		default:
			r.setState(ctx, StateOffline, reasonDisconnect)
		}
		r.s.log.Warn("rtsp camera", "camera", r.cam.ID, "err", r.safe(err), "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, limit)
	}
}

// errWrite marks a failure to write the segment (not the camera's fault).
var errWrite = errors.New("footage: segment write")

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// rtspSession is one connection: it returns why it ended.
func (r *recorder) rtspSession(ctx context.Context) error {
	user, pass, err := r.credentials()
	if err != nil {
		return fmt.Errorf("%w: %v", errWrite, err)
	}
	opt := rtspsrc.Options{User: user, Password: pass, DialTimeout: rtspTimeout, ReadTimeout: rtspTimeout}
	if r.s.policy != nil {
		opt.Dialer = r.s.policy.Dialer(rtspTimeout)
	}
	sess, err := rtspsrc.Dial(ctx, r.cam.SourceURL, opt)
	if err != nil {
		return err
	}
	defer sess.Close()
	sps, pps := sess.SPS(), sess.PPS()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		sg   *seg
		werr error
	)
	fail := func(err error) {
		werr = err
		stop()
	}
	open := func(at time.Time) bool {
		if r.diskLow() {
			fail(errDiskFull)
			return false
		}
		var err error
		if sg, err = r.createH264(ctx, at, sps, pps); err != nil {
			sg = nil
			if !isDiskFull(err) {
				err = fmt.Errorf("%w: %v", errWrite, err)
			}
			fail(err)
			return false
		}
		return true
	}
	readErr := sess.Read(rctx, func(at time.Time, au [][]byte) {
		if werr != nil {
			return
		}
		key, s2, p2 := inspect(au)
		// au is the session's until fn returns.
		if s2 != nil {
			sps = bytes.Clone(s2)
		}
		if p2 != nil {
			pps = bytes.Clone(p2)
		}
		if sg != nil && key && at.Sub(sg.start) >= r.s.cfg.SegmentLength {
			if r.diskLow() {
				sg.close(ctx, recordingsegment.EndedByDISK_FULL, "")
				sg = nil
				fail(errDiskFull)
				return
			}
			sg.close(ctx, recordingsegment.EndedByROTATE, "")
			sg = nil
		}
		if sg == nil {
			// A segment begins with a picture that decodes on its own.
			if !key || !open(at) {
				return
			}
		}
		err := sg.h264.WriteAccessUnit(at, au)
		if errors.Is(err, segment.ErrParamsChanged) {
			sg.close(ctx, recordingsegment.EndedByROTATE, "the camera changed its H.264 parameters")
			sg = nil
			if !key || !open(at) {
				return
			}
			err = sg.h264.WriteAccessUnit(at, au)
		}
		if err != nil {
			by := recordingsegment.EndedByERROR
			if isDiskFull(err) {
				by = recordingsegment.EndedByDISK_FULL
			} else {
				err = fmt.Errorf("%w: %v", errWrite, err)
			}
			sg.close(ctx, by, r.safe(err))
			sg = nil
			fail(err)
			return
		}
		r.setState(ctx, StateRecording, "")
		if time.Since(sg.flushed) >= r.s.flushEvery {
			if r.diskLow() {
				sg.close(ctx, recordingsegment.EndedByDISK_FULL, "")
				sg = nil
				fail(errDiskFull)
				return
			}
			sg.syncH264()
			if err := sg.flush(ctx); err != nil {
				r.s.log.Warn("segment progress", "segment", sg.row.ID, "err", err)
			}
		}
	})
	if sg != nil {
		by, note := recordingsegment.EndedByDISCONNECT, "connection lost"
		if readErr != nil {
			note += ": " + r.safe(readErr)
		}
		if ctx.Err() != nil {
			by, note = recordingsegment.EndedBySTOP, ""
		}
		sg.close(ctx, by, note)
	}
	if werr != nil {
		return werr
	}
	if readErr == nil {
		readErr = errors.New("stream ended")
	}
	return readErr
}

// createH264 begins a FMP4_H264 segment at the keyframe taken at start.
func (r *recorder) createH264(ctx context.Context, start time.Time, sps, pps []byte) (*seg, error) {
	var s h264.SPS
	w, hgt := 0, 0
	if err := s.Unmarshal(sps); err == nil {
		w, hgt = s.Width(), s.Height()
	}
	sg, err := r.create(ctx, recordingsegment.FormatFMP4_H264, start, w, hgt)
	if err != nil {
		return nil, err
	}
	if sg.h264, err = segment.NewH264Writer(sg.w, sg.start, sps, pps); err != nil {
		sg.close(ctx, recordingsegment.EndedByERROR, err.Error())
		return nil, err
	}
	if err := r.s.client.RecordingSegment.UpdateOneID(sg.row.ID).SetCodec(sg.h264.Codec()).Exec(ctx); err != nil {
		r.s.log.Warn("segment codec", "segment", sg.row.ID, "err", err)
	}
	return sg, nil
}

// syncH264 takes what the H.264 writer has put on disk into the row's
// fields: only whole fragments are readable, so end_at is theirs.
func (sg *seg) syncH264() {
	sg.end = sg.h264.End().UTC()
	sg.frames = sg.h264.Frames()
	sg.keyframes = sg.h264.Keyframes()
}

// inspect says whether an access unit is an IDR picture and returns the
// parameter sets it carries.
func inspect(au [][]byte) (key bool, sps, pps []byte) {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeIDR:
			key = true
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
	}
	return key, sps, pps
}

// credentials are the camera's sealed source login (camera/fleet stores
// the same JSON).
func (r *recorder) credentials() (user, pass string, err error) {
	if len(r.cam.SourceCredentials) == 0 {
		return "", "", nil
	}
	if r.s.box == nil {
		return "", "", errors.New("camera has credentials but no secret key is configured")
	}
	raw, err := r.s.box.Open(r.cam.SourceCredentials, secrets.CameraCredentialsAAD(r.cam.ID))
	if err != nil {
		return "", "", fmt.Errorf("open credentials: %w", err)
	}
	var c struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", "", fmt.Errorf("decode credentials: %w", err)
	}
	return c.Username, c.Password, nil
}

// safe is an error's text without the camera's URL or password, for logs
// and notes.
func (r *recorder) safe(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if u := r.cam.SourceURL; u != "" {
		msg = strings.ReplaceAll(msg, u, "<camera url>")
	}
	if _, pass, e := r.credentials(); e == nil && pass != "" {
		msg = strings.ReplaceAll(msg, pass, "***")
	}
	return truncate(msg, 300)
}
