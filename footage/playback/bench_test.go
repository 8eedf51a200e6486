package playback_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/footage/playback"
	"github.com/regicam/regicam/internal/testenv"
)

// BenchmarkClipFirstByte: time to the first byte of a 30 s clip of an
// H.264 camera (5 fps, 640×360, a keyframe every 2 s), remuxed from two
// 40 s segments with nothing cached (remux), the same clip asked again
// (cached: a player's Range requests and replays), and the raw segment
// file served as is without authentication (the floor: what a plain file
// download costs on this box). ttfb-ms is the figure; ns/op includes
// reading the whole answer.
func BenchmarkClipFirstByte(b *testing.B) {
	r := newRig(b, testenv.Backend{Name: "sqlite"}, playback.Options{CacheBytes: 1})
	cam := r.fx.CameraIDs[0]
	r.setKind(b, cam, entcamera.SourceKindRTSP)
	t0 := base()
	seg := r.h264Segment(b, cam, t0, 40*time.Second)
	r.h264Segment(b, cam, t0.Add(40*time.Second), 40*time.Second)
	raw := filepath.Join(r.dir, filepath.FromSlash(seg.Path))
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		f, err := os.Open(raw)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "video/mp4")
		http.ServeContent(w, req, "", time.Time{}, f)
	}))
	b.Cleanup(files.Close)

	from := t0.Add(25 * time.Second) // across the two segments
	clip := r.url + playbackPath(cam, from, from.Add(30*time.Second), "")
	cachedURL, cachedClient := r.serve(b, playback.New(r.app.DB.Client, r.svc, testenv.Logger(), playback.Options{TempDir: b.TempDir()}))
	cachedClip := cachedURL + playbackPath(cam, from, from.Add(30*time.Second), "")
	run := func(b *testing.B, url string) {
		var ttfb time.Duration
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			cachedClient.Credential().Apply(req.Header) // the same account's owner
			began := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var one [1]byte
			if _, err := io.ReadFull(resp.Body, one[:]); err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d: %v", resp.StatusCode, err)
			}
			ttfb += time.Since(began)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		b.ReportMetric(float64(ttfb.Microseconds())/1000/float64(b.N), "ttfb-ms")
	}
	b.Run("remux", func(b *testing.B) { run(b, clip) })
	b.Run("cached", func(b *testing.B) { run(b, cachedClip) })
	b.Run("rawfile", func(b *testing.B) { run(b, files.URL) })
}
