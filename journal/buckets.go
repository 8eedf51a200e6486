package journal

import (
	"context"
	"fmt"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pulid"
)

// Limits of one timelineBuckets call.
const (
	MaxBuckets     = 2000
	MaxBucketRange = 31 * 24 * time.Hour
	autoBuckets    = 360
)

// BucketWidths are the widths a caller may ask for, narrowest first.
var BucketWidths = []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}

// Bucket counts entries per kind within [Start, Start+width).
type Bucket struct {
	Start                                  time.Time
	Payment, Cancel, Modify, Delete, Other int
}

// Total is the number of entries in b.
func (b Bucket) Total() int { return b.Payment + b.Cancel + b.Modify + b.Delete + b.Other }

// Buckets returns the per-kind counts of one camera between from and to,
// in buckets of width (0: the narrowest width giving at most 360 full
// buckets, plus a partial one when from is not aligned).
// Buckets are aligned to multiples of width since the Unix epoch, so the
// bars do not shift as the window slides.
func Buckets(ctx context.Context, client *ent.Client, accountID, cameraID pulid.ID, from, to time.Time, width time.Duration) ([]Bucket, error) {
	if !to.After(from) {
		return nil, apperr.Invalid("from", "開始日時は終了日時より前にしてください (from must be before to)").Because(apperr.RANGE_REVERSED)
	}
	if to.Sub(from) > MaxBucketRange {
		return nil, apperr.Invalid("to", "期間は 31 日以内にしてください (range is limited to 31 days)").Because(apperr.RANGE_TOO_LONG)
	}
	if width == 0 {
		width = BucketWidths[len(BucketWidths)-1]
		for _, w := range BucketWidths {
			if to.Sub(from)/w <= autoBuckets {
				width = w
				break
			}
		}
	}
	from, to = from.UTC().Truncate(width), to.UTC()
	n := int((to.Sub(from) + width - 1) / width)
	if n > MaxBuckets {
		return nil, apperr.Invalid("bucket", "バケット数が多すぎます: 幅を広げるか期間を短くしてください (%d buckets, at most %d)", n, MaxBuckets).Because(apperr.RANGE_TOO_LONG)
	}
	exists, err := client.Camera.Query().Where(camera.ID(cameraID), camera.AccountID(accountID)).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("find camera: %w", err)
	}
	if !exists {
		return nil, apperr.Missing("cameraID", "カメラが見つかりません (no such camera): %s", cameraID).Because(apperr.NOT_FOUND)
	}
	var rows []struct {
		OccurredAt time.Time         `json:"occurred_at"`
		Kind       journalentry.Kind `json:"kind"`
	}
	// Reading (occurred_at, kind) is an index-only range scan on the camera
	// timeline index; bucketing in Go keeps one code path for both
	// databases, whose date arithmetic differs. Bars are whole: the last
	// one counts its full width even past `to`.
	end := from.Add(time.Duration(n) * width)
	err = client.JournalEntry.Query().
		Where(journalentry.AccountID(accountID), journalentry.CameraID(cameraID),
			journalentry.OccurredAtGTE(from), journalentry.OccurredAtLT(end)).
		Select(journalentry.FieldOccurredAt, journalentry.FieldKind).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("count timeline: %w", err)
	}
	out := make([]Bucket, n)
	for i := range out {
		out[i].Start = from.Add(time.Duration(i) * width)
	}
	for _, r := range rows {
		i := int(r.OccurredAt.Sub(from) / width)
		if i < 0 || i >= n {
			continue
		}
		switch r.Kind {
		case journalentry.KindPAYMENT:
			out[i].Payment++
		case journalentry.KindCANCEL:
			out[i].Cancel++
		case journalentry.KindMODIFY:
			out[i].Modify++
		case journalentry.KindDELETE:
			out[i].Delete++
		default:
			out[i].Other++
		}
	}
	return out, nil
}
