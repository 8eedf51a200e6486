// Package ingest turns a normalized receipt into a journal entry and its
// outbox event in one transaction. It is the only writer of the journal.
package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/regclock"
)

// Receipt is one provider record, already mapped to a kind.
type Receipt struct {
	TerminalID pulid.ID
	// ExternalID is the provider's id of the record; with Kind it is the
	// idempotency key.
	ExternalID string
	Kind       journalentry.Kind
	// OccurredAt is the time the register gives (its own clock).
	OccurredAt time.Time
	// ServerAt is when the provider's server (or regicam itself, for a
	// pushed webhook) first knew the record, on a clock that is right; nil
	// when the provider does not say. server − register is one sample of
	// the register's clock offset (regclock); ingest corrects OccurredAt by
	// the terminal's estimate into the entry's corrected_at.
	ServerAt *time.Time
	// RegisterAt is the register's own time when the provider mapping
	// could not use it as OccurredAt (year 2000, a day off the server's):
	// OccurredAt is then the server's time, and RegisterAt goes to the
	// estimator with ServerAt only to be refused and counted. Nil
	// otherwise.
	RegisterAt *time.Time
	// UpdatedAt is when the provider last changed the record; a PAYMENT
	// re-sent with other content becomes a MODIFY entry at this time.
	UpdatedAt *time.Time
	// RelatedExternalID names the sale a CANCEL/MODIFY/DELETE changes when
	// the provider gives the change its own id (e.g. Smaregi 打消).
	RelatedExternalID string
	ReceiptNo         string
	RegisterNo        string
	StaffID           string
	StaffName         string
	Total             int64
	Deposit           int64
	Change            int64
	EnteredAt         *time.Time
	PaymentMethod     string
	Items             []schematype.Item
	MaskedCard        string
	// Sequence is the register's own running number of the record (Smaregi
	// terminalTranId), 0 when the provider has none: gaps in it are the
	// terminal's missing receipts.
	Sequence int64
	Raw      json.RawMessage
}

// Limits on a single receipt; they exist to reject garbage, not real sales.
const (
	maxAmount   = 1_000_000_000_000 // ¥1 trillion
	maxItems    = 1000
	maxFuture   = 10 * time.Minute
	maxRawBytes = 64 << 10
)

var textLimits = []struct {
	field string
	get   func(*Receipt) string
	max   int
}{
	{"externalID", func(r *Receipt) string { return r.ExternalID }, 200},
	{"relatedExternalID", func(r *Receipt) string { return r.RelatedExternalID }, 200},
	{"receiptNo", func(r *Receipt) string { return r.ReceiptNo }, 100},
	{"registerNo", func(r *Receipt) string { return r.RegisterNo }, 100},
	{"staffID", func(r *Receipt) string { return r.StaffID }, 100},
	{"staffName", func(r *Receipt) string { return r.StaffName }, 200},
	{"paymentMethod", func(r *Receipt) string { return r.PaymentMethod }, 100},
}

// Validate checks r and normalizes its times to UTC microseconds, the
// precision both databases keep.
func (r *Receipt) Validate(now time.Time) error {
	if r.TerminalID.Prefix() != "TE" {
		return apperr.Missing("terminalID", "端末が見つかりません (no such terminal): %s", r.TerminalID).Because(apperr.NOT_FOUND)
	}
	if err := r.checkText(); err != nil {
		return err
	}
	r.ExternalID = strings.TrimSpace(r.ExternalID)
	if r.ExternalID == "" {
		return apperr.Invalid("externalID", "取引IDを入力してください (externalID is required)").Because(apperr.REQUIRED)
	}
	for _, l := range textLimits {
		v := l.get(r)
		if !utf8.ValidString(v) {
			return apperr.Invalid(l.field, "文字コードが不正です (not valid UTF-8)").Because(apperr.INVALID_TEXT)
		}
		if utf8.RuneCountInString(v) > l.max {
			return apperr.Invalid(l.field, "%d 文字以内で入力してください (at most %d characters)", l.max, l.max).Because(apperr.VALUE_TOO_LONG)
		}
	}
	if err := journalentry.KindValidator(r.Kind); err != nil {
		return apperr.Invalid("kind", "種別が不正です (unknown kind %q)", r.Kind).Because(apperr.INVALID_CHOICE)
	}
	if r.OccurredAt.IsZero() {
		return apperr.Invalid("occurredAt", "取引日時を入力してください (occurredAt is required)").Because(apperr.REQUIRED)
	}
	// A register whose clock runs ahead gives future times; with the
	// server's time beside it (a sane one, at most regclock.MaxOffset
	// apart), that is a clock to correct (clock.go), not a receipt to
	// refuse. Without it, the 10 minutes stand.
	if r.OccurredAt.After(now.Add(maxFuture)) && (r.ServerAt == nil || regclock.Check(r.OccurredAt, *r.ServerAt, now) != nil) {
		return apperr.Invalid("occurredAt", "取引日時が未来になっています (occurredAt is in the future)").Because(apperr.DATE_IN_FUTURE)
	}
	r.OccurredAt = normTime(r.OccurredAt)
	if r.ServerAt != nil && !r.ServerAt.IsZero() {
		// Not checked further: an absurd server time is the estimator's to
		// refuse and count, never a reason to lose the receipt.
		t := normTime(*r.ServerAt)
		r.ServerAt = &t
	}
	if r.UpdatedAt != nil {
		if r.UpdatedAt.After(now.Add(maxFuture)) {
			return apperr.Invalid("updatedAt", "更新日時が未来になっています (updatedAt is in the future)").Because(apperr.DATE_IN_FUTURE)
		}
		t := normTime(*r.UpdatedAt)
		r.UpdatedAt = &t
	}
	if r.EnteredAt != nil {
		if r.EnteredAt.After(r.OccurredAt) {
			return apperr.Invalid("enteredAt", "入店時間が取引日時より後になっています (enteredAt is after occurredAt)").Because(apperr.RANGE_REVERSED)
		}
		t := normTime(*r.EnteredAt)
		r.EnteredAt = &t
	}
	for _, a := range []struct {
		field string
		v     int64
	}{{"total", r.Total}, {"deposit", r.Deposit}, {"change", r.Change}} {
		if a.v > maxAmount || a.v < -maxAmount {
			return apperr.Invalid(a.field, "金額が大きすぎます (amount out of range)").Because(apperr.VALUE_OUT_OF_RANGE)
		}
	}
	if r.Deposit < 0 {
		return apperr.Invalid("deposit", "預かり金は 0 以上で入力してください (deposit must not be negative)").Because(apperr.VALUE_OUT_OF_RANGE)
	}
	if r.Change < 0 {
		return apperr.Invalid("change", "釣り銭は 0 以上で入力してください (change must not be negative)").Because(apperr.VALUE_OUT_OF_RANGE)
	}
	if len(r.Items) > maxItems {
		return apperr.Invalid("items", "明細は %d 行までです (at most %d items)", maxItems, maxItems).Because(apperr.TOO_MANY_ITEMS)
	}
	for i, it := range r.Items {
		f := fmt.Sprintf("items[%d]", i)
		if strings.TrimSpace(it.Name) == "" || utf8.RuneCountInString(it.Name) > 200 {
			return apperr.Invalid(f+".name", "商品名は 1〜200 文字で入力してください (name must be 1-200 characters)").Because(apperr.LENGTH_OUT_OF_RANGE)
		}
		if it.Quantity == 0 || it.Quantity > 100000 || it.Quantity < -100000 {
			return apperr.Invalid(f+".quantity", "数量が不正です (quantity must be non-zero and within ±100000)").Because(apperr.VALUE_OUT_OF_RANGE)
		}
		if it.Amount > maxAmount || it.Amount < -maxAmount {
			return apperr.Invalid(f+".amount", "金額が大きすぎます (amount out of range)").Because(apperr.VALUE_OUT_OF_RANGE)
		}
	}
	if err := checkMaskedCard(r.MaskedCard); err != nil {
		return err
	}
	if len(r.Raw) > maxRawBytes {
		return apperr.Invalid("raw", "元データが大きすぎます (raw payload over %d bytes)", maxRawBytes).Because(apperr.VALUE_TOO_LONG)
	}
	return nil
}

// checkMaskedCard refuses anything that could be a full card number: only
// the first 6 and last 2 digits may be visible.
func checkMaskedCard(s string) error {
	if s == "" {
		return nil
	}
	bad := apperr.Invalid("maskedCard", "カード番号は先頭6桁と末尾2桁以外を * で伏せてください (only the first 6 and last 2 digits may be shown)").Because(apperr.CARD_NUMBER_NOT_MASKED)
	if len(s) < 12 || len(s) > 19 {
		return bad
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		visible := i < 6 || i >= len(s)-2
		if visible && (c < '0' || c > '9') || !visible && c != '*' {
			return bad
		}
	}
	return nil
}

func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// fingerprint identifies the content of a sale, so an unchanged re-send is a
// duplicate and any change (amounts, payment, staff, items) is a MODIFY.
func (r *Receipt) fingerprint() string {
	var entered *time.Time
	if r.EnteredAt != nil {
		t := normTime(*r.EnteredAt)
		entered = &t
	}
	items := r.Items
	if len(items) == 0 {
		items = nil
	}
	b, _ := json.Marshal(struct {
		ReceiptNo, RegisterNo, StaffID, StaffName, PaymentMethod, MaskedCard string
		Total, Deposit, Change                                               int64
		EnteredAt                                                            *time.Time
		Items                                                                []schematype.Item
	}{r.ReceiptNo, r.RegisterNo, r.StaffID, r.StaffName, r.PaymentMethod, r.MaskedCard,
		r.Total, r.Deposit, r.Change, entered, items})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}
