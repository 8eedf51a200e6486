package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/thumbnail"
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

func saveShot(ctx context.Context, tx *ent.Tx, e *ent.JournalEntry, s *Shot) error {
	skew := s.CapturedAt.Sub(s.RequestedAt).Milliseconds()
	err := tx.Thumbnail.Create().
		SetAccountID(e.AccountID).SetEntryID(e.ID).SetCameraID(s.CameraID).
		SetRequestedAt(normTime(s.RequestedAt)).SetCapturedAt(normTime(s.CapturedAt)).SetSkewMs(skew).
		SetWidth(s.Width).SetHeight(s.Height).SetBytes(s.Bytes).SetContentType("image/jpeg").
		SetStorageKey(s.Key).SetSha256(s.SHA256).Exec(ctx)
	if err != nil {
		return fmt.Errorf("insert thumbnail: %w", err)
	}
	return nil
}

// lateThumbnail finishes an entry committed before its picture was ready:
// the thumbnail row and a THUMBNAIL event land together, so subscribers
// learn of the picture exactly once.
func (in *Ingester) lateThumbnail(ctx context.Context, e *ent.JournalEntry) {
	shot, reason := in.Thumbnails.CaptureLate(ctx, e.AccountID, e.ID, *e.CameraID, e.OccurredAt)
	tx, err := in.client.Tx(ctx)
	if err != nil {
		in.log.Warn("late thumbnail", "entry", e.ID, "err", err)
		return
	}
	defer func() { _ = tx.Rollback() }()
	if shot == nil {
		if err := tx.JournalEntry.UpdateOneID(e.ID).SetThumbnailReason(reason).Exec(ctx); err == nil {
			err = tx.Commit()
		}
		if err != nil {
			in.log.Warn("record missing thumbnail", "entry", e.ID, "err", err)
		}
		return
	}
	if exists, _ := tx.Thumbnail.Query().Where(thumbnail.EntryID(e.ID)).Exist(ctx); exists {
		return
	}
	if err := saveShot(ctx, tx, e, shot); err != nil {
		in.log.Warn("late thumbnail", "entry", e.ID, "err", err)
		return
	}
	if err := tx.JournalEntry.UpdateOneID(e.ID).SetThumbnailReason("").Exec(ctx); err != nil {
		in.log.Warn("late thumbnail", "entry", e.ID, "err", err)
		return
	}
	id, err := in.appendEvents(ctx, tx, eventOf{e, event.TypeTHUMBNAIL})
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		in.log.Warn("late thumbnail", "entry", e.ID, "err", err)
		return
	}
	in.publish(ctx, id)
}

// WaitLate blocks until pictures still being taken for committed entries
// are recorded (shutdown and tests).
func (in *Ingester) WaitLate() { in.late.Wait() }
