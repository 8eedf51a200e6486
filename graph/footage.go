package graph

// Recorded moments (package footage): Camera.recordingStatus, the
// recording settings, and the LOCAL side of JournalEntry.clip and
// Camera.recordings (graph/cameracloud.go).

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/footage"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Footage is what the resolvers read of regicam's own recording
// (*playback.Player, over footage.Service).
type Footage interface {
	Spans(ctx context.Context, cameraID pulid.ID, from, to time.Time) (spans, gaps []footage.Span, err error)
	Status(ctx context.Context, cameraID pulid.ID) (footage.Status, error)
	Config() footage.Config
	UsedBytes(ctx context.Context, accountID pulid.ID) (int64, error)
	// CanEncode: JPEG recordings play as video (ffmpeg is installed).
	CanEncode() bool
}

// errNoFootage: a server built without recording.
var errNoFootage = apperr.Unavailablef("録画はこのサーバーでは使えません (recording is not available)").Because(apperr.FEATURE_DISABLED)

func (r *Resolver) recordingStatus(ctx context.Context, cam *ent.Camera) (*model.CameraRecordingStatus, error) {
	if r.Footage == nil {
		return &model.CameraRecordingStatus{State: model.CameraRecordingStateOff}, nil
	}
	st, err := r.Footage.Status(ctx, cam.ID)
	if err != nil {
		return nil, err
	}
	out := &model.CameraRecordingStatus{State: model.CameraRecordingState(st.State), Bytes: float64(st.Bytes)}
	if !out.State.IsValid() {
		out.State = model.CameraRecordingStateError
	}
	if st.Reason != "" && out.State != model.CameraRecordingStateRecording {
		out.Reason = &st.Reason
	}
	out.Since = timePtr(st.Since)
	out.Oldest = timePtr(st.Oldest)
	out.Newest = timePtr(st.Newest)
	return out, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// MaxClipLeadSeconds bounds a clip's lead-in and lead-out.
const MaxClipLeadSeconds = 300

func (r *Resolver) recordingSettings(ctx context.Context) (*model.RecordingSettings, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	acc, err := r.Client.Account.Query().Where(account.ID(v.AccountID)).
		Select(account.FieldClipLeadInSeconds, account.FieldClipLeadOutSeconds).Only(ctx)
	if err != nil {
		return nil, err
	}
	return r.settingsOf(ctx, v, acc)
}

func (r *Resolver) settingsOf(ctx context.Context, v viewer.Viewer, acc *ent.Account) (*model.RecordingSettings, error) {
	out := &model.RecordingSettings{ClipLeadInSeconds: acc.ClipLeadInSeconds, ClipLeadOutSeconds: acc.ClipLeadOutSeconds}
	if r.Footage == nil {
		return out, nil
	}
	cfg := r.Footage.Config()
	out.RecordingEnabled = cfg.Record
	out.RetentionHours = int(cfg.Retention / time.Hour)
	out.BudgetBytes = float64(cfg.Budget)
	used, err := r.Footage.UsedBytes(ctx, v.AccountID)
	if err != nil {
		return nil, err
	}
	out.UsedBytes = float64(used)
	return out, nil
}

func (r *Resolver) updateRecordingSettings(ctx context.Context, in model.UpdateRecordingSettingsInput) (*model.RecordingSettings, error) {
	v, err := viewer.Require(ctx, viewer.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	if err := checkLead("input.clipLeadInSeconds", "前の秒数", in.ClipLeadInSeconds); err != nil {
		return nil, err
	}
	if err := checkLead("input.clipLeadOutSeconds", "後の秒数", in.ClipLeadOutSeconds); err != nil {
		return nil, err
	}
	var acc *ent.Account
	err = db.InTx(ctx, r.Client, slog.Default(), "update recording settings", func(tx *ent.Tx) error {
		old, err := tx.Account.Get(ctx, v.AccountID)
		if err != nil {
			return err
		}
		u := tx.Account.UpdateOneID(v.AccountID)
		if in.ClipLeadInSeconds != nil {
			u.SetClipLeadInSeconds(*in.ClipLeadInSeconds)
		}
		if in.ClipLeadOutSeconds != nil {
			u.SetClipLeadOutSeconds(*in.ClipLeadOutSeconds)
		}
		if acc, err = u.Save(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, tx.Client(), audit.Entry{Action: "recording_settings.updated", TargetID: string(v.AccountID),
			Detail: fmt.Sprintf("取引の動画: 前 %d秒→%d秒, 後 %d秒→%d秒",
				old.ClipLeadInSeconds, acc.ClipLeadInSeconds, old.ClipLeadOutSeconds, acc.ClipLeadOutSeconds)})
	})
	if err != nil {
		return nil, err
	}
	return r.settingsOf(ctx, v, acc.Unwrap())
}

// checkLead refuses a lead outside 0–300 s, naming the field.
func checkLead(field, what string, s *int) error {
	if s == nil || (*s >= 0 && *s <= MaxClipLeadSeconds) {
		return nil
	}
	return apperr.Invalid(field, "取引の動画の%sは 0〜%d 秒で指定してください（%d は範囲外です） (%s must be 0–%d)",
		what, MaxClipLeadSeconds, *s, field, MaxClipLeadSeconds).Because(apperr.VALUE_OUT_OF_RANGE)
}
