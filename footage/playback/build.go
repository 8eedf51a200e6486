package playback

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/recordingsegment"
	"github.com/regicam/regicam/footage/ffmpeg"
	"github.com/regicam/regicam/footage/segment"
)

// ZIPNameLayout names each JPEG of a ZIP download: its capture time,
// RFC 3339 with milliseconds, in UTC.
const ZIPNameLayout = "2006-01-02T15:04:05.000Z07:00"

// build makes the answer of q from the segments of pl.
func (p *Player) build(ctx context.Context, q Request, pl plan) (*cached, error) {
	out := &cached{skipped: pl.skipped}
	var err error
	switch {
	case pl.kind == recordingsegment.FormatFMP4_H264:
		out.ctype = "video/mp4"
		err = p.buildH264(ctx, q, pl, out)
	case p.CanEncode():
		out.ctype = "video/mp4"
		err = p.buildJPEG(ctx, q, pl, out, true)
	default:
		out.ctype = "application/zip"
		err = p.buildJPEG(ctx, q, pl, out, false)
	}
	if len(out.skipped) > 0 {
		p.log.WarnContext(ctx, "recording segments skipped", "camera", q.CameraID,
			"from", q.From, "to", q.To, "skipped", out.skipped)
	}
	if err != nil {
		if out.body != nil {
			out.body.drop()
		}
		return nil, err
	}
	return out, nil
}

// opened is a segment's file, open for reading.
type opened struct {
	seg  *ent.RecordingSegment
	f    *os.File
	size int64
}

// open opens the segments' files; one that cannot be opened is skipped
// and said so (retention on another replica may just have deleted it).
func (p *Player) open(segs []*ent.RecordingSegment, out *cached) ([]opened, func()) {
	var files []opened
	for _, s := range segs {
		f, err := p.rec.Open(s)
		if err != nil {
			out.skipped = append(out.skipped, skipNote(s.ID, "missing"))
			continue
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			out.skipped = append(out.skipped, skipNote(s.ID, "unreadable"))
			continue
		}
		files = append(files, opened{seg: s, f: f, size: st.Size()})
	}
	return files, func() {
		for _, o := range files {
			o.f.Close()
		}
	}
}

// segmentFault words what a reader said of a file: a tail cut short is
// normal for a segment still being written (or one whose writer died),
// anything else is worth reporting.
func segmentFault(seg *ent.RecordingSegment, err error) (note string, report bool) {
	switch {
	case errors.Is(err, segment.ErrTruncated):
		return "truncated", seg.State != recordingsegment.StateWRITING
	case errors.Is(err, segment.ErrCorrupt):
		return "corrupt", true
	}
	return "unreadable", true
}

// buildH264 remuxes the fragments of the span into one fMP4, from the
// keyframe at or before q.From. A segment the reader refuses whole is
// skipped; one broken partway plays up to the break.
func (p *Player) buildH264(ctx context.Context, q Request, pl plan, out *cached) error {
	files, closeAll := p.open(pl.segs, out)
	defer closeAll()
	var srcs []segment.Source
	for _, o := range files {
		// Remux itself takes a broken file's good fragments and skips one
		// with none; reading the index first is how the answer can say so.
		_, frags, err := segment.ReadFMP4(o.f, o.size, o.seg.StartAt)
		if err != nil {
			note, report := segmentFault(o.seg, err)
			if report {
				out.skipped = append(out.skipped, skipNote(o.seg.ID, note))
			}
			if len(frags) == 0 {
				continue
			}
		}
		srcs = append(srcs, segment.Source{R: o.f, Size: o.size, Start: o.seg.StartAt})
	}
	if len(srcs) == 0 {
		return p.unplayable(ctx, q, out)
	}
	body := p.newBody()
	out.body = body
	start, err := segment.Remux(body, srcs, q.From, q.To)
	if errors.Is(err, segment.ErrNoRecording) {
		body.drop()
		out.body = nil
		return p.unplayable(ctx, q, out)
	}
	if err != nil {
		return fmt.Errorf("remux: %w", err)
	}
	out.start = start
	return body.finish()
}

// unplayable answers a span whose segments exist but hold nothing that
// plays: the no-recording answer, its skipped segments said in the log.
func (p *Player) unplayable(ctx context.Context, q Request, out *cached) error {
	err := p.noRecording(ctx, q)
	var nr *NoRecording
	if errors.As(err, &nr) {
		nr.Skipped = out.skipped
	}
	return err
}

// jpegFrame is a frame to read: which file, where.
type jpegFrame struct {
	f     *os.File
	frame segment.JPEGFrame
}

// buildJPEG encodes the span's JPEG frames to H.264 MP4 (encode) or puts
// them in a ZIP named by their capture times.
func (p *Player) buildJPEG(ctx context.Context, q Request, pl plan, out *cached, encode bool) error {
	files, closeAll := p.open(pl.segs, out)
	defer closeAll()
	var frames []jpegFrame
	var total int64
	for _, o := range files {
		idx, err := segment.ReadJPEGIndex(o.f, o.size)
		if err != nil {
			if note, report := segmentFault(o.seg, err); report {
				out.skipped = append(out.skipped, skipNote(o.seg.ID, note))
			}
		}
		for _, fr := range idx {
			if fr.At.Before(q.From) || fr.At.After(q.To) {
				continue
			}
			frames = append(frames, jpegFrame{f: o.f, frame: fr})
			total += fr.Len
		}
	}
	if len(frames) == 0 {
		return p.unplayable(ctx, q, out)
	}
	body := p.newBody()
	out.body = body
	if !encode {
		if err := writeZIP(body, frames); err != nil {
			return err
		}
		return body.finish()
	}
	// The encoder takes every frame in memory: a span whose frames pass
	// the bound keeps every n-th, evenly, and says so.
	step := 1
	if total > p.opt.MaxJPEGBytes {
		step = int((total + p.opt.MaxJPEGBytes - 1) / p.opt.MaxJPEGBytes)
		out.thinned = true
	}
	data := make([]segment.JPEGFrameData, 0, len(frames)/step+1)
	for i := 0; i < len(frames); i += step {
		b, err := readFrame(frames[i])
		if err != nil {
			return err
		}
		data = append(data, segment.JPEGFrameData{At: frames[i].frame.At, JPEG: b})
	}
	if err := ffmpeg.EncodeJPEGs(ctx, data, body); err != nil {
		return fmt.Errorf("encode JPEG frames: %w", err)
	}
	out.start = data[0].At
	return body.finish()
}

func readFrame(fr jpegFrame) ([]byte, error) {
	b := make([]byte, fr.frame.Len)
	if _, err := fr.f.ReadAt(b, fr.frame.Offset); err != nil {
		return nil, fmt.Errorf("read frame: %w", err)
	}
	return b, nil
}

// writeZIP stores the frames (JPEGs do not compress further) one by one,
// so only one frame is in memory at a time.
func writeZIP(w io.Writer, frames []jpegFrame) error {
	zw := zip.NewWriter(w)
	seen := map[string]int{}
	for _, fr := range frames {
		at := fr.frame.At.UTC()
		name := at.Format(ZIPNameLayout)
		// Two frames of one millisecond (a camera's burst) keep both.
		if n := seen[name]; n > 0 {
			seen[name]++
			name = fmt.Sprintf("%s-%d", name, n)
		} else {
			seen[name] = 1
		}
		b, err := readFrame(fr)
		if err != nil {
			return err
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".jpg", Method: zip.Store, Modified: at})
		if err != nil {
			return err
		}
		if _, err := fw.Write(b); err != nil {
			return err
		}
	}
	return zw.Close()
}

// cached is a finished build.
type cached struct {
	ctype   string
	start   time.Time
	skipped []string
	thinned bool
	body    *body
}

func (c *cached) clip() *Clip {
	c.body.hold()
	return &Clip{ContentType: c.ctype, Start: c.start, Skipped: c.skipped, Thinned: c.thinned,
		body: c.body, release: c.body.unhold}
}
