package camera

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

type snapshot struct {
	auth    *authClient
	err     error // URL problem, reported by every Grab
	timeout time.Duration
	max     int64
}

// NewSnapshot grabs by HTTP GET of a JPEG snapshot URL (IP cameras, ONVIF
// GetSnapshotUri). creds may be nil; user:password@ in the URL is used when
// creds is nil. client may be nil. A bad URL does not fail here but on every
// Grab, so a misconfigured camera shows up in its status; use ValidateURL to
// reject it at configuration time.
//
// CapturedAt is the midpoint between sending the request and receiving the
// response headers: the camera takes the picture somewhere in that window,
// so the error is at most half the round trip. The camera's Date header is
// ignored: it has one-second resolution and camera clocks drift. The
// monotonic reading is stripped because FrameAt compares against wall-clock
// times from POS data.
func NewSnapshot(rawURL string, creds *Credentials, client *http.Client) Grabber {
	u, urlCreds, err := parseCameraURL(rawURL)
	if creds == nil {
		creds = urlCreds
	}
	s := &snapshot{err: err, timeout: DefaultRequestTimeout, max: DefaultMaxFrameBytes}
	if client != nil && client.Timeout > 0 {
		s.timeout = 0 // the client enforces its own
	}
	if err == nil {
		s.auth = newAuthClient(client, u, creds)
	}
	return s
}

func (s *snapshot) Grab(ctx context.Context) (Frame, error) {
	if s.err != nil {
		return Frame{}, s.err
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	resp, sent, err := s.auth.get(ctx)
	if err != nil {
		return Frame{}, err
	}
	defer resp.Body.Close()
	arrived := time.Now()
	where := s.auth.url.Redacted()
	if resp.StatusCode != http.StatusOK {
		return Frame{}, &HTTPStatusError{URL: where, Code: resp.StatusCode}
	}
	if resp.ContentLength > s.max {
		return Frame{}, fmt.Errorf("%w: GET %s: Content-Length %d exceeds %d bytes", ErrTooLarge, where, resp.ContentLength, s.max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.max+1))
	if err != nil {
		return Frame{}, fmt.Errorf("camera: GET %s: reading body: %w", where, err)
	}
	if int64(len(body)) > s.max {
		return Frame{}, fmt.Errorf("%w: GET %s: body exceeds %d bytes", ErrTooLarge, where, s.max)
	}
	w, h, err := checkJPEG(body)
	if err != nil {
		return Frame{}, fmt.Errorf("GET %s (Content-Type %q): %w", where, resp.Header.Get("Content-Type"), err)
	}
	return Frame{JPEG: body, CapturedAt: sent.Add(arrived.Sub(sent) / 2).Round(0), Width: w, Height: h}, nil
}
