// Package ffmpeg runs the optional ffmpeg steps of recorded moments: a clip
// of a JPEG camera encoded to H.264 MP4, and one frame cut out of an MP4
// (thumbnails of RTSP cameras). ffmpeg is Debian's, found on PATH; without
// it these steps say ErrNoFFmpeg and the callers fall back (a ZIP of JPEGs,
// no thumbnail with the reason said).
//
// Every run is bounded: a deadline (DefaultTimeout unless the context has
// one), the whole process group killed when it passes, stderr kept to its
// last few KB for the error, and outputs capped.
package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoFFmpeg means ffmpeg is not installed (not on PATH).
var ErrNoFFmpeg = errors.New("ffmpeg: not installed")

// DefaultTimeout bounds a run whose context has no deadline.
const DefaultTimeout = 2 * time.Minute

// maxFrame caps the JPEG FrameAt returns.
const maxFrame = 16 << 20

// Path is ffmpeg's path and whether it is installed.
func Path() (string, bool) {
	p, err := exec.LookPath("ffmpeg")
	return p, err == nil
}

// tail keeps the last n bytes written to it: ffmpeg's stderr for the error
// message, never more.
type tail struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// errTooLarge stops a runaway output (its write fails, so ffmpeg stops)
// instead of filling memory.
var errTooLarge = errors.New("ffmpeg: output over its cap")

// Command prepares ffmpeg with args in its own process group, killed as a
// group when ctx ends. Callers (and package rtspcam) set Stdin/Stdout and
// Start it; stderr is kept bounded in the returned tail.
func Command(ctx context.Context, args ...string) (*exec.Cmd, interface{ String() string }, error) {
	path, ok := Path()
	if !ok {
		return nil, nil, ErrNoFFmpeg
	}
	cmd := exec.CommandContext(ctx, path, append([]string{"-hide_banner", "-loglevel", "error"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The whole group: ffmpeg may have children (none today, but a
		// protocol helper would outlive a plain Kill).
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	stderr := &tail{n: 4 << 10}
	cmd.Stderr = stderr
	return cmd, stderr, nil
}

// run runs ffmpeg reading stdin (nil: none) and writing stdout.
func run(ctx context.Context, stdin io.Reader, stdout io.Writer, args ...string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	if stdin == nil {
		// ffmpeg would otherwise read the terminal for its key commands.
		args = append([]string{"-nostdin"}, args...)
	}
	cmd, stderr, err := Command(ctx, args...)
	if err != nil {
		return err
	}
	// A refusal of the writer (a size bound) ends ffmpeg with a broken
	// pipe; keep it, so the caller sees why and not only an exit status.
	var out *recordingWriter
	if stdout != nil {
		out = &recordingWriter{w: stdout}
		cmd.Stdout = out
	}
	var in io.WriteCloser
	if stdin != nil {
		// Our own copy, not exec's: Wait must not wait for a reader that
		// blocks (a network body) once ffmpeg is gone.
		if in, err = cmd.StdinPipe(); err != nil {
			return fmt.Errorf("ffmpeg: %w", err)
		}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	if in != nil {
		go func() {
			// ffmpeg may stop reading once it has what it needs: EPIPE
			// then is no failure.
			_, _ = io.Copy(in, stdin)
			in.Close()
		}()
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("ffmpeg: %w", ctx.Err())
	}
	if out != nil && out.err != nil {
		return fmt.Errorf("ffmpeg: output: %w", out.err)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("ffmpeg: %v: %s", err, stderr.String())
		}
		return fmt.Errorf("ffmpeg: %w", err)
	}
	return nil
}

// frameWindow is how far before the offset FrameAt looks for the frame
// on screen there: frames at least one every 5 s.
const frameWindow = 5 * time.Second

// FrameAt is one JPEG (at the source's size) of the frame on screen offset
// after the first frame of an MP4 (fragmented or not) read from mp4 as a
// stream — the last frame that starts at or before offset, within 5 s: a
// thumbnail of an RTSP camera's recording.
func FrameAt(ctx context.Context, mp4 io.Reader, offset time.Duration) ([]byte, error) {
	if offset < 0 {
		offset = 0
	}
	// ffmpeg's -ss picks the first frame at or after the offset; the one on
	// screen is the last before it, so every frame of the window is
	// encoded and the last one kept.
	lo := max(offset-frameWindow, 0)
	last := &lastJPEG{}
	err := run(ctx, mp4, last,
		"-i", "pipe:0", "-an",
		"-vf", fmt.Sprintf("select='between(t,%.3f,%.3f)'", lo.Seconds(), offset.Seconds()),
		// The frames keep their own times in the source's time base: in
		// the encoder's default one (1/frame rate) two frames closer than
		// the average interval (a recording's jitter) or a repeated time
		// fail the encode ("Invalid pts"); vfr drops only a repeated time.
		"-fps_mode", "vfr", "-enc_time_base", "-1",
		"-c:v", "mjpeg", "-q:v", "3", "-f", "image2pipe", "pipe:1")
	if err != nil {
		return nil, err
	}
	if last.last == nil {
		return nil, fmt.Errorf("ffmpeg: no frame at %v", offset)
	}
	return last.last, nil
}

// lastJPEG keeps the last whole JPEG of a stream of concatenated JPEGs,
// split by their markers (segment lengths, then the entropy-coded data up
// to EOI), so a byte pair FF D9 inside a table is not taken for an end.
type lastJPEG struct {
	cur, last []byte
}

func (l *lastJPEG) Write(p []byte) (int, error) {
	l.cur = append(l.cur, p...)
	for {
		n, ok, err := jpegLen(l.cur)
		if err != nil {
			return 0, err
		}
		if !ok {
			if len(l.cur) > maxFrame {
				return 0, errTooLarge
			}
			return len(p), nil
		}
		l.last = append(l.last[:0], l.cur[:n]...)
		l.cur = append(l.cur[:0], l.cur[n:]...)
	}
}

// jpegLen is the length of the whole JPEG at the start of b, or ok false
// when b holds only part of it.
func jpegLen(b []byte) (n int, ok bool, err error) {
	if len(b) < 2 {
		return 0, false, nil
	}
	if b[0] != 0xff || b[1] != 0xd8 {
		return 0, false, fmt.Errorf("ffmpeg: output is not JPEG")
	}
	i := 2
	for {
		if len(b) < i+4 {
			return 0, false, nil
		}
		if b[i] != 0xff {
			return 0, false, fmt.Errorf("ffmpeg: bad JPEG marker")
		}
		m := b[i+1]
		if m == 0xff { // fill byte
			i++
			continue
		}
		seg := int(b[i+2])<<8 | int(b[i+3])
		i += 2 + seg
		if m != 0xda { // not SOS: the next marker follows the segment
			continue
		}
		// Entropy-coded data: FF 00 is a data byte, FF D0..D7 restarts.
		for ; i+1 < len(b); i++ {
			if b[i] == 0xff && b[i+1] != 0 && (b[i+1] < 0xd0 || b[i+1] > 0xd7) {
				if b[i+1] == 0xd9 {
					return i + 2, true, nil
				}
				break // another marker (a further scan): parse it as a segment
			}
		}
		if i+1 >= len(b) {
			return 0, false, nil
		}
	}
}

// recordingWriter keeps the first error of the writer it wraps (exec
// copies to it on a goroutine of its own, done before Wait returns).
type recordingWriter struct {
	w   io.Writer
	err error
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil && r.err == nil {
		r.err = err
	}
	return n, err
}
