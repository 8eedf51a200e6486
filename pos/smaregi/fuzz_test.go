package smaregi_test

import (
	"net/http"
	"regexp"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pos/smaregi"
	"github.com/regicam/regicam/pulid"
)

// sample is a transaction head as the Smaregi sandbox sends it.
const sample = `{"transactionHeadId":"28","transactionDateTime":"2026-02-10T16:36:27+09:00","transactionHeadDivision":"1","cancelDivision":"0","subtotal":"120","total":"120","cashTotal":"0","creditTotal":"0","deposit":"0","depositCash":"0","depositCredit":"0","change":"0","storeId":"1","terminalId":"1","customerId":null,"terminalTranId":"1","terminalTranDateTime":"2026-02-10T16:36:27+09:00","staffId":null,"staffName":null,"guestNumbers":"0","enterDateTime":"2026-02-10T16:36:27+09:00","returnSales":"0","disposeDivision":"0","disposeServerTransactionHeadId":"0","cancelDateTime":null,"transactionUuid":"5358628720004","updDateTime":"2026-02-10T16:36:27+09:00"}`

// FuzzParseTransactions feeds arbitrary bodies to the list parser and the
// mapping: no panic, and whatever comes out is something ingest accepts.
func FuzzParseTransactions(f *testing.F) {
	for _, s := range []string{
		`[` + sample + `]`,
		`[]`,
		`[{"transactionHeadId":"1","transactionDateTime":"2026-02-10T16:36:27+09:00","cancelDivision":"1","cancelDateTime":"2026-02-10T17:00:00+09:00","total":"-500","deposit":"-500","depositOthers":[{"paymentMethodName":"PayPay","depositOthers":"500"}]}]`,
		`[{"transactionHeadId":"2","transactionDateTime":"2026-02-10T16:36:27+09:00","disposeDivision":"2","disposeServerTransactionHeadId":"1","total":120,"details":[{"productName":"x","quantity":"2","salesPrice":"1e12"}]}]`,
		`[{"transactionHeadId":"3","terminalTranDateTime":"2026-02-10 16:36:27","transactionHeadDivision":"99","returnSales":"1","total":"１２０"}]`,
		`[{"transactionHeadId":null},1,"x"]`,
		`[{"transactionHeadId":"4","transactionDateTime":"0001-01-01T00:00:00Z","enterDateTime":"9999-12-31T23:59:59+09:00"}]`,
		`[{"transactionHeadId":"5","transactionDateTime":"2026-02-10T16:36:27+09:00","memo":{"a":[1,2]},"depositOthers":"none","details":[1,{"quantity":"NaN"}]}]`,
		`[{"transactionHeadId":"6","transactionDateTime":"2026-02-10T16:36:27+09:00","total":"12`,
		`{"transactionHeadId":"7"}`,
	} {
		f.Add([]byte(s))
	}
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = smaregi.ParseTransaction(data)
		txs, err := smaregi.ParseTransactions(data)
		if err != nil {
			return
		}
		for _, tx := range txs {
			recs, _ := smaregi.MapTransaction(tx)
			for _, rec := range recs {
				r := rec.Receipt
				if r.ExternalID == "" || r.ExternalID != tx.TransactionHeadID {
					t.Fatalf("external id %q from %q", r.ExternalID, tx.TransactionHeadID)
				}
				if journalentry.KindValidator(r.Kind) != nil || r.Kind == journalentry.KindDELETE || r.Kind == journalentry.KindMODIFY {
					t.Fatalf("kind %q", r.Kind)
				}
				if r.Deposit < 0 || r.Change < 0 {
					t.Fatalf("negative deposit/change %d/%d", r.Deposit, r.Change)
				}
				if utf8.RuneCountInString(r.ExternalID) > 200 {
					continue // ingest refuses it, rightly
				}
				r.TerminalID = pulid.MustNew("TE")
				if err := r.Validate(far); err != nil {
					t.Fatalf("ingest refuses a mapped record: %v\n%+v", err, r)
				}
			}
		}
	})
}

var idRE = regexp.MustCompile(`^[0-9A-Za-z_-]{1,40}$`)

// FuzzParseWebhook: no panic, and an accepted notification is complete and
// names only safe ids.
func FuzzParseWebhook(f *testing.F) {
	for _, s := range []struct{ contract, event, id, body string }{
		{"sb_skp380c6", "pos:transactions", "1e7c5a0e-d903-4247-82da-ce92fb4764ba", `{"contractId":"sb_skp380c6","event":"pos:transactions","action":"created","transactionHeadIds":["25"]}`},
		{"", "", "", `{"contactId":"c","event":"pos:transactions","action":"bulk-deleted","transactionHeadIds":["1",2,"1"]}`},
		{"x", "pos:transactions", "", `{"contractId":"y","event":"pos:transactions","action":"created"}`},
		{"", "pos:stock", "", `{"contractId":"c","event":"pos:stock","action":"edited","ids":[{"id":"1"}]}`},
		{"", "", "", `{"contractId":"c","event":"pos:transactions","action":"created","transactionHeadIds":["../x",null]}`},
		{"", "", "", `{"contractId":"c","event":"pos:transactions","action":"created","transactionHeadIds":"1"}`},
		{"", "", "", `{"contractId":"c","event":"pos:transactions","act`},
		{"", "", "", `[]`},
	} {
		f.Add(s.contract, s.event, s.id, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contract, event, eventID string, body []byte) {
		h := http.Header{}
		h.Set("Smaregi-Contract-Id", contract)
		h.Set("Smaregi-Event", event)
		h.Set("Smaregi-Event-Id", eventID)
		w, err := smaregi.ParseWebhook(h, body)
		if err != nil {
			return
		}
		if w.ContractID == "" || w.Event == "" || w.Action == "" {
			t.Fatalf("incomplete: %+v", w)
		}
		seen := map[string]bool{}
		for _, id := range w.IDs {
			if !idRE.MatchString(id) || seen[id] {
				t.Fatalf("id %q (dup %v)", id, seen[id])
			}
			seen[id] = true
		}
		if w.Event != smaregi.EventTransactions && len(w.IDs) > 0 {
			t.Fatalf("ids for event %q", w.Event)
		}
	})
}
