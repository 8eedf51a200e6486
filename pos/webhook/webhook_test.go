package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/signedhook"
)

func TestSignedWebhook(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		ctx := context.Background()
		srv := testenv.Start(t, b, "")
		conn, err := srv.DB.Client.PosConnection.Create().SetAccountID(srv.AccountID).
			SetProvider(posconnection.ProviderWEBHOOK).SetContractID("mpos-1").Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			CreateWebhookSecret struct{ Path, Secret string }
		}
		srv.MustQuery(t, `mutation($id: ID!){ createWebhookSecret(id: $id){ path secret } }`, map[string]any{"id": conn.ID}, &out)
		ep := out.CreateWebhookSecret
		if ep.Path != "/webhooks/signed/"+string(conn.ID) || len(ep.Secret) < 32 {
			t.Fatalf("endpoint %+v", ep)
		}
		// The secret is stored sealed, never in clear.
		stored, _ := srv.DB.Client.PosConnection.Get(ctx, conn.ID)
		if bytes.Contains(stored.WebhookSecret, []byte(ep.Secret)) {
			t.Fatal("webhook secret stored in clear")
		}

		sale := time.Now().Add(-time.Minute).Truncate(time.Second)
		body, _ := json.Marshal(map[string]any{
			"terminalId": "T-0001", "storeId": "S-01", "storeName": "渋谷店",
			"transactions": []map[string]any{
				{"id": "tx-1", "status": "売上", "occurredAt": sale.Format(time.RFC3339), "amount": 3500, "receiptNo": "0042", "maskedCard": "411111******11", "paymentMethod": "クレジットカード"},
				{"id": "tx-2", "status": "REFUND", "relatedId": "tx-1", "occurredAt": sale.Add(20 * time.Second).Format(time.RFC3339), "amount": 3500},
				{"id": "tx-3", "status": "与信", "occurredAt": sale.Format(time.RFC3339), "amount": 1000},
				{"id": "tx-4", "status": "UNKNOWN", "occurredAt": sale.Format(time.RFC3339), "amount": 1},
			},
		})
		post := func(body []byte, sign func(*http.Request)) *http.Response {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+ep.Path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			sign(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		count := func() int {
			n, _ := srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(conn.ID)).Count(ctx)
			return n
		}
		for name, sign := range map[string]func(*http.Request){
			"no signature": func(*http.Request) {},
			"wrong secret": func(r *http.Request) { signedhook.SignRequest(r, []byte("not-the-secret"), body, time.Now()) },
			"replayed (6min)": func(r *http.Request) {
				signedhook.SignRequest(r, []byte(ep.Secret), body, time.Now().Add(-6*time.Minute))
			},
			"tampered body": func(r *http.Request) {
				signedhook.SignRequest(r, []byte(ep.Secret), append([]byte(nil), body[:len(body)-1]...), time.Now())
			},
		} {
			if resp := post(body, sign); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
			}
		}
		if n := count(); n != 0 {
			t.Fatalf("%d entries stored from unauthenticated requests", n)
		}

		good := func(r *http.Request) { signedhook.SignRequest(r, []byte(ep.Secret), body, time.Now()) }
		for range 2 { // a redelivery stores nothing new
			if resp := post(body, good); resp.StatusCode != http.StatusOK {
				t.Fatalf("signed webhook: status %d", resp.StatusCode)
			}
		}
		entries, _ := srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(conn.ID)).
			Order(journalentry.ByExternalID()).All(ctx)
		got := ""
		for _, e := range entries {
			got += fmt.Sprintf("%s:%s ", e.ExternalID, e.Kind)
		}
		// CAPTURE→PAYMENT, REFUND→CANCEL of tx-1, AUTH→OTHER; the unknown
		// status is refused alone.
		if len(entries) != 3 {
			t.Fatalf("stored %d entries (%s), want 3", len(entries), got)
		}
		sold, _ := srv.DB.Client.JournalEntry.Query().Where(journalentry.ConnectionID(conn.ID), journalentry.KindEQ(journalentry.KindPAYMENT)).Only(ctx)
		if sold.CanceledAt == nil || sold.Total != 3500 || sold.MaskedCard != "411111******11" {
			t.Fatalf("sale not marked canceled or wrong: %+v", sold)
		}

		// Another connection's path with this secret is refused.
		other, _ := srv.DB.Client.PosConnection.Create().SetAccountID(srv.AccountID).
			SetProvider(posconnection.ProviderWEBHOOK).SetContractID("mpos-2").Save(ctx)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/signed/"+string(other.ID), bytes.NewReader(body))
		signedhook.SignRequest(req, []byte(ep.Secret), body, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("other connection: status %d, want 401", resp.StatusCode)
		}
	})
}
