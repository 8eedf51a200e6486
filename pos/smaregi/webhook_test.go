package smaregi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/smaregi"
	"github.com/regicam/regicam/pos/smaregi/fake"
)

func TestParseWebhook(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	full := hdr("Smaregi-Event", "pos:transactions", "Smaregi-Contract-Id", "sb_skp380c6", "Smaregi-Event-Id", "1e7c5a0e-d903-4247-82da-ce92fb4764ba")
	for _, tc := range []struct {
		name    string
		header  http.Header
		body    string
		wantErr bool
		want    smaregi.Webhook
	}{
		{"documented", full, `{"contractId":"sb_skp380c6","event":"pos:transactions","action":"created","transactionHeadIds":["25"]}`, false,
			smaregi.Webhook{ContractID: "sb_skp380c6", Event: "pos:transactions", Action: "created", IDs: []string{"25"}, EventID: "1e7c5a0e-d903-4247-82da-ce92fb4764ba"}},
		{"bulk with duplicates and numbers", full, `{"contractId":"sb_skp380c6","event":"pos:transactions","action":"bulk-deleted","transactionHeadIds":["1","2",2,"1"]}`, false,
			smaregi.Webhook{ContractID: "sb_skp380c6", Event: "pos:transactions", Action: "bulk-deleted", IDs: []string{"1", "2"}, EventID: "1e7c5a0e-d903-4247-82da-ce92fb4764ba"}},
		{"headers only name it", hdr("Smaregi-Event", "pos:transactions", "Smaregi-Contract-Id", "c1"), `{"action":"Edited","transactionHeadIds":["7"]}`, false,
			smaregi.Webhook{ContractID: "c1", Event: "pos:transactions", Action: "edited", IDs: []string{"7"}}},
		{"contactId spelling", http.Header{}, `{"contactId":"c1","event":"pos:transactions","action":"canceled","transactionHeadIds":["7"]}`, false,
			smaregi.Webhook{ContractID: "c1", Event: "pos:transactions", Action: "canceled", IDs: []string{"7"}}},
		{"other event", hdr("Smaregi-Event", "pos:stock"), `{"contractId":"c1","event":"pos:stock","action":"edited","ids":[{"id":"1"}]}`, false,
			smaregi.Webhook{ContractID: "c1", Event: "pos:stock", Action: "edited"}},
		{"unknown action kept", full, `{"contractId":"sb_skp380c6","event":"pos:transactions","action":"merged","transactionHeadIds":[]}`, false,
			smaregi.Webhook{ContractID: "sb_skp380c6", Event: "pos:transactions", Action: "merged", EventID: "1e7c5a0e-d903-4247-82da-ce92fb4764ba"}},
		{"contract mismatch", full, `{"contractId":"other","event":"pos:transactions","action":"created","transactionHeadIds":["1"]}`, true, smaregi.Webhook{}},
		{"event mismatch", full, `{"contractId":"sb_skp380c6","event":"pos:products","action":"created"}`, true, smaregi.Webhook{}},
		{"truncated", full, `{"contractId":"sb_skp380c6","event":"pos:transactions","act`, true, smaregi.Webhook{}},
		{"array body", full, `[]`, true, smaregi.Webhook{}},
		{"empty", full, ``, true, smaregi.Webhook{}},
		{"no action", full, `{"contractId":"sb_skp380c6"}`, true, smaregi.Webhook{}},
		{"ids not an array", full, `{"contractId":"sb_skp380c6","event":"pos:transactions","action":"created","transactionHeadIds":"25"}`, true, smaregi.Webhook{}},
		{"path in an id", full, `{"contractId":"sb_skp380c6","event":"pos:transactions","action":"created","transactionHeadIds":["../1"]}`, true, smaregi.Webhook{}},
		{"null id", full, `{"contractId":"sb_skp380c6","event":"pos:transactions","action":"created","transactionHeadIds":[null]}`, true, smaregi.Webhook{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := smaregi.ParseWebhook(tc.header, []byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && !equalWebhook(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func equalWebhook(a, b smaregi.Webhook) bool {
	return a.ContractID == b.ContractID && a.Event == b.Event && a.Action == b.Action && a.EventID == b.EventID &&
		strings.Join(a.IDs, ",") == strings.Join(b.IDs, ",")
}

// TestWebhookEndToEnd receives the fake's notifications over HTTP, parses
// them and re-fetches with the connection's own token.
func TestWebhookEndToEnd(t *testing.T) {
	srv := newFake(t, fake.Options{})
	p := smaregi.NewPoller(newClient(t, srv), smaregi.PollerOptions{})
	var mu sync.Mutex
	var got []pos.Record
	var events []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		wh, err := smaregi.ParseWebhook(r.Header, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		recs, err := p.Webhook(r.Context(), wh)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway) // Smaregi retries
			return
		}
		mu.Lock()
		got = append(got, recs...)
		events = append(events, wh.EventID)
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	take := func() string {
		mu.Lock()
		defer mu.Unlock()
		var ks []string
		for _, r := range got {
			ks = append(ks, string(r.Receipt.Kind)+":"+r.Receipt.ExternalID)
		}
		got = nil
		return strings.Join(ks, " ")
	}
	ctx := context.Background()

	a := srv.RingUp(fake.TransactionSpec{Total: 100})
	b := srv.RingUp(fake.TransactionSpec{Total: 200})
	must(t, srv.SendWebhook(ctx, recv.URL, smaregi.ActionCreated, a, b))
	if s := take(); s != "PAYMENT:"+a+" PAYMENT:"+b {
		t.Fatalf("created: %s", s)
	}
	if got := pRecordsStore(t, p, srv, a); got != "本店" {
		t.Fatalf("store name %q", got)
	}

	must(t, srv.Cancel(a, time.Now()))
	must(t, srv.SendWebhook(ctx, recv.URL, smaregi.ActionCanceled, a))
	if s := take(); s != "PAYMENT:"+a+" CANCEL:"+a {
		t.Fatalf("canceled: %s", s)
	}

	// The same event delivered twice gives the same records; ingest's
	// idempotency key makes the second a duplicate.
	must(t, srv.Default().SendWebhookEvent(ctx, recv.URL, "evt-1", smaregi.ActionEdited, b))
	must(t, srv.Default().SendWebhookEvent(ctx, recv.URL, "evt-1", smaregi.ActionEdited, b))
	if s := take(); s != "PAYMENT:"+b+" PAYMENT:"+b {
		t.Fatalf("redelivery: %s", s)
	}

	// Deleted, and a late "created" for it afterwards: the delete is
	// recorded once, the stale notification adds nothing.
	must(t, srv.Delete(b))
	must(t, srv.SendWebhook(ctx, recv.URL, smaregi.ActionDeleted, b))
	must(t, srv.SendWebhook(ctx, recv.URL, smaregi.ActionCreated, b))
	if s := take(); s != "DELETE:"+b {
		t.Fatalf("deleted then late created: %s", s)
	}
	// A "deleted" for a transaction that still exists reports it as it is.
	must(t, srv.SendWebhook(ctx, recv.URL, smaregi.ActionBulkDeleted, a))
	if s := take(); s != "PAYMENT:"+a+" CANCEL:"+a {
		t.Fatalf("deleted but present: %s", s)
	}

	// A notification for another contract is refused.
	other := srv.AddContract("other", "oc", "os", nil, nil)
	if err := other.SendWebhook(ctx, recv.URL, smaregi.ActionCreated, "1"); err == nil {
		t.Fatal("another contract's webhook accepted")
	}
}

func pRecordsStore(t *testing.T, p *smaregi.Poller, srv *fake.Server, id string) string {
	t.Helper()
	recs, err := p.Webhook(context.Background(), smaregi.Webhook{ContractID: "fake_contract", Event: smaregi.EventTransactions, Action: "created", IDs: []string{id}})
	must(t, err)
	if len(recs) == 0 {
		t.Fatal("no records")
	}
	return recs[0].StoreName
}
