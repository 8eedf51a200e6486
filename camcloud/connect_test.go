package camcloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// TestConnect: the key is checked with the cloud, sealed, and the devices
// with the POS option become cameras labelled as the reference portal
// labels them; the device without the option does not.
func TestConnect(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		key := e.cloud.APIKey()
		conn, err := e.svc.Connect(e.owner, camcloud.ConnectInput{APIKey: "  " + key + "\n"})
		if err != nil {
			t.Fatal(err)
		}
		if conn.Name != "Safie" || conn.AuthKind != cameracloudconnection.AuthKindAPI_KEY || conn.Status != cameracloudconnection.StatusOK ||
			conn.RetentionDays != 7 || conn.LastSyncAt == nil || conn.LastError != "" {
			t.Fatalf("connection %+v", conn)
		}
		if conn.SecretHint != "••••"+key[len(key)-4:] {
			t.Fatalf("secret hint %q", conn.SecretHint)
		}
		// Sealed: the stored bytes do not hold the key, and open (bound to
		// the row) to it.
		stored := e.conn(conn.ID).Secrets
		if strings.Contains(string(stored), key) {
			t.Fatal("the key is stored in clear")
		}
		raw, err := e.box.Open(stored, secrets.CameraCloudSecretsAAD(conn.ID))
		if err != nil {
			t.Fatal(err)
		}
		var st map[string]any
		if err := json.Unmarshal(raw, &st); err != nil || st["api_key"] != key {
			t.Fatalf("sealed value %v, %v", st, err)
		}

		cams := e.cameras()
		if len(cams) != 2 || cams[devNoOp.ID] != nil {
			t.Fatalf("cameras %v: want the two POS-option devices only", cams)
		}
		for id, label := range map[string]string{devHome.ID: labelHome, devReg.ID: labelReg} {
			c := cams[id]
			if c == nil || c.Name != label || c.Model != "CC-2L_SF" || !c.PosOption || !isCloud(c) ||
				c.CloudConnectionID == nil || *c.CloudConnectionID != conn.ID || c.Streaming == nil || !*c.Streaming ||
				c.LastSeenAt == nil || c.RetiredAt != nil {
				t.Fatalf("camera of %s: %+v", id, c)
			}
		}
		ref, err := e.svc.Camera(e.sys, cams[devHome.ID].ID)
		if err != nil || ref.DeviceID != devHome.ID || ref.ConnectionID != conn.ID || ref.AccountID != e.account || ref.RetentionDays != 7 {
			t.Fatalf("camera ref %+v, %v", ref, err)
		}

		// The name is the account's own: a second connection needs another.
		e.cloud.AddKey("second-key-0002")
		_, err = e.svc.Connect(e.owner, camcloud.ConnectInput{APIKey: "second-key-0002", Name: " Safie "})
		wantReason(t, err, apperr.CAMERA_CLOUD_NAME_TAKEN, "input.name")

		if n := e.c.AuditLog.Query().CountX(e.sys); n == 0 {
			t.Fatal("connecting was not audited")
		}
		e.noSecretsLogged(key, "second-key-0002")
	})
}

// TestConnectRefused: a key the cloud refuses names apiKey, a cloud that
// answers garbage or not at all is said so; in every case nothing is
// stored. Bad input and STAFF are refused before the cloud is asked.
func TestConnectRefused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		nothingStored := func() {
			t.Helper()
			if n, m := e.c.CameraCloudConnection.Query().CountX(e.sys), e.c.Camera.Query().CountX(e.sys); n != 0 || m != 0 {
				t.Fatalf("%d connections, %d cameras stored after a refusal", n, m)
			}
		}
		const wrong = "wrong-key-98765432"
		_, err := e.svc.Connect(e.owner, camcloud.ConnectInput{APIKey: wrong})
		wantReason(t, err, apperr.SAFIE_AUTH, "input.apiKey")
		if e, _ := apperr.As(err); !strings.Contains(e.Message, "APIキーが Safie に認証されませんでした") {
			t.Fatalf("message %q", e.Message)
		}
		nothingStored()

		e.cloud.FailNext(1, 0) // a 200 with HTML
		_, err = e.svc.Connect(e.owner, camcloud.ConnectInput{APIKey: e.cloud.APIKey()})
		wantReason(t, err, apperr.SAFIE_BAD_RESPONSE, "")
		nothingStored()

		e.cloud.FailNext(10, http.StatusInternalServerError)
		_, err = e.svc.Connect(e.owner, camcloud.ConnectInput{APIKey: e.cloud.APIKey()})
		wantReason(t, err, apperr.SAFIE_UNREACHABLE, "")
		nothingStored()

		asked := e.cloud.Requests("/v2/")
		for _, c := range []struct {
			in            camcloud.ConnectInput
			reason, field string
		}{
			{camcloud.ConnectInput{APIKey: "  "}, apperr.REQUIRED, "input.apiKey"},
			{camcloud.ConnectInput{APIKey: "has space"}, apperr.INVALID_TEXT, "input.apiKey"},
			{camcloud.ConnectInput{APIKey: "キー"}, apperr.INVALID_TEXT, "input.apiKey"},
			{camcloud.ConnectInput{APIKey: strings.Repeat("k", 201)}, apperr.VALUE_TOO_LONG, "input.apiKey"},
			{camcloud.ConnectInput{APIKey: "k", Name: strings.Repeat("店", 67)}, apperr.VALUE_TOO_LONG, "input.name"},
			{camcloud.ConnectInput{APIKey: "k", Name: "a\nb"}, apperr.INVALID_TEXT, "input.name"},
			{camcloud.ConnectInput{APIKey: "k", OptionItemID: ptr(0)}, apperr.VALUE_OUT_OF_RANGE, "input.optionItemID"},
			{camcloud.ConnectInput{APIKey: "k", RetentionDays: ptr(0)}, apperr.VALUE_OUT_OF_RANGE, "input.retentionDays"},
			{camcloud.ConnectInput{APIKey: "k", RetentionDays: ptr(366)}, apperr.VALUE_OUT_OF_RANGE, "input.retentionDays"},
		} {
			_, err := e.svc.Connect(e.owner, c.in)
			wantReason(t, err, c.reason, c.field)
		}
		staff := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: e.account, Role: viewer.RoleStaff, Restricted: true,
			Scopes: []viewer.Scope{viewer.ScopeJournalRead}})
		_, err = e.svc.Connect(staff, camcloud.ConnectInput{APIKey: e.cloud.APIKey()})
		wantReason(t, err, apperr.ADMIN_ONLY, "")
		if e.cloud.Requests("/v2/") != asked {
			t.Fatal("bad input reached the cloud")
		}
		nothingStored()
		e.noSecretsLogged(wrong, e.cloud.APIKey())
	})
}

// TestUpdateAndDisconnect: a new key is checked before it replaces the old
// one; disconnecting retires the cameras (links end, history stays) and
// deletes the sealed key; connecting the same cloud again brings the same
// camera rows back.
func TestUpdateAndDisconnect(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		old := e.conn(conn.ID).Secrets

		_, err := e.svc.Update(e.owner, conn.ID, camcloud.UpdateInput{APIKey: ptr("not-a-valid-key-1")})
		wantReason(t, err, apperr.SAFIE_AUTH, "input.apiKey")
		if string(e.conn(conn.ID).Secrets) != string(old) {
			t.Fatal("a refused key replaced the stored one")
		}
		e.cloud.AddKey("fresh-key-abcd1234")
		up, err := e.svc.Update(e.owner, conn.ID, camcloud.UpdateInput{APIKey: ptr("fresh-key-abcd1234"), Name: ptr("本店の Safie"), RetentionDays: ptr(30)})
		if err != nil {
			t.Fatal(err)
		}
		if up.Name != "本店の Safie" || up.RetentionDays != 30 || up.SecretHint != "••••1234" || string(e.conn(conn.ID).Secrets) == string(old) {
			t.Fatalf("updated %+v", up)
		}
		_, err = e.svc.Update(e.owner, conn.ID, camcloud.UpdateInput{Name: ptr(" ")})
		wantReason(t, err, apperr.REQUIRED, "input.name")
		_, err = e.svc.Update(e.owner, "CC01NOPE", camcloud.UpdateInput{Name: ptr("x")})
		wantReason(t, err, apperr.CAMERA_CLOUD_NOT_FOUND, "id")

		home := e.cameras()[devHome.ID]
		l := e.link(home)
		if err := e.svc.Disconnect(e.owner, conn.ID); err != nil {
			t.Fatal(err)
		}
		if n := e.c.CameraCloudConnection.Query().CountX(e.sys); n != 0 {
			t.Fatal("the connection (and its sealed key) is still stored")
		}
		for _, c := range e.cameras() {
			if c.RetiredAt == nil || c.CloudConnectionID != nil {
				t.Fatalf("camera after disconnect: %+v", c)
			}
		}
		if got := e.c.Link.GetX(e.sys, l.ID); got.EndedAt == nil {
			t.Fatal("the link did not end")
		}
		if n := home.QueryJournalEntries().CountX(e.sys); n != 1 {
			t.Fatalf("%d entries on the retired camera, want its 1", n)
		}

		again := e.connect()
		cams := e.cameras()
		if len(cams) != 2 || !live(cams[devHome.ID]) || cams[devHome.ID].ID != home.ID || *cams[devHome.ID].CloudConnectionID != again.ID {
			t.Fatalf("reconnecting: %+v", cams[devHome.ID])
		}
		e.noSecretsLogged(e.cloud.APIKey(), "fresh-key-abcd1234", "not-a-valid-key-1")
	})
}

func ptr[T any](v T) *T { return &v }

// TestOtherAccountsConnections: another account's connection reads as one
// that does not exist, whatever is asked of it.
func TestOtherAccountsConnections(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		other := e.c.Account.Create().SetName("b").SaveX(e.sys)
		stranger := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: other.ID, Role: viewer.RoleOwner, SessionID: "SEx",
			Scopes: []viewer.Scope{viewer.ScopeAdmin}})
		_, err := e.svc.SyncNow(stranger, conn.ID)
		wantReason(t, err, apperr.CAMERA_CLOUD_NOT_FOUND, "id")
		_, err = e.svc.Update(stranger, conn.ID, camcloud.UpdateInput{Name: ptr("mine")})
		wantReason(t, err, apperr.CAMERA_CLOUD_NOT_FOUND, "id")
		wantReason(t, e.svc.Disconnect(stranger, conn.ID), apperr.CAMERA_CLOUD_NOT_FOUND, "id")
		if _, err := e.svc.Camera(stranger, e.cameras()[devHome.ID].ID); !errors.Is(err, camcloud.ErrNotCloud) {
			t.Fatalf("another account's camera resolves: %v", err)
		}
		if c := e.conn(conn.ID); c.Name != "Safie" {
			t.Fatalf("changed by a stranger: %+v", c)
		}
	})
}

// TestUpdateOptionResyncs: another option id selects other devices at once.
func TestUpdateOptionResyncs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		up, err := e.svc.Update(e.owner, conn.ID, camcloud.UpdateInput{OptionItemID: ptr(7)})
		if err != nil || up.OptionItemID == nil || *up.OptionItemID != 7 || up.Status != cameracloudconnection.StatusOK {
			t.Fatalf("update: %+v, %v", up, err)
		}
		cams := e.cameras()
		if live(cams[devHome.ID]) || !live(cams[devReg.ID]) || !live(cams[devNoOp.ID]) {
			t.Fatalf("after the option changed to 7: home %v reg %v store %v", live(cams[devHome.ID]), live(cams[devReg.ID]), live(cams[devNoOp.ID]))
		}
	})
}

// TestRunSyncsUntilStopped: Run syncs at once, and returns when its
// context ends.
func TestRunSyncsUntilStopped(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		e.cloud.RemoveDevice(devHome.ID)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.svc.Run(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.HasPrefix(e.cameras()[devHome.ID].SourceStatus, "CLOUD_MISSING:") {
			if time.Now().After(deadline) {
				t.Fatal("Run did not sync")
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		if c := e.conn(conn.ID); c.SyncOwner != "replica-1" || c.SyncLeaseUntil == nil {
			t.Fatalf("lease %+v", c)
		}
	})
}

// TestStaffReachTheirShopsCloudCamera: STAFF do not see connections, but a
// cloud camera of their shop resolves to its client (live view,
// recordings); one of another shop does not.
func TestStaffReachTheirShopsCloudCamera(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		e.connect()
		cams := e.cameras()
		l := e.link(cams[devHome.ID])
		e.link(cams[devReg.ID])
		shop := e.c.Terminal.GetX(e.sys, l.TerminalID).ShopID
		staff := viewer.NewContext(context.Background(), viewer.Viewer{AccountID: e.account, Role: viewer.RoleStaff, Restricted: true,
			ShopIDs: []pulid.ID{shop}, Scopes: []viewer.Scope{viewer.ScopeJournalRead}})
		ref, err := e.svc.Camera(staff, cams[devHome.ID].ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Client(staff, ref.ConnectionID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Camera(staff, cams[devReg.ID].ID); !errors.Is(err, camcloud.ErrNotCloud) {
			t.Fatalf("a camera of another shop resolves for STAFF: %v", err)
		}
		_, err = e.svc.SyncNow(staff, ref.ConnectionID)
		wantReason(t, err, apperr.ADMIN_ONLY, "")
	})
}
