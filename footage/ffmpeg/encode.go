package ffmpeg

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of the frames
	"io"
	"time"

	"github.com/bluenviron/mediacommon/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/pkg/formats/fmp4/seekablebuffer"

	"github.com/regicam/regicam/footage/segment"
)

// MaxEncodeFrames bounds one EncodeJPEGs call (an hour at 5 fps is 18,000).
const MaxEncodeFrames = 50_000

// EncodeJPEGs encodes timestamped JPEG frames (in time order) to an H.264
// MP4 written to w as it is made: fragmented (moov first, then one
// fragment per keyframe, a keyframe every second), so it plays while it
// downloads, in MSE, and from a file with Range. Frame times are kept: the
// output's time 0 is frames[0].At and each frame lasts until the next one
// (variable frame rate), the last one as long as the one before it.
// Pictures are padded to even sizes (yuv420p needs them).
func EncodeJPEGs(ctx context.Context, frames []segment.JPEGFrameData, w io.Writer) error {
	if len(frames) == 0 {
		return fmt.Errorf("ffmpeg: no frames to encode")
	}
	if len(frames) > MaxEncodeFrames {
		return fmt.Errorf("ffmpeg: %d frames, at most %d", len(frames), MaxEncodeFrames)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(frames[0].JPEG))
	if err != nil {
		return fmt.Errorf("ffmpeg: first frame: %w", err)
	}
	// The frames travel to ffmpeg as MJPEG in fragmented MP4 through a
	// pipe: the one input format that carries each frame's own time
	// without temporary files.
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeMJPEG(pw, frames, cfg.Width, cfg.Height))
	}()
	defer pr.Close()
	return run(ctx, pr, w,
		"-f", "mp4", "-i", "pipe:0",
		"-an", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
		// The input's millisecond time base, not libx264's default
		// 1/frame rate: in that one uneven frame times (a recording's
		// jitter) are rounded to the average interval, two frames can
		// share a time, and a picture plays up to a few hundred ms off.
		"-fps_mode", "passthrough", "-enc_time_base", "-1",
		"-force_key_frames", "expr:gte(t,n_forced*1)",
		"-movflags", "frag_keyframe+empty_moov+default_base_moof",
		"-f", "mp4", "pipe:1")
}

// writeMJPEG writes frames as a one-track MJPEG fragmented MP4, timescale
// 1 ms, a fragment per 30 frames.
func writeMJPEG(w io.Writer, frames []segment.JPEGFrameData, width, height int) error {
	var buf seekablebuffer.Buffer
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: 1000, Codec: &fmp4.CodecMJPEG{Width: width, Height: height}}}}
	if err := init.Marshal(&buf); err != nil {
		return err
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	last := uint32(200)
	var pos uint64 // ms; the sum of durations, so clamped ones never overlap
	var seq uint32
	for i := 0; i < len(frames); i += 30 {
		end := min(i+30, len(frames))
		var samples []*fmp4.PartSample
		for j := i; j < end; j++ {
			d := last
			if j+1 < len(frames) {
				ms := frames[j+1].At.Sub(frames[j].At).Milliseconds()
				if ms < 1 {
					ms = 1 // equal or backward times: keep the order, one ms apart
				}
				d = uint32(min(ms, int64(time.Hour/time.Millisecond)))
				last = d
			}
			samples = append(samples, &fmp4.PartSample{Duration: d, Payload: frames[j].JPEG})
		}
		seq++
		part := fmp4.Part{SequenceNumber: seq, Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: pos, Samples: samples}}}
		for _, s := range samples {
			pos += uint64(s.Duration)
		}
		buf = seekablebuffer.Buffer{}
		if err := part.Marshal(&buf); err != nil {
			return err
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
