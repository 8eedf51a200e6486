package fake

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// MJPEG serves a multipart/x-mixed-replace stream. The knobs reproduce the
// dialects and faults of real cameras.
type MJPEG struct {
	// Frame returns the n-th JPEG of a connection (n counts from 0 across
	// all connections). Required.
	Frame func(n int) []byte
	// Interval between frames; default 20ms.
	Interval time.Duration
	// Boundary is the Content-Type parameter; default "regicamframe".
	Boundary string
	// ContentType replaces the whole Content-Type header when set.
	ContentType string
	// Delimiter is written before each part; default "--" + Boundary.
	Delimiter string
	// Preamble is written before the first delimiter.
	Preamble        string
	NoContentLength bool
	NoPartHeaders   bool
	LF              bool // bare LF line ends instead of CRLF
	// DropAfter closes the connection after that many frames (0: never).
	DropAfter int
	// StallAfter stops writing after that many frames but keeps the
	// connection open until the client leaves (0: never).
	StallAfter int

	conns, frames atomic.Int64
}

// Connections counts accepted stream requests.
func (m *MJPEG) Connections() int64 { return m.conns.Load() }

// Frames counts frames written across all connections.
func (m *MJPEG) Frames() int64 { return m.frames.Load() }

func (m *MJPEG) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.conns.Add(1)
	boundary := m.Boundary
	if boundary == "" {
		boundary = "regicamframe"
	}
	delim := m.Delimiter
	if delim == "" {
		delim = "--" + boundary
	}
	eol := "\r\n"
	if m.LF {
		eol = "\n"
	}
	interval := m.Interval
	if interval <= 0 {
		interval = 20 * time.Millisecond
	}
	ct := m.ContentType
	if ct == "" {
		ct = "multipart/x-mixed-replace; boundary=" + boundary
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if m.Preamble != "" {
		fmt.Fprint(w, m.Preamble)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for sent := 0; ; sent++ {
		if m.DropAfter > 0 && sent >= m.DropAfter {
			return
		}
		if m.StallAfter > 0 && sent >= m.StallAfter {
			<-r.Context().Done()
			return
		}
		img := m.Frame(int(m.frames.Add(1) - 1))
		fmt.Fprint(w, delim+eol)
		if !m.NoPartHeaders {
			fmt.Fprint(w, "Content-Type: image/jpeg"+eol)
			if !m.NoContentLength {
				fmt.Fprintf(w, "Content-Length: %d%s", len(img), eol)
			}
			fmt.Fprint(w, eol)
		}
		if _, err := w.Write(img); err != nil {
			return
		}
		fmt.Fprint(w, eol)
		if fl != nil {
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
