// Package camera records what cameras see so that a POS receipt, which may
// arrive seconds or minutes after the sale, can still be paired with the
// picture taken at the second of the sale (docs/ARCHITECTURE.md §1).
//
// A Grabber fetches the current picture of one source (JPEG snapshot URL,
// MJPEG stream, or the built-in simulated camera). A Recorder polls a Grabber
// into a bounded ring buffer and answers FrameAt(t) from it.
package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Frame is one JPEG picture and when the camera took it. JPEG is shared
// between the recorder and its readers: treat it as read-only.
type Frame struct {
	JPEG          []byte
	CapturedAt    time.Time
	Width, Height int
}

// Grabber fetches the current picture of a camera (one source kind each).
type Grabber interface {
	Grab(ctx context.Context) (Frame, error)
}

// FrameSource answers "what did the camera see at t".
type FrameSource interface {
	FrameAt(ctx context.Context, t time.Time) (Frame, error)
}

// Starter is implemented by grabbers that keep a connection open in the
// background (MJPEG). A Recorder starts such a grabber when it runs and
// closes it when it stops, so callers need not manage two lifetimes.
type Starter interface {
	Start(ctx context.Context) error
	Close() error
}

const (
	// DefaultMaxFrameBytes caps one frame in memory. A 4K camera at high
	// quality stays well below it; anything larger is a misbehaving source.
	DefaultMaxFrameBytes = 10 << 20
	// DefaultRequestTimeout bounds one snapshot request (or, for MJPEG, the
	// wait for response headers) when the http.Client sets no Timeout.
	DefaultRequestTimeout = 10 * time.Second
	// MaxPixels refuses frames whose decoded size would cost more than
	// ~160 MB of RGBA; same bound as the thumbnail cutter.
	MaxPixels = 40_000_000
)

// Sentinel errors; the wrapping error carries the detail a status line needs.
var (
	ErrBadURL       = errors.New("camera: bad camera URL")
	ErrUnauthorized = errors.New("camera: unauthorized")
	ErrNotJPEG      = errors.New("camera: not a JPEG image")
	ErrTooLarge     = errors.New("camera: frame too large")
	ErrOffline      = errors.New("camera: offline")
	ErrNoFrame      = errors.New("camera: no frame near the requested time")
	// ErrNotMJPEG: an MJPEG URL answered with something that is not a
	// multipart stream (often a single JPEG: the URL is a snapshot URL).
	ErrNotMJPEG = errors.New("camera: not an MJPEG stream")
)

// HTTPStatusError is a camera's answer other than 200 OK (a 401 the
// credentials could not answer is ErrUnauthorized instead). The code lets
// a source test tell "forbidden" from "no such path". It carries the
// status code only, never body bytes: whoever sets a camera URL reads the
// error, and the URL may point at any server the policy allows.
type HTTPStatusError struct {
	URL  string // redacted
	Code int
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("camera: GET %s: %s", e.URL, e.Status())
}

// Status is the code and its standard reason ("404 Not Found"); the
// server's own reason phrase is not repeated.
func (e *HTTPStatusError) Status() string {
	if t := http.StatusText(e.Code); t != "" {
		return fmt.Sprintf("%d %s", e.Code, t)
	}
	return fmt.Sprintf("HTTP %d", e.Code)
}

// AuthScheme pins the HTTP authentication scheme. The empty value follows
// the camera's challenge, preferring Digest over Basic.
type AuthScheme string

const (
	AuthAuto   AuthScheme = ""
	AuthBasic  AuthScheme = "basic"
	AuthDigest AuthScheme = "digest"
)

// Credentials authenticate against a camera's HTTP server.
type Credentials struct {
	Username, Password string
	// Scheme = AuthBasic sends Basic on the first request (saves a round
	// trip); AuthDigest refuses to fall back to Basic, so a spoofed Basic
	// challenge cannot make us send the password in clear.
	Scheme AuthScheme
}

// String keeps passwords out of logs and error messages.
func (c Credentials) String() string { return c.Username + ":***" }

// LogValue keeps passwords out of structured logs.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// ValidateURL checks a camera URL before it is stored, so a typo surfaces
// when the camera is configured rather than as a permanent offline status.
func ValidateURL(raw string) error {
	_, _, err := parseCameraURL(raw)
	return err
}

// parseCameraURL also lifts user:password@ out of the URL: the auth code must
// see the credentials to answer a Digest challenge, and the URL then appears
// in errors without them.
func parseCameraURL(raw string) (*url.URL, *Credentials, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, nil, fmt.Errorf("%w: scheme %q is not http or https (%s)", ErrBadURL, u.Scheme, u.Redacted())
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("%w: no host in %s", ErrBadURL, u.Redacted())
	}
	var creds *Credentials
	if u.User != nil {
		p, _ := u.User.Password()
		creds = &Credentials{Username: u.User.Username(), Password: p}
		u.User = nil
	}
	return u, creds, nil
}

// checkJPEG validates a frame cheaply (header only, no pixel decode) and
// returns its size. The SOI test turns "the camera sent its HTML login page"
// into a readable error instead of the decoder's "missing SOI marker". The
// error never quotes the bytes: they come from whatever the URL points at.
func checkJPEG(b []byte) (w, h int, err error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 0, 0, fmt.Errorf("%w (%d bytes, no JPEG start marker%s)", ErrNotJPEG, len(b), looksLike(b))
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrNotJPEG, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, fmt.Errorf("%w: empty %dx%d image", ErrNotJPEG, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return 0, 0, fmt.Errorf("%w: %dx%d exceeds %d pixels", ErrTooLarge, cfg.Width, cfg.Height, MaxPixels)
	}
	// A connection cut mid-body leaves a JPEG without its EOI marker, which
	// decodes to a half-grey picture; some encoders pad after EOI, so look
	// near the end rather than at the last two bytes.
	tail := b[max(0, len(b)-1024):]
	if !bytes.Contains(tail, []byte{0xFF, 0xD9}) {
		return 0, 0, fmt.Errorf("%w: truncated (no end-of-image marker in %d bytes)", ErrNotJPEG, len(b))
	}
	return cfg.Width, cfg.Height, nil
}

// looksLike names what a non-JPEG answer seems to be, without quoting it.
func looksLike(b []byte) string {
	head := bytes.ToLower(bytes.TrimSpace(b[:min(len(b), 64)]))
	switch {
	case bytes.HasPrefix(head, []byte("<!doctype html")), bytes.HasPrefix(head, []byte("<html")):
		return "; looks like HTML"
	case bytes.HasPrefix(head, []byte("{")), bytes.HasPrefix(head, []byte("[")):
		return "; looks like JSON"
	case bytes.HasPrefix(head, []byte("<?xml")), bytes.HasPrefix(head, []byte("<")):
		return "; looks like XML/HTML"
	}
	return ""
}
