package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Shot is a thumbnail already in the blob store, to be recorded with its
// entry.
type Shot struct {
	CameraID    pulid.ID
	Key         string
	RequestedAt time.Time
	CapturedAt  time.Time
	Width       int
	Height      int
	Bytes       int64
	SHA256      string
	// SkewUnknown: the source cannot say when its frame was taken (a camera
	// cloud answers for the asked second). The row then says so
	// (skew_known false) with captured_at = requested_at and skew 0: an
	// unknown skew is reported, never guessed.
	SkewUnknown bool
	// Picture is the camera's own full-resolution frame, stored beside the
	// thumbnail; nil when only the thumbnail was kept.
	Picture *Picture
}

// Picture is a full-resolution frame already in the blob store.
type Picture struct {
	Key           string
	Width, Height int
	Bytes         int64
	SHA256        string
}

// Thumbnailer takes and stores the picture a camera saw at a moment.
type Thumbnailer interface {
	// Capture returns the stored picture of camera at t, waiting at most a
	// short bound. Without one it says why (reason), and pending means a
	// frame may still come: try again later with CaptureLate.
	Capture(ctx context.Context, accountID, entryID, cameraID pulid.ID, t time.Time) (shot *Shot, reason string, pending bool)
	// CaptureLate is Capture for a picture that was not ready in time; it
	// may wait as long as the camera could still deliver it.
	CaptureLate(ctx context.Context, accountID, entryID, cameraID pulid.ID, t time.Time) (shot *Shot, reason string)
}

// PictureObserver, when the Observer also implements it, is told of an
// entry whose picture (or the final reason it has none) was recorded
// after the entry itself: a late capture or a retake. Observe saw the
// entry while its picture was pending; alerts that need both the receipt
// and its picture (RECEIPTS_NOT_RECORDED) decide here. Like Observe it
// must not fail the retake.
type PictureObserver interface {
	ObservePicture(ctx context.Context, e *ent.JournalEntry)
}

func (in *Ingester) observePicture(ctx context.Context, e *ent.JournalEntry, reason string) {
	po, ok := in.Observer.(PictureObserver)
	if !ok {
		return
	}
	seen := *e // as committed: e with the reason just recorded
	seen.ThumbnailReason = reason
	po.ObservePicture(ctx, &seen)
}

func saveShot(ctx context.Context, tx *ent.Tx, e *ent.JournalEntry, s *Shot) error {
	captured := s.CapturedAt
	if s.SkewUnknown {
		captured = s.RequestedAt
	}
	skew := captured.Sub(s.RequestedAt).Milliseconds()
	create := tx.Thumbnail.Create().
		SetAccountID(e.AccountID).SetEntryID(e.ID).SetCameraID(s.CameraID).
		SetRequestedAt(normTime(s.RequestedAt)).SetCapturedAt(normTime(captured)).SetSkewMs(skew).
		SetSkewKnown(!s.SkewUnknown).
		SetWidth(s.Width).SetHeight(s.Height).SetBytes(s.Bytes).SetContentType("image/jpeg").
		SetStorageKey(s.Key).SetSha256(s.SHA256)
	if p := s.Picture; p != nil {
		create.SetPictureKey(p.Key).SetPictureWidth(p.Width).SetPictureHeight(p.Height).
			SetPictureBytes(p.Bytes).SetPictureSha256(p.SHA256)
	}
	if err := create.Exec(ctx); err != nil {
		return fmt.Errorf("insert thumbnail: %w", err)
	}
	return nil
}

// lateThumbnail finishes an entry committed before its picture was ready.
func (in *Ingester) lateThumbnail(ctx context.Context, e *ent.JournalEntry) {
	if _, err := in.retake(ctx, e); err != nil {
		in.log.Warn("late thumbnail", "entry", e.ID, "err", err)
	}
}

// RetakeThumbnail tries again to take the picture of an entry that has
// none (camcloud/pictures sweeps the entries a camera cloud could not
// picture yet): true when this call leaves the entry with a thumbnail.
// An entry that already has one, or has no camera, is left alone (false,
// nil). Without one, the Thumbnailer's reason is recorded on the entry.
// Several replicas may retake the same entry at once: one thumbnail row
// and one THUMBNAIL event result. Each still takes the picture (and asks
// its source) before the row lock, so callers keep replicas apart: the
// cloud sweeper sweeps a connection from its sync-lease holder only
// (camcloud/pictures/sweeper.go).
func (in *Ingester) RetakeThumbnail(ctx context.Context, entryID pulid.ID) (bool, error) {
	if in.Thumbnails == nil {
		return false, nil
	}
	if _, ok := viewer.FromContext(ctx); !ok && !viewer.IsSystem(ctx) {
		ctx = viewer.System(ctx) // background work (see docs/ARCHITECTURE.md §1)
	}
	e, err := in.client.JournalEntry.Get(ctx, entryID)
	if err != nil {
		return false, fmt.Errorf("retake thumbnail of %s: %w", entryID, err)
	}
	if e.CameraID == nil {
		return false, nil
	}
	has, err := in.client.Thumbnail.Query().Where(thumbnail.EntryID(e.ID)).Exist(ctx)
	if err != nil || has {
		return false, err
	}
	ok, err := in.retake(ctx, e)
	if err != nil {
		return ok, fmt.Errorf("retake thumbnail of %s: %w", entryID, err)
	}
	return ok, nil
}

// retake takes e's picture late and records it: the thumbnail row and a
// THUMBNAIL event land together, so subscribers learn of the picture
// exactly once; without a picture, the reason. It says whether e has a
// thumbnail afterwards.
func (in *Ingester) retake(ctx context.Context, e *ent.JournalEntry) (bool, error) {
	shot, reason := in.Thumbnails.CaptureLate(ctx, e.AccountID, e.ID, *e.CameraID, PictureAt(e))
	if shot == nil && reason == "" {
		reason = Reason(ReasonTimeout, "") // never left without one
	} else if shot == nil && CodeOf(reason) == ReasonUnknown {
		reason = Reason(ReasonNoFrame, reason)
	} else if shot != nil {
		reason = ""
	}
	tx, err := in.client.Tx(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	// Writing the entry first takes its row lock: a second replica
	// retaking it waits here, and the query after it (a new snapshot)
	// sees what the first one committed.
	if err := tx.JournalEntry.UpdateOneID(e.ID).SetThumbnailReason(reason).Exec(ctx); err != nil {
		return false, err
	}
	if exists, err := tx.Thumbnail.Query().Where(thumbnail.EntryID(e.ID)).Exist(ctx); err != nil || exists {
		return exists, err // recorded meanwhile: it keeps its empty reason
	}
	if shot == nil {
		if err := tx.Commit(); err != nil {
			return false, fmt.Errorf("record missing thumbnail: %w", err)
		}
		in.observePicture(ctx, e, reason)
		return false, nil
	}
	if err := saveShot(ctx, tx, e, shot); err != nil {
		if ent.IsConstraintError(err) {
			return true, nil // recorded by another writer (thumbnails.entry_id is unique)
		}
		return false, err
	}
	id, err := in.appendEvents(ctx, tx, eventOf{e, event.TypeTHUMBNAIL})
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return false, err
	}
	in.publish(ctx, id)
	in.observePicture(ctx, e, "")
	return true, nil
}

// SettlePending takes again the pictures of entries left PENDING by a
// process that stopped before its late capture ended (the late capture
// runs in memory, after the commit): entries received before before,
// at most limit of them, oldest first. Each ends with its picture or a
// final reason (the recorder's buffer may no longer reach back:
// BUFFER_PASSED). Entries of CLOUD cameras are left to the cloud's own
// sweeper (camcloud/pictures), which asks the cloud from one replica per
// connection. It returns how many entries it settled.
func (in *Ingester) SettlePending(ctx context.Context, before time.Time, limit int) (int, error) {
	if in.Thumbnails == nil {
		return 0, nil
	}
	ctx = viewer.System(ctx)
	ids, err := in.client.JournalEntry.Query().Where(
		journalentry.ThumbnailReason(Reason(ReasonPending, "")), journalentry.ReceivedAtLT(before.UTC()),
		journalentry.HasCameraWith(camera.Or(camera.SourceKindIsNil(), camera.SourceKindNEQ(camera.SourceKindCLOUD)))).
		Order(ent.Asc(journalentry.FieldReceivedAt)).Limit(limit).IDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("pending pictures: %w", err)
	}
	n := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if _, err := in.RetakeThumbnail(ctx, id); err != nil {
			in.log.Warn("settle pending picture", "entry", id, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

// WaitLate blocks until pictures still being taken for committed entries
// are recorded (shutdown and tests).
func (in *Ingester) WaitLate() { in.late.Wait() }
