// Package rtspcam is a real H.264 RTSP camera on 127.0.0.1, made of
// Debian's ffmpeg and an in-process gortsplib server. The Go side draws the
// simulated camera's pictures (camera.RenderAt), each carrying the block
// time code of the moment it leaves the camera, and pipes them as MJPEG
// into ffmpeg, which scales them, encodes H.264 (libx264 ultrafast,
// zerolatency, no B-frames, a keyframe every second) and publishes to the
// server; readers DESCRIBE and PLAY from the server as from any IP camera.
// Any decoded frame tells the wall-clock millisecond it was sent
// (camera.DecodeTime), so a test can check a recording's times end to end.
//
// Tests, benchmarks, the demo (--demo-rtsp) and the end-to-end test use
// it; it needs ffmpeg (ErrNoFFmpeg without it).
package rtspcam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/footage/ffmpeg"
)

// ErrNoFFmpeg means ffmpeg is not installed, so there is no camera.
var ErrNoFFmpeg = ffmpeg.ErrNoFFmpeg

// Options shape the camera. Zero values: 640×360, 15 fps, no auth,
// x264's own bitrate.
type Options struct {
	Width, Height, FPS int
	// User and Password, when set, are required of readers (Basic or
	// Digest, as the reader chooses).
	User, Password string
	// Bitrate, bits per second, when set, makes ffmpeg send a constant
	// bitrate (filler data included) like a real camera's, whatever the
	// simple picture would need: for measuring recording cost.
	Bitrate int
	// Name is drawn on the picture (the simulated camera's label).
	Name string
}

const streamPath = "cam"

// Camera is a running RTSP camera.
type Camera struct {
	opt   Options
	srv   *gortsplib.Server
	addr  string
	nonce string
	ctx   context.Context
	stop  context.CancelFunc

	mu        sync.Mutex
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
	pub       *publisher // nil while paused
	closed    bool

	// stalest is the most a picture sent lagged its slot (ns): a busy
	// machine makes the camera repeat old pictures, and a test that reads
	// the drawn clock must not blame the recorder for that lag.
	stalest atomic.Int64
}

// MaxStaleness is the most any picture sent so far lagged the moment it
// was sent for (a repeated picture on a busy machine).
func (c *Camera) MaxStaleness() time.Duration { return time.Duration(c.stalest.Load()) }

// Start runs the camera until ctx ends or Close; it returns once the
// stream can be read (ffmpeg has published).
func Start(ctx context.Context, opt Options) (*Camera, error) {
	if _, ok := ffmpeg.Path(); !ok {
		return nil, ErrNoFFmpeg
	}
	if opt.Width <= 0 || opt.Height <= 0 {
		opt.Width, opt.Height = 640, 360
	}
	if opt.FPS <= 0 {
		opt.FPS = 15
	}
	if opt.Name == "" {
		opt.Name = "RTSP"
	}
	nonce, err := auth.GenerateNonce()
	if err != nil {
		return nil, err
	}
	c := &Camera{opt: opt, nonce: nonce}
	c.ctx, c.stop = context.WithCancel(ctx)
	var ln net.Listener
	c.srv = &gortsplib.Server{
		Handler:     (*serverHandler)(c),
		RTSPAddress: "127.0.0.1:0",
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			ln = l
			return l, err
		},
	}
	if err := c.srv.Start(); err != nil {
		c.stop()
		return nil, fmt.Errorf("rtspcam: server: %w", err)
	}
	c.addr = ln.Addr().String()
	context.AfterFunc(c.ctx, func() { _ = c.Close() })
	if err := c.Resume(); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// URL is where readers find the stream (without credentials).
func (c *Camera) URL() string { return "rtsp://" + c.addr + "/" + streamPath }

// Pause stops publishing: ffmpeg is stopped and every reader's session is
// closed, as when a camera loses power; DESCRIBE answers 404 until Resume.
func (c *Camera) Pause() {
	c.mu.Lock()
	p := c.pub
	c.pub = nil
	st, ps := c.stream, c.publisher
	c.stream, c.publisher = nil, nil
	c.mu.Unlock()
	if p != nil {
		p.stop()
	}
	if st != nil {
		st.Close()
	}
	if ps != nil {
		ps.Close()
	}
}

// Resume starts publishing again and returns once the stream is there.
func (c *Camera) Resume() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("rtspcam: closed")
	}
	if c.pub != nil {
		c.mu.Unlock()
		return nil
	}
	p, err := startPublisher(c.ctx, c.opt, &c.stalest, "rtsp://"+c.addr+"/"+streamPath)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.pub = p
	c.mu.Unlock()
	// Ready when ffmpeg has announced and sent its first packets.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		ok := c.stream != nil
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("rtspcam: ffmpeg stopped: %v: %s", p.err, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("rtspcam: ffmpeg did not publish within 20 s")
}

// Close stops ffmpeg and the server.
func (c *Camera) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.Pause()
	c.stop()
	c.srv.Close()
	return nil
}

// publisher is one ffmpeg run and the goroutine feeding it pictures.
type publisher struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	stderr interface{ String() string }
}

func (p *publisher) stop() {
	p.cancel()
	<-p.done
}

func startPublisher(parent context.Context, opt Options, stalest *atomic.Int64, target string) (*publisher, error) {
	ctx, cancel := context.WithCancel(parent)
	args := []string{
		// Start at once: no seconds of probing a stream whose format is
		// given.
		"-probesize", "32768", "-analyzeduration", "0", "-fflags", "nobuffer",
		"-f", "image2pipe", "-framerate", strconv.Itoa(opt.FPS), "-c:v", "mjpeg", "-i", "pipe:0",
		"-an", "-vf", fmt.Sprintf("scale=%d:%d", opt.Width, opt.Height),
		"-fps_mode", "passthrough",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-pix_fmt", "yuv420p", "-bf", "0",
		// A keyframe every second of time, not every FPS pictures: the
		// feeder may fall short of FPS on a busy machine.
		"-g", strconv.Itoa(opt.FPS * 10), "-force_key_frames", "expr:gte(t,n_forced*1)", "-sc_threshold", "0",
	}
	if opt.Bitrate > 0 {
		br := strconv.Itoa(opt.Bitrate)
		args = append(args, "-b:v", br, "-minrate", br, "-maxrate", br,
			"-bufsize", strconv.Itoa(opt.Bitrate/2), "-x264-params", "nal-hrd=cbr:force-cfr=1")
	}
	args = append(args, "-f", "rtsp", "-rtsp_transport", "tcp", target)
	cmd, stderr, err := ffmpeg.Command(ctx, args...)
	if err != nil {
		cancel()
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("rtspcam: ffmpeg: %w", err)
	}
	p := &publisher{cancel: cancel, done: make(chan struct{}), stderr: stderr}
	go feed(ctx, in, opt, stalest)
	go func() {
		p.err = cmd.Wait()
		cancel()
		close(p.done)
	}()
	return p, nil
}

// feed writes one picture per slot of the FPS grid until ctx ends; ffmpeg
// numbers them (-framerate), so a picture's stream time is its slot
// whatever the machine's load does to the pipe. Drawing takes time (tens
// of ms; ten times that under the race detector), so the picture of slot
// T is drawn ahead and written at T: its block code is when it leaves the
// camera. A slot the drawing could not reach repeats the newest picture
// drawn, as a busy camera repeats rather than sends the future.
func feed(ctx context.Context, in io.WriteCloser, opt Options, stalest *atomic.Int64) {
	defer in.Close()
	type frame struct {
		at   time.Time
		jpeg []byte
	}
	cfg := camera.SimulatedConfig{Name: opt.Name}
	interval := time.Second / time.Duration(opt.FPS)
	// The first slot leaves time to draw its picture even when slow.
	t0 := time.Now().Add(time.Second)
	frames := make(chan frame, 4)
	go func() {
		defer close(frames)
		est := interval // how long drawing takes, smoothed
		last := t0.Add(-interval)
		for ctx.Err() == nil {
			target := time.Now().Add(est + est/2)
			at := t0.Add((target.Sub(t0) + interval - 1) / interval * interval)
			if !at.After(last) {
				at = last.Add(interval)
			}
			began := time.Now()
			j, err := camera.RenderAt(cfg, at)
			if err != nil {
				return
			}
			est = (3*est + time.Since(began)) / 4
			last = at
			select {
			case frames <- frame{at, j}:
			case <-ctx.Done():
				return
			}
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var cur, next *frame
	for k := 0; ; k++ {
		slot := t0.Add(time.Duration(k) * interval)
		if d := time.Until(slot); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		// The newest picture due by this slot; the first one waits.
		for {
			if next == nil {
				if cur == nil {
					f, ok := <-frames
					if !ok {
						return
					}
					next = &f
				} else {
					select {
					case f, ok := <-frames:
						if !ok {
							return
						}
						next = &f
					default:
					}
				}
			}
			if next == nil || (next.at.After(slot) && cur != nil) {
				break
			}
			cur, next = next, nil
		}
		if lag := int64(slot.Sub(cur.at)); lag > stalest.Load() {
			stalest.Store(lag)
		}
		if _, err := in.Write(cur.jpeg); err != nil {
			return
		}
	}
}

// serverHandler is the Camera as gortsplib's server handler, kept out of
// Camera's own methods.
type serverHandler Camera

// OnSessionClose drops the stream when its publisher goes: readers see
// the end.
func (h *serverHandler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	c := (*Camera)(h)
	c.mu.Lock()
	var st *gortsplib.ServerStream
	if c.stream != nil && ctx.Session == c.publisher {
		st, c.stream, c.publisher = c.stream, nil, nil
	}
	c.mu.Unlock()
	if st != nil {
		st.Close()
	}
}

func (c *Camera) authorized(req *base.Request) (*base.Response, bool) {
	if c.opt.User == "" && c.opt.Password == "" {
		return nil, true
	}
	if err := auth.Validate(req, c.opt.User, c.opt.Password, nil, "rtspcam", c.nonce); err != nil {
		return &base.Response{
			StatusCode: base.StatusUnauthorized,
			Header: base.Header{
				"WWW-Authenticate": auth.GenerateWWWAuthenticate(nil, "rtspcam", c.nonce),
			},
		}, false
	}
	return nil, true
}

// OnDescribe serves the stream to readers who pass auth.
func (h *serverHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c := (*Camera)(h)
	if res, ok := c.authorized(ctx.Request); !ok {
		return res, nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnAnnounce takes ffmpeg's stream (only from this process's own
// publisher, on loopback).
func (h *serverHandler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	c := (*Camera)(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil {
		c.stream.Close()
		c.publisher.Close()
	}
	c.stream = gortsplib.NewServerStream(c.srv, ctx.Description)
	c.publisher = ctx.Session
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup admits the publisher and readers who pass auth.
func (h *serverHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c := (*Camera)(h)
	c.mu.Lock()
	st, isPub := c.stream, ctx.Session == c.publisher
	c.mu.Unlock()
	if isPub {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if res, ok := c.authorized(ctx.Request); !ok {
		return res, nil, nil
	}
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

// OnPlay lets a reader that got through SETUP play.
func (h *serverHandler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord relays ffmpeg's packets to the readers.
func (h *serverHandler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	c := (*Camera)(h)
	c.mu.Lock()
	st := c.stream
	c.mu.Unlock()
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	ctx.Session.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) {
		_ = st.WritePacketRTP(medi, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}
