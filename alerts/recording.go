package alerts

import (
	"context"
	"fmt"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/viewer"
)

// RECEIPTS_NOT_RECORDED needs both sides: the POS says a receipt was
// printed, the camera linked to its register has no picture of that second
// because it was not recording. Which it is, is the entry's own
// thumbnail reason (ingest/thumbreason.go), so the rule reads nothing the
// picture pipeline did not already decide:
//
//   - not recording: CAMERA_OFFLINE, NO_FRAME, FRAME_TOO_FAR, TIMEOUT (the
//     recorder had no frame near the second), NO_RECORDING (the cloud
//     recorded nothing then), NOT_RECORDED (no recorder runs the camera);
//   - not the camera's fault, no verdict: NO_LINK (no camera), PENDING and
//     CLOUD_RETRY/CLOUD_AUTH (not known yet; the late picture decides),
//     BUFFER_PASSED and RETENTION (the data came too late), CAMERA_RETIRED
//     (the owner's decision), UNREADABLE, STORE_FAILED, EXPIRED;
//   - a picture (no reason): the camera records again.
//
// An episode is one alert per rule and camera, raised by the first
// receipt not recorded and resolved (resolved_at, the time of that
// receipt) by the first receipt of the camera that has its picture again:
// recovery is shown by the evidence the owner cares about, a pictured
// receipt, not by the recorder's own status. Entries are seen when they
// are committed (Observe, through check) and when their picture or its
// final reason lands later (ObservePicture, called by ingest after a late
// capture or a cloud retake).

// notRecording reports whether a reason says the camera was not recording.
func notRecording(code ingest.ReasonCode) bool {
	switch code {
	case ingest.ReasonCameraOffline, ingest.ReasonNoFrame, ingest.ReasonFrameTooFar, ingest.ReasonTimeout,
		ingest.ReasonNoRecording, ingest.ReasonNotRecorded:
		return true
	}
	return false
}

// receiptsNotRecorded decides RECEIPTS_NOT_RECORDED for one entry (check's
// case). It stores or resolves the episode itself, since an episode is
// not an alert of one entry, and so never returns a hit.
func (s *Service) receiptsNotRecorded(ctx context.Context, r rule, e *ent.JournalEntry) (string, bool, error) {
	if e.CameraID == nil {
		return "", false, nil
	}
	switch code := ingest.CodeOf(e.ThumbnailReason); {
	case code == "":
		return "", false, s.recordedAgain(ctx, r, e)
	case notRecording(code):
		return "", false, s.raiseNotRecorded(ctx, r, e)
	}
	return "", false, nil
}

// ObservePicture is told of an entry whose picture, or the final reason
// there is none, was recorded after the entry itself (ingest's late
// capture, the camera cloud's retake): the other half of the episodes of
// RECEIPTS_NOT_RECORDED. Like Observe it runs as the system and only logs
// its failures.
func (s *Service) ObservePicture(ctx context.Context, e *ent.JournalEntry) {
	if s == nil || e == nil || e.CameraID == nil {
		return
	}
	ctx = viewer.System(context.WithoutCancel(ctx))
	rules, err := s.enabled(ctx, e.AccountID)
	if err != nil {
		s.Log.ErrorContext(ctx, "evaluate alert rules", "entry", e.ID, "err", err)
		return
	}
	for _, r := range rules {
		if r.Kind != alertrule.KindRECEIPTS_NOT_RECORDED || !r.scope.Match(e) {
			continue
		}
		if _, _, err := s.receiptsNotRecorded(ctx, r, e); err != nil {
			s.Log.ErrorContext(ctx, "receipts not recorded", "entry", e.ID, "rule", r.ID, "err", err)
		}
	}
}

var _ ingest.PictureObserver = (*Service)(nil)

// raiseNotRecorded raises the episode of e's camera unless one is open.
//
// Exactly once, also with several servers on one database: the dedupe key
// names the camera and the alert of the rule and camera before it ("after
// none" for the first episode). Servers that see the same history choose
// the same key, and save's (rule, dedupe_key) check under the event lock
// keeps one; a server that reads after a new episode was stored sees it
// open and raises nothing.
func (s *Service) raiseNotRecorded(ctx context.Context, r rule, e *ent.JournalEntry) error {
	// A rule made after the entry arrived never saw it live (as the sweep).
	if r.CreatedAt.After(e.ReceivedAt) {
		return nil
	}
	cam := *e.CameraID
	last, err := s.Client.Alert.Query().Where(alert.RuleID(r.ID), alert.CameraID(cam)).
		Order(ent.Desc(alert.FieldSeq)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("last episode: %w", err)
	}
	after := "none"
	if last != nil {
		if last.ResolvedAt == nil {
			return nil // the episode is open: once per episode
		}
		if !last.ResolvedAt.Before(ingest.PictureAt(e)) {
			return nil // a receipt pictured after this one already closed it
		}
		after = string(last.ID)
	}
	// A receipt of the camera pictured after this one (seen first: a late
	// capture, the sweep) says the camera records again: old news.
	at := ingest.PictureAt(e)
	later, err := s.Client.JournalEntry.Query().Where(journalentry.CameraID(cam), journalentry.HasThumbnail(),
		journalentry.Or( // pictured at a later second: corrected_at ?? occurred_at
			journalentry.And(journalentry.CorrectedAtNotNil(), journalentry.CorrectedAtGT(at)),
			journalentry.And(journalentry.CorrectedAtIsNil(), journalentry.OccurredAtGT(at)))).Exist(ctx)
	if err != nil || later {
		return err
	}
	name, err := s.Client.Camera.Query().Where(entcamera.ID(cam)).Select(entcamera.FieldName).String(ctx)
	if err != nil {
		return fmt.Errorf("camera name: %w", err)
	}
	z, err := s.shopZone(ctx, e)
	if err != nil {
		return err
	}
	term, shopID := e.TerminalID, e.ShopID
	h := hit{rule: r, dedupe: fmt.Sprintf("not-recorded:%s:after:%s", cam, after), entry: e, term: &term, shop: &shopID,
		camera: &cam, staff: e.StaffName, amount: e.Total, at: at,
		message: fmt.Sprintf("カメラ %s が録画していない間にレシートが届いています（%s から、レジNo. %s: %s）",
			name, at.In(z.loc).Format("15:04"), e.RegisterNo, ingest.ReasonText(e.ThumbnailReason))}
	if _, err := s.save(ctx, h); err != nil {
		return fmt.Errorf("rule %s: %w", r.ID, err)
	}
	return nil
}

// recordedAgain ends the rule's open episode of e's camera: a receipt has
// its picture again. Only an episode that began at or before the pictured
// second ends (a receipt pictured earlier, seen late, says nothing of
// later ones). Like CameraRecording: a change of state, no event, no
// webhook.
func (s *Service) recordedAgain(ctx context.Context, r rule, e *ent.JournalEntry) error {
	at := ingest.PictureAt(e)
	if _, err := s.Client.Alert.Update().Where(alert.RuleID(r.ID), alert.CameraID(*e.CameraID),
		alert.ResolvedAtIsNil(), alert.OccurredAtLTE(at.UTC())).
		SetResolvedAt(at.UTC()).Save(ctx); err != nil {
		return fmt.Errorf("resolve receipts-not-recorded alerts: %w", err)
	}
	return nil
}
