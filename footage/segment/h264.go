package segment

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/pkg/formats/fmp4/seekablebuffer"

	"github.com/regicam/regicam/ent/schema/schematype"
)

const (
	// Timescale is the media clock of FMP4_H264 files, RTP's own for video.
	Timescale = 90000
	// maxFragment closes a fragment of a long GOP after a second, bounding
	// what a crash loses and what a writer holds in memory.
	maxFragment = time.Second
	// maxFragmentBytes bounds one fragment's memory whatever the bitrate.
	maxFragmentBytes = 32 << 20
	// defaultFrame is the last frame's duration when nothing says it.
	defaultFrame = time.Second / 15
)

// H264Writer writes a camera's H.264 access units into a FMP4_H264 file.
// It is not safe for concurrent use.
type H264Writer struct {
	w      io.Writer
	start  time.Time
	sps    []byte
	pps    []byte
	codec  string
	width  int
	height int

	off       int64
	seq       uint32
	keyframes []schematype.Keyframe
	frames    int

	// The access unit whose duration is not known until the next one comes.
	pending    *fmp4.PartSample
	pendingAt  int64 // its decode time, ticks from start
	pendingKey bool
	lastDur    uint32
	started    bool // an IDR has come

	frag      []*fmp4.PartSample
	fragBase  int64
	fragKey   bool
	fragBytes int
	end       int64 // decode time past the last sample written or pending
	closed    bool
	buf       seekablebuffer.Buffer
}

// NewH264Writer writes the init segment (ftyp + moov) for a stream with
// these parameter sets; start is the segment's start_at, the zero of its
// media time (the wall-clock time of its first access unit, or earlier).
func NewH264Writer(w io.Writer, start time.Time, sps, pps []byte) (*H264Writer, error) {
	if len(sps) < 4 || len(pps) == 0 {
		return nil, fmt.Errorf("segment: no SPS/PPS")
	}
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("segment: parse SPS: %w", err)
	}
	hw := &H264Writer{
		w:      w,
		start:  start,
		sps:    bytes.Clone(sps),
		pps:    bytes.Clone(pps),
		codec:  fmt.Sprintf("avc1.%02x%02x%02x", sps[1], sps[2], sps[3]),
		width:  s.Width(),
		height: s.Height(),
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{
		ID:        1,
		TimeScale: Timescale,
		Codec:     &fmp4.CodecH264{SPS: hw.sps, PPS: hw.pps},
	}}}
	if err := init.Marshal(&hw.buf); err != nil {
		return nil, fmt.Errorf("segment: init: %w", err)
	}
	if err := hw.flushBuf(); err != nil {
		return nil, err
	}
	return hw, nil
}

func (w *H264Writer) flushBuf() error {
	b := w.buf.Bytes()
	n, err := w.w.Write(b)
	w.off += int64(n)
	w.buf = seekablebuffer.Buffer{}
	if err != nil {
		return fmt.Errorf("segment: write: %w", err)
	}
	return nil
}

// WriteAccessUnit adds one access unit (its NAL units, without start codes)
// taken at the wall-clock time at. Access units before the first IDR are
// dropped (they cannot be decoded); one that carries another SPS or PPS
// than the segment's is refused with ErrParamsChanged. Times that go
// backwards are moved one tick past the previous frame so the file stays
// playable.
func (w *H264Writer) WriteAccessUnit(at time.Time, au [][]byte) error {
	if w.closed {
		return fmt.Errorf("segment: write after close")
	}
	if len(au) == 0 {
		return nil
	}
	key := false
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeIDR:
			key = true
		case h264.NALUTypeSPS:
			if !bytes.Equal(n, w.sps) {
				return ErrParamsChanged
			}
		case h264.NALUTypePPS:
			if !bytes.Equal(n, w.pps) {
				return ErrParamsChanged
			}
		}
	}
	if !w.started {
		if !key {
			return nil
		}
		w.started = true
	}
	avcc, err := h264.AVCC(au).Marshal()
	if err != nil {
		return fmt.Errorf("segment: access unit: %w", err)
	}
	t := int64(at.Sub(w.start)) * Timescale / int64(time.Second)
	if t < 0 {
		t = 0
	}
	if w.pending != nil {
		if t <= w.pendingAt {
			t = w.pendingAt + 1
		}
		w.pending.Duration = uint32(t - w.pendingAt)
		w.lastDur = w.pending.Duration
		if err := w.addPending(); err != nil {
			return err
		}
	}
	// A new fragment at every IDR, and after a second of a long GOP.
	if len(w.frag) > 0 && (key || t-w.fragBase >= int64(maxFragment)*Timescale/int64(time.Second) || w.fragBytes >= maxFragmentBytes) {
		if err := w.flushFragment(); err != nil {
			return err
		}
	}
	w.pending = &fmp4.PartSample{IsNonSyncSample: !key, Payload: avcc}
	w.pendingAt = t
	w.pendingKey = key
	w.frames++
	return nil
}

func (w *H264Writer) addPending() error {
	if len(w.frag) == 0 {
		w.fragBase = w.pendingAt
		w.fragKey = w.pendingKey
	}
	w.frag = append(w.frag, w.pending)
	w.fragBytes += len(w.pending.Payload)
	w.end = w.pendingAt + int64(w.pending.Duration)
	w.pending = nil
	return nil
}

func (w *H264Writer) flushFragment() error {
	if len(w.frag) == 0 {
		return nil
	}
	w.seq++
	part := fmp4.Part{SequenceNumber: w.seq, Tracks: []*fmp4.PartTrack{{
		ID:       1,
		BaseTime: uint64(w.fragBase),
		Samples:  w.frag,
	}}}
	if err := part.Marshal(&w.buf); err != nil {
		return fmt.Errorf("segment: fragment: %w", err)
	}
	fragOff := w.off
	if err := w.flushBuf(); err != nil {
		return err
	}
	if w.fragKey {
		w.keyframes = append(w.keyframes, schematype.Keyframe{
			At:     w.fragBase * 1000 / Timescale,
			Offset: fragOff,
		})
	}
	w.frag = w.frag[:0]
	w.fragBytes = 0
	return nil
}

// Close writes the last fragment; the last frame lasts as long as the one
// before it. It does not close the underlying writer.
func (w *H264Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.pending != nil {
		d := w.lastDur
		if d == 0 {
			d = uint32(int64(defaultFrame) * Timescale / int64(time.Second))
		}
		w.pending.Duration = d
		if err := w.addPending(); err != nil {
			return err
		}
	}
	return w.flushFragment()
}

// Keyframes are the fragments written so far that begin with an IDR: ms
// from start and the fragment's byte offset.
func (w *H264Writer) Keyframes() []schematype.Keyframe {
	return append([]schematype.Keyframe(nil), w.keyframes...)
}

// Bytes is the size of what has been written to the file.
func (w *H264Writer) Bytes() int64 { return w.off }

// Frames is the number of access units taken (written or about to be).
func (w *H264Writer) Frames() int { return w.frames }

// Codec is the RFC 6381 codec string for MSE, avc1.PPCCLL.
func (w *H264Writer) Codec() string { return w.codec }

// Size is the picture's size from the SPS.
func (w *H264Writer) Size() (width, height int) { return w.width, w.height }

// End is the wall-clock end of the last frame in a fragment on disk (start
// when there is none yet).
func (w *H264Writer) End() time.Time {
	return w.start.Add(time.Duration(w.flushedEnd() * int64(time.Second) / Timescale))
}

func (w *H264Writer) flushedEnd() int64 {
	if len(w.frag) > 0 {
		return w.fragBase
	}
	return w.end
}
