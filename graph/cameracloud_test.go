package graph_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// ccKey is the fake cloud's API key; no answer may ever contain it.
const ccKey = "graph-safie-key-7f3a9c51"

// ccPOSItem is the fake's POS option (Safie item_id).
const ccPOSItem = 5

// ccEnv is the schema over a Safie fake with two devices: レジ前 carries the
// POS option, 事務所 does not. Every answer read through its q is kept, so
// a test can look for the key in all of them.
type ccEnv struct {
	srv     *gqlEnv
	cloud   *fake.Safie
	answers []string
}

func startCameraCloud(t *testing.T, b testenv.Backend) *ccEnv {
	t.Helper()
	cloud, stop := fake.Start(fake.Options{APIKeys: []string{ccKey}})
	t.Cleanup(stop)
	cloud.AddDevice(fake.Device{ID: "201000192", Serial: "201000192", Name: "レジ前カメラ", Model: "CC-2L_SF",
		ItemIDs: []int{ccPOSItem}, Streaming: true})
	cloud.AddDevice(fake.Device{ID: "201000500", Serial: "201000500", Name: "事務所カメラ", Model: "CC-2L_SF",
		ItemIDs: []int{1}, Streaming: true})
	e := &ccEnv{cloud: cloud}
	e.srv = startSchema(t, b, schemaOptions{SafieURL: cloud.URL()})
	t.Cleanup(func() {
		for _, a := range e.answers {
			if strings.Contains(a, ccKey) {
				t.Errorf("an answer holds the cloud's API key: %s", a)
			}
		}
	})
	return e
}

// q runs doc as c and keeps the whole answer (data and errors).
func (e *ccEnv) q(t *testing.T, c *gqlEnv, doc string, vars map[string]any) testenv.Response {
	t.Helper()
	r := c.Query(t, doc, vars)
	errs, _ := json.Marshal(r.Errors)
	e.answers = append(e.answers, string(r.Data), string(errs))
	return r
}

func (e *ccEnv) must(t *testing.T, c *gqlEnv, doc string, vars map[string]any, out any) {
	t.Helper()
	r := e.q(t, c, doc, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("%s: %+v", doc, r.Errors)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

type ccConnection struct {
	ID, Name, Status, SecretHint, LastError string
	OptionItemID                            *int
	DeviceCount                             int
	Cameras                                 []struct {
		ID, Name, SourceKind, Model, DeviceID string
		PosOption                             bool
		CloudConnection                       *struct{ ID string }
	}
}

const ccConnectionFields = `id name status secretHint lastError optionItemID deviceCount
	cameras { id name sourceKind model deviceID posOption cloudConnection { id } }`

const ccConnect = `mutation($in: ConnectCameraCloudInput!) { connectCameraCloud(input: $in) { ` + ccConnectionFields + ` } }`

func (e *ccEnv) connect(t *testing.T, c *gqlEnv) ccConnection {
	t.Helper()
	var out struct{ ConnectCameraCloud ccConnection }
	e.must(t, c, ccConnect, map[string]any{"in": map[string]any{"apiKey": ccKey, "optionItemID": ccPOSItem}}, &out)
	return out.ConnectCameraCloud
}

func ccReason(e testenv.GQLError) string { s, _ := e.Extensions["reason"].(string); return s }

// TestConnectCameraCloud: the owner connects with the cloud's key; the
// devices with the POS option are listed as cameras labelled as the
// cloud's portal shows them (the other device is not), the connection
// lists with its count, and its camera leads back to it. The key is never
// in an answer, only its masked hint.
func TestConnectCameraCloud(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := startCameraCloud(t, b)
		conn := e.connect(t, e.srv)
		if conn.Status != "OK" || conn.Name != "Safie" || conn.OptionItemID == nil || *conn.OptionItemID != ccPOSItem {
			t.Errorf("connection %+v", conn)
		}
		if conn.SecretHint == "" || !strings.HasSuffix(ccKey, strings.TrimLeft(conn.SecretHint, "•*")) {
			t.Errorf("secretHint %q is not the key masked", conn.SecretHint)
		}
		if len(conn.Cameras) != 1 || conn.DeviceCount != 1 {
			t.Fatalf("cameras %+v (deviceCount %d), want レジ前 only", conn.Cameras, conn.DeviceCount)
		}
		cam := conn.Cameras[0]
		if cam.Name != "レジ前カメラ (CC-2L_SF : 201000192)" || cam.SourceKind != "CLOUD" || cam.Model != "CC-2L_SF" ||
			cam.DeviceID != "201000192" || !cam.PosOption || cam.CloudConnection == nil || cam.CloudConnection.ID != conn.ID {
			t.Errorf("camera %+v", cam)
		}

		var list struct {
			CameraCloudConnections    []ccConnection
			CameraCloudOAuthAvailable bool
		}
		e.must(t, e.srv, `{ cameraCloudConnections { `+ccConnectionFields+` } cameraCloudOAuthAvailable }`, nil, &list)
		if len(list.CameraCloudConnections) != 1 || list.CameraCloudConnections[0].ID != conn.ID ||
			list.CameraCloudConnections[0].DeviceCount != 1 || list.CameraCloudOAuthAvailable {
			t.Errorf("list %+v", list)
		}
		// The account's camera list and the link portal have it too.
		var cams struct {
			Cameras struct {
				Edges []struct{ Node struct{ ID, Name string } }
			}
			LinkableCameras []struct{ ID string }
		}
		e.must(t, e.srv, `{ cameras { edges { node { id name } } } linkableCameras { id } }`, nil, &cams)
		if !slices.ContainsFunc(cams.Cameras.Edges, func(x struct{ Node struct{ ID, Name string } }) bool { return x.Node.ID == cam.ID }) ||
			!slices.ContainsFunc(cams.LinkableCameras, func(x struct{ ID string }) bool { return x.ID == cam.ID }) {
			t.Errorf("camera %s missing from cameras or linkableCameras: %+v", cam.ID, cams)
		}
		var node struct {
			Node  struct{ ID, Name, SecretHint string }
			Nodes []*struct{ ID string }
		}
		e.must(t, e.srv, `query($id: ID!) { node(id: $id) { id ... on CameraCloudConnection { name secretHint } } nodes(ids: [$id]) { id } }`,
			map[string]any{"id": conn.ID}, &node)
		if node.Node.ID != conn.ID || node.Node.Name != "Safie" || len(node.Nodes) != 1 || node.Nodes[0] == nil || node.Nodes[0].ID != conn.ID {
			t.Errorf("node(id) and nodes of the connection: %+v", node)
		}

		// Sync, rename, disconnect: the camera is retired, history kept.
		var synced struct{ SyncCameraCloud ccConnection }
		e.must(t, e.srv, `mutation($id: ID!) { syncCameraCloud(id: $id) { `+ccConnectionFields+` } }`, map[string]any{"id": conn.ID}, &synced)
		if synced.SyncCameraCloud.Status != "OK" || len(synced.SyncCameraCloud.Cameras) != 1 {
			t.Errorf("sync %+v", synced)
		}
		var upd struct{ UpdateCameraCloud ccConnection }
		e.must(t, e.srv, `mutation($id: ID!, $in: UpdateCameraCloudInput!) { updateCameraCloud(id: $id, input: $in) { `+ccConnectionFields+` } }`,
			map[string]any{"id": conn.ID, "in": map[string]any{"name": "本店の Safie", "apiKey": ccKey}}, &upd)
		if upd.UpdateCameraCloud.Name != "本店の Safie" {
			t.Errorf("update %+v", upd)
		}
		var gone struct{ DisconnectCameraCloud bool }
		e.must(t, e.srv, `mutation($id: ID!) { disconnectCameraCloud(id: $id) }`, map[string]any{"id": conn.ID}, &gone)
		if !gone.DisconnectCameraCloud {
			t.Error("disconnect answered false")
		}
		e.must(t, e.srv, `{ cameraCloudConnections { id } cameraCloudOAuthAvailable }`, nil, &list)
		if len(list.CameraCloudConnections) != 0 {
			t.Errorf("after disconnect: %+v", list)
		}
		row, err := e.srv.DB.Client.Camera.Get(viewer.System(context.Background()), pulid.ID(cam.ID))
		if err != nil || row.RetiredAt == nil {
			t.Errorf("after disconnect the camera is %+v (%v), want retired and kept", row, err)
		}
	})
}

// TestConnectCameraCloudRefused: a key the cloud refuses is SAFIE_AUTH on
// the apiKey field, says nothing of the key, and stores nothing; a
// connection of another account is NOT_FOUND to every mutation and to
// node(id); STAFF may neither list nor connect, and an API key never sees
// a camera's connection.
func TestConnectCameraCloudRefused(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := startCameraCloud(t, b)
		const badKey = "graph-wrong-key-0000"
		r := e.q(t, e.srv, ccConnect, map[string]any{"in": map[string]any{"apiKey": badKey}})
		if len(r.Errors) != 1 || r.Errors[0].Code() != apperr.BadUserInput && r.Errors[0].Code() != apperr.Unavailable ||
			ccReason(r.Errors[0]) != apperr.SAFIE_AUTH || !strings.HasSuffix(r.Errors[0].Field(), "apiKey") {
			t.Fatalf("bad key: %+v", r.Errors)
		}
		if strings.Contains(r.Errors[0].Message, badKey) {
			t.Errorf("the error quotes the key: %s", r.Errors[0].Message)
		}
		var list struct{ CameraCloudConnections []struct{ ID string } }
		e.must(t, e.srv, `{ cameraCloudConnections { id } }`, nil, &list)
		if len(list.CameraCloudConnections) != 0 {
			t.Errorf("a refused key was stored: %+v", list)
		}

		// Account B's connection, seen from A.
		_, bOwner := e.srv.NewAccount(t, "B社")
		bConn := e.connect(t, bOwner)
		for name, doc := range map[string]string{
			"sync":       `mutation($id: ID!) { syncCameraCloud(id: $id) { id } }`,
			"update":     `mutation($id: ID!) { updateCameraCloud(id: $id, input: {name: "乗っ取り"}) { id } }`,
			"disconnect": `mutation($id: ID!) { disconnectCameraCloud(id: $id) }`,
			"node":       `query($id: ID!) { node(id: $id) { id } }`,
		} {
			r := e.q(t, e.srv, doc, map[string]any{"id": bConn.ID})
			if !slices.ContainsFunc(r.Errors, func(x testenv.GQLError) bool { return x.Code() == apperr.NotFound }) {
				t.Errorf("%s with B's connection: want NOT_FOUND, got data %s errors %+v", name, r.Data, r.Errors)
			}
		}
		e.must(t, bOwner, `{ cameraCloudConnections { id name } }`, nil, &list)
		if len(list.CameraCloudConnections) != 1 {
			t.Errorf("B's connection after A's attempts: %+v", list)
		}

		// STAFF: refused by the permission table.
		_, staff := e.srv.NewUser(t, e.srv.AccountID, viewer.RoleStaff)
		for _, doc := range []string{`{ cameraCloudConnections { id } }`, `{ cameraCloudOAuthAvailable }`} {
			if r := e.q(t, staff, doc, nil); len(r.Errors) == 0 || r.Errors[0].Code() != apperr.Forbidden {
				t.Errorf("STAFF %s: %s %+v", doc, r.Data, r.Errors)
			}
		}
		if r := e.q(t, staff, ccConnect, map[string]any{"in": map[string]any{"apiKey": ccKey}}); len(r.Errors) == 0 || r.Errors[0].Code() != apperr.Forbidden {
			t.Errorf("STAFF connect: %s %+v", r.Data, r.Errors)
		}

		// A's own connection: an API key reading the camera sees no connection.
		conn := e.connect(t, e.srv)
		_, key := e.srv.NewAPIKey(t, e.srv.AccountID, viewer.ScopeJournalRead)
		var cam struct {
			Node struct {
				ID              string
				CloudConnection *struct{ ID string }
			}
		}
		e.must(t, key, `query($id: ID!) { node(id: $id) { id ... on Camera { cloudConnection { id } } } }`,
			map[string]any{"id": conn.Cameras[0].ID}, &cam)
		if cam.Node.ID != conn.Cameras[0].ID || cam.Node.CloudConnection != nil {
			t.Errorf("a journal:read key reads the camera's connection: %+v", cam)
		}
		if r := e.q(t, key, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": conn.ID}); len(r.Errors) == 0 || r.Errors[0].Code() != apperr.NotFound {
			t.Errorf("a journal:read key reads the connection by node(id): %s %+v", r.Data, r.Errors)
		}
	})
}

// TestEntryClip: no source offers video, so the clip of every entry is
// 10 s before to 20 s after it with a reason by its camera: a cloud
// camera points to the cloud's viewer, no camera says so, any other
// camera keeps stills only.
func TestEntryClip(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := startCameraCloud(t, b)
		fx := testenv.NewFixture(t, e.srv.DB.Client, e.srv.AccountID)
		conn := e.connect(t, e.srv)
		// Register 1 watched by the cloud camera, register 2 by none,
		// register 3 by the fixture's own camera.
		ctx := viewer.System(context.Background())
		c := e.srv.DB.Client
		if _, err := c.Link.Delete().Where(link.TerminalIDIn(fx.TerminalIDs[0], fx.TerminalIDs[1])).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Link.Create().SetAccountID(e.srv.AccountID).SetTerminalID(fx.TerminalIDs[0]).
			SetCameraID(pulid.ID(conn.Cameras[0].ID)).SetCreatedAt(testenv.LinkedSince).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		res := tjMustIngest(t, e.srv,
			tjReceipt(fx.TerminalIDs[0], "C-1", "PAYMENT", at, nil),
			tjReceipt(fx.TerminalIDs[1], "C-2", "PAYMENT", at, nil),
			tjReceipt(fx.TerminalIDs[2], "C-3", "PAYMENT", at, nil))
		want := map[string]string{
			res[0].Entry.ID: "クラウドカメラの動画は Safie Viewer でご覧ください（Safie API は動画を提供していません）",
			res[1].Entry.ID: "この取引にはカメラがつながっていません",
			res[2].Entry.ID: "このカメラの動画は録画していません（静止画のみ）",
		}
		for id, reason := range want {
			var out struct {
				Node struct {
					Clip struct {
						From, To          time.Time
						URL, ContentType  *string
						UnavailableReason *string
					}
				}
			}
			e.must(t, e.srv, `query($id: ID!) { node(id: $id) { ... on JournalEntry { clip { from to url contentType unavailableReason } } } }`,
				map[string]any{"id": id}, &out)
			clip := out.Node.Clip
			if !clip.From.Equal(at.Add(-10*time.Second)) || !clip.To.Equal(at.Add(20*time.Second)) || clip.URL != nil ||
				clip.UnavailableReason == nil || *clip.UnavailableReason != reason {
				t.Errorf("clip of %s: %+v (reason %s), want %q", id, clip, tjStr(clip.UnavailableReason), reason)
			}
		}
	})
}

// TestCameraRecordings: a cloud camera's recorded spans and the gap the
// cloud has in them; a camera regicam does not record answers NONE; more
// than 72 hours is refused on to.
func TestCameraRecordings(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := startCameraCloud(t, b)
		fx := testenv.NewFixture(t, e.srv.DB.Client, e.srv.AccountID)
		conn := e.connect(t, e.srv)
		now := time.Now().UTC().Truncate(time.Second)
		gapFrom, gapTo := now.Add(-90*time.Minute), now.Add(-80*time.Minute)
		e.cloud.AddGap("201000192", gapFrom, gapTo)

		type recs struct {
			Node struct {
				Recordings struct {
					Source      string
					Spans, Gaps []struct{ From, To time.Time }
					Message     *string
				}
			}
		}
		const doc = `query($id: ID!, $from: Time!, $to: Time!) { node(id: $id) { ... on Camera {
			recordings(from: $from, to: $to) { source spans { from to } gaps { from to } message } } } }`
		var out recs
		e.must(t, e.srv, doc, map[string]any{"id": conn.Cameras[0].ID,
			"from": now.Add(-2 * time.Hour).Format(time.RFC3339), "to": now.Add(-time.Hour).Format(time.RFC3339)}, &out)
		r := out.Node.Recordings
		if r.Source != "CLOUD" || len(r.Gaps) != 1 || len(r.Spans) != 2 {
			t.Fatalf("recordings %+v", r)
		}
		if d := r.Gaps[0].From.Sub(gapFrom).Abs() + r.Gaps[0].To.Sub(gapTo).Abs(); d > 2*time.Second {
			t.Errorf("gap %v–%v, the cloud's is %v–%v", r.Gaps[0].From, r.Gaps[0].To, gapFrom, gapTo)
		}

		e.must(t, e.srv, doc, map[string]any{"id": fx.CameraIDs[0],
			"from": now.Add(-2 * time.Hour).Format(time.RFC3339), "to": now.Add(-time.Hour).Format(time.RFC3339)}, &out)
		if r := out.Node.Recordings; r.Source != "NONE" || len(r.Spans) != 0 || len(r.Gaps) != 0 {
			t.Errorf("a camera regicam does not record: %+v", r)
		}

		resp := e.q(t, e.srv, doc, map[string]any{"id": conn.Cameras[0].ID,
			"from": now.Add(-73 * time.Hour).Format(time.RFC3339), "to": now.Format(time.RFC3339)})
		if len(resp.Errors) != 1 || resp.Errors[0].Code() != apperr.BadUserInput || resp.Errors[0].Field() != "to" ||
			ccReason(resp.Errors[0]) != apperr.RECORDINGS_RANGE {
			t.Errorf("73 h: %+v", resp.Errors)
		}

		// What the camera recorded is the journal's to read: a partner key
		// for links sees the camera but may not ask the cloud about it; a
		// journal:read key may.
		vars := map[string]any{"id": conn.Cameras[0].ID,
			"from": now.Add(-2 * time.Hour).Format(time.RFC3339), "to": now.Add(-time.Hour).Format(time.RFC3339)}
		_, linker := e.srv.NewAPIKey(t, e.srv.AccountID, viewer.ScopeLinksWrite)
		resp = e.q(t, linker, doc, vars)
		if len(resp.Errors) != 1 || resp.Errors[0].Code() != apperr.Forbidden {
			t.Errorf("recordings with a links:write key: %+v, want FORBIDDEN", resp.Errors)
		}
		_, reader := e.srv.NewAPIKey(t, e.srv.AccountID, viewer.ScopeJournalRead)
		e.must(t, reader, doc, vars, &out)
		if out.Node.Recordings.Source != "CLOUD" {
			t.Errorf("recordings with a journal:read key: %+v", out.Node.Recordings)
		}
	})
}

// TestCameraNotRecordingAlert: the rule kinds of the camera cloud are
// created and listed through the API; a linked cloud camera that stops
// streaming raises one CAMERA_NOT_RECORDING alert at the next sync, which
// shows resolvedAt once the camera streams again.
func TestCameraNotRecordingAlert(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := startCameraCloud(t, b)
		fx := testenv.NewFixture(t, e.srv.DB.Client, e.srv.AccountID)
		conn := e.connect(t, e.srv)
		var linked struct {
			RebindTerminal struct {
				Typename string `json:"__typename"`
			}
		}
		e.must(t, e.srv, `mutation($t: ID!, $c: ID!) { rebindTerminal(terminalID: $t, cameraID: $c) { __typename } }`,
			map[string]any{"t": fx.TerminalIDs[0], "c": conn.Cameras[0].ID}, &linked)
		for _, in := range []map[string]any{
			{"name": "録画停止", "kind": "CAMERA_NOT_RECORDING"},
			{"name": "人のいない取消", "kind": "NO_PERSON", "windowSeconds": 30, "entryKinds": []string{"CANCEL"}},
		} {
			var out struct {
				CreateAlertRule struct{ Rule struct{ Kind string } }
			}
			e.must(t, e.srv, `mutation($in: AlertRuleInput!) { createAlertRule(input: $in) { rule { kind } } }`, map[string]any{"in": in}, &out)
			if out.CreateAlertRule.Rule.Kind != in["kind"] {
				t.Errorf("created %+v, want kind %s", out, in["kind"])
			}
		}
		type alerts struct {
			Alerts struct {
				Edges []struct {
					Node struct {
						RuleKind   string
						ResolvedAt *time.Time
					}
				}
			}
		}
		const list = `{ alerts { edges { node { ruleKind resolvedAt } } } }`
		sync := func() {
			t.Helper()
			var out struct{ SyncCameraCloud struct{ Status string } }
			e.must(t, e.srv, `mutation($id: ID!) { syncCameraCloud(id: $id) { status } }`, map[string]any{"id": conn.ID}, &out)
			if out.SyncCameraCloud.Status != "OK" {
				t.Fatalf("sync: %+v", out)
			}
		}

		e.cloud.SetStreaming("201000192", false)
		sync()
		sync() // the same episode: still one alert
		var got alerts
		e.must(t, e.srv, list, nil, &got)
		if len(got.Alerts.Edges) != 1 || got.Alerts.Edges[0].Node.RuleKind != "CAMERA_NOT_RECORDING" || got.Alerts.Edges[0].Node.ResolvedAt != nil {
			t.Fatalf("after the camera stopped: %+v", got)
		}
		e.cloud.SetStreaming("201000192", true)
		sync()
		e.must(t, e.srv, list, nil, &got)
		if len(got.Alerts.Edges) != 1 || got.Alerts.Edges[0].Node.ResolvedAt == nil {
			t.Fatalf("after the camera streams again: %+v", got)
		}
	})
}
