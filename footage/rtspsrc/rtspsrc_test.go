package rtspsrc_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/footage/ffmpeg"
	"github.com/regicam/regicam/footage/rtspcam"
	"github.com/regicam/regicam/footage/rtspsrc"
	"github.com/regicam/regicam/footage/segment"
)

func startCamera(t testing.TB, opt rtspcam.Options) *rtspcam.Camera {
	t.Helper()
	cam, err := rtspcam.Start(context.Background(), opt)
	if errors.Is(err, rtspcam.ErrNoFFmpeg) {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffmpeg is not installed; CI installs it (.ci/run)")
		}
		t.Skip("ffmpeg is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cam.Close() })
	return cam
}

func isIDR(au [][]byte) bool {
	for _, n := range au {
		if len(n) > 0 && n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}

type recorded struct {
	buf   bytes.Buffer
	w     *segment.H264Writer
	start time.Time
}

// TestRecordRemuxPlay records a real RTSP camera into two segments (the
// second begins at an IDR after 3 s, as a rotation does), checks each
// file's index against what the writer said, remuxes a span across both
// and reads the picture at a moment back through ffmpeg: its block code
// must tell that moment within a second.
func TestRecordRemuxPlay(t *testing.T) {
	cam := startCamera(t, rtspcam.Options{Width: 320, Height: 180, FPS: 10})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := rtspsrc.Dial(ctx, cam.URL(), rtspsrc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.SPS()) == 0 || len(s.PPS()) == 0 {
		t.Fatal("no SPS/PPS after Dial")
	}

	var segs []*recorded
	var werr error
	readCtx, stop := context.WithCancel(ctx)
	var first time.Time
	err = s.Read(readCtx, func(at time.Time, au [][]byte) {
		if werr != nil {
			return
		}
		if first.IsZero() {
			first = at
		}
		if len(segs) == 0 || (isIDR(au) && len(segs) == 1 && at.Sub(segs[0].start) >= 3*time.Second) {
			if len(segs) == 1 {
				werr = segs[0].w.Close()
			}
			r := &recorded{start: at}
			if r.w, werr = segment.NewH264Writer(&r.buf, at, s.SPS(), s.PPS()); werr != nil {
				return
			}
			segs = append(segs, r)
		}
		if werr = segs[len(segs)-1].w.WriteAccessUnit(at, au); werr != nil {
			return
		}
		if at.Sub(first) >= 6*time.Second {
			stop()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v", err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2", len(segs))
	}
	var src []segment.Source
	for i, r := range segs {
		if err := r.w.Close(); err != nil {
			t.Fatal(err)
		}
		if w, h := r.w.Size(); w != 320 || h != 180 {
			t.Errorf("segment %d: size %dx%d, want 320x180", i, w, h)
		}
		if !strings.HasPrefix(r.w.Codec(), "avc1.") || len(r.w.Codec()) != 11 {
			t.Errorf("segment %d: codec %q", i, r.w.Codec())
		}
		if r.w.Bytes() != int64(r.buf.Len()) {
			t.Errorf("segment %d: Bytes() %d, file %d", i, r.w.Bytes(), r.buf.Len())
		}
		init, frags, err := segment.ReadFMP4(bytes.NewReader(r.buf.Bytes()), int64(r.buf.Len()), r.start)
		if err != nil || len(init) == 0 {
			t.Fatalf("segment %d: ReadFMP4: %v", i, err)
		}
		var keys []int64
		for _, f := range frags {
			if f.Key {
				keys = append(keys, f.Offset)
			}
		}
		kf := r.w.Keyframes()
		if len(kf) < 2 || len(kf) != len(keys) {
			t.Fatalf("segment %d: writer says %d keyframes, file has %d", i, len(kf), len(keys))
		}
		for j, k := range kf {
			if k.Offset != keys[j] {
				t.Errorf("segment %d keyframe %d: offset %d, file %d", i, j, k.Offset, keys[j])
			}
		}
		// A GOP a second long: playback can start within about a second
		// of any moment.
		for j := 1; j < len(kf); j++ {
			if d := kf[j].At - kf[j-1].At; d <= 0 || d > 1500 {
				t.Errorf("segment %d: keyframes %d and %d are %d ms apart, want ≤ ~1000", i, j-1, j, d)
			}
		}
		last := frags[len(frags)-1]
		if !last.End.Equal(r.w.End()) {
			t.Errorf("segment %d: last fragment ends %v, writer End() %v", i, last.End, r.w.End())
		}
		// A torn tail keeps the whole fragments before it.
		cut := r.buf.Bytes()[:last.Offset+last.Len/2]
		_, tf, err := segment.ReadFMP4(bytes.NewReader(cut), int64(len(cut)), r.start)
		if !errors.Is(err, segment.ErrTruncated) || len(tf) != len(frags)-1 {
			t.Errorf("segment %d cut mid-fragment: %d fragments, %v; want %d and ErrTruncated", i, len(tf), err, len(frags)-1)
		}
		src = append(src, segment.Source{R: bytes.NewReader(r.buf.Bytes()), Size: int64(r.buf.Len()), Start: r.start})
	}

	// A span from 1.5 s into the first segment to 1.5 s into the second.
	from := segs[0].start.Add(1500 * time.Millisecond)
	to := segs[1].start.Add(1500 * time.Millisecond)
	var out bytes.Buffer
	start, err := segment.Remux(&out, src, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if start.After(from) || from.Sub(start) > 1500*time.Millisecond {
		t.Errorf("output starts %v before from; want the keyframe at or before it", from.Sub(start))
	}
	_, outFrags, err := segment.ReadFMP4(bytes.NewReader(out.Bytes()), int64(out.Len()), start)
	if err != nil || len(outFrags) == 0 || !outFrags[0].Key || !outFrags[0].Start.Equal(start) {
		t.Fatalf("remuxed file: %d fragments, %v", len(outFrags), err)
	}
	if end := outFrags[len(outFrags)-1].End; end.Before(to) {
		t.Errorf("remuxed file ends %v before to", to.Sub(end))
	}
	// Moments in both segments, the second one past the rotation.
	for _, mark := range []time.Time{from.Add(500 * time.Millisecond), segs[1].start.Add(time.Second)} {
		j, err := ffmpeg.FrameAt(ctx, bytes.NewReader(out.Bytes()), mark.Sub(start))
		if err != nil {
			t.Fatalf("FrameAt(%v): %v", mark.Sub(start), err)
		}
		shown, err := camera.DecodeTime(j)
		if err != nil {
			t.Fatalf("frame at %v: %v", mark.Sub(start), err)
		}
		// The camera repeats an older picture when its machine is too busy
		// to draw the new one (CI saw 1.2 s); that lag is the camera's, not
		// the recording's, so it widens only the early side.
		stale := cam.MaxStaleness()
		if d := shown.Sub(mark); d < -time.Second-stale || d > time.Second {
			t.Errorf("the frame at the mark shows %v, %v off the mark (the camera's own lag at most %v)", shown, d, stale)
		} else {
			t.Logf("frame at the mark shows %v off", d)
		}
	}

	// Nothing recorded in a span: ErrNoRecording.
	if _, err := segment.Remux(&bytes.Buffer{}, src, to.Add(time.Hour), to.Add(2*time.Hour)); !errors.Is(err, segment.ErrNoRecording) {
		t.Errorf("Remux of an unrecorded span: %v, want ErrNoRecording", err)
	}
}

func TestWrongPasswordIsErrAuth(t *testing.T) {
	cam := startCamera(t, rtspcam.Options{User: "admin", Password: "right-one"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := rtspsrc.Dial(ctx, cam.URL(), rtspsrc.Options{User: "admin", Password: "wrong-one"})
	if !errors.Is(err, rtspsrc.ErrAuth) {
		t.Fatalf("wrong password: %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "wrong-one") {
		t.Errorf("the error shows the password: %v", err)
	}
	// Credentials in the URL, the form an owner pastes.
	u := strings.Replace(cam.URL(), "rtsp://", "rtsp://admin:wrong-two@", 1)
	if _, err := rtspsrc.Dial(ctx, u, rtspsrc.Options{}); !errors.Is(err, rtspsrc.ErrAuth) || strings.Contains(err.Error(), "wrong-two") {
		t.Errorf("wrong password in the URL: %v", err)
	}
	if _, err := rtspsrc.Dial(ctx, cam.URL(), rtspsrc.Options{}); !errors.Is(err, rtspsrc.ErrAuth) {
		t.Errorf("no credentials: %v, want ErrAuth", err)
	}
	s, err := rtspsrc.Dial(ctx, cam.URL(), rtspsrc.Options{User: "admin", Password: "right-one"})
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	s.Close()
}

func TestCameraPauseEndsRead(t *testing.T) {
	cam := startCamera(t, rtspcam.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := rtspsrc.Dial(ctx, cam.URL(), rtspsrc.Options{ReadTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.Read(ctx, func(time.Time, [][]byte) {
			select {
			case got <- struct{}{}:
			default:
			}
		})
	}()
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("no access unit before the pause")
	}
	cam.Pause()
	select {
	case err := <-done:
		if !errors.Is(err, rtspsrc.ErrUnreachable) {
			t.Errorf("Read after the camera went: %v, want ErrUnreachable", err)
		}
	case <-ctx.Done():
		t.Fatal("Read did not return after the camera went")
	}
	// While paused the camera is not there; after Resume it is again.
	if _, err := rtspsrc.Dial(ctx, cam.URL(), rtspsrc.Options{}); !errors.Is(err, rtspsrc.ErrUnreachable) {
		t.Errorf("Dial of a paused camera: %v, want ErrUnreachable", err)
	}
	if err := cam.Resume(); err != nil {
		t.Fatal(err)
	}
	s2, err := rtspsrc.Dial(ctx, cam.URL(), rtspsrc.Options{})
	if err != nil {
		t.Fatalf("Dial after Resume: %v", err)
	}
	s2.Close()
}

func TestDialErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		url  string
		want error
	}{
		{"http://cam.example/stream", rtspsrc.ErrBadURL},
		{"rtsp://", rtspsrc.ErrBadURL},
		{"rtsp://user:pa ss@[::1/x", rtspsrc.ErrBadURL},
		// A port nothing listens on.
		{"rtsp://user:secret-pw@127.0.0.1:1/stream", rtspsrc.ErrUnreachable},
	} {
		_, err := rtspsrc.Dial(ctx, c.url, rtspsrc.Options{DialTimeout: 2 * time.Second})
		if !errors.Is(err, c.want) {
			t.Errorf("Dial(%q): %v, want %v", c.url, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "secret-pw") || strings.Contains(err.Error(), "pa ss")) {
			t.Errorf("Dial(%q): the error shows the password: %v", c.url, err)
		}
	}
}

// A server that answers every DESCRIBE with a redirect to itself (the
// RTSP client follows redirects without counting) does not hold Dial: the
// setup's own deadline ends it as unreachable, and the password stays out
// of the error.
func TestRedirectLoopEnds(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	self := "rtsp://" + l.Addr().String() + "/stream"
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := textproto.NewReader(bufio.NewReader(conn))
				for {
					line, err := r.ReadLine() // METHOD URL RTSP/1.0
					if err != nil {
						return
					}
					h, err := r.ReadMIMEHeader()
					if err != nil {
						return
					}
					method, _, _ := strings.Cut(line, " ")
					cseq := h.Get("CSeq")
					if method == "OPTIONS" {
						fmt.Fprintf(conn, "RTSP/1.0 200 OK\r\nCSeq: %s\r\nPublic: DESCRIBE, SETUP, PLAY\r\n\r\n", cseq)
						continue
					}
					fmt.Fprintf(conn, "RTSP/1.0 302 Moved Temporarily\r\nCSeq: %s\r\nLocation: %s\r\n\r\n", cseq, self)
				}
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := strings.Replace(self, "rtsp://", "rtsp://user:secret-pw@", 1)
	_, err = rtspsrc.Dial(ctx, u, rtspsrc.Options{DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond})
	if !errors.Is(err, rtspsrc.ErrUnreachable) || ctx.Err() != nil {
		t.Fatalf("Dial of a redirect loop: %v (test deadline passed: %v)", err, ctx.Err() != nil)
	}
	if strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("the error shows the password: %v", err)
	}
}
