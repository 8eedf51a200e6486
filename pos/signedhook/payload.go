package signedhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/textcheck"
)

// Status values a transaction may carry, with the Japanese labels card
// terminal consoles show for them.
const (
	StatusCapture    = "CAPTURE"     // 売上
	StatusRefund     = "REFUND"      // 売上取消
	StatusFailed     = "FAILED"      // 取引失敗
	StatusAuth       = "AUTH"        // 与信
	StatusAuthCancel = "AUTH_CANCEL" // キャンセル(与信)
)

var statuses = map[string]string{
	StatusCapture: StatusCapture, "売上": StatusCapture,
	StatusRefund: StatusRefund, "売上取消": StatusRefund,
	StatusFailed: StatusFailed, "取引失敗": StatusFailed,
	StatusAuth: StatusAuth, "与信": StatusAuth,
	StatusAuthCancel: StatusAuthCancel, "キャンセル(与信)": StatusAuthCancel, "キャンセル（与信）": StatusAuthCancel,
}

// ErrPayload means the body as a whole is not the documented shape;
// nothing in it is stored (HTTP 400).
var ErrPayload = errors.New("signedhook: invalid payload")

// ItemError is one transaction Parse refused; the others still count.
type ItemError struct {
	Index int    // position in transactions
	ID    string // the transaction id, when it had one
	Err   error
}

func (e ItemError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("transactions[%d] (id %q): %v", e.Index, e.ID, e.Err)
	}
	return fmt.Sprintf("transactions[%d]: %v", e.Index, e.Err)
}

func (e ItemError) Unwrap() error { return e.Err }

// ItemErrors lists the refused transactions of a payload.
type ItemErrors []ItemError

func (es ItemErrors) Error() string {
	parts := make([]string, 0, min(len(es), 5))
	for i, e := range es {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(es)-5))
			break
		}
		parts = append(parts, e.Error())
	}
	return "signedhook: " + strings.Join(parts, "; ")
}

// Limits that reject garbage before it reaches ingest.
const (
	maxTransactions = 1000
	maxIDLen        = 150 // leaves room for the "#STATUS" suffix within ingest's 200
	maxYen          = 1_000_000_000_000
)

type wirePayload struct {
	TerminalID   string            `json:"terminalId"`
	StoreID      string            `json:"storeId"`
	StoreName    string            `json:"storeName"`
	Transactions []json.RawMessage `json:"transactions"`
}

type wireTx struct {
	ID            string          `json:"id"`
	Status        string          `json:"status"`
	OccurredAt    string          `json:"occurredAt"`
	UpdatedAt     string          `json:"updatedAt,omitempty"`
	RelatedID     string          `json:"relatedId,omitempty"`
	Amount        json.RawMessage `json:"amount,omitempty"`
	ReceiptNo     string          `json:"receiptNo,omitempty"`
	StaffID       string          `json:"staffId,omitempty"`
	StaffName     string          `json:"staffName,omitempty"`
	PaymentMethod string          `json:"paymentMethod,omitempty"`
	MaskedCard    string          `json:"maskedCard,omitempty"`
	Items         []wireItem      `json:"items,omitempty"`
}

type wireItem struct {
	Name     string          `json:"name"`
	Quantity json.RawMessage `json:"quantity"`
	Amount   json.RawMessage `json:"amount"`
}

// Parse reads a webhook body of this shape:
//
//	{
//	  "terminalId": "T-0001",          // required: the terminal's own id
//	  "storeId": "S-01",               // optional
//	  "storeName": "渋谷店",            // optional
//	  "transactions": [{
//	    "id": "tx-123",                // required, unique per terminal
//	    "status": "CAPTURE",           // CAPTURE|REFUND|FAILED|AUTH|AUTH_CANCEL,
//	                                   // or 売上|売上取消|取引失敗|与信|キャンセル(与信)
//	    "occurredAt": "2026-03-01T18:04:05+09:00", // RFC 3339 with offset
//	    "updatedAt": "…",              // optional: when the terminal last changed it
//	    "relatedId": "tx-100",         // REFUND: the sale it reverses
//	    "amount": 1200,                // integer yen, number or "1200";
//	                                   // required for CAPTURE and REFUND
//	    "receiptNo": "0042", "staffId": "7", "staffName": "山田",
//	    "paymentMethod": "VISA",
//	    "maskedCard": "411111******11",// first 6 + last 2 only; a full number is refused
//	    "items": [{"name": "コーヒー", "quantity": 2, "amount": 800}]
//	  }]
//	}
//
// Mapping: CAPTURE → PAYMENT; REFUND → CANCEL with RelatedExternalID =
// relatedId (without relatedId, a REFUND under the sale's own id cancels
// that sale); FAILED, AUTH and AUTH_CANCEL → OTHER under the external id
// "<id>#<STATUS>", because terminals report an authorization and its
// cancellation under one transaction id and each is its own journal line.
// A CAPTURE re-sent with other content becomes a MODIFY entry in ingest
// (at updatedAt when given).
//
// A body that is not this shape is an error wrapping ErrPayload and yields
// no records. A transaction that is wrong on its own (unknown status, bad
// time, amount not an integer, unmasked card…) is left out and reported in
// an ItemErrors error next to the records of the others.
//
// Record.Receipt.Raw is rebuilt from the fields above, not copied from the
// body, so that a card number a partner puts in a field of its own never
// reaches the database.
func Parse(body []byte) ([]pos.Record, error) {
	var p wirePayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	// A NUL (which PostgreSQL cannot store) is the partner's to fix:
	// refused here, per transaction below, never cleaned away.
	for _, f := range []struct{ name, v string }{{"terminalId", p.TerminalID}, {"storeId", p.StoreID}, {"storeName", p.StoreName}} {
		if err := textcheck.String(f.name, f.v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPayload, err)
		}
	}
	p.TerminalID = strings.TrimSpace(p.TerminalID)
	switch {
	case p.TerminalID == "":
		return nil, fmt.Errorf("%w: terminalId is required", ErrPayload)
	case !utf8.ValidString(p.TerminalID) || utf8.RuneCountInString(p.TerminalID) > 100:
		return nil, fmt.Errorf("%w: terminalId must be 1-100 characters", ErrPayload)
	case len(p.Transactions) == 0:
		return nil, fmt.Errorf("%w: transactions must be a non-empty array", ErrPayload)
	case len(p.Transactions) > maxTransactions:
		return nil, fmt.Errorf("%w: at most %d transactions per request", ErrPayload, maxTransactions)
	}
	var recs []pos.Record
	var errs ItemErrors
	for i, raw := range p.Transactions {
		r, id, err := parseTx(p, raw)
		if err != nil {
			errs = append(errs, ItemError{Index: i, ID: id, Err: err})
			continue
		}
		recs = append(recs, r)
	}
	if len(errs) > 0 {
		return recs, errs
	}
	return recs, nil
}

func parseTx(p wirePayload, raw json.RawMessage) (pos.Record, string, error) {
	var t wireTx
	if err := json.Unmarshal(raw, &t); err != nil {
		var id struct {
			ID any `json:"id"`
		}
		_ = json.Unmarshal(raw, &id)
		s, _ := id.ID.(string)
		return pos.Record{}, clip(s), err
	}
	t.ID = strings.TrimSpace(t.ID)
	id := clip(t.ID)
	if err := textcheck.JSON("", raw); err != nil {
		return pos.Record{}, id, err
	}
	if t.ID == "" || utf8.RuneCountInString(t.ID) > maxIDLen || !utf8.ValidString(t.ID) {
		return pos.Record{}, id, fmt.Errorf("id must be 1-%d characters", maxIDLen)
	}
	status, ok := statuses[strings.ToUpper(strings.TrimSpace(t.Status))]
	if !ok {
		return pos.Record{}, id, fmt.Errorf("unknown status %q", clip(t.Status))
	}
	occurred, err := parseTime(t.OccurredAt)
	if err != nil {
		return pos.Record{}, id, fmt.Errorf("occurredAt: %w", err)
	}
	var updated *time.Time
	if t.UpdatedAt != "" {
		u, err := parseTime(t.UpdatedAt)
		if err != nil {
			return pos.Record{}, id, fmt.Errorf("updatedAt: %w", err)
		}
		updated = &u
	}
	amount, present, err := yen(t.Amount)
	if err != nil {
		return pos.Record{}, id, fmt.Errorf("amount: %w", err)
	}
	if !present && (status == StatusCapture || status == StatusRefund) {
		return pos.Record{}, id, fmt.Errorf("amount is required for %s", status)
	}
	card, err := maskCard(t.MaskedCard)
	if err != nil {
		return pos.Record{}, id, fmt.Errorf("maskedCard: %w", err)
	}
	var items []schematype.Item
	for j, it := range t.Items {
		q, _, err := yen(it.Quantity)
		if err != nil || q == 0 || q > 100000 || q < -100000 {
			return pos.Record{}, id, fmt.Errorf("items[%d].quantity must be a non-zero integer", j)
		}
		a, _, err := yen(it.Amount)
		if err != nil {
			return pos.Record{}, id, fmt.Errorf("items[%d].amount: %w", j, err)
		}
		if strings.TrimSpace(it.Name) == "" {
			return pos.Record{}, id, fmt.Errorf("items[%d].name is required", j)
		}
		items = append(items, schematype.Item{Name: it.Name, Quantity: int(q), Amount: a})
	}

	rc := ingest.Receipt{
		ExternalID:    t.ID,
		OccurredAt:    occurred,
		UpdatedAt:     updated,
		ReceiptNo:     t.ReceiptNo,
		StaffID:       t.StaffID,
		StaffName:     t.StaffName,
		Total:         amount,
		PaymentMethod: t.PaymentMethod,
		MaskedCard:    card,
		Items:         items,
	}
	switch status {
	case StatusCapture:
		rc.Kind = journalentry.KindPAYMENT
		// A card pays the exact amount: nothing handed back.
		rc.Deposit = max(amount, 0)
	case StatusRefund:
		rc.Kind = journalentry.KindCANCEL
		if rel := strings.TrimSpace(t.RelatedID); rel != t.ID {
			rc.RelatedExternalID = rel
		}
	default:
		rc.Kind = journalentry.KindOTHER
		rc.ExternalID = t.ID + "#" + status
	}
	t.Status, t.MaskedCard = status, card
	t.Amount, t.Items = nil, nil
	rawOut, _ := json.Marshal(struct {
		TerminalID string `json:"terminalId"`
		StoreID    string `json:"storeId,omitempty"`
		wireTx
		Amount int64             `json:"amount"`
		Items  []schematype.Item `json:"items,omitempty"`
	}{p.TerminalID, p.StoreID, t, amount, items})
	rc.Raw = rawOut
	return pos.Record{
		TerminalExternalID: p.TerminalID,
		StoreExternalID:    strings.TrimSpace(p.StoreID),
		StoreName:          strings.TrimSpace(p.StoreName),
		Receipt:            rc,
	}, id, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not RFC 3339 with an offset", clip(s))
	}
	if y := t.UTC().Year(); y < 2000 || y > 2200 {
		return time.Time{}, fmt.Errorf("%q is out of range", clip(s))
	}
	return t, nil
}

// yen reads an integer sent as a JSON number or numeric string; "1200.0"
// passes (JavaScript clients), "1200.5" and "1e3" do not: yen have no
// fraction, and an exponent is more likely a bug than a price.
func yen(raw json.RawMessage) (v int64, present bool, err error) {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 || string(b) == "null" {
		return 0, false, nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, true, err
		}
		s = strings.TrimSpace(s)
	}
	if i := strings.IndexByte(s, '.'); i >= 0 && strings.Trim(s[i+1:], "0") == "" {
		s = s[:i]
	}
	v, err = strconv.ParseInt(s, 10, 64)
	if err != nil || v > maxYen || v < -maxYen {
		return 0, true, fmt.Errorf("%q is not an integer amount of yen", clip(s))
	}
	return v, true, nil
}

// maskCard normalizes the usual ways terminals print a masked number
// (spaces, dashes, X or • for hidden digits) to "411111******11" and
// refuses anything that shows more than the first 6 and last 2 digits.
// The number itself never appears in the error: it may be a real PAN.
func maskCard(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '-':
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '*' || r == 'X' || r == 'x' || r == '•' || r == '●' || r == '＊':
			b.WriteByte('*')
		default:
			return "", errors.New("only digits and * are allowed")
		}
	}
	m := b.String()
	if len(m) < 12 || len(m) > 19 {
		return "", errors.New("must be 12-19 characters, first 6 and last 2 digits visible")
	}
	for i := 0; i < len(m); i++ {
		visible := i < 6 || i >= len(m)-2
		if visible && m[i] == '*' {
			return "", errors.New("first 6 and last 2 digits must be visible")
		}
		if !visible && m[i] != '*' {
			return "", errors.New("a full or partly unmasked card number is refused: send only the first 6 and last 2 digits")
		}
	}
	return m, nil
}

func clip(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}
