package playback

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/footage/ffmpeg"
	"github.com/regicam/regicam/footage/segment"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// Frames serves thumbs.Frames for RTSP cameras: the picture of a second
// is the frame its snapshot URL gave nearest that second (Next, the
// recorders of camera/fleet, read it) when it has one, else it is decoded
// with ffmpeg from the camera's recorded H.264. A camera of any other
// source goes to Next.
type Frames struct {
	p    *Player
	Next thumbs.Frames
	// Poll is how often a second not yet written to disk is looked for
	// again (default 500 ms); the thumbnailer's wait bounds the looking.
	Poll time.Duration
}

var _ thumbs.Frames = (*Frames)(nil)

// Frames returns the thumbs.Frames of the recordings in front of next.
func (p *Player) Frames(next thumbs.Frames) *Frames {
	return &Frames{p: p, Next: next, Poll: 500 * time.Millisecond}
}

// NoFFmpegReason is the thumbnail reason of an RTSP camera without a
// snapshot URL on a server that cannot decode a still from its recording
// (no ffmpeg).
var NoFFmpegReason = thumbs.Reason(thumbs.NotRecorded,
	"RTSP カメラの静止画を取り出せません（静止画URLが設定されておらず、サーバーに ffmpeg がありません）")

// SnapshotNoFFmpegReason: the snapshot URL gave no frame near the second,
// and without ffmpeg the recording cannot stand in for it.
var SnapshotNoFFmpegReason = thumbs.Reason(thumbs.NoFrame,
	"静止画URLから該当時刻の画像が取れず、サーバーに ffmpeg がないため録画からも取り出せません")

// snapshotMissed begins the reason of a second neither the snapshot URL
// nor the recording gave a picture of.
const snapshotMissed = "静止画URLから該当時刻の画像が取れず、"

// noFrame is a thumbs.Frames answer with its reason.
type noFrame struct{ reason string }

func (e *noFrame) Error() string         { return "playback: no frame: " + e.reason }
func (e *noFrame) NoFrameReason() string { return e.reason }

// recordingReach: a second this close to now may not be on disk yet (a
// fragment is flushed per GOP or second, the index every few seconds).
const recordingReach = 30 * time.Second

// FrameAt implements thumbs.Frames.
func (f *Frames) FrameAt(ctx context.Context, cameraID pulid.ID, at time.Time) ([]byte, time.Time, error) {
	sys := viewer.System(ctx)
	cam, err := f.p.client.Camera.Query().Where(entcamera.ID(cameraID)).Select(entcamera.FieldSourceKind, entcamera.FieldSnapshotURL).Only(sys)
	if err != nil && !ent.IsNotFound(err) {
		return nil, time.Time{}, err
	}
	if err != nil || cam.SourceKind == nil || *cam.SourceKind != entcamera.SourceKindRTSP {
		return f.next(ctx, cameraID, at)
	}
	// The snapshot's frame is the camera's own still, cheaper and sharper
	// than a decode; the recording stands in when the URL did not answer.
	snapshot := cam.SnapshotURL != ""
	if f.Next != nil {
		if jpeg, taken, err := f.Next.FrameAt(ctx, cameraID, at); err == nil {
			return jpeg, taken, nil
		} else if ctx.Err() != nil {
			return nil, time.Time{}, ctx.Err()
		}
	}
	if !f.p.CanEncode() {
		if snapshot {
			return nil, time.Time{}, &noFrame{reason: SnapshotNoFFmpegReason}
		}
		return nil, time.Time{}, &noFrame{reason: NoFFmpegReason}
	}
	for {
		jpeg, err := f.decode(sys, cameraID, at)
		if snapshot {
			err = afterSnapshot(err)
		}
		if !errors.Is(err, errNotYet) {
			return jpeg, at, err
		}
		if f.p.opt.Now().Sub(at) > recordingReach {
			reason := thumbs.Reason(thumbs.NoRecording, "")
			if snapshot {
				reason = thumbs.Reason(thumbs.NoRecording, snapshotMissed+"この時刻は録画もされていません")
			}
			return nil, time.Time{}, &noFrame{reason: reason}
		}
		t := time.NewTimer(f.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, time.Time{}, ctx.Err()
		case <-t.C:
		}
	}
}

func (f *Frames) next(ctx context.Context, cameraID pulid.ID, at time.Time) ([]byte, time.Time, error) {
	if f.Next == nil {
		return nil, time.Time{}, thumbs.ErrNotRecorded
	}
	return f.Next.FrameAt(ctx, cameraID, at)
}

// SourceKind implements thumbs.SourceKinder through Next.
func (f *Frames) SourceKind(cameraID pulid.ID) string {
	if sk, ok := f.Next.(thumbs.SourceKinder); ok {
		return sk.SourceKind(cameraID)
	}
	return ""
}

// afterSnapshot words a failed decode's reason for a camera whose snapshot
// URL failed first, so the owner reads that both were tried.
func afterSnapshot(err error) error {
	var nf *noFrame
	if !errors.As(err, &nf) {
		return err
	}
	code := ingest.CodeOf(nf.reason)
	return &noFrame{reason: thumbs.Reason(code, snapshotMissed+"録画からも"+strings.TrimPrefix(ingest.ReasonText(nf.reason), "録画から"))}
}

// errNotYet: the second is not on disk (yet).
var errNotYet = errors.New("playback: second not recorded yet")

// decode cuts the picture of at out of the H.264 segment holding it: the
// fragments from the keyframe before at, remuxed, then decoded by ffmpeg
// at at's offset.
func (f *Frames) decode(ctx context.Context, cameraID pulid.ID, at time.Time) ([]byte, error) {
	segs, err := f.p.rec.Segments(ctx, cameraID, at, at.Add(time.Second))
	if err != nil {
		return nil, err
	}
	var srcs []segment.Source
	for _, s := range segs {
		if s.Format != recordingsegment.FormatFMP4_H264 || s.State == recordingsegment.StateCORRUPT ||
			s.StartAt.After(at) || s.EndAt.Before(at) {
			continue
		}
		file, err := f.p.rec.Open(s)
		if err != nil {
			continue
		}
		defer file.Close()
		st, err := file.Stat()
		if err != nil {
			continue
		}
		srcs = append(srcs, segment.Source{R: file, Size: st.Size(), Start: s.StartAt})
	}
	if len(srcs) == 0 {
		return nil, errNotYet
	}
	var mp4 bytes.Buffer
	start, err := segment.Remux(&mp4, srcs, at, at.Add(time.Second))
	if errors.Is(err, segment.ErrNoRecording) {
		return nil, errNotYet
	}
	if err != nil {
		return nil, &noFrame{reason: thumbs.Reason(thumbs.Unreadable, "録画から静止画を取り出せませんでした（録画ファイルが壊れています）")}
	}
	jpeg, err := ffmpeg.FrameAt(ctx, &mp4, at.Sub(start))
	if err != nil {
		return nil, &noFrame{reason: thumbs.Reason(thumbs.Unreadable, "録画から静止画を取り出せませんでした（ffmpeg が映像を読めませんでした）")}
	}
	return jpeg, nil
}
