package ingest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/pulid"
)

// TestValidateRefusesUnstorableText: every text of a receipt with a NUL
// is the item's own BAD_USER_INPUT naming the field; CleanText makes the
// same receipt valid.
func TestValidateRefusesUnstorableText(t *testing.T) {
	now := time.Now()
	good := func() Receipt {
		return Receipt{TerminalID: pulid.MustNew("TE"), ExternalID: "tx-1", Kind: journalentry.KindPAYMENT,
			OccurredAt: now.Add(-time.Minute), Total: 100, Deposit: 100,
			Items: []schematype.Item{{Name: "珈琲", Quantity: 1, Amount: 100}}}
	}
	for field, spoil := range map[string]func(*Receipt){
		"externalID":        func(r *Receipt) { r.ExternalID = "tx\x00" },
		"relatedExternalID": func(r *Receipt) { r.RelatedExternalID = "\x00" },
		"receiptNo":         func(r *Receipt) { r.ReceiptNo = "\x00" },
		"registerNo":        func(r *Receipt) { r.RegisterNo = "1\x00" },
		"staffID":           func(r *Receipt) { r.StaffID = "\x00" },
		"staffName":         func(r *Receipt) { r.StaffName = "山\x00田" },
		"paymentMethod":     func(r *Receipt) { r.PaymentMethod = "\xff" },
		"maskedCard":        func(r *Receipt) { r.MaskedCard = "411111\x00*****11" },
		"items[0].name":     func(r *Receipt) { r.Items[0].Name = "珈\x00琲" },
		"raw.memo":          func(r *Receipt) { r.Raw = json.RawMessage(`{"memo":"\u0000"}`) },
	} {
		r := good()
		spoil(&r)
		e, ok := apperr.As(r.Validate(now))
		if !ok || e.Code != apperr.BadUserInput || e.Field != field {
			t.Errorf("%s: %v", field, r.Validate(now))
		}
		r.CleanText()
		if err := r.Validate(now); err != nil {
			t.Errorf("%s after CleanText: %v", field, err)
		}
	}
}
