package smaregi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/regclock"
)

// Records maps a transaction to its journal records; see MapTransaction.
func Records(t Transaction) []pos.Record {
	recs, _ := MapTransaction(t)
	return recs
}

// MapTransaction maps a transaction head to journal records (the kinds
// table of docs/ARCHITECTURE.md §3):
//
//   - transactionHeadDivision=1, not a reversal or return → PAYMENT at
//     terminalTranDateTime (fallback transactionDateTime), ExternalID =
//     transactionHeadId, UpdatedAt = updDateTime. disposeDivision=1 (the
//     original of a 打消) is still that sale: the reversal is its own
//     transaction and its own CANCEL.
//   - cancelDivision=1 → the sale's record as above AND a CANCEL with the same
//     ExternalID at cancelDateTime, so a sale first seen already canceled
//     still shows both moments.
//   - disposeDivision=2 (打消) → CANCEL with its own ExternalID, related to
//     disposeServerTransactionHeadId.
//   - returnSales=1 → CANCEL with its own ExternalID.
//   - divisions 2–16, and any value we do not know in a division field →
//     OTHER.
//
// A re-read sale whose amounts, payment or staff changed is sent again as
// PAYMENT with the newer UpdatedAt: ingest turns that into MODIFY.
//
// ReceiptNo is transactionUuid, the receipt number Smaregi prints and
// searches by (transaction_uuid), else terminalTranId (the register's own
// sequence, unique only per terminal). RegisterNo is terminalId.
// CANCEL records from a reversal or return carry amounts as magnitudes, as
// the journal shows them. The error lists what was odd (unparseable
// amounts become 0, an enter time after the sale is dropped); records may
// still be returned with it. Without an id or any usable sale time there
// are no records.
func MapTransaction(t Transaction) ([]pos.Record, error) {
	var probs []error
	note := func(format string, args ...any) { probs = append(probs, fmt.Errorf(format, args...)) }

	id := t.TransactionHeadID
	if id == "" {
		return nil, errors.New("smaregi: transaction without transactionHeadId")
	}
	server := timeField(t.TransactionDateTime, "transactionDateTime", note)
	register := timeField(t.TerminalTranDateTime, "terminalTranDateTime", note)
	// The entry keeps the register's own time; the server's time beside it
	// is one sample of the register's clock offset, from which ingest
	// corrects the time the picture is taken at (regclock). With one of
	// the two only, that one is the sale's time and there is no sample. A
	// register time no clock could be off by (before regclock.MinYear, or
	// more than regclock.MaxOffset ahead of the server's) is not used: the
	// sale is at the server's time, and the register's goes to the
	// estimator as RegisterAt, which refuses and counts it. A register
	// more than that behind is an offline register uploading days later:
	// its time stands, and a delay that long says nothing of its clock.
	occurred := register
	var serverAt, registerAt *time.Time
	switch {
	case register.IsZero():
		occurred = server
	case server.IsZero():
	case register.Year() < regclock.MinYear || register.Sub(server) > regclock.MaxOffset:
		note("terminalTranDateTime %s is far from the server time %s; using the server time", t.TerminalTranDateTime, t.TransactionDateTime)
		occurred, serverAt, registerAt = server, &server, &register
	case server.Sub(register) > regclock.MaxOffset:
	default:
		serverAt = &server
	}
	if occurred.IsZero() {
		return nil, fmt.Errorf("smaregi: transaction %s has no usable time", id)
	}
	updated := timeField(t.UpdDateTime, "updDateTime", note)

	division := orDefault(t.TransactionHeadDivision, "1")
	cancel := orDefault(t.CancelDivision, "0")
	dispose := orDefault(t.DisposeDivision, "0")
	ret := orDefault(t.ReturnSales, "0")
	odd := false
	divNum, err := strconv.Atoi(division)
	if err != nil || divNum < 1 || divNum > 16 {
		note("unknown transactionHeadDivision %q", clip(division, 20))
		odd = true
	}
	for _, f := range []struct{ name, v, allowed string }{
		{"cancelDivision", cancel, "01"}, {"disposeDivision", dispose, "012"}, {"returnSales", ret, "01"},
	} {
		if len(f.v) != 1 || !strings.Contains(f.allowed, f.v) {
			note("unknown %s %q", f.name, clip(f.v, 20))
			odd = true
		}
	}

	// An amount that does not read is a broken response, not ¥0: storing
	// it would record a false edit that the clean re-read (same
	// updDateTime) could never correct. The caller reads it again.
	var amountErr error
	noteAmount := func(format string, args ...any) { amountErr = fmt.Errorf(format, args...) }
	total := yenField(t.Total, "total", noteAmount)
	deposit := yenField(t.Deposit, "deposit", noteAmount)
	change := yenField(t.Change, "change", noteAmount)
	if amountErr != nil {
		return nil, fmt.Errorf("%w: transaction %s: %v", ErrUnreadableAmount, id, amountErr)
	}

	r := ingest.Receipt{
		ExternalID:    id,
		OccurredAt:    occurred,
		ServerAt:      serverAt,
		RegisterAt:    registerAt,
		ReceiptNo:     clip(firstNonEmpty(t.TransactionUUID, t.TerminalTranID), 100),
		RegisterNo:    clip(t.TerminalID, 100),
		StaffID:       clip(t.StaffID, 100),
		StaffName:     clip(t.StaffName, 200),
		Total:         total,
		Deposit:       abs(deposit),
		Change:        abs(change),
		PaymentMethod: clip(paymentMethod(t, note), 100),
		Items:         items(t, note),
		Raw:           rawFor(t),
		Sequence:      sequenceOf(t.TerminalTranID),
	}
	if !updated.IsZero() {
		u := updated
		r.UpdatedAt = &u
	}
	if entered := timeField(t.EnterDateTime, "enterDateTime", note); !entered.IsZero() {
		if entered.After(occurred) {
			note("enterDateTime %s is after the sale; dropped", t.EnterDateTime)
		} else {
			r.EnteredAt = &entered
		}
	}

	reversal := dispose == "2" || ret == "1"
	switch {
	case reversal:
		r.Kind = journalentry.KindCANCEL
		r.Total = abs(r.Total)
		if rel := t.DisposeServerTransactionHeadID; rel != "" && rel != "0" && rel != id {
			r.RelatedExternalID = clip(rel, 200)
		}
	case divNum == 1 && !odd:
		r.Kind = journalentry.KindPAYMENT
	default:
		r.Kind = journalentry.KindOTHER
	}
	rec := pos.Record{TerminalExternalID: t.TerminalID, StoreExternalID: t.StoreID, Receipt: r}
	if t.TerminalID == "" {
		note("transaction %s has no terminalId", id)
	}
	recs := []pos.Record{rec}

	// A canceled reversal would un-cancel the sale, which the journal cannot
	// say; the reversal's own CANCEL already marks the moment.
	if cancel == "1" && !reversal {
		c := rec
		c.Receipt.Kind = journalentry.KindCANCEL
		at := timeField(t.CancelDateTime, "cancelDateTime", note)
		if at.IsZero() {
			at = updated
		}
		if at.IsZero() || at.Before(occurred) {
			at = occurred
		}
		c.Receipt.OccurredAt = at
		// The cancel's time has no server time of its own: no clock
		// sample (the sale's record gives it), but it is corrected.
		c.Receipt.ServerAt, c.Receipt.RegisterAt = nil, nil
		c.Receipt.EnteredAt = nil // 入店時間 belongs to the sale
		recs = append(recs, c)
	}
	return recs, errors.Join(probs...)
}

// DeleteRecord is the journal line for a transaction Smaregi deleted
// (webhook deleted / bulk-deleted, or a fetch that now answers 404). at is
// when we learned of it; terminalID may be "" when only the id is known, and
// the runtime then finds the terminal from the entry it deletes.
func DeleteRecord(id, terminalID string, at time.Time) pos.Record {
	return pos.Record{
		TerminalExternalID: terminalID,
		Receipt: ingest.Receipt{
			ExternalID: id,
			Kind:       journalentry.KindDELETE,
			OccurredAt: at,
			RegisterNo: clip(terminalID, 100),
		},
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// parseTime reads Smaregi's times; without a zone they are JST. Zero when
// empty or unreadable.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04:05-07:00", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, jst); err == nil {
			return t
		}
	}
	return time.Time{}
}

func timeField(s, name string, note func(string, ...any)) time.Time {
	t := parseTime(s)
	if t.IsZero() && strings.TrimSpace(s) != "" {
		note("unreadable %s %q", name, clip(s, 40))
	}
	// Years far outside a POS's life are junk and would upset the database.
	if !t.IsZero() && (t.Year() < 2000 || t.Year() > 2200) {
		note("%s %q out of range", name, clip(s, 40))
		return time.Time{}
	}
	return t
}

// maxYen is ingest's bound on an amount.
const maxYen = 1_000_000_000_000

// parseYen reads an integer amount of yen from Smaregi's string ("120",
// "-120", "120.00"). Fractions round; anything else is an error.
func parseYen(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > maxYen || n < -maxYen {
			return 0, fmt.Errorf("amount %q out of range", s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > maxYen {
		return 0, fmt.Errorf("amount %q is not a number", clip(s, 40))
	}
	return int64(math.Round(f)), nil
}

// ErrUnreadableAmount marks a transaction whose total, deposit or change is
// not a number: it is read again rather than stored.
var ErrUnreadableAmount = errors.New("smaregi: unreadable amount")

func yenField(s, name string, note func(string, ...any)) int64 {
	n, err := parseYen(s)
	if err != nil {
		note("%s: %v", name, err)
	}
	return n
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// paymentMethod names how the customer paid: 現金 / クレジット / the
// names of other payment methods, joined when split.
func paymentMethod(t Transaction, note func(string, ...any)) string {
	var names []string
	add := func(n string) {
		for _, x := range names {
			if x == n {
				return
			}
		}
		names = append(names, n)
	}
	cash, credit := yenField(t.DepositCash, "depositCash", note), yenField(t.DepositCredit, "depositCredit", note)
	if cash == 0 && t.DepositCash == "" {
		cash, _ = parseYen(t.CashTotal)
	}
	if credit == 0 && t.DepositCredit == "" {
		credit, _ = parseYen(t.CreditTotal)
	}
	if cash != 0 {
		add("現金")
	}
	if credit != 0 {
		add("クレジット")
	}
	for _, o := range t.DepositOthers {
		amount, err := parseYen(o.DepositOthers)
		if err != nil {
			note("depositOthers: %v", err)
		}
		name := strings.TrimSpace(o.PaymentMethodName)
		if name == "" && o.PaymentMethodID != "" {
			name = "支払方法" + o.PaymentMethodID
		}
		if name != "" && (amount != 0 || o.DepositOthers == "") {
			add(name)
		}
	}
	return strings.Join(names, "・")
}

// items maps line items (only present with Config.Items).
func items(t Transaction, note func(string, ...any)) []schematype.Item {
	var out []schematype.Item
	for _, d := range t.Details {
		if len(out) == 1000 { // ingest's bound
			note("more than 1000 details; the rest dropped")
			break
		}
		qf, err := strconv.ParseFloat(strings.TrimSpace(d.Quantity), 64)
		if err != nil || math.IsNaN(qf) || math.Abs(qf) > 100000 || math.Round(qf) == 0 {
			note("detail %s: bad quantity %q", d.TransactionDetailID, clip(d.Quantity, 20))
			continue
		}
		qty := int(math.Round(qf))
		amount, err := parseYen(d.UnitDiscountedSum)
		if err != nil || d.UnitDiscountedSum == "" {
			price, perr := parseYen(d.SalesPrice)
			if perr != nil {
				note("detail %s: %v", d.TransactionDetailID, perr)
			}
			if price != 0 && abs(price) > maxYen/int64(max(qty, -qty)) {
				note("detail %s: amount out of range", d.TransactionDetailID)
				continue
			}
			amount = price * int64(qty)
		}
		name := clip(strings.TrimSpace(d.ProductName), 200)
		if name == "" {
			name = "商品 " + clip(d.ProductID, 50)
		}
		out = append(out, schematype.Item{Name: name, Quantity: qty, Amount: amount})
	}
	return out
}

// maxRaw stays under ingest's 64 KiB bound on the raw payload.
const maxRaw = 60 << 10

// rawFor keeps the transaction verbatim when it fits; a huge one (many
// details) is kept without its details, which the items already hold.
func rawFor(t Transaction) json.RawMessage {
	if len(t.Raw) <= maxRaw {
		return t.Raw
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(t.Raw, &m) == nil {
		delete(m, "details")
		if b, err := json.Marshal(m); err == nil && len(b) <= maxRaw {
			return b
		}
	}
	return nil
}
