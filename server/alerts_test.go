package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

type alertMsg struct {
	Alerts struct {
		ID, Cursor, RuleKind, Message string
		Entry                         *struct{ ID, Kind string }
		Thumbnail                     *struct{ URL string }
	}
}

const alertSub = `subscription($after: String) { alerts(after: $after) { id cursor ruleKind message entry { id kind } thumbnail { url } } }`

// TestAlertsStreamWithThumbnail: a rule made over GraphQL fires at ingest;
// the alert arrives on Subscription.alerts with the camera picture of the
// cancel's second, is listed and acknowledged.
func TestAlertsStreamWithThumbnail(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		s := testenv.Start(t, b, "")
		fx := testenv.NewFixture(t, s.DB.Client, s.AccountID)
		thumbRecord(t, s, fx.CameraIDs[0], entcamera.SourceKindSIMULATED, "")
		waitBuffered(t, s, fx.CameraIDs[0], time.Second)

		r := s.Query(t, `mutation { createAlertRule(input: {name: "高額キャンセル", kind: AMOUNT_OVER, amount: -1}) { rule { id } } }`, nil)
		if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Errors[0].Field() != "input.amount" {
			t.Fatalf("negative amount: %+v", r.Errors)
		}
		var created struct {
			CreateAlertRule struct{ Rule struct{ ID string } }
		}
		s.MustQuery(t, `mutation { createAlertRule(input: {name: "高額キャンセル", kind: AMOUNT_OVER, amount: 10000, entryKinds: [CANCEL]}) { rule { id } } }`, nil, &created)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sub, err := s.Subscribe(ctx, alertSub, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		time.Sleep(200 * time.Millisecond) // let the subscription start before the alert

		now := time.Now().UTC().Truncate(time.Millisecond)
		for _, rc := range []ingest.Receipt{
			{ExternalID: "big", Kind: journalentry.KindPAYMENT, OccurredAt: now.Add(-time.Second), Total: 35000, StaffName: "山田"},
			{ExternalID: "big", Kind: journalentry.KindCANCEL, OccurredAt: now, Total: 35000, StaffName: "山田"},
		} {
			rc.TerminalID = fx.TerminalIDs[0]
			if res := s.Ingester.Ingest(context.Background(), s.AccountID, rc); res.Err != nil {
				t.Fatal(res.Err)
			}
		}
		data, errs, err := sub.Next(15 * time.Second)
		if err != nil || len(errs) > 0 {
			t.Fatalf("next: %v %+v", err, errs)
		}
		var m alertMsg
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		a := m.Alerts
		if a.RuleKind != "AMOUNT_OVER" || a.Entry == nil || a.Entry.Kind != "CANCEL" || !strings.Contains(a.Message, "35000") {
			t.Fatalf("alert %s", data)
		}
		if a.Thumbnail == nil || !strings.HasPrefix(a.Thumbnail.URL, "/thumbnails/") {
			t.Fatalf("alert without its thumbnail: %s", data)
		}
		if res := s.Get(t, a.Thumbnail.URL); res.StatusCode != 200 {
			t.Errorf("thumbnail: status %d", res.StatusCode)
		}

		var list struct {
			Alerts struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		s.MustQuery(t, `query { alerts(acknowledged: false) { edges { node { id } } } }`, nil, &list)
		if len(list.Alerts.Edges) != 1 || list.Alerts.Edges[0].Node.ID != a.ID {
			t.Fatalf("unacknowledged alerts %+v", list)
		}
		var ack struct {
			AcknowledgeAlert struct {
				AcknowledgedAt *time.Time
				AcknowledgedBy *struct{ ID string }
			}
		}
		s.MustQuery(t, `mutation($id: ID!) { acknowledgeAlert(id: $id) { acknowledgedAt acknowledgedBy { id } } }`, map[string]any{"id": a.ID}, &ack)
		if ack.AcknowledgeAlert.AcknowledgedAt == nil || ack.AcknowledgeAlert.AcknowledgedBy == nil || ack.AcknowledgeAlert.AcknowledgedBy.ID != string(s.Owner.ID) {
			t.Errorf("acknowledge: %+v", ack)
		}
		s.MustQuery(t, `query { alerts(acknowledged: false) { edges { node { id } } } }`, nil, &list)
		if len(list.Alerts.Edges) != 0 {
			t.Errorf("still unacknowledged: %+v", list)
		}

		// Another tenant neither sees nor acknowledges it.
		_, other := s.NewAccount(t, "他社")
		r = other.Query(t, `mutation($id: ID!) { acknowledgeAlert(id: $id) { id } }`, map[string]any{"id": a.ID})
		if len(r.Errors) != 1 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Errorf("foreign acknowledge: %+v", r.Errors)
		}
		// STAFF of another shop do not see it either.
		shop2, _ := s.DB.Client.Shop.Create().SetAccountID(s.AccountID).SetName("新宿店").Save(viewer.System(context.Background()))
		_, staff := s.NewUser(t, s.AccountID, viewer.RoleStaff, shop2.ID)
		staff.MustQuery(t, `query { alerts { edges { node { id } } } }`, nil, &list)
		if len(list.Alerts.Edges) != 0 {
			t.Errorf("staff of another shop sees %+v", list)
		}
	})
}

// TestAlertsReachSubscribersOfAnotherServer: two servers on one PostgreSQL;
// an alert raised by an ingest on one arrives on the other's subscription.
func TestAlertsReachSubscribersOfAnotherServer(t *testing.T) {
	b := testenv.Postgres(t)
	a := testenv.Start(t, b, "")
	other := testenv.Start(t, b, "")
	fx := testenv.NewFixture(t, a.DB.Client, a.AccountID)
	a.MustQuery(t, `mutation { createAlertRule(input: {name: "未連携端末", kind: UNLINKED_TERMINAL}) { rule { id } } }`, nil, nil)
	term0, _ := a.DB.Client.Terminal.Get(viewer.System(context.Background()), fx.TerminalIDs[0])
	lone, err := a.DB.Client.Terminal.Create().SetAccountID(a.AccountID).SetConnectionID(term0.ConnectionID).SetShopID(fx.ShopID).
		SetExternalID("lone").SetName("レジ9").Save(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The other server's owner session belongs to the same account.
	_, watcher := other.NewUser(t, a.AccountID, viewer.RoleOwner)
	sub, err := watcher.Subscribe(ctx, alertSub, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	time.Sleep(200 * time.Millisecond)
	res := a.Ingester.Ingest(context.Background(), a.AccountID, ingest.Receipt{TerminalID: lone.ID, ExternalID: "u1",
		Kind: journalentry.KindPAYMENT, OccurredAt: time.Now().UTC(), Total: 100})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	data, errs, err := sub.Next(15 * time.Second)
	if err != nil || len(errs) > 0 {
		t.Fatalf("next: %v %+v", err, errs)
	}
	var m alertMsg
	_ = json.Unmarshal(data, &m)
	if m.Alerts.RuleKind != "UNLINKED_TERMINAL" || m.Alerts.Entry == nil || m.Alerts.Entry.ID != string(res.Entry.ID) {
		t.Fatalf("alert %s", data)
	}
	// Resuming after that cursor replays nothing; before it, the alert.
	sub2, err := watcher.Subscribe(ctx, alertSub, map[string]any{"after": "YWw6MA"}) // al:0
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	if data, _, err := sub2.Next(10 * time.Second); err != nil || !strings.Contains(string(data), m.Alerts.ID) {
		t.Fatalf("replay: %s %v", data, err)
	}
}
