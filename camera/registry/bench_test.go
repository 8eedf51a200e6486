package registry_test

import (
	"context"
	"testing"

	"github.com/regicam/regicam/camera/registry"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/netguard"
)

// BenchmarkTestSourceSnapshot: one testCameraSource against a local
// 1280×720 snapshot camera — URL policy, fetch, JPEG check and the 320 px
// preview — without the GraphQL layer.
func BenchmarkTestSourceSnapshot(b *testing.B) {
	cam := serve(b, snapshots(frame(b, 1280, 720)))
	svc := registry.New(nil, nil, registry.Options{Policy: netguard.Policy{AllowPrivate: true}})
	src := registry.Source{Kind: entcamera.SourceKindSNAPSHOT, URL: cam.URL + "/snap.jpg"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := svc.TestSource(ctx, src); !res.OK {
			b.Fatalf("%+v", res)
		}
	}
}
