package camera

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/camera/fake"
)

// numbered returns a Frame func whose n-th JPEG carries "frame=n" in a COM
// segment, so a test can tell which frame Grab handed out.
func numbered(t testing.TB) func(int) []byte {
	base := testJPEG(t, snapTime)
	return func(n int) []byte {
		c := []byte("frame=" + strconv.Itoa(n))
		seg := append([]byte{0xFF, 0xFE, byte((len(c) + 2) >> 8), byte(len(c) + 2)}, c...)
		out := append([]byte{0xFF, 0xD8}, seg...)
		return append(out, base[2:]...)
	}
}

func frameNo(t *testing.T, b []byte) int {
	t.Helper()
	i := bytes.Index(b, []byte("frame="))
	if i < 0 || i > 64 {
		t.Fatalf("no frame number in JPEG")
	}
	j := i + len("frame=")
	k := j
	for k < len(b) && b[k] >= '0' && b[k] <= '9' {
		k++
	}
	n, _ := strconv.Atoi(string(b[j:k]))
	return n
}

func fastMJPEG(url string, creds *Credentials, c *http.Client) *MJPEG {
	m := NewMJPEG(url, creds, c)
	m.MinBackoff, m.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	m.StallTimeout = 300 * time.Millisecond
	m.MaxAge = time.Second
	m.Log = slog.New(slog.DiscardHandler)
	return m
}

func TestMJPEGDialects(t *testing.T) {
	for _, tc := range []struct {
		name string
		srv  *fake.MJPEG
	}{
		{"standard", &fake.MJPEG{}},
		{"no Content-Length", &fake.MJPEG{NoContentLength: true}},
		{"bare LF", &fake.MJPEG{LF: true, NoContentLength: true}},
		{"dashes in parameter", &fake.MJPEG{Boundary: "--myboundary", Delimiter: "--myboundary"}},
		{"extra dashes in body", &fake.MJPEG{Boundary: "myboundary", Delimiter: "----myboundary", NoContentLength: true}},
		{"quoted boundary", &fake.MJPEG{ContentType: `multipart/x-mixed-replace;boundary="ipcam frame"`, Boundary: "ipcam frame"}},
		{"no boundary parameter", &fake.MJPEG{ContentType: "multipart/x-mixed-replace", Boundary: "guessme"}},
		{"unparseable Content-Type", &fake.MJPEG{ContentType: "multipart/x-mixed-replace; boundary=--frame; ;;", Boundary: "--frame"}},
		{"no part headers", &fake.MJPEG{NoPartHeaders: true}},
		{"preamble", &fake.MJPEG{Preamble: "This is a MJPEG stream\r\n\r\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := leakCheck(t)
			s := tc.srv
			s.Frame = numbered(t)
			srv := httptest.NewServer(s)
			c := testClient(t, 0)
			m := fastMJPEG(srv.URL+"/mjpg/video.mjpg", nil, c)
			if err := m.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			var last int
			eventually(t, 5*time.Second, "two frames", func() bool {
				f, err := m.Grab(context.Background())
				if err != nil {
					return false
				}
				if got, err := DecodeTime(f.JPEG); err != nil || !got.Equal(snapTime) {
					t.Fatalf("frame decodes to %v, %v", got, err)
				}
				if f.Width != 640 || f.Height != 360 || time.Since(f.CapturedAt) > 2*m.MaxAge {
					t.Fatalf("frame %dx%d at %v", f.Width, f.Height, f.CapturedAt)
				}
				last = frameNo(t, f.JPEG)
				return last >= 2
			})
			// Latest, not oldest: the frame handed out catches up to within a
			// couple of what the server has written. "Eventually" because a
			// loaded CI box can leave a few frames in the socket buffer for a
			// moment; a grabber that queued frames would only fall further
			// behind and still fail.
			eventually(t, 5*time.Second, "grab to catch up with the server", func() bool {
				f, err := m.Grab(context.Background())
				if err != nil {
					return false
				}
				return frameNo(t, f.JPEG) >= int(s.Frames())-3
			})
			if s.Connections() != 1 {
				t.Fatalf("connections = %d", s.Connections())
			}
			m.Close()
			m.Close()
			if _, err := m.Grab(context.Background()); !errors.Is(err, ErrOffline) {
				t.Fatalf("grab after close: %v", err)
			}
			done(srv.Close, c.CloseIdleConnections)
		})
	}
}

func TestMJPEGReconnect(t *testing.T) {
	done := leakCheck(t)
	s := &fake.MJPEG{Frame: numbered(t), DropAfter: 3}
	srv := httptest.NewServer(s)
	c := testClient(t, 0)
	m := fastMJPEG(srv.URL, nil, c)
	m.Start(context.Background())
	eventually(t, 5*time.Second, "three connections", func() bool { return s.Connections() >= 3 })
	eventually(t, 5*time.Second, "a frame after reconnecting", func() bool {
		f, err := m.Grab(context.Background())
		return err == nil && frameNo(t, f.JPEG) >= 6
	})
	m.Close()
	done(srv.Close, c.CloseIdleConnections)
}

func TestMJPEGStall(t *testing.T) {
	done := leakCheck(t)
	s := &fake.MJPEG{Frame: numbered(t), StallAfter: 2}
	srv := httptest.NewServer(s)
	c := testClient(t, 0)
	m := fastMJPEG(srv.URL, nil, c)
	m.StallTimeout = 200 * time.Millisecond
	m.MaxAge = 100 * time.Millisecond
	m.Start(context.Background())
	eventually(t, 5*time.Second, "first frame", func() bool { _, err := m.Grab(context.Background()); return err == nil })
	// Connected but silent: the old frame must not be passed off as new...
	eventually(t, 5*time.Second, "stale error", func() bool {
		_, err := m.Grab(context.Background())
		return err != nil && errors.Is(err, ErrOffline)
	})
	// ...and the watchdog reconnects.
	eventually(t, 5*time.Second, "reconnect after stall", func() bool { return s.Connections() >= 2 })
	m.mu.Lock()
	lastErr := m.lastErr
	m.mu.Unlock()
	if lastErr != nil && !strings.Contains(lastErr.Error(), "stalled") && !strings.Contains(lastErr.Error(), "ago") {
		t.Logf("last error: %v", lastErr)
	}
	m.Close()
	done(srv.Close, c.CloseIdleConnections)
}

func TestMJPEGFaults(t *testing.T) {
	good := testJPEG(t, snapTime)
	for _, tc := range []struct {
		name  string
		h     http.Handler
		setup func(*MJPEG)
		want  string
	}{
		{"single JPEG instead of a stream", jpegHandler(t), nil, `Content-Type "image/jpeg" is not a multipart`},
		{"non-JPEG parts", &fake.MJPEG{Frame: func(int) []byte { return []byte("<html>nope</html>") }}, nil, "not a JPEG"},
		{"part too large", &fake.MJPEG{Frame: func(int) []byte { return good }}, func(m *MJPEG) { m.MaxFrameBytes = 1000 }, "frame too large"},
		{"part too large, no length", &fake.MJPEG{Frame: func(int) []byte { return good }, NoContentLength: true}, func(m *MJPEG) { m.MaxFrameBytes = 1000 }, "frame too large"},
		{"wrong boundary", &fake.MJPEG{Frame: func(int) []byte { return good }, ContentType: "multipart/x-mixed-replace; boundary=other"}, nil, `boundary "other" not found`},
		{"404", http.NotFoundHandler(), nil, "404 Not Found"},
		{"headers never come", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }),
			func(m *MJPEG) { m.HeaderTimeout = 50 * time.Millisecond }, "no response headers within 50ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := leakCheck(t)
			srv := httptest.NewServer(tc.h)
			c := testClient(t, 0)
			m := fastMJPEG(srv.URL, nil, c)
			if tc.setup != nil {
				tc.setup(m)
			}
			m.Start(context.Background())
			var err error
			eventually(t, 5*time.Second, "error "+tc.want, func() bool {
				_, err = m.Grab(context.Background())
				return err != nil && strings.Contains(err.Error(), tc.want)
			})
			if !errors.Is(err, ErrOffline) {
				t.Fatalf("%v does not match ErrOffline", err)
			}
			m.Close()
			done(srv.Close, c.CloseIdleConnections)
		})
	}
}

func TestMJPEGAuthAndURL(t *testing.T) {
	done := leakCheck(t)
	auth := &fake.DigestAuth{Realm: "cam", Username: "admin", Password: "12345", Algorithm: "MD5"}
	srv := httptest.NewServer(auth.Wrap(&fake.MJPEG{Frame: numbered(t)}))
	c := testClient(t, 0)

	m := fastMJPEG(srv.URL, &Credentials{Username: "admin", Password: "12345"}, c)
	if _, err := m.Grab(context.Background()); !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "not started") {
		t.Fatalf("grab before start: %v", err)
	}
	m.Start(context.Background())
	m.Start(context.Background()) // no second stream
	eventually(t, 5*time.Second, "authenticated frame", func() bool { _, err := m.Grab(context.Background()); return err == nil })
	m.Close()

	bad := fastMJPEG(srv.URL, &Credentials{Username: "admin", Password: "nope"}, c)
	bad.Start(context.Background())
	eventually(t, 5*time.Second, "auth error", func() bool {
		_, err := bad.Grab(context.Background())
		return errors.Is(err, ErrOffline) && strings.Contains(fmt.Sprint(err), "wrong username or password")
	})
	bad.Close()

	if err := NewMJPEG("rtsp://cam/live", nil, nil).Start(context.Background()); !errors.Is(err, ErrBadURL) {
		t.Fatalf("rtsp: %v", err)
	}
	// Start under a context that ends also stops the stream; Start again
	// (a Recorder that is run anew) revives it, as does Start after Close.
	ctx, cancel := context.WithCancel(context.Background())
	m2 := fastMJPEG(srv.URL, &Credentials{Username: "admin", Password: "12345"}, c)
	m2.Start(ctx)
	eventually(t, 5*time.Second, "first stream", func() bool { _, err := m2.Grab(context.Background()); return err == nil })
	cancel()
	eventually(t, 5*time.Second, "stream down", func() bool { _, err := m2.Grab(context.Background()); return err != nil })
	m2.Start(context.Background())
	eventually(t, 5*time.Second, "restarted stream", func() bool { _, err := m2.Grab(context.Background()); return err == nil })
	m2.Close()
	m2.Start(context.Background())
	eventually(t, 5*time.Second, "stream after Close", func() bool { _, err := m2.Grab(context.Background()); return err == nil })
	m2.Close()

	done(srv.Close, c.CloseIdleConnections)
}

func TestMJPEGClientTimeoutIgnored(t *testing.T) {
	done := leakCheck(t)
	s := &fake.MJPEG{Frame: numbered(t)}
	srv := httptest.NewServer(s)
	c := testClient(t, 100*time.Millisecond)
	m := fastMJPEG(srv.URL, nil, c)
	m.Start(context.Background())
	time.Sleep(400 * time.Millisecond)
	if _, err := m.Grab(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Connections() != 1 {
		t.Fatalf("the client Timeout cut the stream: %d connections", s.Connections())
	}
	m.Close()
	done(srv.Close, c.CloseIdleConnections)
}

// partReader on fixed bodies, including payloads that look like boundaries
// but are not at a line start or do not match.
func TestPartReader(t *testing.T) {
	p1 := "\xff\xd8one\r\n--notit\r\nstill one\n-- frame\xff\xd9"
	p2 := "\xff\xd8two\xff\xd9"
	for _, tc := range []struct {
		name, boundary, body string
		want                 []string
		wantErr              string
	}{
		{"crlf with lengths", "frame",
			"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + strconv.Itoa(len(p1)) + "\r\n\r\n" + p1 + "\r\n--frame\r\nContent-Length: " + strconv.Itoa(len(p2)) + "\r\n\r\n" + p2 + "\r\n--frame--\r\n",
			[]string{p1, p2}, ""},
		{"no lengths", "frame",
			"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + p1 + "\r\n--frame\r\n\r\n" + p2 + "\r\n--frame\r\n",
			[]string{p1, p2}, ""},
		{"wrong length is resynchronised", "frame",
			"--frame\r\nContent-Length: 5\r\n\r\n" + p2 + "\r\n--frame\r\n\r\n" + p2 + "\r\n--frame--",
			[]string{p2[:5], p2}, ""},
		{"closing boundary", "--b",
			"--b\nContent-Type: image/jpeg\n\n" + p2 + "\n--b--\n",
			[]string{p2}, ""},
		{"learned boundary", "",
			"junk\r\n--xyz\r\n\r\n" + p2 + "\r\n--xyz\r\n\r\n" + p1 + "\r\n--xyz--\r\n",
			[]string{p2, p1}, ""},
		{"no boundary at all", "",
			strings.Repeat("0123456789abcdef\n", 5000), nil, "no multipart boundary"},
		{"huge header line", "frame",
			"--frame\r\nX: " + strings.Repeat("a", 40000) + "\r\n\r\n", nil, "header line longer"},
		{"ended mid-part", "frame",
			"--frame\r\nContent-Length: 100\r\n\r\n\xff\xd8abc", nil, "mid-part"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := &partReader{r: bufio.NewReaderSize(strings.NewReader(tc.body), 32<<10), core: boundaryCore(tc.boundary), max: 1 << 20}
			var got []string
			var err error
			for {
				var b []byte
				b, _, err = pr.next()
				if err != nil {
					break
				}
				got = append(got, string(b))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("parts %q, want %q", got, tc.want)
			}
			if tc.wantErr == "" {
				if !errors.Is(err, io.EOF) {
					t.Errorf("end: %v, want EOF", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("end: %v, want %q", err, tc.wantErr)
			}
		})
	}
}
