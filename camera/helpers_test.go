package camera

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testJPEG is a simulated frame of the given time.
func testJPEG(t testing.TB, at time.Time) []byte {
	t.Helper()
	f, err := NewSimulated("test", func() time.Time { return at }).Grab(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return f.JPEG
}

// testClient has its own transport so idle keep-alive connections (and
// their goroutines) can be closed before counting goroutines.
func testClient(t testing.TB, timeout time.Duration) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

// leakCheck records the goroutine count; the returned func waits for it to
// come back. Tests using it must not run in parallel.
func leakCheck(t *testing.T) func(cleanup ...func()) {
	t.Helper()
	base := runtime.NumGoroutine()
	return func(cleanup ...func()) {
		t.Helper()
		for _, c := range cleanup {
			c()
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("goroutines: %d, baseline %d\n%s", n, base, buf)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustContain(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}
