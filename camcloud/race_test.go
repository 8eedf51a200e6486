package camcloud_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/internal/dbtest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
)

// onToken runs before the first request to the token endpoint it sees;
// answer, when not nil, replaces the cloud's answer to that request.
type onToken struct {
	armed  atomic.Bool
	before func()
	answer func() *http.Response
}

func (o *onToken) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/v1/auth/token") && o.armed.CompareAndSwap(true, false) {
		o.before()
		if o.answer != nil {
			return o.answer(), nil
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (e *env) oauthConnection() pulid.ID {
	e.t.Helper()
	u, err := e.svc.StartOAuth(e.owner, camcloud.StartOAuthInput{Name: "Safie"})
	if err != nil {
		e.t.Fatal(err)
	}
	return pulid.ID(e.grant(u, e.owner, nil).Get("connected"))
}

func (e *env) storedKey(id pulid.ID) string {
	e.t.Helper()
	raw, err := e.box.Open(e.conn(id).Secrets, secrets.CameraCloudSecretsAAD(id))
	if err != nil {
		e.t.Fatal(err)
	}
	var st struct {
		Key string `json:"api_key"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		e.t.Fatal(err)
	}
	return st.Key
}

// TestRefreshRacingAnUpdateKeepsTheNewKey: the owner gives a new key while
// a token refresh is on its way: the refreshed tokens do not overwrite the
// key, and the client uses the key.
func TestRefreshRacingAnUpdateKeepsTheNewKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		rt := &onToken{}
		e := newEnv(t, d, func(e *env) { withOAuth(e); e.cfg.HTTP = &http.Client{Transport: rt, Timeout: 10 * time.Second} })
		id := e.oauthConnection()
		e.cloud.AddKey("renewed-key-0003")
		rt.before = func() {
			if _, err := e.svc.Update(e.owner, id, updateKey("renewed-key-0003")); err != nil {
				t.Error(err)
			}
		}
		rt.armed.Store(true)
		e.clock.Add(2 * time.Hour)
		e.cloud.ExpireTokens()
		cl, err := e.svc.Client(e.sys, id)
		if err != nil {
			t.Fatal(err)
		}
		if rt.armed.Load() {
			t.Fatal("no refresh was made")
		}
		c := e.conn(id)
		if c.AuthKind != cameracloudconnection.AuthKindAPI_KEY || c.Status != cameracloudconnection.StatusOK || e.storedKey(id) != "renewed-key-0003" {
			t.Fatalf("after the race: %+v", c)
		}
		e.cloud.ExpireTokens() // the refreshed access token, had it been kept, would fail now
		if _, err := cl.Devices(e.sys, nil); err != nil {
			t.Fatalf("the client does not use the new key: %v", err)
		}
	})
}

// TestRefusedRefreshAfterAnotherReplicaRefreshed: two replicas refresh the
// same expired token; the cloud refuses the one that comes second (a
// single-use refresh token): it takes the other's tokens and the
// connection stays OK.
func TestRefusedRefreshAfterAnotherReplicaRefreshed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		rt := &onToken{}
		e := newEnv(t, d, func(e *env) { withOAuth(e); e.cfg.HTTP = &http.Client{Transport: rt, Timeout: 10 * time.Second} })
		id := e.oauthConnection()
		cfgB := e.cfg
		cfgB.HTTP, cfgB.Owner = nil, "replica-2"
		other := e.service(cfgB)
		rt.before = func() {
			if _, err := other.Client(e.sys, id); err != nil {
				t.Error(err)
			}
		}
		rt.answer = func() *http.Response {
			return &http.Response{StatusCode: http.StatusBadRequest, Status: "400 Bad Request",
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   io.NopCloser(strings.NewReader(`{"error":"invalid_grant"}`))}
		}
		rt.armed.Store(true)
		e.clock.Add(2 * time.Hour)
		e.cloud.ExpireTokens()
		got, err := e.svc.SyncNow(e.owner, id)
		if err != nil || got.Status != cameracloudconnection.StatusOK {
			t.Fatalf("sync after the other replica refreshed: %+v, %v", got, err)
		}
		if rt.armed.Load() {
			t.Fatal("no refresh was made")
		}
		cl, err := e.svc.Client(e.sys, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Devices(e.sys, nil); err != nil {
			t.Fatalf("the other replica's token is not used: %v", err)
		}
	})
}

// TestSyncNowCooldown: syncs asked for in a row reach the cloud 3 times,
// then once per 15 s; the others answer the last sync (a GraphQL request
// with a thousand aliases costs three device lists, not a thousand).
func TestSyncNowCooldown(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		conn := e.connect()
		asked := e.cloud.Requests("/v2/devices")
		for range 50 {
			got, err := e.svc.SyncNow(e.owner, conn.ID)
			if err != nil || got.Status != cameracloudconnection.StatusOK {
				t.Fatalf("%+v, %v", got, err)
			}
		}
		if n := e.cloud.Requests("/v2/devices") - asked; n != 3 {
			t.Fatalf("%d device lists for 50 syncs in a row, want 3", n)
		}
		e.clock.Add(15 * time.Second)
		for range 5 {
			if _, err := e.svc.SyncNow(e.owner, conn.ID); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.cloud.Requests("/v2/devices") - asked; n != 4 {
			t.Fatalf("%d device lists 15 s later, want 4", n)
		}
	})
}

// TestKeyChecksLimitedPerAccount: an account may have 10 keys checked by
// the cloud a minute; the 11th is refused without asking (RATE_LIMITED),
// and a minute later checks go through again.
func TestKeyChecksLimitedPerAccount(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		for i := range 10 {
			_, err := e.svc.Connect(e.owner, camcloud.ConnectInput{APIKey: "wrong-key-" + string(rune('a'+i))})
			wantReason(t, err, apperr.SAFIE_AUTH, "input.apiKey")
		}
		asked := e.cloud.Requests("/v2/devices")
		_, err := e.svc.Connect(e.owner, camcloud.ConnectInput{APIKey: e.cloud.APIKey()})
		wantReason(t, err, apperr.RATE_LIMITED, "")
		if e.cloud.Requests("/v2/devices") != asked {
			t.Fatal("the cloud was asked over the budget")
		}
		e.clock.Add(time.Minute)
		if _, err := e.svc.Connect(e.owner, camcloud.ConnectInput{APIKey: e.cloud.APIKey()}); err != nil {
			t.Fatal(err)
		}
	})
}
