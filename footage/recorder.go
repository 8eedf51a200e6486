package footage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/footage/segment"
	"github.com/regicam/regicam/pulid"
)

// Recording states of a camera (Camera.recording_state, Status.State).
const (
	StateRecording  = "RECORDING"
	StateStarting   = "STARTING"
	StateOffline    = "OFFLINE"
	StateAuthFailed = "AUTH_FAILED"
	StateDiskFull   = "DISK_FULL"
	StateError      = "ERROR"
	StateOff        = "OFF"
)

// Reasons the owner reads beside the state.
const (
	reasonNoFrames   = "カメラから映像が届いていません（no frames from the camera）"
	reasonDiskFull   = "録画先ディスクの空きが足りないため録画を止めています（disk full）"
	reasonAuth       = "カメラにログインできません。ユーザー名とパスワードを確認してください（RTSP authentication failed）"
	reasonUnreached  = "カメラに接続できません（RTSP camera unreachable）"
	reasonNoH264     = "カメラが H.264 の映像を送っていません（no H.264 track）"
	reasonBadURL     = "カメラの RTSP URL が正しくありません（bad RTSP URL）"
	reasonDisconnect = "カメラとの接続が切れました。再接続しています（disconnected）"
	reasonWrite      = "録画ファイルに書き込めません（write error）"
)

const (
	extJPEG = ".jseq"
	extMP4  = ".mp4"
)

// recorder records one camera while this process holds its lease.
type recorder struct {
	s      *Service
	cam    *ent.Camera
	config string
	cancel context.CancelFunc
	done   chan struct{}
	// frames carries a JPEG camera's frames from Tap; nil for RTSP.
	frames chan frame
	every  time.Duration // between recorded JPEG frames

	state, reason string
	paused        bool // DISK_FULL: nothing is written until space is back
}

type frame struct {
	at            time.Time
	jpeg          []byte
	width, height int
}

// configOf: a change of what the camera is recorded from restarts its
// recorder (new URL, credentials, kind).
func configOf(c *ent.Camera) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", *c.SourceKind, c.SourceURL)
	h.Write(c.SourceCredentials)
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Service) start(ctx context.Context, c *ent.Camera) {
	rctx, cancel := context.WithCancel(ctx)
	r := &recorder{s: s, cam: c, config: configOf(c), cancel: cancel, done: make(chan struct{}),
		every: time.Duration(float64(time.Second) / s.cfg.JPEGFPS)}
	if *c.SourceKind != entcamera.SourceKindRTSP {
		r.frames = make(chan frame, 64)
	}
	s.mu.Lock()
	s.recs[c.ID] = r
	s.mu.Unlock()
	go func() {
		defer close(r.done)
		r.run(rctx)
		s.mu.Lock()
		if s.recs[c.ID] == r {
			delete(s.recs, c.ID)
		}
		s.mu.Unlock()
	}()
}

func (r *recorder) stop() {
	r.cancel()
	<-r.done
}

// Tap is camera/fleet's frame tap (fleet.Manager.SetTap): a frame of a
// camera this process records goes to its recorder, never blocking the
// grab loop (a frame the recorder cannot take now is dropped), and the
// answer asks for the recording's frame rate; 0 for the other cameras.
func (s *Service) Tap(id pulid.ID, f camera.Frame) time.Duration {
	s.mu.Lock()
	r := s.recs[id]
	s.mu.Unlock()
	if r == nil || r.frames == nil {
		return 0
	}
	select {
	case r.frames <- frame{at: f.CapturedAt, jpeg: f.JPEG, width: f.Width, height: f.Height}:
	default:
	}
	return r.every
}

func (r *recorder) run(ctx context.Context) {
	log := r.s.log.With("camera", r.cam.ID)
	// The lease is renewed beside the recording; losing it (another
	// replica took the camera after this one stalled) stops the recording.
	lctx, lost := context.WithCancel(ctx)
	defer lost()
	go r.keepLease(lctx, lost)
	if err := r.s.repair(lctx, r.cam.ID); err != nil {
		log.Warn("repair recording segments", "err", err)
	}
	if *r.cam.SourceKind == entcamera.SourceKindRTSP {
		r.recordRTSP(lctx)
	} else {
		r.recordJPEG(lctx)
	}
	if ctx.Err() != nil && r.s.dead.Load() {
		return
	}
	if ctx.Err() != nil {
		// A clean stop: another replica may take the camera at once.
		r.s.release(context.WithoutCancel(ctx), r.cam.ID)
	}
}

func (r *recorder) keepLease(ctx context.Context, lost context.CancelFunc) {
	t := time.NewTicker(r.s.cfg.LeaseTTL / 3)
	defer t.Stop()
	held := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.s.dead.Load() {
			return
		}
		ok, err := r.s.lease(ctx, r.cam.ID)
		switch {
		case err == nil && ok:
			held = time.Now()
			continue
		case err == nil:
			r.s.log.Warn("recording lease taken over by another server", "camera", r.cam.ID)
		case time.Since(held) < r.s.cfg.LeaseTTL:
			continue // a database hiccup; the lease still runs
		default:
			r.s.log.Warn("recording lease could not be renewed", "camera", r.cam.ID, "err", err)
		}
		lost()
		return
	}
}

// setState records what the recorder found on the camera row, once per
// change; recording_since is when it began.
func (r *recorder) setState(ctx context.Context, state, reason string) {
	if r.state == state && r.reason == reason || r.s.dead.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.s.client.Camera.Update().Where(entcamera.ID(r.cam.ID), entcamera.RecordOwner(r.s.cfg.Owner)).
		SetRecordingState(state).SetRecordingReason(reason).SetRecordingSince(time.Now().UTC()).Exec(ctx); err != nil {
		r.s.log.Warn("save recording state", "camera", r.cam.ID, "err", err)
		return
	}
	r.state, r.reason = state, reason
}

// diskLow says whether recording must pause for want of space.
func (r *recorder) diskLow() bool {
	free, err := r.s.freeSpace(r.s.cfg.Dir)
	return err == nil && free < r.s.cfg.MinFree
}

// pause stops writing for want of space: DISK_FULL on the camera and a
// CAMERA_NOT_RECORDING alert.
func (r *recorder) pause(ctx context.Context) {
	if r.paused {
		return
	}
	r.paused = true
	since := time.Now().UTC()
	r.s.log.Warn("recording paused: disk full", "camera", r.cam.ID, "dir", r.s.cfg.Dir)
	r.setState(ctx, StateDiskFull, reasonDiskFull)
	if r.s.alerter != nil {
		if err := r.s.alerter.CameraNotRecording(context.WithoutCancel(ctx), r.cam, since); err != nil {
			r.s.log.Warn("disk full alert", "camera", r.cam.ID, "err", err)
		}
	}
}

// resume: space is back; the alert is resolved.
func (r *recorder) resume(ctx context.Context) {
	r.paused = false
	r.s.log.Info("recording resumed: disk has space again", "camera", r.cam.ID)
	if r.s.alerter != nil {
		if err := r.s.alerter.CameraRecording(context.WithoutCancel(ctx), r.cam, time.Now().UTC()); err != nil {
			r.s.log.Warn("resolve disk full alert", "camera", r.cam.ID, "err", err)
		}
	}
}

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// seg is a segment being written: its file and its WRITING row.
type seg struct {
	r         *recorder
	row       *ent.RecordingSegment
	file      *os.File
	w         *countingWriter
	jpeg      *segment.JPEGWriter
	h264      *segment.H264Writer
	start     time.Time
	end       time.Time
	frames    int
	keyframes []schematype.Keyframe
	flushed   time.Time
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// create makes a segment's file and its WRITING row.
func (r *recorder) create(ctx context.Context, format recordingsegment.Format, start time.Time, width, height int) (*seg, error) {
	start = start.UTC()
	id := pulid.MustNew("RS")
	ext := extJPEG
	if format == recordingsegment.FormatFMP4_H264 {
		ext = extMP4
	}
	rel := filePath(r.cam.AccountID, r.cam.ID, id, start, ext)
	full := filepath.Join(r.s.cfg.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(full, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, err
	}
	row, err := r.s.client.RecordingSegment.Create().SetID(id).SetAccountID(r.cam.AccountID).SetCameraID(r.cam.ID).
		SetFormat(format).SetPath(rel).SetStartAt(start).SetEndAt(start).SetWidth(width).SetHeight(height).
		SetOwner(r.s.cfg.Owner).Save(ctx)
	if err != nil {
		f.Close()
		os.Remove(full)
		return nil, fmt.Errorf("segment row: %w", err)
	}
	return &seg{r: r, row: row, file: f, w: &countingWriter{w: f}, start: start, end: start, flushed: time.Now()}, nil
}

// flush moves the WRITING row's end and size forward, for playback of the
// live tail.
func (sg *seg) flush(ctx context.Context) error {
	sg.flushed = time.Now()
	if sg.r.s.dead.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return sg.r.s.client.RecordingSegment.UpdateOneID(sg.row.ID).SetEndAt(sg.end).SetBytes(sg.w.n).
		SetFrames(sg.frames).SetKeyframes(sg.keyframes).Exec(ctx)
}

// close ends the segment: the file closed, the row COMPLETE with why it
// ended. A segment without a frame leaves nothing behind.
func (sg *seg) close(ctx context.Context, by recordingsegment.EndedBy, note string) {
	s := sg.r.s
	if s.dead.Load() {
		sg.file.Close()
		return
	}
	if sg.h264 != nil {
		if err := sg.h264.Close(); err != nil && note == "" {
			note = "close: " + err.Error()
		}
		sg.end = sg.h264.End().UTC()
		sg.frames = sg.h264.Frames()
		sg.keyframes = sg.h264.Keyframes()
	}
	if err := sg.file.Close(); err != nil && note == "" {
		note = "close: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if sg.frames == 0 {
		if err := s.client.RecordingSegment.DeleteOneID(sg.row.ID).Exec(ctx); err != nil {
			s.log.Warn("drop empty segment", "segment", sg.row.ID, "err", err)
			return
		}
		_ = os.Remove(filepath.Join(s.cfg.Dir, filepath.FromSlash(sg.row.Path)))
		return
	}
	u := s.client.RecordingSegment.UpdateOneID(sg.row.ID).SetEndAt(sg.end).SetBytes(sg.w.n).
		SetFrames(sg.frames).SetKeyframes(sg.keyframes).SetState(recordingsegment.StateCOMPLETE).SetEndedBy(by)
	if sg.h264 != nil {
		u.SetCodec(sg.h264.Codec())
	}
	if note != "" {
		u.SetNote(truncate(note, 500))
	}
	if err := u.Exec(ctx); err != nil {
		s.log.Warn("close segment", "segment", sg.row.ID, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// joinGap is how long a JPEG source may send nothing before its segment
// is closed as DISCONNECT (a few frame intervals, at least 3 s); so two
// segments closer than it are one recording (a rotation, a slow camera)
// and read as one span.
func (s *Service) joinGap() time.Duration {
	return max(3*time.Second, time.Duration(5*float64(time.Second)/s.cfg.JPEGFPS))
}

// recordJPEG writes the frames Tap hands over at the recording rate,
// a segment per SegmentLength. A silence of a few frames closes the
// segment (DISCONNECT): the time until the next frame is the gap.
func (r *recorder) recordJPEG(ctx context.Context) {
	silence := r.s.joinGap()
	r.setState(ctx, StateStarting, "")
	var sg *seg
	defer func() {
		if sg != nil {
			sg.close(ctx, recordingsegment.EndedBySTOP, "")
		}
	}()
	last := time.Now() // the newest frame's arrival
	t := time.NewTicker(min(time.Second, r.s.flushEvery))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-r.frames:
			last = time.Now()
			if r.paused {
				continue
			}
			// Faster than the recording rate (or the clock stepped back):
			// not a frame of this recording.
			if sg != nil && f.at.Before(sg.end.Add(r.every*8/10)) {
				continue
			}
			// The file keeps milliseconds; so does the index.
			f.at = f.at.Truncate(time.Millisecond)
			if sg != nil && f.at.Sub(sg.start) >= r.s.cfg.SegmentLength {
				// No successor follows a segment closed for want of space.
				if r.diskLow() {
					sg.close(ctx, recordingsegment.EndedByDISK_FULL, "")
					sg = nil
					r.pause(ctx)
					continue
				}
				sg.close(ctx, recordingsegment.EndedByROTATE, "")
				sg = nil
			}
			if sg == nil {
				if r.diskLow() {
					r.pause(ctx)
					continue
				}
				var err error
				if sg, err = r.create(ctx, recordingsegment.FormatJPEG_SEQ, f.at, f.width, f.height); err != nil {
					r.writeFailed(ctx, err)
					continue
				}
				if sg.jpeg, err = segment.NewJPEGWriter(sg.w); err != nil {
					sg.close(ctx, recordingsegment.EndedByERROR, err.Error())
					sg = nil
					r.writeFailed(ctx, err)
					continue
				}
			}
			off, err := sg.jpeg.WriteFrame(f.at, f.jpeg)
			if err != nil {
				by := recordingsegment.EndedByERROR
				if isDiskFull(err) {
					by = recordingsegment.EndedByDISK_FULL
				}
				sg.close(ctx, by, err.Error())
				sg = nil
				r.writeFailed(ctx, err)
				continue
			}
			sg.frames++
			sg.end = f.at.UTC()
			sg.keyframes = append(sg.keyframes, schematype.Keyframe{At: f.at.Sub(sg.start).Milliseconds(), Offset: off})
			r.setState(ctx, StateRecording, "")
		case <-t.C:
			if r.paused {
				if !r.diskLow() {
					r.resume(ctx)
					r.setState(ctx, StateStarting, "")
				}
				continue
			}
			if time.Since(last) > silence {
				if sg != nil {
					sg.close(ctx, recordingsegment.EndedByDISCONNECT, "no frames for "+silence.String())
					sg = nil
				}
				r.setState(ctx, StateOffline, reasonNoFrames)
				continue
			}
			if sg != nil && time.Since(sg.flushed) >= r.s.flushEvery {
				if r.diskLow() {
					sg.close(ctx, recordingsegment.EndedByDISK_FULL, "")
					sg = nil
					r.pause(ctx)
					continue
				}
				if err := sg.flush(ctx); err != nil {
					r.s.log.Warn("segment progress", "segment", sg.row.ID, "err", err)
				}
			}
		}
	}
}

// writeFailed: a full disk pauses the recording; any other write error is
// the camera's ERROR until a segment is written again.
func (r *recorder) writeFailed(ctx context.Context, err error) {
	if isDiskFull(err) {
		r.pause(ctx)
		return
	}
	r.s.log.Warn("recording write failed", "camera", r.cam.ID, "err", err)
	r.setState(ctx, StateError, reasonWrite)
}
