package signedhook_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pos/signedhook"
)

// FuzzParse: no panic on any body; every record that comes out names its
// terminal, has a known kind and a time, and never carries an unmasked
// card number.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"terminalId":"T-1","storeId":"S","transactions":[{"id":"a","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00+09:00","amount":"1200","maskedCard":"411111******11","items":[{"name":"x","quantity":1,"amount":1200}]}]}`))
	f.Add([]byte(`{"terminalId":"T-1","transactions":[{"id":"r","status":"売上取消","relatedId":"a","occurredAt":"2026-03-01T17:00:00Z","amount":-5},{"id":"x","status":"キャンセル(与信)","occurredAt":"2026-03-01T17:00:00Z"},null,1,"s",[]]}`))
	f.Add([]byte(`{"terminalId":"T","transactions":[{"id":"p","status":"CAPTURE","occurredAt":"2026-03-01T17:00:00Z","amount":1e309,"maskedCard":"4111111111111111"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := signedhook.Parse(body)
		var items signedhook.ItemErrors
		if err != nil && !errors.As(err, &items) && len(recs) > 0 {
			t.Fatalf("payload error with %d records", len(recs))
		}
		for _, r := range recs {
			rc := r.Receipt
			if r.TerminalExternalID == "" || rc.ExternalID == "" || rc.OccurredAt.IsZero() ||
				journalentry.KindValidator(rc.Kind) != nil || rc.Deposit < 0 || len(rc.Raw) == 0 {
				t.Fatalf("bad record %+v", r)
			}
			if c := rc.MaskedCard; c != "" && (len(c) < 12 || strings.Trim(c[6:len(c)-2], "*") != "") {
				t.Fatalf("unmasked card %q", c)
			}
			if rc.OccurredAt.Before(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("time %v", rc.OccurredAt)
			}
		}
	})
}
