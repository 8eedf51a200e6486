package webhook_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pos/signedhook"
)

// rejections is regicam_webhook_rejections_total{provider, reason}.
func rejections(t *testing.T, provider, reason string) float64 {
	t.Helper()
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "regicam_webhook_rejections_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["provider"] == provider && l["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestRejectionsCountedByReason: each way a signed webhook is refused is
// counted once under its reason — no such connection, a bad signature, a
// body that is not a payload, and one refused transaction of a delivery
// whose others are taken.
func TestRejectionsCountedByReason(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Start(t, testenv.Backend{Name: "sqlite"}, "")
	conn, err := srv.DB.Client.PosConnection.Create().SetAccountID(srv.AccountID).
		SetProvider(posconnection.ProviderWEBHOOK).SetContractID("mpos-metrics").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		CreateWebhookSecret struct{ Path, Secret string }
	}
	srv.MustQuery(t, `mutation($id: ID!){ createWebhookSecret(id: $id){ path secret } }`, map[string]any{"id": conn.ID}, &out)
	secret := []byte(testenv.Secret(out.CreateWebhookSecret.Secret))
	post := func(path string, body []byte, key []byte) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		signedhook.SignRequest(req, key, body, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	type key struct{ provider, reason string }
	counted := []key{{"signed", metrics.RejectUnknownConnection}, {"webhook", metrics.RejectSignature},
		{"webhook", metrics.RejectPayload}, {"webhook", metrics.RejectItem}}
	before := map[key]float64{}
	for _, k := range counted {
		before[k] = rejections(t, k.provider, k.reason)
	}
	sale := time.Now().Add(-time.Minute).Format(time.RFC3339)
	one := []byte(`{"terminalId":"T-1","transactions":[{"id":"tx-1","status":"CAPTURE","occurredAt":"` + sale + `","amount":100},` +
		`{"id":"tx-2","status":"UNKNOWN","occurredAt":"` + sale + `","amount":1}]}`)
	for _, c := range []struct {
		path string
		body []byte
		key  []byte
		want int
	}{
		{"/webhooks/signed/PC0000000000000000000000000", one, secret, http.StatusUnauthorized},
		{out.CreateWebhookSecret.Path, one, []byte("not-the-secret-of-it"), http.StatusUnauthorized},
		{out.CreateWebhookSecret.Path, []byte(`{"terminalId":""}`), secret, http.StatusBadRequest},
		{out.CreateWebhookSecret.Path, one, secret, http.StatusOK},
	} {
		if got := post(c.path, c.body, c.key); got != c.want {
			t.Fatalf("POST %s: %d, want %d", c.path, got, c.want)
		}
	}
	for _, k := range counted {
		if got := rejections(t, k.provider, k.reason) - before[k]; got != 1 {
			t.Errorf("regicam_webhook_rejections_total{provider=%q,reason=%q} moved by %v, want 1", k.provider, k.reason, got)
		}
	}
}
