package camera

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MJPEG keeps a multipart/x-mixed-replace stream open and serves its latest
// frame. The exported fields are options; set them before Start.
type MJPEG struct {
	// MaxFrameBytes caps one part; a larger one drops the connection.
	MaxFrameBytes int64
	// StallTimeout: a connection that delivers no bytes for this long is
	// dropped and reopened. TCP alone may keep a dead stream "open" for
	// minutes.
	StallTimeout time.Duration
	// HeaderTimeout bounds connect + response headers.
	HeaderTimeout time.Duration
	// MaxAge: Grab refuses a frame older than this, so a stream that is
	// connected but no longer sending does not pass an old picture off as
	// the present one.
	MaxAge time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay, which doubles per
	// failed attempt and resets once a frame arrives.
	MinBackoff, MaxBackoff time.Duration
	Log                    *slog.Logger

	auth   *authClient
	urlErr error

	mu        sync.Mutex
	latest    Frame
	connected bool
	lastErr   error
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewMJPEG prepares a stream grabber; nothing is fetched until Start. creds
// and client may be nil. A client Timeout would cut the endless response, so
// the client is copied without it; HeaderTimeout and StallTimeout take its
// place.
func NewMJPEG(rawURL string, creds *Credentials, client *http.Client) *MJPEG {
	u, urlCreds, err := parseCameraURL(rawURL)
	if creds == nil {
		creds = urlCreds
	}
	if client != nil && client.Timeout > 0 {
		c := *client
		c.Timeout = 0
		client = &c
	}
	m := &MJPEG{
		MaxFrameBytes: DefaultMaxFrameBytes,
		StallTimeout:  10 * time.Second,
		HeaderTimeout: DefaultRequestTimeout,
		MaxAge:        5 * time.Second,
		MinBackoff:    500 * time.Millisecond,
		MaxBackoff:    30 * time.Second,
		urlErr:        err,
	}
	if err == nil {
		m.auth = newAuthClient(client, u, creds)
	}
	return m
}

// Start opens the stream in the background until ctx ends or Close. Calling
// it on a running stream does nothing; after Close (or the end of ctx) it
// starts a new one, so a restarted Recorder gets a live stream again.
func (m *MJPEG) Start(ctx context.Context) error {
	if m.urlErr != nil {
		return m.urlErr
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done != nil {
		select {
		case <-m.done:
		default:
			return nil
		}
	}
	if m.Log == nil {
		m.Log = slog.Default()
	}
	ctx, m.cancel = context.WithCancel(ctx)
	m.done = make(chan struct{})
	go m.loop(ctx, m.done)
	return nil
}

// Close stops the stream and waits for its goroutine. Idempotent.
func (m *MJPEG) Close() error {
	m.mu.Lock()
	cancel, done := m.cancel, m.done
	m.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	m.mu.Lock()
	if m.done == done {
		m.done, m.cancel = nil, nil
	}
	m.mu.Unlock()
	return nil
}

// Grab returns the latest frame of a live stream.
func (m *MJPEG) Grab(ctx context.Context) (Frame, error) {
	if m.urlErr != nil {
		return Frame{}, m.urlErr
	}
	if err := ctx.Err(); err != nil {
		return Frame{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	why := func(state string) error {
		if m.lastErr != nil {
			// %w twice: callers ask errors.Is both "offline?" and why.
			return fmt.Errorf("%w: mjpeg %s: %s: %w", ErrOffline, m.where(), state, m.lastErr)
		}
		return fmt.Errorf("%w: mjpeg %s: %s", ErrOffline, m.where(), state)
	}
	switch {
	case m.done == nil:
		return Frame{}, why("stream not started")
	case !m.connected:
		return Frame{}, why("stream down")
	case m.latest.JPEG == nil:
		return Frame{}, why("no frame yet")
	}
	if age := time.Since(m.latest.CapturedAt); age > m.MaxAge {
		return Frame{}, why(fmt.Sprintf("last frame %s ago", age.Round(time.Millisecond)))
	}
	return m.latest, nil
}

func (m *MJPEG) where() string { return m.auth.url.Redacted() }

func (m *MJPEG) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	backoff := m.MinBackoff
	prev := ""
	for {
		n, err := m.stream(ctx)
		m.mu.Lock()
		m.connected = false
		m.lastErr = err
		m.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if n > 0 {
			backoff = m.MinBackoff
		}
		// A camera that stays broken would otherwise log every retry.
		level := slog.LevelDebug
		if n > 0 || err.Error() != prev {
			level = slog.LevelWarn
		}
		prev = err.Error()
		m.Log.Log(ctx, level, "camera: mjpeg stream down", "url", m.where(), "frames", n, "err", err, "retry_in", backoff)
		// Jitter keeps many cameras behind one NVR from reconnecting in step.
		d := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, m.MaxBackoff)
	}
}

// stream runs one connection and returns how many frames it delivered.
func (m *MJPEG) stream(ctx context.Context) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timedOut atomic.Bool
	headerTimer := time.AfterFunc(m.HeaderTimeout, func() { timedOut.Store(true); cancel() })
	resp, _, err := m.auth.get(ctx)
	headerTimer.Stop()
	if err != nil {
		if timedOut.Load() {
			return 0, fmt.Errorf("no response headers within %s", m.HeaderTimeout)
		}
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, &HTTPStatusError{URL: m.where(), Code: resp.StatusCode}
	}
	ct := resp.Header.Get("Content-Type")
	boundary, err := multipartBoundary(ct)
	if err != nil {
		return 0, err
	}

	var stalled atomic.Bool
	stallTimer := time.AfterFunc(m.StallTimeout, func() { stalled.Store(true); cancel() })
	defer stallTimer.Stop()
	body := &watchdogReader{r: resp.Body, t: stallTimer, d: m.StallTimeout}
	pr := &partReader{r: bufio.NewReaderSize(body, 32<<10), core: boundaryCore(boundary), max: m.MaxFrameBytes}

	m.mu.Lock()
	m.connected = true
	m.mu.Unlock()
	n := 0
	for {
		data, at, err := pr.next()
		if err != nil {
			if stalled.Load() {
				return n, fmt.Errorf("stream stalled: no data for %s", m.StallTimeout)
			}
			if errors.Is(err, io.EOF) {
				return n, fmt.Errorf("stream ended by camera after %d frames", n)
			}
			return n, err
		}
		w, h, err := checkJPEG(data)
		m.mu.Lock()
		if err != nil {
			// One bad part is not worth a reconnect; Grab reports it once
			// the last good frame has aged out.
			m.lastErr = err
		} else {
			m.latest = Frame{JPEG: data, CapturedAt: at, Width: w, Height: h}
			m.lastErr = nil
			n++
		}
		m.mu.Unlock()
	}
}

// multipartBoundary accepts what cameras actually send: quoted or not, with
// or without leading dashes, occasionally unparseable by mime (then the
// boundary is searched by hand), or missing (then the first "--" line of the
// body defines it).
func multipartBoundary(ct string) (string, error) {
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil {
		if !strings.HasPrefix(mt, "multipart/") {
			return "", fmt.Errorf("%w: Content-Type %q is not a multipart (MJPEG) stream", ErrNotMJPEG, ct)
		}
		return params["boundary"], nil
	}
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "multipart/") {
		return "", fmt.Errorf("%w: Content-Type %q is not a multipart (MJPEG) stream", ErrNotMJPEG, ct)
	}
	i := strings.Index(strings.ToLower(ct), "boundary=")
	if i < 0 {
		return "", nil
	}
	b := ct[i+len("boundary="):]
	if j := strings.IndexAny(b, "; "); j >= 0 {
		b = b[:j]
	}
	return strings.Trim(b, `"`), nil
}

// boundaryCore strips leading dashes: some cameras put "--" into the
// boundary parameter and then write "--" or "----" before it in the body.
// Comparing without dashes accepts all of these.
func boundaryCore(b string) string { return strings.TrimLeft(b, "-") }

type watchdogReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (w *watchdogReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.t.Reset(w.d)
	}
	return n, err
}

// partReader splits a multipart/x-mixed-replace body. mime/multipart is too
// strict for cameras (exact "--boundary" only, no bare LF, no parts without
// headers), so this is a tolerant line-based reader.
type partReader struct {
	r       *bufio.Reader
	core    string // boundary without leading dashes; "" until learned
	max     int64
	started bool
	final   bool
}

const (
	maxJunk        = 64 << 10 // preamble, or slack after a wrong Content-Length
	maxHeaderLine  = 8 << 10
	maxHeaderLines = 64
)

// next returns the next part's body and when its first byte arrived, which
// is the closest this side can get to the capture time.
func (p *partReader) next() ([]byte, time.Time, error) {
	if p.final {
		return nil, time.Time{}, io.EOF
	}
	if !p.started {
		if err := p.skipToDelimiter(); err != nil {
			return nil, time.Time{}, err
		}
		p.started = true
	}
	length, err := p.readHeaders()
	if err != nil {
		return nil, time.Time{}, err
	}
	at := time.Now().Round(0)
	if length > p.max {
		return nil, time.Time{}, fmt.Errorf("%w: part Content-Length %d exceeds %d bytes", ErrTooLarge, length, p.max)
	}
	if length > 0 {
		data := make([]byte, length)
		if _, err := io.ReadFull(p.r, data); err != nil {
			return nil, time.Time{}, eofMidPart(err)
		}
		if err := p.skipToDelimiter(); errors.Is(err, io.EOF) {
			p.final = true // last part, then the camera closed: still a frame
		} else if err != nil {
			return nil, time.Time{}, err
		}
		return data, at, nil
	}
	data, err := p.readUntilDelimiter()
	return data, at, err
}

// delimiter classifies a line: a boundary line, and whether it is the
// closing one ("--boundary--").
func (p *partReader) delimiter(line []byte) (ok, final bool) {
	l := bytes.TrimSpace(line)
	if len(l) > 512 || !bytes.HasPrefix(l, []byte("--")) {
		return false, false
	}
	c := string(bytes.TrimLeft(l, "-"))
	if p.core == "" && !p.started {
		p.core = strings.TrimSuffix(c, "--")
		return p.core != "", false
	}
	switch c {
	case p.core:
		return true, false
	case p.core + "--":
		return true, true
	}
	return false, false
}

func (p *partReader) skipToDelimiter() error {
	junk := 0
	for junk <= maxJunk {
		line, err := p.r.ReadSlice('\n')
		junk += len(line)
		if err == nil || (err == io.EOF && len(line) > 0) {
			if ok, final := p.delimiter(line); ok {
				p.final = final
				return nil
			}
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
	}
	if p.core == "" {
		return fmt.Errorf("no multipart boundary line in the first %d KiB", maxJunk>>10)
	}
	return fmt.Errorf("multipart boundary %q not found within %d KiB", p.core, maxJunk>>10)
}

// readHeaders returns Content-Length, or -1 when absent or unusable.
func (p *partReader) readHeaders() (int64, error) {
	length := int64(-1)
	for i := 0; ; i++ {
		if i > maxHeaderLines {
			return 0, fmt.Errorf("part has more than %d header lines", maxHeaderLines)
		}
		// Some cameras start the JPEG right after the boundary line.
		if b, _ := p.r.Peek(2); len(b) == 2 && b[0] == 0xFF && b[1] == 0xD8 {
			return length, nil
		}
		line, err := p.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull || len(line) > maxHeaderLine {
			return 0, fmt.Errorf("part header line longer than %d bytes", maxHeaderLine)
		}
		if err == io.EOF && i == 0 && len(line) == 0 {
			return 0, io.EOF // closed right after a boundary: a clean end
		}
		if err != nil {
			return 0, eofMidPart(err)
		}
		l := strings.TrimSpace(string(line))
		if l == "" {
			if i == 0 {
				// Blank line between boundary and headers: tolerated once.
				continue
			}
			return length, nil
		}
		name, val, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			if n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64); err == nil && n > 0 {
				length = n
			}
		}
	}
}

// readUntilDelimiter collects a part whose length was not announced: the
// data ends before the next boundary line. Only line starts are tested, and
// the boundary is long and random, so JPEG bytes do not match by accident.
func (p *partReader) readUntilDelimiter() ([]byte, error) {
	var buf []byte
	lineStart := true
	for {
		seg, err := p.r.ReadSlice('\n')
		if lineStart && (err == nil || err == io.EOF) {
			if ok, final := p.delimiter(seg); ok {
				p.final = final
				return trimEOL(buf), nil
			}
		}
		buf = append(buf, seg...)
		if int64(len(buf)) > p.max {
			return nil, fmt.Errorf("%w: part exceeds %d bytes without a boundary", ErrTooLarge, p.max)
		}
		switch err {
		case nil:
			lineStart = true
		case bufio.ErrBufferFull:
			lineStart = false
		default:
			return nil, eofMidPart(err)
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

func eofMidPart(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("stream ended mid-part: %w", io.ErrUnexpectedEOF)
	}
	return err
}
