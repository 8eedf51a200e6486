package registry_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/internal/testenv"
)

// cameraFields is every field of a Camera a client can select.
const cameraFields = `id createdAt updatedAt name model deviceID posOption sourceKind lastSeenAt retiredAt
  sourceStatus sourceURL hasSourceCredentials label
  status { recording online lastSeenAt lastError bufferedFrom }
  links { id endedAt terminal { id externalID } }`

type cam struct {
	ID                   string     `json:"id"`
	Name                 string     `json:"name"`
	Model                string     `json:"model"`
	DeviceID             string     `json:"deviceID"`
	PosOption            bool       `json:"posOption"`
	SourceKind           *string    `json:"sourceKind"`
	RetiredAt            *time.Time `json:"retiredAt"`
	SourceStatus         string     `json:"sourceStatus"`
	SourceURL            *string    `json:"sourceURL"`
	HasSourceCredentials bool       `json:"hasSourceCredentials"`
	Label                string     `json:"label"`
	Status               struct {
		Recording    bool       `json:"recording"`
		Online       bool       `json:"online"`
		LastError    *string    `json:"lastError"`
		BufferedFrom *time.Time `json:"bufferedFrom"`
	} `json:"status"`
	Links []struct {
		ID       string     `json:"id"`
		EndedAt  *time.Time `json:"endedAt"`
		Terminal struct {
			ID string `json:"id"`
		} `json:"terminal"`
	} `json:"links"`
}

const createMutation = `mutation($in: CreateCameraInput!) { createCamera(input: $in) { ` + cameraFields + ` } }`

const testMutation = `mutation($in: CameraSourceInput!) { testCameraSource(input: $in) {
  ok reason message previewDataURL width height elapsedMs } }`

type sourceTest struct {
	OK             bool    `json:"ok"`
	Reason         *string `json:"reason"`
	Message        string  `json:"message"`
	PreviewDataURL *string `json:"previewDataURL"`
	Width          *int    `json:"width"`
	Height         *int    `json:"height"`
}

// start runs a server with a quick recorder; tweak changes the rest.
func start(t *testing.T, b testenv.Backend, tweak func(*app.Config)) *testenv.Server {
	t.Helper()
	return testenv.StartWith(t, b, "", func(c *app.Config, _ string) {
		c.RecorderInterval = 100 * time.Millisecond
		if tweak != nil {
			tweak(c)
		}
	})
}

// create posts createCamera and returns the camera, or the errors.
func create(t *testing.T, srv *testenv.Server, in map[string]any) (cam, []testenv.GQLError) {
	t.Helper()
	r := srv.Query(t, createMutation, map[string]any{"in": in})
	var out struct {
		CreateCamera *cam `json:"createCamera"`
	}
	if len(r.Errors) > 0 {
		return cam{}, r.Errors
	}
	if err := json.Unmarshal(r.Data, &out); err != nil || out.CreateCamera == nil {
		t.Fatalf("createCamera: %s: %v", r.Data, err)
	}
	return *out.CreateCamera, nil
}

func mustCreate(t *testing.T, srv *testenv.Server, in map[string]any) cam {
	t.Helper()
	c, errs := create(t, srv, in)
	if errs != nil {
		t.Fatalf("createCamera %v: %+v", in, errs)
	}
	return c
}

// node reads a camera by id (nil when it is not visible).
func node(t *testing.T, srv *testenv.Server, id string) *cam {
	t.Helper()
	var out struct {
		Node *cam `json:"node"`
	}
	srv.MustQuery(t, `query($id: ID!) { node(id: $id) { ... on Camera { `+cameraFields+` } } }`, map[string]any{"id": id}, &out)
	return out.Node
}

func testSource(t *testing.T, srv *testenv.Server, in map[string]any) sourceTest {
	t.Helper()
	var out struct {
		TestCameraSource sourceTest `json:"testCameraSource"`
	}
	srv.MustQuery(t, testMutation, map[string]any{"in": in}, &out)
	return out.TestCameraSource
}

// wantError checks one GraphQL error's code and field, and that its
// message contains every part.
func wantError(t *testing.T, what string, errs []testenv.GQLError, code, field string, parts ...string) {
	t.Helper()
	if len(errs) != 1 || errs[0].Code() != code || errs[0].Field() != field {
		t.Errorf("%s: got %+v, want one %s on %q", what, errs, code, field)
		return
	}
	for _, p := range parts {
		if !strings.Contains(errs[0].Message, p) {
			t.Errorf("%s: message %q does not contain %q", what, errs[0].Message, p)
		}
	}
}

// frame is a w×h JPEG.
func frame(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// serve starts a camera HTTP server for the test.
func serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(func() { s.CloseClientConnections(); s.Close() })
	return s
}

// snapshots answers every GET with jpg.
func snapshots(jpg []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(jpg)
	})
}

// closedPort is an address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// previewSize decodes a data: URL preview.
func previewSize(t testing.TB, dataURL string) (int, int) {
	t.Helper()
	b64, ok := strings.CutPrefix(dataURL, "data:image/jpeg;base64,")
	if !ok {
		t.Fatalf("preview is not a JPEG data URL: %.40s", dataURL)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("preview does not decode: %v", err)
	}
	return cfg.Width, cfg.Height
}

// eventually polls cond; the deadline is generous because a failing
// condition, not its timing, is what the tests assert.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
