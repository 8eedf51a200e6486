package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// ccCloud is a Safie fake with one POS-option device (item 5) and one
// without.
func ccCloud(t *testing.T) *fake.Safie {
	t.Helper()
	fk, stop := fake.Start(fake.Options{})
	t.Cleanup(stop)
	fk.AddDevice(fake.Device{ID: "201000192", Serial: "201000192", Name: "レジ前カメラ", Model: "CC-2L_SF", ItemIDs: []int{5}, Streaming: true})
	fk.AddDevice(fake.Device{ID: "201000500", Serial: "201000500", Name: "事務所カメラ", Model: "CC-2L_SF", ItemIDs: []int{1}, Streaming: true})
	return fk
}

type ccConn struct {
	ID, AuthKind, Status string
	Cameras              []struct{ ID, Name string }
}

// TestCloudCameraLive: a CLOUD camera's live picture is the cloud's
// latest (the fake draws the moment's clock into it), never cached, with
// no capture time the cloud did not give; another account's cloud camera
// is a 404 like any camera it cannot see.
func TestCloudCameraLive(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		fk := ccCloud(t)
		srv := testenv.StartWith(t, b, "", func(c *app.Config, _ string) { c.SafieBaseURL = fk.URL() })
		var out struct{ ConnectCameraCloud ccConn }
		srv.MustQuery(t, `mutation($in: ConnectCameraCloudInput!) { connectCameraCloud(input: $in) { id authKind status cameras { id name } } }`,
			map[string]any{"in": map[string]any{"apiKey": fk.APIKey(), "optionItemID": 5}}, &out)
		if len(out.ConnectCameraCloud.Cameras) != 1 {
			t.Fatalf("connect: %+v", out)
		}
		path := "/cameras/" + out.ConnectCameraCloud.Cameras[0].ID + "/live.jpg"
		before := time.Now().Add(-2 * time.Second)
		resp := srv.Get(t, path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("live: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		if h := resp.Header.Get("X-Captured-At"); h != "" {
			t.Errorf("X-Captured-At %q: the cloud does not say when its thumbnail was taken", h)
		}
		drawn, err := camera.DecodeTime(body)
		if err != nil {
			t.Fatalf("read the clock in the cloud's picture: %v", err)
		}
		if drawn.Before(before) || drawn.After(time.Now().Add(2*time.Second)) {
			t.Errorf("the live picture shows %s, not now", drawn)
		}

		_, other := srv.NewAccount(t, "B社")
		resp = other.Get(t, path)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("another account's cloud camera: %d, want 404", resp.StatusCode)
		}
	})
}

// TestCameraCloudOAuth: with a Safie OAuth client configured, the owner
// starts the grant, consents at the cloud (the fake approves at once),
// and comes back to /oauth/safie/callback, which stores an OAUTH
// connection with the POS-option cameras and sends the browser to the
// settings page. Without the owner's session the way back connects
// nothing.
func TestCameraCloudOAuth(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		fk := ccCloud(t)
		srv := testenv.StartWith(t, b, "", func(c *app.Config, _ string) {
			c.SafieBaseURL, c.SafieClientID, c.SafieClientSecret = fk.URL(), fk.ClientID(), fk.ClientSecret()
			c.SafiePOSItemID = 5
		})
		var avail struct{ CameraCloudOAuthAvailable bool }
		srv.MustQuery(t, `{ cameraCloudOAuthAvailable }`, nil, &avail)
		if !avail.CameraCloudOAuthAvailable {
			t.Fatal("cameraCloudOAuthAvailable false with a client configured")
		}
		var start struct{ StartCameraCloudOAuth struct{ AuthorizeURL string } }
		srv.MustQuery(t, `mutation { startCameraCloudOAuth(input: {name: "OAuth の Safie"}) { authorizeURL } }`, nil, &start)
		authorize := start.StartCameraCloudOAuth.AuthorizeURL
		if !strings.HasPrefix(authorize, fk.URL()+"/auth/authorize?") {
			t.Fatalf("authorizeURL %q is not the cloud's consent page", authorize)
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(authorize)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		back, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusFound || back.Path != "/oauth/safie/callback" ||
			!strings.HasPrefix(back.String(), srv.URL+"/oauth/safie/callback?") {
			t.Fatalf("consent answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}

		// Someone without the session comes back with the code: nothing.
		anon := srv.As(testenv.Anonymous)
		resp = anon.Get(t, back.RequestURI())
		resp.Body.Close()
		var list struct{ CameraCloudConnections []ccConn }
		srv.MustQuery(t, `{ cameraCloudConnections { id authKind status cameras { id name } } }`, nil, &list)
		if len(list.CameraCloudConnections) != 0 {
			t.Fatalf("a way back without the session connected: %+v", list)
		}

		resp = srv.Get(t, back.RequestURI())
		resp.Body.Close()
		// The default client followed the redirect to the dashboard.
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Query().Get("cameraCloud") != "connected" {
			t.Fatalf("callback: %d at %s", resp.StatusCode, resp.Request.URL)
		}
		srv.MustQuery(t, `{ cameraCloudConnections { id authKind status cameras { id name } } }`, nil, &list)
		if len(list.CameraCloudConnections) != 1 {
			t.Fatalf("connections %+v", list)
		}
		c := list.CameraCloudConnections[0]
		if c.AuthKind != "OAUTH" || c.Status != "OK" || len(c.Cameras) != 1 || c.Cameras[0].Name != "レジ前カメラ (CC-2L_SF : 201000192)" {
			t.Errorf("OAuth connection %+v", c)
		}
	})
}

// TestCloudReceiptPicture: through the whole server, a receipt that
// arrives two hours late on a register watched by a CLOUD camera gets the
// cloud's picture of its own second (the fake draws that second's clock),
// with its skew reported unknown.
func TestCloudReceiptPicture(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		fk := ccCloud(t)
		srv := testenv.StartWith(t, b, "", func(c *app.Config, _ string) { c.SafieBaseURL = fk.URL() })
		fx := testenv.NewFixture(t, srv.DB.Client, srv.AccountID)
		var out struct{ ConnectCameraCloud ccConn }
		srv.MustQuery(t, `mutation($in: ConnectCameraCloudInput!) { connectCameraCloud(input: $in) { id authKind status cameras { id name } } }`,
			map[string]any{"in": map[string]any{"apiKey": fk.APIKey(), "optionItemID": 5}}, &out)
		cam := out.ConnectCameraCloud.Cameras[0].ID
		// The register has watched the cloud camera since long before the
		// sale (the portal would link it from now on).
		ctx := viewer.System(t.Context())
		if _, err := srv.DB.Client.Link.Delete().Where(link.TerminalID(fx.TerminalIDs[0])).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := srv.DB.Client.Link.Create().SetAccountID(srv.AccountID).SetTerminalID(fx.TerminalIDs[0]).
			SetCameraID(pulid.ID(cam)).SetCreatedAt(testenv.LinkedSince).Exec(ctx); err != nil {
			t.Fatal(err)
		}

		at := time.Now().Add(-2 * time.Hour).Truncate(time.Second).Add(400 * time.Millisecond)
		var ing struct {
			IngestJournal []struct {
				Status string
				Entry  struct{ ID string }
			}
		}
		srv.MustQuery(t, `mutation($in: [JournalInput!]!) { ingestJournal(input: $in) { status entry { id } } }`,
			map[string]any{"in": []any{map[string]any{"terminalID": fx.TerminalIDs[0], "externalID": "LATE-1", "kind": "PAYMENT",
				"occurredAt": at.Format(time.RFC3339Nano), "total": 500, "deposit": 500, "change": 0}}}, &ing)
		if len(ing.IngestJournal) != 1 || ing.IngestJournal[0].Status != "CREATED" {
			t.Fatalf("ingest: %+v", ing)
		}
		type entry struct {
			Node struct {
				Camera          *struct{ ID string }
				ThumbnailReason *string
				Thumbnail       *struct{ SkewKnown bool }
				Picture         *struct{ URL string }
			}
		}
		var e entry
		// The query selects one thumbnail column beside picture: the
		// picture is still found (graph/pictures.go).
		deadline := time.Now().Add(15 * time.Second)
		for {
			srv.MustQuery(t, `query($id: ID!) { node(id: $id) { ... on JournalEntry { camera { id } thumbnailReason thumbnail { skewKnown } picture { url } } } }`,
				map[string]any{"id": ing.IngestJournal[0].Entry.ID}, &e)
			if e.Node.Picture != nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if e.Node.Camera == nil || e.Node.Camera.ID != cam || e.Node.Picture == nil || e.Node.Thumbnail == nil {
			raw := srv.Query(t, `query($id: ID!) { node(id: $id) { ... on JournalEntry { camera { id } thumbnailReason thumbnail { skewKnown url } picture { url } } } }`,
				map[string]any{"id": ing.IngestJournal[0].Entry.ID})
			t.Fatalf("entry of camera %s: %s %+v", cam, raw.Data, raw.Errors)
		}
		if e.Node.Thumbnail.SkewKnown {
			t.Error("skewKnown true for a cloud picture, whose capture time the cloud does not give")
		}
		resp := srv.Get(t, e.Node.Picture.URL)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("picture: %d %q", resp.StatusCode, body)
		}
		drawn, err := camera.DecodeTime(body)
		if err != nil {
			t.Fatalf("read the clock in the picture: %v", err)
		}
		if !drawn.Equal(at.Truncate(time.Second)) {
			t.Errorf("the picture shows %s, the receipt's second is %s", drawn, at.Truncate(time.Second))
		}
	})
}
