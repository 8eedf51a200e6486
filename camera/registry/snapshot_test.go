package registry_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/ent/auditlog"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

const snapshotFields = `id name sourceKind sourceURL hasSourceCredentials snapshotURL hasSnapshotCredentials`

type snapCam struct {
	ID                     string  `json:"id"`
	Name                   string  `json:"name"`
	SourceKind             *string `json:"sourceKind"`
	SnapshotURL            *string `json:"snapshotURL"`
	HasSnapshotCredentials bool    `json:"hasSnapshotCredentials"`
}

// TestSnapshotURL: an RTSP camera takes a snapshot URL through
// createCamera and updateCamera. Its login is lifted out of the URL and
// sealed in its own column (the API and the audit log show the URL
// without it); a URL that is not http/https, has no host, or belongs to a
// camera that is not RTSP is refused on input.snapshotURL with nothing
// written; "" removes it, and so does the camera leaving RTSP.
func TestSnapshotURL(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		srv := start(t, b, func(c *app.Config) { c.CameraTestTimeout = time.Second })
		rtsp := "rtsp://" + closedPort(t) + "/stream1"
		host := "http://" + closedPort(t)
		mutate := func(q string, vars map[string]any) (snapCam, []testenv.GQLError) {
			t.Helper()
			r := srv.Query(t, q, vars)
			if len(r.Errors) > 0 {
				return snapCam{}, r.Errors
			}
			var out map[string]snapCam
			if err := json.Unmarshal(r.Data, &out); err != nil {
				t.Fatal(err)
			}
			for _, c := range out {
				return c, nil
			}
			t.Fatalf("no camera in %s", r.Data)
			return snapCam{}, nil
		}
		createQ := `mutation($in: CreateCameraInput!) { createCamera(input: $in) { ` + snapshotFields + ` } }`
		updateQ := `mutation($id: ID!, $in: UpdateCameraInput!) { updateCamera(id: $id, input: $in) { ` + snapshotFields + ` } }`
		source := map[string]any{"kind": "RTSP", "url": rtsp}

		withLogin := strings.Replace(host, "http://", "http://viewer:s3cret-snap@", 1) + "/ISAPI/Streaming/channels/101/picture"
		c, errs := mutate(createQ, map[string]any{"in": map[string]any{"name": "レジ前", "deviceID": "rtsp-snap", "source": source, "snapshotURL": withLogin}})
		if errs != nil {
			t.Fatal(errs)
		}
		want := host + "/ISAPI/Streaming/channels/101/picture"
		if c.SnapshotURL == nil || *c.SnapshotURL != want || !c.HasSnapshotCredentials {
			t.Fatalf("created: snapshotURL %v, hasSnapshotCredentials %v; want %s and true", c.SnapshotURL, c.HasSnapshotCredentials, want)
		}
		id := pulid.ID(c.ID)
		row := srv.DB.Client.Camera.GetX(viewer.System(t.Context()), id)
		if strings.Contains(string(row.SnapshotCredentials), "s3cret-snap") || strings.Contains(row.SnapshotURL, "s3cret") {
			t.Errorf("the snapshot login is stored in clear: %q %q", row.SnapshotURL, row.SnapshotCredentials)
		}
		if _, err := srv.Secrets.Open(row.SnapshotCredentials, secrets.CameraSnapshotCredentialsAAD(id)); err != nil {
			t.Errorf("the snapshot login does not open with its binding: %v", err)
		}
		// Nothing the API answers carries the password.
		r := srv.Query(t, `query($id: ID!) { node(id: $id) { ... on Camera { `+snapshotFields+` } } }`, map[string]any{"id": c.ID})
		if strings.Contains(string(r.Data), "s3cret") {
			t.Errorf("the API returns the snapshot password: %s", r.Data)
		}

		for _, bad := range []struct {
			what, url, reason, part string
		}{
			{"ftp", "ftp://192.0.2.10/picture", "CAMERA_SNAPSHOT_URL_SCHEME", "静止画URL"},
			{"rtsp", "rtsp://192.0.2.10/picture", "CAMERA_SNAPSHOT_URL_SCHEME", "http:// か https://"},
			{"no host", "http:///picture", "CAMERA_URL_NO_HOST", "静止画URL"},
			{"metadata address", "http://169.254.169.254/latest", "CAMERA_URL_REFUSED", "静止画URL"},
		} {
			// The name in the same update is not written either.
			_, errs := mutate(updateQ, map[string]any{"id": c.ID, "in": map[string]any{"name": "変更されない", "snapshotURL": bad.url}})
			wantError(t, bad.what, errs, "BAD_USER_INPUT", "input.snapshotURL", bad.part)
			if len(errs) == 1 && errs[0].Extensions["reason"] != bad.reason {
				t.Errorf("%s: reason %v, want %s", bad.what, errs[0].Extensions["reason"], bad.reason)
			}
			_, errs = mutate(createQ, map[string]any{"in": map[string]any{"name": "x", "deviceID": "bad-" + bad.what, "source": source, "snapshotURL": bad.url}})
			wantError(t, "create, "+bad.what, errs, "BAD_USER_INPUT", "input.snapshotURL")
		}
		if n := srv.DB.Client.Camera.Query().Where(entcamera.DeviceIDHasPrefix("bad-")).CountX(viewer.System(t.Context())); n != 0 {
			t.Errorf("%d refused cameras were saved", n)
		}
		_, errs = mutate(createQ, map[string]any{"in": map[string]any{"name": "x", "deviceID": "snap-1",
			"source": map[string]any{"kind": "SNAPSHOT", "url": host + "/snap.jpg"}, "snapshotURL": want}})
		wantError(t, "a SNAPSHOT camera", errs, "BAD_USER_INPUT", "input.snapshotURL", "RTSP")
		if got := node(t, srv, c.ID); got == nil || got.Name != "レジ前" {
			t.Errorf("a refused update changed the camera: %+v", got)
		}

		// A new path on the same server keeps the sealed login.
		c, errs = mutate(updateQ, map[string]any{"id": c.ID, "in": map[string]any{"snapshotURL": host + "/cgi-bin/snapshot.cgi"}})
		if errs != nil || c.SnapshotURL == nil || *c.SnapshotURL != host+"/cgi-bin/snapshot.cgi" || !c.HasSnapshotCredentials {
			t.Errorf("same server, new path: %+v %v", c, errs)
		}
		// Another server does not get it.
		other := "http://" + closedPort(t) + "/picture"
		c, errs = mutate(updateQ, map[string]any{"id": c.ID, "in": map[string]any{"snapshotURL": other}})
		if errs != nil || c.SnapshotURL == nil || *c.SnapshotURL != other || c.HasSnapshotCredentials {
			t.Errorf("another server: %+v %v", c, errs)
		}
		// Omitted keeps it; "" removes it.
		c, _ = mutate(updateQ, map[string]any{"id": c.ID, "in": map[string]any{"name": "レジ前2"}})
		if c.SnapshotURL == nil {
			t.Error("an update without snapshotURL removed it")
		}
		c, _ = mutate(updateQ, map[string]any{"id": c.ID, "in": map[string]any{"snapshotURL": ""}})
		if c.SnapshotURL != nil || c.HasSnapshotCredentials {
			t.Errorf("removed: %+v", c)
		}
		// Leaving RTSP takes the snapshot URL with it.
		c, _ = mutate(updateQ, map[string]any{"id": c.ID, "in": map[string]any{"snapshotURL": withLogin}})
		c, errs = mutate(updateQ, map[string]any{"id": c.ID, "in": map[string]any{"source": map[string]any{"kind": "SIMULATED"}}})
		if errs != nil || c.SnapshotURL != nil || c.HasSnapshotCredentials {
			t.Errorf("no longer RTSP: %+v %v", c, errs)
		}

		// Audited as other camera changes, without the password.
		logs := srv.DB.Client.AuditLog.Query().Where(auditlog.TargetID(string(id))).AllX(viewer.System(t.Context()))
		var set, changed, removed bool
		for _, l := range logs {
			if strings.Contains(l.Detail, "s3cret") {
				t.Errorf("audit %s: %q carries the password", l.Action, l.Detail)
			}
			set = set || l.Action == "camera.created" && strings.Contains(l.Detail, "静止画URL: "+want)
			changed = changed || l.Action == "camera.updated" && strings.Contains(l.Detail, "静止画URL を変更")
			removed = removed || l.Action == "camera.updated" && strings.Contains(l.Detail, "静止画URL を削除")
		}
		if !set || !changed || !removed {
			t.Errorf("audit: set %v, changed %v, removed %v in %d entries", set, changed, removed, len(logs))
		}
	})
}
