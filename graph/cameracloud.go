package graph

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/pictures"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// The sentences of JournalEntry.clip when no video can be played
// (schema/cameracloud.graphql): regicam keeps stills only, and the Safie
// API offers pictures and recorded spans but no video.
const (
	clipCloud    = "クラウドカメラの動画は Safie Viewer でご覧ください（Safie API は動画を提供していません）"
	clipNoCamera = "この取引にはカメラがつながっていません"
	clipStills   = "このカメラの動画は録画していません（静止画のみ）"
)

// cameraCloud is the camera-cloud service, or UNAVAILABLE on a server
// built without one (some tests, tools).
func (r *Resolver) cameraCloud() (*camcloud.Service, error) {
	if r.CameraCloud == nil {
		return nil, apperr.Unavailablef("カメラクラウドはこのサーバーでは使えません (camera cloud not configured)").Because(apperr.UNAVAILABLE)
	}
	return r.CameraCloud, nil
}

// seesCameraClouds: connections are the administrators' settings. The ent
// policy hides them from STAFF; an API key (any scope) that reaches a
// camera or node(id) does not see them either.
func seesCameraClouds(ctx context.Context) bool {
	v, ok := viewer.FromContext(ctx)
	return ok && v.Allows(viewer.ScopeAdmin)
}

// cameraCloudConnections is the account's connections by name.
func cameraCloudConnections(ctx context.Context, c *ent.Client) ([]*ent.CameraCloudConnection, error) {
	v, err := viewer.Require(ctx, viewer.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	return c.CameraCloudConnection.Query().
		Where(cameracloudconnection.AccountID(v.AccountID)).
		Order(ent.Asc(cameracloudconnection.FieldName), ent.Asc(cameracloudconnection.FieldID)).
		All(ctx)
}

// cloudConnectionOf is Camera.cloudConnection: null for a camera of
// another source and for a viewer that may not see connections.
func cloudConnectionOf(ctx context.Context, c *ent.Client, cam *ent.Camera) (*ent.CameraCloudConnection, error) {
	if cam.CloudConnectionID == nil || !seesCameraClouds(ctx) {
		return nil, nil
	}
	conn, err := c.CameraCloudConnection.Get(ctx, *cam.CloudConnectionID)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return conn, err
}

// connectionCameras is CameraCloudConnection.cameras, retired ones last.
func connectionCameras(ctx context.Context, conn *ent.CameraCloudConnection) ([]*ent.Camera, error) {
	cams, err := conn.QueryCameras().Order(ent.Asc(entcamera.FieldName), ent.Asc(entcamera.FieldID)).All(ctx)
	slices.SortStableFunc(cams, func(a, b *ent.Camera) int {
		return cmp.Compare(boolInt(a.RetiredAt != nil), boolInt(b.RetiredAt != nil))
	})
	return cams, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// deviceCount is how many of the connection's devices are cameras now: the
// POS-option devices of the last sync (a retired camera's device is gone
// or lost the option).
func deviceCount(ctx context.Context, conn *ent.CameraCloudConnection) (int, error) {
	return conn.QueryCameras().Where(entcamera.RetiredAtIsNil()).Count(ctx)
}

func connectInput(in model.ConnectCameraCloudInput) camcloud.ConnectInput {
	name := "Safie"
	if in.Name != nil {
		name = *in.Name
	}
	return camcloud.ConnectInput{Name: name, APIKey: in.APIKey, OptionItemID: in.OptionItemID, RetentionDays: in.RetentionDays}
}

func updateInput(in model.UpdateCameraCloudInput) camcloud.UpdateInput {
	return camcloud.UpdateInput{Name: in.Name, APIKey: in.APIKey, OptionItemID: in.OptionItemID, RetentionDays: in.RetentionDays}
}

func startOAuthInput(in model.StartCameraCloudOAuthInput) camcloud.StartOAuthInput {
	name := "Safie"
	if in.Name != nil {
		name = *in.Name
	}
	return camcloud.StartOAuthInput{Name: name, OptionItemID: in.OptionItemID, RetentionDays: in.RetentionDays}
}

// entryClip is JournalEntry.clip: regicam's own recording of the entry's
// camera (LOCAL) when it has one, else why no video can be played. The
// span is the account's lead-in and lead-out around the receipt's mark.
func entryClip(ctx context.Context, c *ent.Client, f Footage, e *ent.JournalEntry) (*model.Clip, error) {
	mark, from, to, err := playback.ClipSpan(ctx, c, e)
	if err != nil {
		return nil, err
	}
	clip := &model.Clip{From: from, To: to, Mark: mark}
	reason := clipNoCamera
	if e.CameraID != nil {
		reason = clipStills
		cam, err := c.Camera.Query().Where(entcamera.ID(*e.CameraID)).Select(entcamera.FieldSourceKind).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			// A camera the viewer may not see: nothing to say about it.
		case err != nil:
			return nil, err
		case cam.SourceKind != nil && *cam.SourceKind == entcamera.SourceKindCLOUD:
			reason = clipCloud
		case cam.SourceKind != nil && f != nil:
			return localClip(ctx, f, clip, e, cam)
		}
	}
	clip.UnavailableReason = &reason
	return clip, nil
}

// The sentences of a LOCAL clip that cannot be played.
const (
	clipNotRecorded = playback.NoRecordingMessage
	clipNeedsFFmpeg = "このカメラの動画を再生するには、サーバーに ffmpeg が必要です（ダウンロードは JPEG の ZIP になります）"
)

// localClip is the clip of a camera regicam records itself: its URLs when
// anything of the span is on disk. A JPEG camera plays only where ffmpeg
// can encode it; its frames still download as a ZIP.
func localClip(ctx context.Context, f Footage, clip *model.Clip, e *ent.JournalEntry, cam *ent.Camera) (*model.Clip, error) {
	spans, _, err := f.Spans(ctx, cam.ID, clip.From, clip.To)
	if err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		reason := clipNotRecorded
		clip.UnavailableReason = &reason
		return clip, nil
	}
	url, download, ctype := ClipPath(e.ID), ClipPath(e.ID)+"?download=1", "video/mp4"
	clip.DownloadURL = &download
	if *cam.SourceKind != entcamera.SourceKindRTSP && !f.CanEncode() {
		reason := clipNeedsFFmpeg
		clip.UnavailableReason = &reason
		return clip, nil
	}
	clip.URL, clip.ContentType = &url, &ctype
	return clip, nil
}

// ClipPath is where the HTTP server serves an entry's clip.
func ClipPath(id pulid.ID) string { return "/entries/" + string(id) + "/clip" }

// cameraRecordings is Camera.recordings: the window is checked here too,
// so a server without the cloud refuses what one with it refuses. A
// CLOUD camera's spans come from the cloud; a camera regicam records
// itself answers LOCAL from the recordings' index.
//
// It needs what the live picture needs: journal:read (a partner key for
// links only may see cameras, not what they recorded).
func cameraRecordings(ctx context.Context, rec CloudRecordings, f Footage, cam *ent.Camera, from, to time.Time) (*model.CameraRecordings, error) {
	if _, err := viewer.Require(ctx, viewer.ScopeJournalRead); err != nil {
		return nil, err
	}
	if !from.Before(to) {
		return nil, apperr.Invalid("to", "終了日時は開始日時より後にしてください (to must be after from)").Because(apperr.RANGE_REVERSED)
	}
	if to.Sub(from) > pictures.MaxRecordingsRange {
		return nil, apperr.Invalid("to", "録画の範囲は72時間以内で指定してください (at most 72 hours)").Because(apperr.RECORDINGS_RANGE)
	}
	if f != nil && cam.SourceKind != nil && *cam.SourceKind != entcamera.SourceKindCLOUD {
		spans, gaps, err := f.Spans(ctx, cam.ID, from, to)
		if err != nil {
			return nil, err
		}
		return &model.CameraRecordings{Source: model.RecordingSourceLocal, Spans: localSpans(spans), Gaps: localSpans(gaps)}, nil
	}
	if rec == nil {
		return &model.CameraRecordings{Source: model.RecordingSourceNone, Spans: []*model.TimeSpan{}, Gaps: []*model.TimeSpan{}}, nil
	}
	got, err := rec.Recordings(ctx, cam.ID, from, to)
	if err != nil {
		return nil, err
	}
	out := &model.CameraRecordings{Source: model.RecordingSource(got.Source), Spans: timeSpans(got.Spans), Gaps: timeSpans(got.Gaps)}
	if got.Message != "" {
		out.Message = &got.Message
	}
	return out, nil
}

func localSpans(in []footage.Span) []*model.TimeSpan {
	out := make([]*model.TimeSpan, len(in))
	for i, s := range in {
		out[i] = &model.TimeSpan{From: s.From, To: s.To}
	}
	return out
}

func timeSpans(in []pictures.Span) []*model.TimeSpan {
	out := make([]*model.TimeSpan, len(in))
	for i, s := range in {
		out[i] = &model.TimeSpan{From: s.From, To: s.To}
	}
	return out
}
