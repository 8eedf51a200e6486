package playback

import (
	"context"
	"io"
	"time"

	"github.com/regicam/regicam/pulid"
)

// ErrNeedsFFmpeg is OpenClip's answer for a JPEG camera's span on a
// server without ffmpeg: its frames exist, but not as a video.
var ErrNeedsFFmpeg = errNeedsFFmpeg

// OpenClip builds the video of [from, to] of a camera as the viewer in ctx
// may see it, for a caller that writes it somewhere other than an HTTP
// answer (the evidence bundle). The answer is always an MP4: the camera's
// H.264 remuxed, or a JPEG camera's frames encoded by ffmpeg
// (ErrNeedsFFmpeg without it). Errors come before any byte: ErrNoCamera,
// *NoRecording, ErrNeedsFFmpeg, or a build failure. size is the MP4's
// length; closing the reader lets the build go.
func (p *Player) OpenClip(ctx context.Context, cameraID pulid.ID, from, to time.Time) (r io.ReadCloser, size int64, err error) {
	c, err := p.Build(ctx, Request{CameraID: cameraID, From: from, To: to})
	if err != nil {
		return nil, 0, err
	}
	rd, err := c.Reader()
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	return &clipReader{rd: rd, c: c}, c.Size(), nil
}

// clipReader releases the build when its reader closes.
type clipReader struct {
	rd readSeekCloser
	c  *Clip
}

func (r *clipReader) Read(b []byte) (int, error) { return r.rd.Read(b) }

func (r *clipReader) Close() error {
	err := r.rd.Close()
	r.c.Close()
	return err
}
