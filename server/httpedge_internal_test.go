package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStreamingOutlivesWriteTimeout: a response that keeps making progress
// (the CSV export) runs past the server's write timeout when wrapped in
// streaming, and is cut off at it when not — the reason the wrapper exists.
func TestStreamingOutlivesWriteTimeout(t *testing.T) {
	const writeTimeout = time.Second
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flusher, _ := w.(http.Flusher)
		// 25 chunks 100 ms apart: 2.5 s in all, over twice the timeout,
		// with ten times the gap to spare between two writes.
		for i := 0; i < 25; i++ {
			_, _ = io.WriteString(w, strings.Repeat("x", 1024)+"\n")
			if flusher != nil {
				flusher.Flush()
			}
			time.Sleep(100 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "end\n")
	})
	for _, c := range []struct {
		name     string
		h        http.Handler
		complete bool
	}{
		{"streaming", streaming(writeTimeout, slow), true},
		{"plain", slow, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(c.h)
			srv.Config.WriteTimeout = writeTimeout
			srv.Start()
			t.Cleanup(srv.Close)
			resp, err := http.Get(srv.URL)
			var body []byte
			if err == nil {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if got := strings.HasSuffix(string(body), "end\n"); got != c.complete {
				t.Errorf("response complete = %v (%d bytes), want %v", got, len(body), c.complete)
			}
		})
	}
}
