package footage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/account"
	"github.com/regicam/regicam/ent/investigation"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/ent/sharelink"
	"github.com/regicam/regicam/pulid"
)

// sweepPage is how many segments one query of a sweep reads.
const sweepPage = 500

func (s *Service) runRetention(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("recording retention", "err", err)
		} else if n > 0 {
			s.log.Info("recording retention: segments deleted", "segments", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep deletes the segments past Retention, then the oldest ones while
// all segments together use more than Budget — whichever comes first —
// except segments still being written and those a hold keeps: the clip of
// an active share link (not expired, not revoked), or of a receipt in an
// OPEN or INVESTIGATING case (its second with the account's lead-in and
// lead-out). The file goes first, then its row, so a row never points at
// a file that was never there. It returns how many segments went.
func (s *Service) Sweep(ctx context.Context, now time.Time) (int, error) {
	holds, err := s.holds(ctx, now)
	if err != nil {
		return 0, err
	}
	deleted := 0
	// By age: every segment that ended before the cut and is not held.
	cut := now.Add(-s.cfg.Retention)
	var after *ent.RecordingSegment
	for {
		q := s.client.RecordingSegment.Query().Where(recordingsegment.EndAtLT(cut),
			recordingsegment.StateNEQ(recordingsegment.StateWRITING))
		page, err := pageAfter(q, after).All(ctx)
		if err != nil {
			return deleted, fmt.Errorf("old segments: %w", err)
		}
		for _, seg := range page {
			if holds.keeps(seg) {
				continue
			}
			if err := s.remove(ctx, seg); err != nil {
				return deleted, err
			}
			deleted++
		}
		if len(page) < sweepPage {
			break
		}
		after = page[len(page)-1]
	}
	// By budget: the oldest first until the rest fits. What a share link or
	// an open case holds goes last, but it goes: the budget is a promise
	// about the disk every account shares, and holds are created by users
	// (one account's thousand links must not stop everyone's recording).
	used, err := s.sumBytes(ctx, s.client.RecordingSegment.Query())
	if err != nil {
		return deleted, err
	}
	for _, spareHeld := range []bool{true, false} {
		if used <= s.cfg.Budget {
			break
		}
		n, left, err := s.evictOldest(ctx, used, func(seg *ent.RecordingSegment) bool { return spareHeld && holds.keeps(seg) })
		deleted += n
		used = left
		if err != nil {
			return deleted, err
		}
		if !spareHeld && n > 0 {
			s.log.Warn("recording budget: held clips deleted (share links and open cases hold more than --recording-budget)", "deleted", n)
		}
	}
	return deleted, nil
}

// evictOldest deletes finished segments oldest first, except those spare
// keeps, until used fits the budget; it returns how many went and the
// bytes left.
func (s *Service) evictOldest(ctx context.Context, used int64, spare func(*ent.RecordingSegment) bool) (int, int64, error) {
	deleted := 0
	var after *ent.RecordingSegment
	for used > s.cfg.Budget {
		q := s.client.RecordingSegment.Query().Where(recordingsegment.StateNEQ(recordingsegment.StateWRITING))
		page, err := pageAfter(q, after).All(ctx)
		if err != nil {
			return deleted, used, fmt.Errorf("oldest segments: %w", err)
		}
		for _, seg := range page {
			if used <= s.cfg.Budget {
				break
			}
			if spare(seg) {
				continue
			}
			if err := s.remove(ctx, seg); err != nil {
				return deleted, used, err
			}
			used -= seg.Bytes
			deleted++
		}
		if len(page) < sweepPage {
			break
		}
		after = page[len(page)-1]
	}
	return deleted, used, nil
}

// pageAfter reads the next page, oldest first, after the last one read.
func pageAfter(q *ent.RecordingSegmentQuery, after *ent.RecordingSegment) *ent.RecordingSegmentQuery {
	if after != nil {
		q = q.Where(recordingsegment.Or(recordingsegment.StartAtGT(after.StartAt),
			recordingsegment.And(recordingsegment.StartAt(after.StartAt), recordingsegment.IDGT(after.ID))))
	}
	return q.Order(ent.Asc(recordingsegment.FieldStartAt), ent.Asc(recordingsegment.FieldID)).Limit(sweepPage)
}

func (s *Service) remove(ctx context.Context, seg *ent.RecordingSegment) error {
	rel := filepath.FromSlash(seg.Path)
	if filepath.IsLocal(rel) {
		if err := os.Remove(filepath.Join(s.cfg.Dir, rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete segment file %s: %w", seg.ID, err)
		}
	}
	if err := s.client.RecordingSegment.DeleteOneID(seg.ID).Exec(ctx); err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("delete segment %s: %w", seg.ID, err)
	}
	return nil
}

func (s *Service) sumBytes(ctx context.Context, q *ent.RecordingSegmentQuery) (int64, error) {
	var v []struct {
		Sum *int64 `json:"sum"`
	}
	if err := q.Aggregate(ent.Sum(recordingsegment.FieldBytes)).Scan(ctx, &v); err != nil {
		return 0, fmt.Errorf("sum segment bytes: %w", err)
	}
	if len(v) == 0 || v[0].Sum == nil {
		return 0, nil
	}
	return *v[0].Sum, nil
}

// holdSet is, per camera, the spans retention keeps.
type holdSet map[pulid.ID][]Span

func (h holdSet) keeps(seg *ent.RecordingSegment) bool {
	for _, sp := range h[seg.CameraID] {
		if seg.StartAt.Before(sp.To) && sp.From.Before(seg.EndAt) || seg.StartAt.Equal(sp.From) {
			return true
		}
	}
	return false
}

// holds are the spans an active share link or an open case keeps.
func (s *Service) holds(ctx context.Context, now time.Time) (holdSet, error) {
	h := holdSet{}
	links, err := s.client.ShareLink.Query().Where(sharelink.RevokedAtIsNil(), sharelink.ExpiresAtGT(now)).
		Select(sharelink.FieldCameraID, sharelink.FieldClipFrom, sharelink.FieldClipTo).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("share links: %w", err)
	}
	for _, l := range links {
		h[l.CameraID] = append(h[l.CameraID], Span{From: l.ClipFrom, To: l.ClipTo})
	}
	entries, err := s.client.Investigation.Query().
		Where(investigation.StatusIn(investigation.StatusOPEN, investigation.StatusINVESTIGATING)).
		QueryEntries().Where(journalentry.CameraIDNotNil()).
		Select(journalentry.FieldAccountID, journalentry.FieldCameraID, journalentry.FieldOccurredAt, journalentry.FieldCorrectedAt).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("case entries: %w", err)
	}
	leads := map[pulid.ID][2]time.Duration{}
	for _, e := range entries {
		lead, ok := leads[e.AccountID]
		if !ok {
			a, err := s.client.Account.Query().Where(account.ID(e.AccountID)).
				Select(account.FieldClipLeadInSeconds, account.FieldClipLeadOutSeconds).Only(ctx)
			if err != nil {
				return nil, fmt.Errorf("account clip lead: %w", err)
			}
			lead = [2]time.Duration{time.Duration(a.ClipLeadInSeconds) * time.Second, time.Duration(a.ClipLeadOutSeconds) * time.Second}
			leads[e.AccountID] = lead
		}
		// The clip is cut around the corrected second when there is one;
		// keeping both covers either.
		from, to := e.OccurredAt, e.OccurredAt
		if c := e.CorrectedAt; c != nil {
			from, to = minTime(from, *c), maxTime(to, *c)
		}
		h[*e.CameraID] = append(h[*e.CameraID], Span{From: from.Add(-lead[0]), To: to.Add(lead[1])})
	}
	return h, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
