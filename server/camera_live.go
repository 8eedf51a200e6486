package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// latestFramer is what the live picture needs of a recorder: its newest
// frame, without waiting.
type latestFramer interface {
	Latest() (camera.Frame, bool)
}

// cameraLiveHandler serves GET /cameras/{id}/live.jpg: the newest frame the
// server recorded of one of the viewer's cameras, for the dashboard's live
// picture (it polls about once a second). It never contacts the camera
// itself, so a thousand open dashboards cost the camera nothing. Same rules
// as /thumbnails: another account's camera is a 404.
func (s *Server) cameraLiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := viewer.Require(r.Context(), viewer.ScopeJournalRead)
		if err != nil {
			s.writeError(w, r, err, "camera viewer") // 401 anonymous, 403 without journal:read
			return
		}
		id := r.PathValue("id")
		if !pulid.Valid(id, "CA") {
			s.writeError(w, r, errNoCamera, "")
			return
		}
		cam, err := s.d.DB.Client.Camera.Query().
			Where(entcamera.ID(pulid.ID(id)), entcamera.AccountID(v.AccountID)).Only(r.Context())
		if ent.IsNotFound(err) {
			err = errNoCamera
		}
		if err != nil {
			s.writeError(w, r, err, "camera lookup", "id", id)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if cam.SourceKind != nil && *cam.SourceKind == entcamera.SourceKindCLOUD {
			s.cloudLive(w, r, cam)
			return
		}
		src, ok := s.d.Recorders.Source(pulid.ID(id))
		lf, ok2 := src.(latestFramer)
		if cam.SourceKind != nil && *cam.SourceKind == entcamera.SourceKindRTSP && s.d.Player != nil {
			// An RTSP camera's snapshot URL, read into the ring by a
			// recorder, is its live picture while it answers: no decode.
			if ok && ok2 {
				if f, ok := lf.Latest(); ok && time.Since(f.CapturedAt) <= rtspLiveKeep {
					writeLiveFrame(w, r, f)
					return
				}
			}
			s.rtspLivePicture(w, r, cam.ID)
			return
		}
		if !ok || !ok2 {
			s.writeError(w, r, apperr.Missing("id", "このカメラは録画されていません (camera is not recorded: no frame source)").Because(apperr.CAMERA_NOT_RECORDED), "")
			return
		}
		f, ok := lf.Latest()
		if !ok {
			// Recording has started but the first frame is not in yet.
			w.Header().Set("Retry-After", "1")
			s.writeError(w, r, apperr.Unavailablef("まだ映像がありません (no picture yet)").Because(apperr.CAMERA_NO_PICTURE_YET), "")
			return
		}
		writeLiveFrame(w, r, f)
	})
}

func writeLiveFrame(w http.ResponseWriter, r *http.Request, f camera.Frame) {
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.JPEG)))
	w.Header().Set("X-Captured-At", f.CapturedAt.UTC().Format(time.RFC3339Nano))
	w.Header().Set("Last-Modified", f.CapturedAt.UTC().Format(http.TimeFormat))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(f.JPEG)
}

// errNoCamera is every camera the viewer cannot see: malformed id,
// unknown, or another account's (a 404 that confirms nothing).
var errNoCamera = apperr.Missing("id", "カメラが見つかりません (camera not found)").Because(apperr.NOT_FOUND)

// cloudLive answers the live picture of a CLOUD camera: the cloud's latest
// thumbnail (shared among viewers for a moment by camcloud/pictures), not
// a frame this server recorded. The cloud does not say when it was taken,
// so no X-Captured-At.
func (s *Server) cloudLive(w http.ResponseWriter, r *http.Request, cam *ent.Camera) {
	if s.d.CloudLive == nil {
		s.writeError(w, r, errCloudNotServed, "")
		return
	}
	jpeg, err := s.d.CloudLive.Live(r.Context(), cam.ID)
	if errors.Is(err, camcloud.ErrNotCloud) {
		// Retired, or its connection is gone.
		err = errCloudNotServed
	}
	if err != nil {
		s.writeError(w, r, err, "cloud camera live", "camera", cam.ID)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(jpeg)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(jpeg)
}

// errCloudNotServed: a CLOUD camera this server cannot show live.
var errCloudNotServed = apperr.Missing("id", "このカメラの映像はクラウドから取得できません (cloud camera not served)").Because(apperr.CAMERA_NOT_RECORDED)

// rtspLiveCache holds the newest picture decoded per RTSP camera, and the
// decodes in flight.
type rtspLiveCache struct {
	mu     sync.Mutex
	frames map[pulid.ID]rtspLiveFrame
	flight singleflight.Group
	// decodes bounds the ffmpeg decodes of the whole server.
	decodeOnce sync.Once
	decodes    chan struct{}
}

// rtspLiveFrame is a camera's newest decode: a picture, or why there is
// none (a failure is shared for as long as a picture would be).
type rtspLiveFrame struct {
	jpeg    []byte
	taken   time.Time
	decoded time.Time
	err     error
}

// rtspLiveShare: viewers of one RTSP camera within this long share one
// decode; the picture is a few seconds behind the camera anyway.
const rtspLiveShare = 2 * time.Second

// rtspLiveFailShare: a failed decode is shared this long (a camera that is
// not recording is not decoded for every ask, and is tried again soon).
const rtspLiveFailShare = 500 * time.Millisecond

// rtspLiveKeep: how old the last good picture may be to stand in for a
// failed decode.
const rtspLiveKeep = 10 * time.Second

// rtspLiveDecodes is how many RTSP live pictures the server decodes at once.
const rtspLiveDecodes = 2

// latest answers a camera's live picture: the shared one while fresh, else
// one decode per camera however many ask (each asker waits only as long as
// its own request lives), at most rtspLiveDecodes cameras at a time.
func (c *rtspLiveCache) latest(ctx context.Context, id pulid.ID, decode func(context.Context) ([]byte, time.Time, error)) rtspLiveFrame {
	c.decodeOnce.Do(func() { c.decodes = make(chan struct{}, rtspLiveDecodes) })
	c.mu.Lock()
	f, ok := c.frames[id]
	c.mu.Unlock()
	if ok && time.Since(f.decoded) <= rtspLiveShare && (f.err == nil || time.Since(f.decoded) <= rtspLiveFailShare) {
		return f
	}
	ch := c.flight.DoChan(string(id), func() (any, error) {
		// Not the first asker's context: its leaving must not fail the rest.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*time.Second)
		defer cancel()
		select {
		case c.decodes <- struct{}{}:
		case <-dctx.Done():
			return rtspLiveFrame{err: dctx.Err(), decoded: time.Now()}, nil
		}
		jpeg, taken, err := decode(dctx)
		<-c.decodes
		f := rtspLiveFrame{jpeg: jpeg, taken: taken, decoded: time.Now(), err: err}
		c.mu.Lock()
		// One failed decode (the newest seconds not on disk yet) does not
		// blank a live view: a picture decoded moments ago stays.
		if prev, had := c.frames[id]; err != nil && had && prev.err == nil && f.decoded.Sub(prev.taken) <= rtspLiveKeep {
			f = rtspLiveFrame{jpeg: prev.jpeg, taken: prev.taken, decoded: f.decoded}
		}
		if c.frames == nil || len(c.frames) > 10_000 {
			c.frames = map[pulid.ID]rtspLiveFrame{}
		}
		c.frames[id] = f
		c.mu.Unlock()
		return f, nil
	})
	select {
	case res := <-ch:
		return res.Val.(rtspLiveFrame)
	case <-ctx.Done():
		return rtspLiveFrame{err: ctx.Err()}
	}
}

// rtspLivePicture: an RTSP camera is recorded by footage, not by a fleet
// recorder, so its live picture is a recent second decoded from its
// recording (ffmpeg), shared by every viewer for rtspLiveShare: a wall of
// live views costs one decode per camera every two seconds.
func (s *Server) rtspLivePicture(w http.ResponseWriter, r *http.Request, id pulid.ID) {
	f := s.rtspLive.latest(r.Context(), id, func(ctx context.Context) ([]byte, time.Time, error) {
		return s.d.Player.Frames(nil).FrameAt(ctx, id, time.Now().Add(-3*time.Second))
	})
	ok := f.err == nil && len(f.jpeg) > 0
	if !ok {
		w.Header().Set("Retry-After", "1")
		s.writeError(w, r, apperr.Unavailablef("まだ映像がありません (no picture yet)").Because(apperr.CAMERA_NO_PICTURE_YET), "")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.jpeg)))
	w.Header().Set("X-Captured-At", f.taken.UTC().Format(time.RFC3339Nano))
	w.Header().Set("Last-Modified", f.taken.UTC().Format(http.TimeFormat))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(f.jpeg)
}
