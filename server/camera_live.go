package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/schema/pulid"
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
func (a *App) cameraLiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := viewer.Require(r.Context(), viewer.ScopeJournalRead)
		if err != nil {
			if _, ok := viewer.FromContext(r.Context()); !ok {
				http.Error(w, "authentication required", http.StatusUnauthorized)
			} else {
				http.Error(w, "forbidden", http.StatusForbidden)
			}
			return
		}
		id := r.PathValue("id")
		if !pulid.Valid(id, "CA") {
			http.NotFound(w, r)
			return
		}
		_, err = a.DB.Client.Camera.Query().
			Where(entcamera.ID(pulid.ID(id)), entcamera.AccountID(v.AccountID)).Only(r.Context())
		if ent.IsNotFound(err) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			a.log.Error("camera lookup", "id", id, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		src, ok := a.Recorders.Source(pulid.ID(id))
		lf, ok2 := src.(latestFramer)
		if !ok || !ok2 {
			http.Error(w, "this camera is not recorded (no frame source)", http.StatusNotFound)
			return
		}
		f, ok := lf.Latest()
		if !ok {
			// Recording has started but the first frame is not in yet.
			w.Header().Set("Retry-After", "1")
			http.Error(w, "no picture yet", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", strconv.Itoa(len(f.JPEG)))
		w.Header().Set("X-Captured-At", f.CapturedAt.UTC().Format(time.RFC3339Nano))
		w.Header().Set("Last-Modified", f.CapturedAt.UTC().Format(http.TimeFormat))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(f.JPEG)
	})
}
