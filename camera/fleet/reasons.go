package fleet

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// noFrameError is a recorder's "no frame of that second" worded for the
// entry (thumbs.Frames: NoFrameReason): the code of why, and how far the
// nearest frame was.
type noFrameError struct {
	err    error
	reason string
}

func (e *noFrameError) Error() string         { return e.err.Error() }
func (e *noFrameError) Unwrap() error         { return e.err }
func (e *noFrameError) NoFrameReason() string { return e.reason }

// noFrameReason words a recorder's NoFrameError. The recorder says which
// case it is by its (English, log-facing) reason; Nearest is the distance
// to the nearest frame (0: there was none).
func noFrameReason(e *camera.NoFrameError) string {
	offline := strings.HasPrefix(e.Reason, "camera offline")
	switch {
	case e.Nearest == 0 && offline:
		return thumbs.Reason(thumbs.CameraOffline, "カメラがオフラインで、映像がまだありません")
	case e.Nearest == 0:
		return thumbs.Reason(thumbs.NoFrame, "このカメラの映像はまだありません（録画を始めたところです）")
	case offline:
		return thumbs.Reason(thumbs.CameraOffline, fmt.Sprintf("カメラがオフラインでした（最も近い映像は %s 離れています）", jaDuration(e.Nearest)))
	case strings.HasPrefix(e.Reason, "buffer does not reach back"):
		return thumbs.Reason(thumbs.BufferPassed, fmt.Sprintf("録画の保持時間を過ぎていました（最も近い映像は %s 離れています）", jaDuration(e.Nearest)))
	}
	return thumbs.Reason(thumbs.FrameTooFar, fmt.Sprintf("該当時刻に近い映像がありません（最も近い映像は %s 離れています）", jaDuration(e.Nearest)))
}

// jaDuration is a distance as a shop owner reads it: 0.4秒, 12秒, 3分4秒, 2時間5分.
func jaDuration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f秒", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%d秒", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%d分%d秒", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%d時間%d分", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// notRecordedError is thumbs.ErrNotRecorded with why, from the camera's row.
type notRecordedError struct{ reason string }

func (e *notRecordedError) Error() string         { return thumbs.ErrNotRecorded.Error() + ": " + e.reason }
func (e *notRecordedError) Unwrap() error         { return thumbs.ErrNotRecorded }
func (e *notRecordedError) NoFrameReason() string { return e.reason }

// notRecorded says why no recorder of this process runs camera id. A CLOUD
// camera gets the plain ErrNotRecorded: its pictures are the cloud's
// (camcloud/pictures answers for it in front of this Manager).
func (m *Manager) notRecorded(ctx context.Context, id pulid.ID) error {
	reason := thumbs.Reason(thumbs.NotRecorded, "このカメラはこのサーバーで録画されていません（映像の取得元に接続できないか、準備中です）")
	// The picture's own wait may be over by now; why there is none is
	// still worth one quick read (a loaded database must not turn every
	// reason into the generic one).
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c, err := m.client.Camera.Query().Where(entcamera.ID(id)).
		Select(entcamera.FieldSourceKind, entcamera.FieldRetiredAt, entcamera.FieldPosOption).Only(viewer.System(qctx))
	switch {
	case err != nil && !ent.IsNotFound(err):
		m.log.Warn("camera of a picture", "camera", id, "err", err)
	case err != nil:
		reason = thumbs.Reason(thumbs.NotRecorded, "このカメラは登録されていません")
	case c.RetiredAt != nil:
		reason = thumbs.Reason(thumbs.CameraRetired, "")
	case c.SourceKind == nil:
		reason = thumbs.Reason(thumbs.NotRecorded, "このカメラには映像の取得元が設定されていません")
	case *c.SourceKind == entcamera.SourceKindCLOUD:
		return thumbs.ErrNotRecorded
	case *c.SourceKind == entcamera.SourceKindRTSP:
		reason = thumbs.Reason(thumbs.NotRecorded, "RTSP カメラの静止画をこのサーバーでは取り出せません（録画が無効か、準備中です）")
	case !c.PosOption:
		reason = thumbs.Reason(thumbs.NotRecorded, "このカメラは POS 連携が有効になっていません")
	}
	return &notRecordedError{reason: reason}
}
