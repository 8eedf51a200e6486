package ingest

import (
	"fmt"

	"github.com/regicam/regicam/textcheck"
)

// checkText refuses a NUL byte or invalid UTF-8 in any text of r, naming
// the field: PostgreSQL cannot store them, and a refusal here is the
// item's own BAD_USER_INPUT (a partner retrying on INTERNAL would loop).
func (r *Receipt) checkText() error {
	for _, l := range textLimits {
		if err := textcheck.String(l.field, l.get(r)); err != nil {
			return err
		}
	}
	if err := textcheck.String("maskedCard", r.MaskedCard); err != nil {
		return err
	}
	for i, it := range r.Items {
		if err := textcheck.String(fmt.Sprintf("items[%d].name", i), it.Name); err != nil {
			return err
		}
	}
	return textcheck.JSON("raw", r.Raw)
}

// CleanText drops NUL bytes and invalid UTF-8 from every text of r. POS
// providers' records are cleaned rather than refused: the owner cannot fix
// the provider's data, and a sale is worth keeping without a stray byte.
func (r *Receipt) CleanText() {
	for _, p := range []*string{&r.ExternalID, &r.RelatedExternalID, &r.ReceiptNo, &r.RegisterNo,
		&r.StaffID, &r.StaffName, &r.PaymentMethod, &r.MaskedCard} {
		*p = textcheck.Clean(*p)
	}
	for i := range r.Items {
		r.Items[i].Name = textcheck.Clean(r.Items[i].Name)
	}
	r.Raw = textcheck.CleanJSON(r.Raw)
}
