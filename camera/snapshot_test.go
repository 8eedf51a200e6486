package camera

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/camera/fake"
)

var snapTime = time.Date(2025, 6, 1, 10, 11, 12, 345e6, time.UTC)

func jpegHandler(t testing.TB) http.Handler {
	img := testJPEG(t, snapTime)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(img)
	})
}

func grabOK(t *testing.T, g Grabber) Frame {
	t.Helper()
	before := time.Now()
	f, err := g.Grab(context.Background())
	if err != nil {
		t.Fatalf("grab: %v", err)
	}
	if f.CapturedAt.Before(before) || f.CapturedAt.After(time.Now()) {
		t.Fatalf("CapturedAt %v outside the request window", f.CapturedAt)
	}
	if f.Width != 640 || f.Height != 360 {
		t.Fatalf("size %dx%d", f.Width, f.Height)
	}
	if got, err := DecodeTime(f.JPEG); err != nil || !got.Equal(snapTime) {
		t.Fatalf("served frame decodes to %v, %v", got, err)
	}
	return f
}

func TestSnapshotNoAuth(t *testing.T) {
	srv := httptest.NewServer(jpegHandler(t))
	defer srv.Close()
	grabOK(t, NewSnapshot(srv.URL+"/snap.jpg", nil, testClient(t, 0)))
}

func TestSnapshotBasic(t *testing.T) {
	auth := &fake.BasicAuth{Realm: "cam", Username: "admin", Password: "pw:with colon"}
	srv := httptest.NewServer(auth.Wrap(jpegHandler(t)))
	defer srv.Close()
	c := testClient(t, 0)

	grabOK(t, NewSnapshot(srv.URL, &Credentials{Username: "admin", Password: "pw:with colon"}, c))
	grabOK(t, NewSnapshot(srv.URL, &Credentials{Username: "admin", Password: "pw:with colon", Scheme: AuthBasic}, c))
	// user:pass@ in the URL is the common way to paste camera credentials.
	u := strings.Replace(srv.URL, "http://", "http://admin:pw%3Awith%20colon@", 1)
	grabOK(t, NewSnapshot(u, nil, c))

	_, err := NewSnapshot(srv.URL, &Credentials{Username: "admin", Password: "wrong"}, c).Grab(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong password: %v", err)
	}
	mustContain(t, err, "wrong username or password", `"admin"`)
	if strings.Contains(err.Error(), "wrong\"") || strings.Contains(err.Error(), "pw:") {
		t.Fatalf("password leaked into %q", err)
	}

	_, err = NewSnapshot(srv.URL, nil, c).Grab(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("no credentials: %v", err)
	}
	mustContain(t, err, "none are configured", `basic realm="cam"`)

	// Pinned Digest must not answer a Basic challenge.
	_, err = NewSnapshot(srv.URL, &Credentials{Username: "admin", Password: "pw:with colon", Scheme: AuthDigest}, c).Grab(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("digest-only against basic: %v", err)
	}
}

func TestSnapshotDigest(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth *fake.DigestAuth
	}{
		{"MD5", &fake.DigestAuth{Algorithm: "MD5"}},
		{"no-algorithm", &fake.DigestAuth{}},
		{"MD5-sess", &fake.DigestAuth{Algorithm: "MD5-sess"}},
		{"SHA-256", &fake.DigestAuth{Algorithm: "SHA-256"}},
		{"RFC2069-no-qop", &fake.DigestAuth{QOP: "none"}},
		{"userhash", &fake.DigestAuth{Algorithm: "SHA-256", Userhash: true}},
		{"prefers-digest-over-basic", &fake.DigestAuth{Algorithm: "MD5", AlsoBasic: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := tc.auth
			auth.Realm, auth.Username, auth.Password = `IP "Camera"`, "admin", "12345"
			var reqs atomic.Int64
			h := auth.Wrap(jpegHandler(t))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reqs.Add(1)
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			g := NewSnapshot(srv.URL+"/ISAPI/Streaming/channels/101/picture?snapShotImageType=JPEG", &Credentials{Username: "admin", Password: "12345"}, testClient(t, 0))
			for range 5 {
				grabOK(t, g)
			}
			// The nonce is cached: one challenge, then every poll is a
			// single request with a growing nc (the server rejects replays).
			if c := auth.Challenges.Load(); c != 1 {
				t.Errorf("challenges = %d, want 1", c)
			}
			if n := reqs.Load(); n != 6 {
				t.Errorf("requests = %d, want 6", n)
			}
			if a := auth.Accepted.Load(); a != 5 {
				t.Errorf("accepted = %d, want 5", a)
			}
		})
	}
}

func TestSnapshotDigestNonceLifecycle(t *testing.T) {
	auth := &fake.DigestAuth{Realm: "cam", Username: "admin", Password: "12345", Algorithm: "MD5", NonceUses: 2}
	srv := httptest.NewServer(auth.Wrap(jpegHandler(t)))
	defer srv.Close()
	g := NewSnapshot(srv.URL, &Credentials{Username: "admin", Password: "12345"}, testClient(t, 0))
	for range 7 {
		grabOK(t, g) // stale=true every third request is answered transparently
	}
	if auth.Stale.Load() == 0 {
		t.Fatal("server never sent stale=true")
	}
	// A rebooted camera forgets its nonces; that must not read as a wrong
	// password.
	auth.ExpireNonces()
	grabOK(t, g)

	// Concurrent grabs share the nonce; nc must stay strictly increasing
	// on the wire or the server rejects a replay.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := g.Grab(context.Background()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	// One credentialed request is in flight at a time, so no request can
	// overtake another between nc assignment and the server: none fails,
	// however loaded the machine (a replay reads as a wrong password).
	for err := range errs {
		t.Errorf("concurrent grab: %v", err)
	}
	t.Logf("concurrent grabs: %d challenges", auth.Challenges.Load())
}

func TestSnapshotDigestWrongPassword(t *testing.T) {
	auth := &fake.DigestAuth{Realm: "cam", Username: "admin", Password: "12345", Algorithm: "MD5"}
	srv := httptest.NewServer(auth.Wrap(jpegHandler(t)))
	defer srv.Close()
	c := testClient(t, 0)
	_, err := NewSnapshot(srv.URL, &Credentials{Username: "admin", Password: "54321"}, c).Grab(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("got %v", err)
	}
	mustContain(t, err, "wrong username or password", `digest realm="cam"`)
	if auth.Challenges.Load() != 2 {
		t.Fatalf("challenges = %d: the client should give up after one fresh attempt", auth.Challenges.Load())
	}
	_, err = NewSnapshot(srv.URL, &Credentials{Username: "root", Password: "12345"}, c).Grab(context.Background())
	mustContain(t, err, "wrong username or password", `"root"`)
	// Pinned Basic must not answer a Digest challenge.
	_, err = NewSnapshot(srv.URL, &Credentials{Username: "admin", Password: "12345", Scheme: AuthBasic}, c).Grab(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("basic-only against digest: %v", err)
	}
}

func TestSnapshotBadContent(t *testing.T) {
	good := testJPEG(t, snapTime)
	big := make([]byte, DefaultMaxFrameBytes+1)
	copy(big, good)
	fiveMB := make([]byte, 5<<20)
	rand.Read(fiveMB)
	for _, tc := range []struct {
		name    string
		h       http.HandlerFunc
		want    error
		message string
	}{
		{"html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><body>Login</body></html>"))
		}, ErrNotJPEG, "looks like HTML"},
		{"empty", func(w http.ResponseWriter, r *http.Request) {}, ErrNotJPEG, "0 bytes"},
		{"5MB noise", func(w http.ResponseWriter, r *http.Request) { w.Write(fiveMB) }, ErrNotJPEG, "5242880 bytes"},
		{"SOI then garbage", func(w http.ResponseWriter, r *http.Request) {
			w.Write(append([]byte{0xFF, 0xD8}, bytes.Repeat([]byte("x"), 100)...))
		}, ErrNotJPEG, ""},
		{"truncated", func(w http.ResponseWriter, r *http.Request) { w.Write(good[:len(good)/2]) }, ErrNotJPEG, "truncated"},
		{"too large, announced", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		}, ErrTooLarge, "Content-Length"},
		{"too large, chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Write(big[:1000])
			w.(http.Flusher).Flush()
			w.Write(big[1000:])
		}, ErrTooLarge, "body exceeds"},
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "sensor failure", http.StatusServiceUnavailable)
		}, nil, "503 Service Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			_, err := NewSnapshot(srv.URL, nil, testClient(t, 0)).Grab(context.Background())
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			mustContain(t, err, tc.message)
			// Body bytes are never echoed: the URL may point anywhere.
			for _, secret := range []string{"Login", "sensor failure"} {
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q echoes the body (%q)", err, secret)
				}
			}
		})
	}
}

func TestSnapshotBadURL(t *testing.T) {
	for _, u := range []string{"rtsp://cam/stream", "file:///etc/passwd", "http://", "::nope", "ftp://user:secret@cam/x.jpg"} {
		if err := ValidateURL(u); !errors.Is(err, ErrBadURL) {
			t.Errorf("ValidateURL(%q) = %v", u, err)
		}
		_, err := NewSnapshot(u, nil, nil).Grab(context.Background())
		if !errors.Is(err, ErrBadURL) {
			t.Errorf("Grab(%q) = %v", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("password leaked: %v", err)
		}
	}
	if err := ValidateURL("https://cam.local:8443/snap.jpg"); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotTimeoutAndTLS(t *testing.T) {
	done := leakCheck(t)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	c := testClient(t, 200*time.Millisecond)
	start := time.Now()
	_, err := NewSnapshot(hang.URL, nil, c).Grab(context.Background())
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("hanging camera: %v after %v", err, time.Since(start))
	}
	// Without a client timeout the caller's context bounds the request.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = NewSnapshot(hang.URL, nil, testClient(t, 0)).Grab(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx deadline: %v", err)
	}

	tlsSrv := httptest.NewUnstartedServer(jpegHandler(t))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failure below is intended
	tlsSrv.StartTLS()
	_, err = NewSnapshot(tlsSrv.URL, nil, testClient(t, 0)).Grab(context.Background())
	mustContain(t, err, "certificate")
	grabOK(t, NewSnapshot(tlsSrv.URL, nil, tlsSrv.Client()))

	close(release)
	done(hang.Close, tlsSrv.Close, c.CloseIdleConnections, tlsSrv.Client().CloseIdleConnections)
}
