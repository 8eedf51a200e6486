package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/camera/fake"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// TestCreateCameraEachSource: a camera of every source kind is saved with
// what its first fetch found, and a new snapshot or MJPEG camera is
// recorded at once, without a restart.
func TestCreateCameraEachSource(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, nil)
		jpg := frame(t, 640, 360)
		snap := serve(t, snapshots(jpg))
		mj := serve(t, &fake.MJPEG{Frame: func(int) []byte { return jpg }, Interval: 50 * time.Millisecond})
		rtsp := fakeRTSP(t)

		cases := []struct {
			kind, url string
			status    string // prefix of sourceStatus
			recorded  bool
			wantURL   string
		}{
			{"SNAPSHOT", snap.URL + "/snap.jpg", "OK", true, snap.URL + "/snap.jpg"},
			{"MJPEG", mj.URL + "/video.cgi", "OK", true, mj.URL + "/video.cgi"},
			{"SIMULATED", "", "OK", true, ""},
			// A server that answers OPTIONS but plays nothing: saved, unreachable
			// (TestSourceTestRTSP saves a real camera).
			{"RTSP", "rtsp://" + rtsp + "/stream1", "UNREACHABLE: ", false, "rtsp://" + rtsp + "/stream1"},
		}
		for i, c := range cases {
			src := map[string]any{"kind": c.kind}
			if c.url != "" {
				src["url"] = c.url
			}
			got := mustCreate(t, srv, map[string]any{"name": c.kind + "カメラ", "model": "CC-2L_SF",
				"deviceID": fmt.Sprintf("20100019%d", i), "source": src})
			if got.SourceKind == nil || *got.SourceKind != c.kind || !strings.HasPrefix(got.SourceStatus, c.status) {
				t.Errorf("%s: kind %v, status %q; want %s", c.kind, got.SourceKind, got.SourceStatus, c.status)
			}
			if c.wantURL != "" && (got.SourceURL == nil || *got.SourceURL != c.wantURL) {
				t.Errorf("%s: sourceURL %v, want %s", c.kind, got.SourceURL, c.wantURL)
			}
			if !got.PosOption || got.Label != fmt.Sprintf("%sカメラ (CC-2L_SF : 20100019%d)", c.kind, i) {
				t.Errorf("%s: posOption %v, label %q", c.kind, got.PosOption, got.Label)
			}
			if got.Status.Recording != c.recorded {
				t.Errorf("%s: recording %v right after createCamera, want %v", c.kind, got.Status.Recording, c.recorded)
			}
			if c.recorded {
				eventually(t, c.kind+" camera online with frames", func() bool {
					n := node(t, srv, got.ID)
					return n.Status.Online && n.Status.BufferedFrom != nil
				})
			}
		}
	})
}

// TestNewCameraGetsThumbnails: a camera added through the API and linked
// to a register gives that register's next sale its picture.
func TestNewCameraGetsThumbnails(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, nil)
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		snap := serve(t, snapshots(frame(t, 640, 360)))
		c := mustCreate(t, srv, map[string]any{"name": "入口", "deviceID": "cam-new",
			"source": map[string]any{"kind": "SNAPSHOT", "url": snap.URL + "/snap.jpg"}})
		srv.MustQuery(t, `mutation($t: ID!, $c: ID!) { rebindTerminal(terminalID: $t, cameraID: $c) { terminal { id } } }`,
			map[string]any{"t": fx.TerminalIDs[2], "c": c.ID}, nil)
		eventually(t, "first frame", func() bool { return node(t, srv, c.ID).Status.Online })
		var out struct {
			IngestJournal []struct {
				Entry struct {
					CameraID  *string `json:"cameraID"`
					Thumbnail *struct {
						Width int `json:"width"`
					} `json:"thumbnail"`
					ThumbnailReason string `json:"thumbnailReason"`
				} `json:"entry"`
			} `json:"ingestJournal"`
		}
		srv.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { entry { cameraID thumbnailReason thumbnail { width } } } }`,
			map[string]any{"in": []map[string]any{{"terminalID": fx.TerminalIDs[2], "externalID": "sale-1", "kind": "PAYMENT",
				"occurredAt": time.Now().Format(time.RFC3339Nano), "total": 1080}}}, &out)
		e := out.IngestJournal[0].Entry
		if e.CameraID == nil || *e.CameraID != c.ID || e.Thumbnail == nil {
			t.Fatalf("sale on the new camera's register: camera %v, thumbnail %v (%s)", e.CameraID, e.Thumbnail, e.ThumbnailReason)
		}
	})
}

// TestCreateCameraBadInput: each mistake is a field error naming what is
// wrong, and nothing is saved.
func TestCreateCameraBadInput(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, nil)
		first := mustCreate(t, srv, map[string]any{"name": "自宅カメラ", "model": "CC-2L_SF", "deviceID": "201000192",
			"source": map[string]any{"kind": "SIMULATED"}})
		cases := []struct {
			name  string
			in    map[string]any
			code  string
			field string
			parts []string
		}{
			{"duplicate device id", map[string]any{"name": "別のカメラ", "deviceID": "201000192"},
				"CONFLICT", "input.deviceID", []string{"自宅カメラ (CC-2L_SF : 201000192)"}},
			{"duplicate device id with spaces", map[string]any{"name": "別のカメラ", "deviceID": " 201000192 "},
				"CONFLICT", "input.deviceID", []string{"自宅カメラ"}},
			{"empty name", map[string]any{"name": "  ", "deviceID": "x1"}, "BAD_USER_INPUT", "input.name", []string{"カメラ名"}},
			{"long name", map[string]any{"name": strings.Repeat("名", 201), "deviceID": "x1"}, "BAD_USER_INPUT", "input.name", []string{"200"}},
			// 100 kanji are 300 bytes: refused on input, not at save.
			{"long Japanese name", map[string]any{"name": strings.Repeat("名", 100), "deviceID": "x1"}, "BAD_USER_INPUT", "input.name", []string{"200 バイト"}},
			{"empty device id", map[string]any{"name": "a", "deviceID": ""}, "BAD_USER_INPUT", "input.deviceID", nil},
			{"long device id", map[string]any{"name": "a", "deviceID": strings.Repeat("9", 101)}, "BAD_USER_INPUT", "input.deviceID", []string{"100"}},
			{"ftp snapshot", map[string]any{"name": "a", "deviceID": "x1", "source": map[string]any{"kind": "SNAPSHOT", "url": "ftp://192.0.2.1/snap.jpg"}},
				"BAD_USER_INPUT", "input.source.url", []string{"ftp", "http"}},
			{"http for RTSP", map[string]any{"name": "a", "deviceID": "x1", "source": map[string]any{"kind": "RTSP", "url": "http://192.0.2.1/live"}},
				"BAD_USER_INPUT", "input.source.url", []string{"http", "rtsp"}},
			{"rtsp for MJPEG", map[string]any{"name": "a", "deviceID": "x1", "source": map[string]any{"kind": "MJPEG", "url": "rtsp://192.0.2.1/live"}},
				"BAD_USER_INPUT", "input.source.url", []string{"rtsp"}},
			{"no URL", map[string]any{"name": "a", "deviceID": "x1", "source": map[string]any{"kind": "SNAPSHOT"}},
				"BAD_USER_INPUT", "input.source.url", nil},
			{"no host", map[string]any{"name": "a", "deviceID": "x1", "source": map[string]any{"kind": "SNAPSHOT", "url": "http:///snap.jpg"}},
				"BAD_USER_INPUT", "input.source.url", []string{"ホスト"}},
			{"malformed", map[string]any{"name": "a", "deviceID": "x1", "source": map[string]any{"kind": "SNAPSHOT", "url": "http://a b:pw@[::1/x"}},
				"BAD_USER_INPUT", "input.source.url", []string{"URL"}},
			{"URL on the simulated camera", map[string]any{"name": "a", "deviceID": "x1", "source": map[string]any{"kind": "SIMULATED", "url": "http://192.0.2.1/"}},
				"BAD_USER_INPUT", "input.source.url", nil},
		}
		for _, c := range cases {
			_, errs := create(t, srv, c.in)
			wantError(t, c.name, errs, c.code, c.field, c.parts...)
			if len(errs) == 1 && strings.Contains(errs[0].Message, "pw") {
				t.Errorf("%s: message repeats the password: %q", c.name, errs[0].Message)
			}
		}
		var list struct {
			Cameras struct {
				TotalCount int `json:"totalCount"`
			} `json:"cameras"`
		}
		srv.MustQuery(t, `{ cameras { totalCount } }`, nil, &list)
		if list.Cameras.TotalCount != 1 {
			t.Errorf("%d cameras after refused inputs, want only %s", list.Cameras.TotalCount, first.ID)
		}
		// updateCamera names the camera that has the id, too.
		second := mustCreate(t, srv, map[string]any{"name": "レジ前", "deviceID": "201000193"})
		r := srv.Query(t, `mutation($id: ID!) { updateCamera(id: $id, input: {deviceID: "201000192"}) { id } }`, map[string]any{"id": second.ID})
		wantError(t, "update to a taken device id", r.Errors, "CONFLICT", "input.deviceID", "自宅カメラ (CC-2L_SF : 201000192)")
	})
}

// TestUnreachableSource: an unreachable source is saved with the reason
// as its status, unless the owner asked for the test to pass first.
func TestUnreachableSource(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, nil)
		url := "http://" + closedPort(t) + "/snap.jpg"
		src := map[string]any{"kind": "SNAPSHOT", "url": url}
		c := mustCreate(t, srv, map[string]any{"name": "倉庫", "deviceID": "off-1", "source": src})
		if !strings.HasPrefix(c.SourceStatus, "UNREACHABLE: ") || !strings.Contains(c.SourceStatus, "接続") {
			t.Errorf("saved status %q, want UNREACHABLE with a reason", c.SourceStatus)
		}
		_, errs := create(t, srv, map[string]any{"name": "倉庫2", "deviceID": "off-2", "source": src, "requireSourceOK": true})
		wantError(t, "requireSourceOK", errs, "BAD_USER_INPUT", "input.source", "接続")
		if n := node(t, srv, c.ID); n == nil {
			t.Fatal("saved camera not readable")
		}
		var list struct {
			Cameras struct {
				Edges []struct {
					Node struct {
						DeviceID string `json:"deviceID"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"cameras"`
		}
		srv.MustQuery(t, `{ cameras { edges { node { deviceID } } } }`, nil, &list)
		if len(list.Cameras.Edges) != 1 || list.Cameras.Edges[0].Node.DeviceID != "off-1" {
			t.Errorf("cameras %+v, want only off-1 (the refused one is not saved)", list.Cameras.Edges)
		}
	})
}

// TestCredentialsSealedNeverReturned: a password, typed in the fields or
// in the URL, is sealed at rest, answers the camera's Digest challenge
// (at the test and in the recorder), and appears in no answer and no log.
func TestCredentialsSealedNeverReturned(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		var logs syncBuffer
		b.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		srv := start(t, b, nil)
		const password = "pw-Zq81-secret"
		digest := &fake.DigestAuth{Realm: "IPCAM", Username: "admin", Password: password}
		cam1 := serve(t, digest.Wrap(snapshots(frame(t, 640, 360))))
		host := strings.TrimPrefix(cam1.URL, "http://")

		inFields := mustCreate(t, srv, map[string]any{"name": "Digest", "deviceID": "dg-1",
			"source": map[string]any{"kind": "SNAPSHOT", "url": cam1.URL + "/snap.jpg", "username": "admin", "password": password}})
		inURL := mustCreate(t, srv, map[string]any{"name": "Digest URL", "deviceID": "dg-2",
			"source": map[string]any{"kind": "SNAPSHOT", "url": "http://admin:" + password + "@" + host + "/snap.jpg"}})
		for _, c := range []cam{inFields, inURL} {
			if c.SourceStatus != "OK" || !c.HasSourceCredentials || c.SourceURL == nil || *c.SourceURL != cam1.URL+"/snap.jpg" {
				t.Errorf("%s: status %q, hasSourceCredentials %v, sourceURL %v", c.Name, c.SourceStatus, c.HasSourceCredentials, c.SourceURL)
			}
			eventually(t, c.Name+" recorded with the sealed password", func() bool { return node(t, srv, c.ID).Status.Online })
		}
		// The stored URL changes, the password stays sealed and used.
		var upd struct {
			UpdateCamera cam `json:"updateCamera"`
		}
		srv.MustQuery(t, `mutation($id: ID!, $url: String!) { updateCamera(id: $id, input: {source: {kind: SNAPSHOT, url: $url}}) { `+cameraFields+` } }`,
			map[string]any{"id": inFields.ID, "url": cam1.URL + "/snap.jpg?ch=1"}, &upd)
		if upd.UpdateCamera.SourceStatus != "OK" || !upd.UpdateCamera.HasSourceCredentials {
			t.Errorf("after a URL change without credentials: status %q, hasSourceCredentials %v", upd.UpdateCamera.SourceStatus, upd.UpdateCamera.HasSourceCredentials)
		}
		var tested struct {
			TestCameraSourceOf sourceTest `json:"testCameraSourceOf"`
		}
		srv.MustQuery(t, `mutation($id: ID!) { testCameraSourceOf(id: $id) { ok reason message previewDataURL } }`, map[string]any{"id": inURL.ID}, &tested)
		if !tested.TestCameraSourceOf.OK {
			t.Errorf("testCameraSourceOf with sealed credentials: %+v", tested.TestCameraSourceOf)
		}

		// Raw columns: sealed, not the password, and the URL without it.
		ctx := viewer.System(context.Background())
		for _, id := range []string{inFields.ID, inURL.ID} {
			row, err := srv.DB.Client.Camera.Get(ctx, pulid.ID(id))
			if err != nil {
				t.Fatal(err)
			}
			if len(row.SourceCredentials) == 0 || bytes.Contains(row.SourceCredentials, []byte(password)) ||
				strings.Contains(row.SourceURL, password) || strings.Contains(row.SourceURL, "admin@") {
				t.Errorf("camera %s stored credentials %q, url %q", id, row.SourceCredentials, row.SourceURL)
			}
		}
		var dump json.RawMessage
		srv.MustQuery(t, `{ cameras(first: 10) { edges { node { `+cameraFields+` } } } }`, nil, &dump)
		if len(dump) < 100 || strings.Contains(string(dump), password) {
			t.Errorf("cameras answer contains the password (or is empty): %s", dump)
		}
		if strings.Contains(logs.String(), password) {
			t.Errorf("the password was logged")
		}
		// The password typed wrong: refused, named, and still not echoed.
		res := testSource(t, srv, map[string]any{"kind": "SNAPSHOT", "url": cam1.URL + "/snap.jpg", "username": "admin", "password": "wrong-" + password})
		if res.OK || res.Reason == nil || *res.Reason != "AUTH_REFUSED" || strings.Contains(res.Message, password) {
			t.Errorf("wrong Digest password: %+v", res)
		}
	})
}

// TestURLPolicy: link-local and metadata addresses are refused on every
// server; loopback and private ones only where the operator said so. The
// refusal says which rule applied, at validation and at dial time.
func TestURLPolicy(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		lan := start(t, b, nil)
		snap := serve(t, snapshots(frame(t, 64, 36)))
		// A camera only the hosted server is given: the LAN server above
		// records snap, so its requests must not count.
		var hits atomic.Int64
		hostedOnly := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			snapshots(frame(t, 64, 36)).ServeHTTP(w, r)
		}))
		always := []struct{ url, part string }{
			{"http://169.254.169.254/latest/meta-data/", "リンクローカル/メタデータのアドレスは使えません (169.254.169.254"},
			{"http://[fd00:ec2::254]/", "リンクローカル/メタデータ"},
			{"http://metadata.google.internal/computeMetadata/v1/", "リンクローカル/メタデータ"},
			{"http://169.254.10.20/snap.jpg", "リンクローカル/メタデータのアドレスは使えません (169.254.10.20)"},
			{"http://[fe80::1]/snap.jpg", "リンクローカル/メタデータのアドレスは使えません (fe80::1)"},
		}
		for i, c := range always {
			_, errs := create(t, lan, map[string]any{"name": "x", "deviceID": fmt.Sprint("ll-", i), "source": map[string]any{"kind": "SNAPSHOT", "url": c.url}})
			wantError(t, c.url, errs, "BAD_USER_INPUT", "input.source.url", c.part)
			res := testSource(t, lan, map[string]any{"kind": "MJPEG", "url": c.url})
			if res.OK || res.Reason == nil || *res.Reason != "URL_REFUSED" || !strings.Contains(res.Message, "リンクローカル/メタデータ") {
				t.Errorf("testCameraSource %s: %+v", c.url, res)
			}
		}
		local := mustCreate(t, lan, map[string]any{"name": "LAN", "deviceID": "lan-1",
			"source": map[string]any{"kind": "SNAPSHOT", "url": snap.URL + "/snap.jpg"}})
		if local.SourceStatus != "OK" {
			t.Fatalf("127.0.0.1 on a shop-LAN server: status %q", local.SourceStatus)
		}

		// A hosted server refuses private addresses, by rule, in every path.
		hosted := start(t, b, func(c *app.Config) { c.CameraDenyPrivate = true })
		for i, u := range []string{snap.URL + "/snap.jpg", "http://10.0.0.8/snap.jpg", "http://localhost:8080/", "rtsp://192.168.1.64/stream1"} {
			kind := "SNAPSHOT"
			if strings.HasPrefix(u, "rtsp") {
				kind = "RTSP"
			}
			_, errs := create(t, hosted, map[string]any{"name": "x", "deviceID": fmt.Sprint("pv-", i), "source": map[string]any{"kind": kind, "url": u}})
			wantError(t, u, errs, "BAD_USER_INPUT", "input.source.url", "プライベート/ループバックのアドレスは使えません", "--camera-allow-private=false")
		}
		res := testSource(t, hosted, map[string]any{"kind": "SNAPSHOT", "url": snap.URL + "/snap.jpg"})
		if res.Reason == nil || *res.Reason != "URL_REFUSED" || !strings.Contains(res.Message, "プライベート") {
			t.Errorf("testCameraSource on a hosted server: %+v", res)
		}
		// RTSP hosts are under the same policy, though rtspsrc dials itself.
		res = testSource(t, hosted, map[string]any{"kind": "RTSP", "url": "rtsp://192.168.1.64/stream1"})
		if res.Reason == nil || *res.Reason != "URL_REFUSED" || !strings.Contains(res.Message, "プライベート") {
			t.Errorf("testCameraSource of RTSP on a hosted server: %+v", res)
		}
		// A URL saved before the policy (or a name that resolves there
		// later) is refused when dialled: the recorder never reaches it.
		row, err := hosted.DB.Client.Camera.Create().SetAccountID(hosted.AccountID).SetName("old").SetDeviceID("old-1").
			SetPosOption(true).SetSourceKind(entcamera.SourceKindSNAPSHOT).SetSourceURL(hostedOnly.URL + "/snap.jpg").Save(viewer.System(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		if err := hosted.Recorders.Sync(viewer.System(context.Background())); err != nil {
			t.Fatal(err)
		}
		eventually(t, "recorder reports the refusal", func() bool {
			n := node(t, hosted, string(row.ID))
			return n.Status.LastError != nil && strings.Contains(*n.Status.LastError, "rule private")
		})
		if got := hits.Load(); got != 0 {
			t.Errorf("the hosted recorder reached a loopback camera %d times", got)
		}
	})
}

// TestRetireCamera: a camera that still watches registers is not retired
// unless forced; retired, it leaves the lists and stops recording, and
// its entries and links stay readable.
func TestRetireCamera(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, nil)
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		id := string(fx.CameraIDs[0])
		srv.MustQuery(t, `mutation($id: ID!) { updateCamera(id: $id, input: {source: {kind: SIMULATED}}) { id } }`, map[string]any{"id": id}, nil)
		if !node(t, srv, id).Status.Recording {
			t.Fatal("camera with a new source is not recorded")
		}
		var sale struct {
			IngestJournal []struct {
				Entry struct {
					ID string `json:"id"`
				} `json:"entry"`
			} `json:"ingestJournal"`
		}
		srv.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { entry { id } } }`,
			map[string]any{"in": []map[string]any{{"terminalID": fx.TerminalIDs[0], "externalID": "before-retire", "kind": "PAYMENT",
				"occurredAt": time.Now().Format(time.RFC3339Nano), "total": 500}}}, &sale)

		const retire = `mutation($id: ID!, $force: Boolean) { retireCamera(id: $id, force: $force) {
		  camera { id retiredAt links { id } } watchedTerminals { id externalID connection { id } shop { name } } } }`
		type payload struct {
			RetireCamera struct {
				Camera *struct {
					ID        string     `json:"id"`
					RetiredAt *time.Time `json:"retiredAt"`
				} `json:"camera"`
				WatchedTerminals []struct {
					ID string `json:"id"`
				} `json:"watchedTerminals"`
			} `json:"retireCamera"`
		}
		var refused payload
		srv.MustQuery(t, retire, map[string]any{"id": id}, &refused)
		if refused.RetireCamera.Camera != nil || len(refused.RetireCamera.WatchedTerminals) != 2 {
			t.Fatalf("retire while watching: %+v, want camera null and 2 registers", refused.RetireCamera)
		}
		if n := node(t, srv, id); n.RetiredAt != nil || !n.Status.Recording {
			t.Fatal("a refused retirement changed the camera")
		}
		var done payload
		srv.MustQuery(t, retire, map[string]any{"id": id, "force": true}, &done)
		if done.RetireCamera.Camera == nil || done.RetireCamera.Camera.RetiredAt == nil {
			t.Fatalf("forced retire: %+v", done.RetireCamera)
		}
		n := node(t, srv, id)
		if n == nil || n.RetiredAt == nil || n.Status.Recording {
			t.Fatalf("retired camera by node(id): %+v", n)
		}
		if len(n.Links) != 2 || n.Links[0].EndedAt == nil || n.Links[1].EndedAt == nil {
			t.Errorf("links of the retired camera: %+v, want both kept and ended", n.Links)
		}
		var lists struct {
			Cameras struct {
				Edges []struct {
					Node struct {
						ID string `json:"id"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"cameras"`
			Retired struct {
				TotalCount int `json:"totalCount"`
			} `json:"retired"`
			LinkableCameras []struct {
				ID string `json:"id"`
			} `json:"linkableCameras"`
		}
		srv.MustQuery(t, `{ cameras { edges { node { id } } } retired: cameras(where: {retiredAtNotNil: true}) { totalCount }
		  linkableCameras { id } }`, nil, &lists)
		for _, e := range lists.Cameras.Edges {
			if e.Node.ID == id {
				t.Error("retired camera still in cameras")
			}
		}
		for _, c := range lists.LinkableCameras {
			if c.ID == id {
				t.Error("retired camera still in linkableCameras")
			}
		}
		if len(lists.Cameras.Edges) != 1 || len(lists.LinkableCameras) != 1 || lists.Retired.TotalCount != 1 {
			t.Errorf("lists after retiring one of two: %+v", lists)
		}
		var entry struct {
			Node struct {
				CameraID *string `json:"cameraID"`
				Camera   *struct {
					RetiredAt *time.Time `json:"retiredAt"`
				} `json:"camera"`
			} `json:"node"`
		}
		srv.MustQuery(t, `query($id: ID!) { node(id: $id) { ... on JournalEntry { cameraID camera { retiredAt } } } }`,
			map[string]any{"id": sale.IngestJournal[0].Entry.ID}, &entry)
		if entry.Node.CameraID == nil || *entry.Node.CameraID != id || entry.Node.Camera == nil || entry.Node.Camera.RetiredAt == nil {
			t.Errorf("entry recorded before retirement: %+v", entry.Node)
		}
		// Retiring again answers the retired camera; changing it is refused.
		srv.MustQuery(t, retire, map[string]any{"id": id}, &done)
		if done.RetireCamera.Camera == nil {
			t.Error("second retire refused")
		}
		r := srv.Query(t, `mutation($id: ID!) { updateCamera(id: $id, input: {name: "x"}) { id } }`, map[string]any{"id": id})
		wantError(t, "update a retired camera", r.Errors, "BAD_USER_INPUT", "id", "退役")
		r = srv.Query(t, `mutation($t: ID!, $c: ID!) { linkTerminal(terminalID: $t, cameraID: $c) { terminal { id } } }`,
			map[string]any{"t": fx.TerminalIDs[0], "c": id})
		wantError(t, "link a register to a retired camera", r.Errors, "BAD_USER_INPUT", "cameraID", "退役")
	})
}

// TestCameraTenancyAndRoles: another account's camera is NOT_FOUND for
// every mutation; STAFF and journal:read keys may do none of it.
func TestCameraTenancyAndRoles(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, nil)
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		_, other := srv.NewAccount(t, "他社")
		id := string(fx.CameraIDs[1])
		for name, q := range map[string]string{
			"updateCamera":       `mutation($id: ID!) { updateCamera(id: $id, input: {name: "乗っ取り"}) { id } }`,
			"retireCamera":       `mutation($id: ID!) { retireCamera(id: $id, force: true) { camera { id } } }`,
			"testCameraSourceOf": `mutation($id: ID!) { testCameraSourceOf(id: $id) { ok } }`,
		} {
			r := other.Query(t, q, map[string]any{"id": id})
			if len(r.Errors) != 1 || r.Errors[0].Code() != "NOT_FOUND" {
				t.Errorf("%s of another account's camera: %+v", name, r.Errors)
			}
		}
		if n := node(t, srv, id); n == nil || n.Name != "レジ前カメラ" || n.RetiredAt != nil {
			t.Errorf("camera after the other account's attempts: %+v", n)
		}
		// The other account's own device id space is separate, and its
		// change does not stop this account's recorders.
		srv.MustQuery(t, `mutation($id: ID!) { updateCamera(id: $id, input: {source: {kind: SIMULATED}}) { id } }`, map[string]any{"id": id}, nil)
		mustCreate(t, other, map[string]any{"name": "同じ番号", "deviceID": node(t, srv, id).DeviceID})
		if !node(t, srv, id).Status.Recording {
			t.Error("another account's createCamera stopped this account's recorder")
		}

		_, staff := srv.NewUser(t, srv.AccountID, viewer.RoleStaff, fx.ShopID)
		_, reader := srv.NewAPIKey(t, srv.AccountID, viewer.ScopeJournalRead)
		for who, c := range map[string]*testenv.Server{"STAFF": staff, "journal:read key": reader} {
			_, errs := create(t, c, map[string]any{"name": "x", "deviceID": "staff-1"})
			if len(errs) != 1 || errs[0].Code() != "FORBIDDEN" {
				t.Errorf("%s createCamera: %+v", who, errs)
			}
			r := c.Query(t, testMutation, map[string]any{"in": map[string]any{"kind": "SIMULATED"}})
			if len(r.Errors) != 1 || r.Errors[0].Code() != "FORBIDDEN" {
				t.Errorf("%s testCameraSource: %+v", who, r.Errors)
			}
		}
	})
}

// TestSourceTestReasons: testCameraSource answers a preview or the precise
// reason the owner can act on.
func TestSourceTestReasons(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, func(c *app.Config) { c.CameraTestTimeout = 2 * time.Second })
		jpg := frame(t, 1280, 720)
		ok := serve(t, snapshots(jpg))
		digest := &fake.DigestAuth{Realm: "IPCAM", Username: "admin", Password: "right"}
		dg := serve(t, digest.Wrap(snapshots(jpg)))
		html := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>login</html>"))
		}))
		release := make(chan struct{})
		stall := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(func() { close(release) })
		forbidden := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) }))
		missing := serve(t, http.NotFoundHandler())
		tlsCam := tlsServer(t, snapshots(jpg))
		mj := serve(t, &fake.MJPEG{Frame: func(int) []byte { return jpg }, Interval: 20 * time.Millisecond})
		rtsp := fakeRTSP(t)
		http.DefaultClient.CloseIdleConnections()
		base := runtime.NumGoroutine()

		cases := []struct {
			name   string
			in     map[string]any
			reason string
			part   string
		}{
			{"Digest refused", map[string]any{"kind": "SNAPSHOT", "url": dg.URL + "/s.jpg", "username": "admin", "password": "wrong"}, "AUTH_REFUSED", "認証"},
			{"Digest without credentials", map[string]any{"kind": "SNAPSHOT", "url": dg.URL + "/s.jpg"}, "AUTH_REFUSED", "ユーザー名とパスワードを入力"},
			{"403", map[string]any{"kind": "SNAPSHOT", "url": forbidden.URL + "/s.jpg"}, "AUTH_REFUSED", "403"},
			{"not a JPEG", map[string]any{"kind": "SNAPSHOT", "url": html.URL + "/s.jpg"}, "NOT_JPEG", "JPEG"},
			{"snapshot URL as MJPEG", map[string]any{"kind": "MJPEG", "url": ok.URL + "/s.jpg"}, "NOT_JPEG", "MJPEG"},
			{"timeout", map[string]any{"kind": "SNAPSHOT", "url": stall.URL + "/s.jpg"}, "TIMEOUT", "2 秒"},
			{"MJPEG timeout", map[string]any{"kind": "MJPEG", "url": stall.URL + "/v.cgi"}, "TIMEOUT", "秒"},
			{"untrusted certificate", map[string]any{"kind": "SNAPSHOT", "url": tlsCam + "/s.jpg"}, "TLS", "証明書"},
			{"404", map[string]any{"kind": "SNAPSHOT", "url": missing.URL + "/s.jpg"}, "HTTP_STATUS", "404"},
			{"refused", map[string]any{"kind": "SNAPSHOT", "url": "http://" + closedPort(t) + "/s.jpg"}, "UNREACHABLE", "接続"},
			{"bad URL", map[string]any{"kind": "SNAPSHOT", "url": "gopher://x/"}, "BAD_URL", "gopher"},
			{"metadata", map[string]any{"kind": "SNAPSHOT", "url": "http://169.254.169.254/"}, "URL_REFUSED", "メタデータ"},
			{"RTSP server that plays nothing", map[string]any{"kind": "RTSP", "url": "rtsp://" + rtsp + "/live"}, "UNREACHABLE", "RTSP サーバー"},
			{"RTSP refused", map[string]any{"kind": "RTSP", "url": "rtsp://" + closedPort(t) + "/live"}, "UNREACHABLE", "接続"},
		}
		for _, c := range cases {
			res := testSource(t, srv, c.in)
			if res.OK || res.Reason == nil || *res.Reason != c.reason || !strings.Contains(res.Message, c.part) || res.PreviewDataURL != nil {
				t.Errorf("%s: %+v, want reason %s mentioning %q", c.name, res, c.reason, c.part)
			}
		}
		for _, in := range []map[string]any{
			{"kind": "SNAPSHOT", "url": ok.URL + "/s.jpg"},
			{"kind": "SNAPSHOT", "url": dg.URL + "/s.jpg", "username": "admin", "password": "right"},
			{"kind": "MJPEG", "url": mj.URL + "/v.cgi"},
		} {
			res := testSource(t, srv, in)
			if !res.OK || res.Reason != nil || res.PreviewDataURL == nil || *res.Width != 1280 || *res.Height != 720 {
				t.Errorf("%v: %+v", in["url"], res)
				continue
			}
			if w, h := previewSize(t, *res.PreviewDataURL); w != 320 || h != 180 {
				t.Errorf("%v: preview %dx%d, want 320x180", in["url"], w, h)
			}
		}
		if res := testSource(t, srv, map[string]any{"kind": "SIMULATED"}); !res.OK || res.PreviewDataURL == nil {
			t.Errorf("simulated: %+v", res)
		}
		// Twenty tests leave no stream, connection or timer running.
		eventually(t, "goroutines back to the start", func() bool {
			http.DefaultClient.CloseIdleConnections()
			return runtime.NumGoroutine() <= base+2
		})
	})
}

// TestUpdateCamera: renaming, replacing and clearing the source, clearing
// credentials, and the POS option that cannot be dropped while the camera
// watches registers.
func TestUpdateCamera(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, nil)
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		const update = `mutation($id: ID!, $in: UpdateCameraInput!) { updateCamera(id: $id, input: $in) { ` + cameraFields + ` } }`
		upd := func(id string, in map[string]any) (cam, []testenv.GQLError) {
			r := srv.Query(t, update, map[string]any{"id": id, "in": in})
			var out struct {
				UpdateCamera cam `json:"updateCamera"`
			}
			if len(r.Errors) == 0 {
				_ = json.Unmarshal(r.Data, &out)
			}
			return out.UpdateCamera, r.Errors
		}
		id := string(fx.CameraIDs[0])
		c, errs := upd(id, map[string]any{"name": "新しい名前", "model": "", "source": map[string]any{"kind": "SIMULATED"}})
		if errs != nil || c.Name != "新しい名前" || c.Label != "新しい名前 ("+c.DeviceID+")" || !c.Status.Recording || c.SourceStatus != "OK" {
			t.Fatalf("rename and add a source: %+v %+v", c, errs)
		}
		c, errs = upd(id, map[string]any{"clearSource": true})
		if errs != nil || c.SourceKind != nil || c.Status.Recording || c.SourceStatus != "" {
			t.Errorf("clearSource: %+v %+v", c, errs)
		}
		_, errs = upd(id, map[string]any{"clearSource": true, "source": map[string]any{"kind": "SIMULATED"}})
		wantError(t, "source and clearSource", errs, "BAD_USER_INPUT", "input.clearSource")
		_, errs = upd(id, map[string]any{"posOption": false})
		wantError(t, "posOption off while watching", errs, "BAD_USER_INPUT", "input.posOption", "端末 1", "端末 2")

		snap := serve(t, snapshots(frame(t, 64, 36)))
		c, errs = upd(id, map[string]any{"source": map[string]any{"kind": "SNAPSHOT", "url": snap.URL + "/a.jpg", "username": "u", "password": "p"}})
		if errs != nil || !c.HasSourceCredentials {
			t.Fatalf("credentials set: %+v %+v", c, errs)
		}
		c, errs = upd(id, map[string]any{"source": map[string]any{"kind": "SNAPSHOT", "url": snap.URL + "/a.jpg", "username": "", "password": ""}})
		if errs != nil || c.HasSourceCredentials {
			t.Errorf("blank credentials clear them: %+v %+v", c, errs)
		}
		r := srv.Query(t, update, map[string]any{"id": string(pulid.MustNew("CA")), "in": map[string]any{"name": "x"}})
		if len(r.Errors) != 1 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Errorf("unknown id: %+v", r.Errors)
		}
	})
}

// TestConcurrentDuplicateDeviceID: owners adding the same device at once
// get one camera; every other request is the same CONFLICT naming it,
// whether the check or the database's unique index caught it.
func TestConcurrentDuplicateDeviceID(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, nil)
		const n = 6
		var wg sync.WaitGroup
		errs := make([][]testenv.GQLError, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := srv.Query(t, createMutation, map[string]any{"in": map[string]any{"name": fmt.Sprintf("同時%d", i), "deviceID": "same-serial"}})
				errs[i] = r.Errors
			}()
		}
		wg.Wait()
		won := -1
		for i, e := range errs {
			if len(e) == 0 {
				if won >= 0 {
					t.Fatalf("requests %d and %d both created same-serial", won, i)
				}
				won = i
			}
		}
		if won < 0 {
			t.Fatalf("no request created the camera: %+v", errs)
		}
		for i, e := range errs {
			if i != won {
				wantError(t, fmt.Sprint("request ", i), e, "CONFLICT", "input.deviceID", fmt.Sprintf("同時%d (same-serial)", won))
			}
		}
	})
}

// TestUpdateToAnotherServerDropsCredentials: the stored password follows
// the URL only while it names the same scheme, host and port. Pointed at
// another server without new credentials, the camera has none, and that
// server never sees the old password, however it challenges.
func TestUpdateToAnotherServerDropsCredentials(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, nil)
		const password = "lan-pw-7731"
		good := serve(t, snapshots(frame(t, 64, 36)))
		c := mustCreate(t, srv, map[string]any{"name": "LAN", "deviceID": "lan-1",
			"source": map[string]any{"kind": "SNAPSHOT", "url": good.URL + "/a.jpg", "username": "admin", "password": password}})
		if !c.HasSourceCredentials {
			t.Fatalf("created without credentials: %+v", c)
		}
		var (
			mu   sync.Mutex
			seen []string
		)
		thief := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Get("Authorization"))
			mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="cam"`)
			w.WriteHeader(http.StatusUnauthorized)
		}))
		var upd struct {
			UpdateCamera cam `json:"updateCamera"`
		}
		srv.MustQuery(t, `mutation($id: ID!, $url: String!) { updateCamera(id: $id, input: {source: {kind: SNAPSHOT, url: $url}}) { `+cameraFields+` } }`,
			map[string]any{"id": c.ID, "url": thief.URL + "/a.jpg"}, &upd)
		if upd.UpdateCamera.HasSourceCredentials {
			t.Errorf("credentials kept for another server: %+v", upd.UpdateCamera)
		}
		time.Sleep(300 * time.Millisecond) // let the recorder poll the new URL too
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			t.Fatal("the new server was never asked")
		}
		for _, h := range seen {
			if h != "" {
				t.Errorf("the new server received Authorization %q", h)
			}
		}
	})
}

// TestSourceErrorsDoNotEchoAnswers: a source test and the camera status
// name the status code or what went wrong, never the bytes the server
// sent (an error page, a non-JPEG body, another service's banner).
func TestSourceErrorsDoNotEchoAnswers(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, nil)
		const secret = "SECRET-4f9a-internal"
		errPage := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "db password "+secret, http.StatusInternalServerError)
		}))
		notJPEG := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(secret + " and more text"))
		}))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, _ = io.WriteString(c, "SSH-2.0-"+secret+"\r\n")
				c.Close()
			}
		}()
		for _, in := range []map[string]any{
			{"kind": "SNAPSHOT", "url": errPage.URL + "/a.jpg"},
			{"kind": "MJPEG", "url": errPage.URL + "/v"},
			{"kind": "SNAPSHOT", "url": notJPEG.URL + "/a.jpg"},
			{"kind": "RTSP", "url": "rtsp://" + l.Addr().String() + "/s"},
		} {
			res := testSource(t, srv, in)
			if res.OK || strings.Contains(res.Message, secret) || strings.Contains(res.Message, "db password") {
				t.Errorf("%v: %+v", in["url"], res)
			}
		}
		c := mustCreate(t, srv, map[string]any{"name": "Err", "deviceID": "err-1",
			"source": map[string]any{"kind": "SNAPSHOT", "url": errPage.URL + "/a.jpg"}})
		if !strings.Contains(c.SourceStatus, "500") || strings.Contains(c.SourceStatus, secret) {
			t.Errorf("source status %q", c.SourceStatus)
		}
		eventually(t, "the recorder reports the error", func() bool {
			n := node(t, srv, c.ID)
			return n.Status.LastError != nil && *n.Status.LastError != ""
		})
		if n := node(t, srv, c.ID); strings.Contains(*n.Status.LastError, secret) {
			t.Errorf("lastError %q", *n.Status.LastError)
		}
	})
}

// TestSourceTestLimits: a source test is no scanner. One request runs at
// most three (aliases), and an account runs one at a time; the others are
// answered RATE_LIMITED without touching the network.
func TestSourceTestLimits(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, func(c *app.Config) { c.CameraTestTimeout = 3 * time.Second })
		var out map[string]sourceTest
		srv.MustQuery(t, `mutation { a: testCameraSource(input: {kind: SIMULATED}) { ok reason message }
  b: testCameraSource(input: {kind: SIMULATED}) { ok reason message }
  c: testCameraSource(input: {kind: SIMULATED}) { ok reason message }
  d: testCameraSource(input: {kind: SIMULATED}) { ok reason message } }`, nil, &out)
		for _, k := range []string{"a", "b", "c"} {
			if !out[k].OK {
				t.Errorf("%s: %+v", k, out[k])
			}
		}
		if d := out["d"]; d.OK || d.Reason == nil || *d.Reason != "RATE_LIMITED" {
			t.Errorf("4th test in one request: %+v", d)
		}

		arrived := make(chan struct{}, 1)
		release := make(chan struct{})
		stall := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case arrived <- struct{}{}:
			default:
			}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(func() { close(release) })
		done := make(chan sourceTest, 1)
		go func() {
			var o struct {
				TestCameraSource sourceTest `json:"testCameraSource"`
			}
			r := srv.Query(t, testMutation, map[string]any{"in": map[string]any{"kind": "SNAPSHOT", "url": stall.URL + "/a.jpg"}})
			_ = json.Unmarshal(r.Data, &o)
			done <- o.TestCameraSource
		}()
		<-arrived
		res := testSource(t, srv, map[string]any{"kind": "SIMULATED"})
		if res.OK || res.Reason == nil || *res.Reason != "RATE_LIMITED" {
			t.Errorf("second test while one runs: %+v", res)
		}
		if first := <-done; first.Reason == nil || *first.Reason != "TIMEOUT" {
			t.Errorf("the running test: %+v", first)
		}
		if res := testSource(t, srv, map[string]any{"kind": "SIMULATED"}); !res.OK {
			t.Errorf("after the running test ended: %+v", res)
		}
	})
}
