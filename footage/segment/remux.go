package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/pkg/formats/fmp4"
)

// Source is one FMP4_H264 segment file as Remux reads it: the file, its
// size and its start_at (media time zero).
type Source struct {
	R     io.ReaderAt
	Size  int64
	Start time.Time
}

// Remux writes one playable fragmented MP4 covering [from, to] out of
// consecutive segments of one camera (in order of start): the first
// segment's init, then every fragment from the last keyframe at or before
// from (the first one after it when from precedes the recording) up to the
// one that contains to. Fragments are copied; only their sequence numbers
// and base decode times change, rebased so the output's media time zero is
// its first keyframe, which Remux returns (the player places the receipt's
// mark at mark − start). A gap between segments stays a gap in media time.
// The output stops before a segment whose picture parameters (SPS/PPS) or
// timescale differ, since one file has one init; a truncated or corrupt
// segment contributes its good fragments. ErrNoRecording when nothing of
// the span is recorded. Memory is bounded by one fragment.
func Remux(w io.Writer, src []Source, from, to time.Time) (start time.Time, err error) {
	if to.Before(from) {
		return time.Time{}, fmt.Errorf("segment: remux to %v before from %v", to, from)
	}
	type picked struct {
		src int
		f   fragment
	}
	var (
		inits  = make([][]byte, len(src))
		scales = make([]uint32, len(src))
		all    []picked
		first  = -1 // index in all of the starting keyframe
	)
	for i, s := range src {
		init, ts, frags, err := readFMP4(s.R, s.Size, s.Start)
		if init == nil {
			if errors.Is(err, ErrTruncated) || errors.Is(err, ErrCorrupt) {
				continue // an unreadable segment is skipped
			}
			return time.Time{}, err
		}
		if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
			return time.Time{}, err
		}
		inits[i], scales[i] = init, ts
		for _, f := range frags {
			if f.Start.After(to) {
				break
			}
			all = append(all, picked{i, f})
			if f.Key && (!f.Start.After(from) || first < 0) {
				first = len(all) - 1
			}
		}
	}
	if first < 0 {
		return time.Time{}, ErrNoRecording
	}
	// The last keyframe at or before from was kept; one that starts
	// after from was kept only when none precedes it. Nothing before the
	// start is written.
	all = all[first:]
	covered := false
	for _, p := range all {
		covered = covered || p.f.End.After(from)
	}
	if !covered {
		return time.Time{}, ErrNoRecording
	}
	start = all[0].f.Start
	si := all[0].src
	init, ts := inits[si], scales[si]
	params, err := initParams(init)
	if err != nil {
		return time.Time{}, err
	}
	if _, err := w.Write(init); err != nil {
		return time.Time{}, fmt.Errorf("segment: write init: %w", err)
	}
	var (
		seq      uint32
		nextBase int64 = 0
		buf      []byte
		curSrc   = -1
		delta    int64
	)
	for _, p := range all {
		if p.src != curSrc {
			if p.src != si {
				if scales[p.src] != ts {
					break
				}
				pp, err := initParams(inits[p.src])
				if err != nil || !bytes.Equal(pp, params) {
					break
				}
			}
			curSrc = p.src
			// Exact within a segment (tfdt moves by whole ticks) and zero
			// at the first keyframe; between segments their starts' distance,
			// rounded to a tick.
			d := src[p.src].Start.Sub(src[si].Start)
			delta = (int64(d)*int64(ts)+int64(time.Second)/2)/int64(time.Second) - int64(all[0].f.base)
		}
		base := int64(p.f.base) + delta
		if base < nextBase {
			continue // overlaps what was written (a clock step): skip it
		}
		if int64(cap(buf)) < p.f.Len {
			buf = make([]byte, p.f.Len)
		}
		b := buf[:p.f.Len]
		if _, err := src[p.src].R.ReadAt(b, p.f.Offset); err != nil {
			return start, fmt.Errorf("segment: read fragment: %w", err)
		}
		seq++
		binary.BigEndian.PutUint32(b[p.f.seqAt:], seq)
		if p.f.tfdtV1 {
			binary.BigEndian.PutUint64(b[p.f.tfdtAt:], uint64(base))
		} else {
			if base > 1<<32-1 {
				break
			}
			binary.BigEndian.PutUint32(b[p.f.tfdtAt:], uint32(base))
		}
		if _, err := w.Write(b); err != nil {
			return start, fmt.Errorf("segment: write fragment: %w", err)
		}
		nextBase = base + p.f.dur
		if !p.f.End.Before(to) {
			break
		}
	}
	return start, nil
}

// initParams is the SPS and PPS of an init segment, what must match for
// two segments to share one output.
func initParams(init []byte) ([]byte, error) {
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(init)); err != nil {
		return nil, fmt.Errorf("%w: init: %v", ErrCorrupt, err)
	}
	c, ok := in.Tracks[0].Codec.(*fmp4.CodecH264)
	if !ok {
		return nil, fmt.Errorf("%w: not H.264", ErrCorrupt)
	}
	return append(append(append([]byte(nil), c.SPS...), 0), c.PPS...), nil
}
