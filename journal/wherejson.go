package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pulid"
)

// Where is the JSON form of the GraphQL JournalWhere input, for callers
// outside GraphQL (the CSV export's ?where=, stored alert rule scopes).
type Where struct {
	CameraIDs      []pulid.ID          `json:"cameraIDs,omitempty"`
	TerminalIDs    []pulid.ID          `json:"terminalIDs,omitempty"`
	ShopIDs        []pulid.ID          `json:"shopIDs,omitempty"`
	Kinds          []journalentry.Kind `json:"kinds,omitempty"`
	Search         string              `json:"search,omitempty"`
	From           *time.Time          `json:"from,omitempty"`
	To             *time.Time          `json:"to,omitempty"`
	MinTotal       *int64              `json:"minTotal,omitempty"`
	MaxTotal       *int64              `json:"maxTotal,omitempty"`
	PaymentMethods []string            `json:"paymentMethods,omitempty"`
	ItemText       string              `json:"itemText,omitempty"`
	MaskedCard     string              `json:"maskedCard,omitempty"`
	ExternalID     string              `json:"externalID,omitempty"`
	Staff          string              `json:"staff,omitempty"`
}

// Filter returns w as a validated Filter of account; field names in errors
// are reported under prefix.
func (w Where) Filter(account pulid.ID, prefix string) (Filter, error) {
	for _, k := range w.Kinds {
		if journalentry.KindValidator(k) != nil {
			return Filter{}, apperr.Invalid(prefix+".kinds", "種別 %q は使えません (unknown kind)", k).Because(apperr.INVALID_CHOICE)
		}
	}
	f := Filter{
		AccountID: account, CameraIDs: w.CameraIDs, TerminalIDs: w.TerminalIDs, ShopIDs: w.ShopIDs,
		Kinds: w.Kinds, Search: w.Search, From: w.From, To: w.To, MinTotal: w.MinTotal, MaxTotal: w.MaxTotal,
		PaymentMethods: w.PaymentMethods, ItemText: w.ItemText, MaskedCard: w.MaskedCard,
		ExternalID: w.ExternalID, Staff: w.Staff,
	}
	return f, f.Validate(prefix)
}

// WhereOf is the inverse of Where.Filter, for storing a filter.
func WhereOf(f Filter) Where {
	return Where{
		CameraIDs: f.CameraIDs, TerminalIDs: f.TerminalIDs, ShopIDs: f.ShopIDs, Kinds: f.Kinds,
		Search: f.Search, From: f.From, To: f.To, MinTotal: f.MinTotal, MaxTotal: f.MaxTotal,
		PaymentMethods: f.PaymentMethods, ItemText: f.ItemText, MaskedCard: f.MaskedCard,
		ExternalID: f.ExternalID, Staff: f.Staff,
	}
}

// ParseWhere decodes a JournalWhere JSON object strictly (unknown fields
// are mistakes, not silently widened filters) into a Filter of account.
func ParseWhere(data []byte, account pulid.ID, prefix string) (Filter, error) {
	var w Where
	if len(bytes.TrimSpace(data)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&w); err != nil {
			field := prefix
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				field = prefix + "." + te.Field
			} else if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				field = prefix + "." + strings.Trim(name, `"`)
			}
			return Filter{}, apperr.Invalid(field, "検索条件の形式が正しくありません (malformed filter): %v", err).Because(apperr.INVALID_FORMAT)
		}
	}
	return w.Filter(account, prefix)
}
