package graph

import (
	"entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/predicate"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/thumbs"
)

func cameraSource(in *model.CameraSourceInput) *registry.Source {
	if in == nil {
		return nil
	}
	return &registry.Source{Kind: in.Kind, URL: optString(in.URL), Username: in.Username, Password: in.Password}
}

func sourceTest(res registry.TestResult) *model.CameraSourceTest {
	out := &model.CameraSourceTest{Ok: res.OK, Message: res.Message, ElapsedMs: int(res.Elapsed.Milliseconds())}
	if !res.OK {
		reason := string(res.Reason)
		out.Reason = &reason
		return out
	}
	// An RTSP camera can pass without a preview (no ffmpeg, or no keyframe
	// in time): no empty data: URL then.
	if len(res.Preview) > 0 {
		preview := thumbs.DataURL(res.Preview)
		out.PreviewDataURL = &preview
	}
	if res.Width > 0 && res.Height > 0 {
		out.Width, out.Height = &res.Width, &res.Height
	}
	return out
}

func optString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// unlessAsked leaves retired cameras out of the cameras list unless the
// filter asks about retiredAt (a settings screen showing retired ones).
func unlessAsked(w *ent.CameraWhereInput) predicate.Camera {
	if w != nil && (w.RetiredAt != nil || w.RetiredAtNEQ != nil || len(w.RetiredAtIn) > 0 || len(w.RetiredAtNotIn) > 0 ||
		w.RetiredAtGT != nil || w.RetiredAtGTE != nil || w.RetiredAtLT != nil || w.RetiredAtLTE != nil ||
		w.RetiredAtIsNil || w.RetiredAtNotNil) {
		return func(*sql.Selector) {}
	}
	return camera.RetiredAtIsNil()
}
