package footage

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/pulid"
)

// Span is a stretch of time, [From, To].
type Span struct{ From, To time.Time }

// Segments are the segments of a camera overlapping [from, to], oldest
// first, read as the viewer in ctx (another account's camera reads as not
// found). Segments still being written are included; their end_at is a
// few seconds behind. CORRUPT segments are left out.
func (s *Service) Segments(ctx context.Context, cameraID pulid.ID, from, to time.Time) ([]*ent.RecordingSegment, error) {
	if _, err := s.client.Camera.Query().Where(entcamera.ID(cameraID)).OnlyID(ctx); err != nil {
		return nil, err
	}
	segs, err := s.client.RecordingSegment.Query().Where(recordingsegment.CameraID(cameraID),
		recordingsegment.StartAtLTE(to), recordingsegment.EndAtGTE(from),
		recordingsegment.StateNEQ(recordingsegment.StateCORRUPT)).
		Order(ent.Asc(recordingsegment.FieldStartAt), ent.Asc(recordingsegment.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("recording segments: %w", err)
	}
	return segs, nil
}

// Spans are the recorded stretches of a camera within [from, to]
// (segments closer than joinGap joined, clipped to the window) and the gaps between them, read as the viewer in ctx.
func (s *Service) Spans(ctx context.Context, cameraID pulid.ID, from, to time.Time) (spans, gaps []Span, err error) {
	segs, err := s.Segments(ctx, cameraID, from, to)
	if err != nil {
		return nil, nil, err
	}
	for _, sg := range segs {
		a, b := maxTime(sg.StartAt, from), minTime(sg.EndAt, to)
		if b.Before(a) {
			continue
		}
		if k := len(spans); k > 0 && !a.After(spans[k-1].To.Add(s.joinGap())) {
			spans[k-1].To = maxTime(spans[k-1].To, b)
			continue
		}
		spans = append(spans, Span{From: a, To: b})
	}
	at := from
	for _, sp := range spans {
		if sp.From.After(at) {
			gaps = append(gaps, Span{From: at, To: sp.From})
		}
		at = maxTime(at, sp.To)
	}
	if at.Before(to) {
		gaps = append(gaps, Span{From: at, To: to})
	}
	return spans, gaps, nil
}

// Status is a camera's disk recording as the owner sees it.
type Status struct {
	// State: RECORDING, STARTING, OFFLINE, AUTH_FAILED, DISK_FULL, ERROR, or
	// OFF (not recorded: no source, a CLOUD or retired camera, or no
	// recording server holds it).
	State  string
	Reason string
	Since  time.Time
	// Bytes the camera's segments use, and how far they reach.
	Bytes          int64
	Oldest, Newest time.Time
}

const reasonNoRecorder = "このカメラを録画しているサーバーがありません（no recording server; started with --record=false?）"

// Status reads a camera's recording status as the viewer in ctx.
func (s *Service) Status(ctx context.Context, cameraID pulid.ID) (Status, error) {
	c, err := s.client.Camera.Get(ctx, cameraID)
	if err != nil {
		return Status{}, err
	}
	st := Status{State: c.RecordingState, Reason: c.RecordingReason}
	if c.RecordingSince != nil {
		st.Since = *c.RecordingSince
	}
	switch {
	case c.SourceKind == nil || *c.SourceKind == entcamera.SourceKindCLOUD || c.RetiredAt != nil || !c.PosOption:
		st = Status{State: StateOff}
	case c.RecordLeaseUntil == nil || c.RecordLeaseUntil.Before(time.Now()):
		// Nobody holds the camera: whatever the last holder wrote is over.
		st = Status{State: StateOff, Reason: reasonNoRecorder}
		if c.RecordLeaseUntil != nil {
			st.Since = *c.RecordLeaseUntil
		}
	case st.State == "":
		st.State = StateStarting
	}
	q := s.client.RecordingSegment.Query().Where(recordingsegment.CameraID(cameraID))
	if st.Bytes, err = s.sumBytes(ctx, q.Clone()); err != nil {
		return Status{}, err
	}
	if first, err := q.Clone().Order(ent.Asc(recordingsegment.FieldStartAt)).First(ctx); err == nil {
		st.Oldest = first.StartAt
	} else if !ent.IsNotFound(err) {
		return Status{}, err
	}
	if last, err := q.Clone().Order(ent.Desc(recordingsegment.FieldEndAt)).First(ctx); err == nil {
		st.Newest = last.EndAt
	} else if !ent.IsNotFound(err) {
		return Status{}, err
	}
	return st, nil
}

// UsedBytes is what an account's recordings use on disk (the segments the
// viewer in ctx sees).
func (s *Service) UsedBytes(ctx context.Context, accountID pulid.ID) (int64, error) {
	return s.sumBytes(ctx, s.client.RecordingSegment.Query().Where(recordingsegment.AccountID(accountID)))
}

// diskFree is the space left to an unprivileged writer under dir.
func diskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
