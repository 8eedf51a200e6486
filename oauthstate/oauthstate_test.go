package oauthstate_test

import (
	"testing"
	"time"

	"github.com/regicam/regicam/oauthstate"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// TestStateOpensForItsViewerOnceUntilItExpires.
func TestStateOpensForItsViewerOnceUntilItExpires(t *testing.T) {
	box, err := secrets.New(secrets.NewKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("oauth_state:test")
	v := viewer.Viewer{AccountID: pulid.MustNew("AC"), UserID: pulid.MustNew("US"), SessionID: pulid.MustNew("SE")}
	now := time.Now()
	type data struct{ Name string }
	state, exp, err := oauthstate.Seal(box, aad, v, now, 10*time.Minute, data{Name: "店"})
	if err != nil {
		t.Fatal(err)
	}
	var got data
	o, ok := oauthstate.Open(box, aad, state, v, now, &got)
	if !ok || got.Name != "店" || !o.Expires.Equal(exp) {
		t.Fatalf("open: %v %+v %+v", ok, got, o)
	}
	other := v
	other.SessionID = pulid.MustNew("SE")
	if _, ok := oauthstate.Open(box, aad, state, other, now, &got); ok {
		t.Fatal("opened for another session")
	}
	if _, ok := oauthstate.Open(box, []byte("oauth_state:other"), state, v, now, &got); ok {
		t.Fatal("opened for another flow")
	}
	if _, ok := oauthstate.Open(box, aad, state, v, now.Add(11*time.Minute), &got); ok {
		t.Fatal("opened after it expired")
	}
	used := oauthstate.Used{Max: 2}
	if !used.Spend(o, now) || used.Spend(o, now) {
		t.Fatal("a state spent twice")
	}
	o2, o3 := o, o
	o2.Nonce, o3.Nonce = "n2", "n3"
	if !used.Spend(o2, now) || used.Spend(o3, now) {
		t.Fatal("the set is not bounded")
	}
	if !used.Spend(o3, now.Add(11*time.Minute)) {
		t.Fatal("expired states are not forgotten when the set is full")
	}
}
