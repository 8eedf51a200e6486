package pictures

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/pulid"
)

// MaxRecordingsRange is the longest window Recordings answers.
const MaxRecordingsRange = 72 * time.Hour

// Sources of Recordings.
const (
	SourceCloud = "CLOUD" // the cloud's recorded spans
	SourceNone  = "NONE"  // the camera's recording is not known as spans
)

// Span is a stretch of time, [From, To).
type Span struct{ From, To time.Time }

// Recordings is what a camera recorded in a window: Spans, and Gaps
// between them within the part of the window that can be known (not
// before the cloud's retention, not the last minute, which the cloud may
// not have yet). Message says why part of the window is left out.
type Recordings struct {
	Source  string
	Spans   []Span
	Gaps    []Span
	Message string
}

// mergeSlack joins spans closer than this: the cloud cuts its recording
// into files whose edges need not meet to the millisecond.
const mergeSlack = time.Second

// Recordings answers Camera.recordings(from, to) for the viewer in ctx:
// a CLOUD camera's recorded spans and gaps from the cloud (Media, per day,
// each day reused for Options.RecordingsTTL); any other camera: Source
// NONE. The window is at most MaxRecordingsRange.
func (s *Service) Recordings(ctx context.Context, cameraID pulid.ID, from, to time.Time) (Recordings, error) {
	if !from.Before(to) {
		return Recordings{}, apperr.Invalid("to", "終了日時は開始日時より後にしてください (to must be after from)").Because(apperr.RANGE_REVERSED)
	}
	if to.Sub(from) > MaxRecordingsRange {
		return Recordings{}, apperr.Invalid("to", "録画の範囲は72時間以内で指定してください (at most 72 hours)").Because(apperr.RECORDINGS_RANGE)
	}
	ref, err := s.cloud.Camera(ctx, cameraID)
	if errors.Is(err, camcloud.ErrNotCloud) {
		return Recordings{Source: SourceNone, Spans: []Span{}, Gaps: []Span{}}, nil
	}
	if err != nil {
		return Recordings{}, err
	}
	now := s.opt.Now()
	days, keep := retention(ref)
	out := Recordings{Source: SourceCloud, Spans: []Span{}, Gaps: []Span{}}
	start, end := from, to
	if oldest := now.Add(-keep); start.Before(oldest) {
		start = oldest
		out.Message = fmt.Sprintf("保存期間（%d日）より前は表示できません", days)
	}
	if latest := now.Add(-time.Minute); end.After(latest) {
		end = latest
	}
	if !start.Before(end) {
		return out, nil
	}
	var raw []safie.Span
	known := end
	for day := start.UTC().Truncate(24 * time.Hour); day.Before(end); day = day.Add(24 * time.Hour) {
		last := !day.Add(24 * time.Hour).Before(end)
		need := Span{From: maxTime(start, day), To: minTime(end, day.Add(24*time.Hour))}
		d, err := s.day(ctx, ref, day, need, last, now, keep)
		if err != nil {
			if !notKept(err) {
				s.log.Warn("cloud recordings", "camera", cameraID, "err", err)
			}
			return Recordings{}, userError(err)
		}
		raw = append(raw, d.spans...)
		if last && d.to.Before(known) {
			// Reused from up to a TTL ago: its newest seconds are unknown,
			// not a gap.
			known = d.to
		}
	}
	out.Spans, out.Gaps = spansAndGaps(raw, start, known)
	return out, nil
}

type dayKey struct {
	camera pulid.ID
	day    time.Time
}

// daySpans is what the cloud said of one UTC day of a device, asked for
// [from, to).
type daySpans struct {
	from, to time.Time
	spans    []safie.Span
}

// day returns the device's recorded spans in one UTC day. A kept answer
// serves when it covers what is needed; the last day of a window may be
// up to a TTL behind (known is clipped to it).
func (s *Service) day(ctx context.Context, ref camcloud.CameraRef, day time.Time, need Span, last bool, now time.Time, keep time.Duration) (daySpans, error) {
	usable := func(d daySpans) bool {
		return !d.from.After(need.From) && (last || !d.to.Before(need.To))
	}
	return s.media.get(ctx, dayKey{ref.CameraID, day}, s.opt.Now, s.opt.RecordingsTTL, 5*time.Second, usable,
		func(ctx context.Context) (daySpans, error) {
			d := daySpans{from: maxTime(day, now.Add(-keep)), to: minTime(day.Add(24*time.Hour), now.Add(-time.Minute))}
			ask := d.from
			if d.to.Sub(ask) < time.Minute {
				ask = d.to.Add(-time.Minute) // the API's shortest range; the extra is clipped
			}
			if err := s.calls.take(ctx, s.opt.Now()); err != nil {
				return daySpans{}, err
			}
			c, err := s.cloud.Client(ctx, ref.ConnectionID)
			if err != nil {
				return daySpans{}, err
			}
			d.spans, err = c.Media(ctx, ref.DeviceID, ask, d.to)
			return d, err
		})
}

// spansAndGaps merges raw spans, clipped to [from, to), and lists the
// stretches between them.
func spansAndGaps(raw []safie.Span, from, to time.Time) (spans, gaps []Span) {
	spans, gaps = []Span{}, []Span{}
	if !from.Before(to) {
		return spans, gaps
	}
	sorted := slices.Clone(raw)
	slices.SortFunc(sorted, func(a, b safie.Span) int { return a.Start.Compare(b.Start) })
	for _, r := range sorted {
		sp := Span{From: maxTime(r.Start, from), To: minTime(r.End(), to)}
		if !sp.From.Before(sp.To) {
			continue
		}
		if n := len(spans); n > 0 && !sp.From.After(spans[n-1].To.Add(mergeSlack)) {
			spans[n-1].To = maxTime(spans[n-1].To, sp.To)
			continue
		}
		spans = append(spans, sp)
	}
	at := from
	for _, sp := range spans {
		if sp.From.Sub(at) > mergeSlack {
			gaps = append(gaps, Span{From: at, To: sp.From})
		}
		at = maxTime(at, sp.To)
	}
	if to.Sub(at) > mergeSlack {
		gaps = append(gaps, Span{From: at, To: to})
	}
	return spans, gaps
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
