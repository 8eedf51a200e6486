package ubiregi

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/regclock"
)

// Names turns Ubiregi ids into display names. Any map may be nil; an
// unknown id gets a placeholder naming the id.
//
// Names feed the content fingerprint that ingest compares to tell an edit
// from a re-send, so they must be stable: map with the names of the
// account as fetched for this sync, and skip a sync rather than map with
// an empty Names after a failed Account call, or every re-read checkout
// would look edited.
type Names struct {
	AccountName  string
	PaymentTypes map[string]string
	Cashiers     map[string]string
	MenuItems    map[string]string
}

// Records maps a checkout with no names known; see Names.Records.
func Records(accountID string, c Checkout) []pos.Record { return Names{}.Records(accountID, c) }

// Records maps one checkout onto journal records (docs/ARCHITECTURE.md §3,
// the kinds table):
//
//   - close: PAYMENT at paid_at, UpdatedAt = updated_at, so a closed
//     checkout edited later reaches ingest again with new content and
//     becomes a MODIFY entry at its update time.
//   - cancel (a closed bill canceled later): the PAYMENT as above, then a
//     CANCEL at updated_at under the same ExternalID. The PAYMENT is sent
//     too because close and cancel may fall between two polls; when the
//     sale is already stored it is a duplicate.
//   - deleted / delete (a bill thrown away without closing): DELETE at
//     updated_at.
//   - open, and any status Ubiregi may add later: OTHER at created_at. It
//     carries no amounts, items, payments or staff: an open bill changes
//     with every order, and each change would otherwise show up as a
//     修正 (MODIFY) entry although nothing was edited after a sale. The
//     full bill arrives as the PAYMENT when it closes.
//
// The register is the account: TerminalExternalID and StoreExternalID are
// accountID.
func (n Names) Records(accountID string, c Checkout) []pos.Record {
	base := pos.Record{TerminalExternalID: accountID, StoreExternalID: accountID, StoreName: n.AccountName}
	updated := c.UpdatedAt
	if updated.IsZero() {
		updated = firstSet(c.PaidAt, c.CreatedAt)
	}
	rec := func(kind journalentry.Kind, at time.Time, full bool) pos.Record {
		r := base
		r.Receipt = ingest.Receipt{
			ExternalID: c.ID,
			Kind:       kind,
			OccurredAt: at,
			ReceiptNo:  clipRunes(c.GUID, 100),
			Raw:        rawOf(c),
		}
		if full {
			n.fill(&r.Receipt, c)
		}
		return r
	}
	switch c.Status {
	case StatusClose, StatusCancel:
		if updated.IsZero() {
			return nil
		}
		pay := rec(journalentry.KindPAYMENT, saleTime(c, updated), true)
		u := updated
		pay.Receipt.UpdatedAt = &u
		pay.Receipt.ServerAt, pay.Receipt.RegisterAt = clockSample(c, updated)
		if c.Status == StatusClose {
			return []pos.Record{pay}
		}
		return []pos.Record{pay, rec(journalentry.KindCANCEL, updated, true)}
	case StatusDeleted, StatusDelete:
		if updated.IsZero() {
			return nil
		}
		return []pos.Record{rec(journalentry.KindDELETE, updated, true)}
	default:
		at := firstSet(c.CreatedAt, c.UpdatedAt, c.PaidAt)
		if at.IsZero() {
			return nil
		}
		return []pos.Record{rec(journalentry.KindOTHER, at, false)}
	}
}

// saleTime is paid_at, the register's own time (an iPad whose clock may be
// off: ingest corrects the picture's time from the clock samples, see
// clockSample), unless it is absent or no clock could be off by it (before
// regclock.MinYear, more than regclock.MaxOffset ahead of the server's
// updated_at): then updated_at, the server's time.
func saleTime(c Checkout, updated time.Time) time.Time {
	t := c.PaidAt
	if t.IsZero() || absurd(t, updated) {
		return updated
	}
	return t
}

func absurd(register, server time.Time) bool {
	return register.Year() < regclock.MinYear || register.Sub(server) > regclock.MaxOffset
}

// clockSample is the pair of times of a closed bill that says something of
// the iPad's clock: paid_at (register) against updated_at (the server's
// clock when it stored the bill). A bill edited or canceled later has a
// later updated_at, which only adds delay (the estimator keeps the least
// delayed samples); one updated more than regclock.Window after it was
// paid says nothing of the clock now and gives no sample. An absurd
// paid_at goes as register (the estimator refuses and counts it) while the
// sale is at updated_at.
func clockSample(c Checkout, updated time.Time) (server, register *time.Time) {
	if c.PaidAt.IsZero() || updated.IsZero() {
		return nil, nil
	}
	u, p := updated, c.PaidAt
	if absurd(p, u) {
		return &u, &p
	}
	if u.Sub(p) > regclock.Window {
		return nil, nil
	}
	return &u, nil
}

func firstSet(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// fill copies the bill's content: amounts, lines, tenders and cashier.
func (n Names) fill(r *ingest.Receipt, c Checkout) {
	r.Total = c.Price.Yen()
	r.Change = c.Change.Yen()
	r.Deposit = (c.Price + c.Change).Yen()
	if r.Deposit < 0 {
		// A pure return pays money out; nothing was handed over.
		r.Deposit = 0
	}
	if r.Change < 0 {
		r.Change = 0
	}
	r.StaffID = clipRunes(c.CashierID, 100)
	if c.CashierID != "" {
		r.StaffName = clipRunes(n.Cashiers[c.CashierID], 200)
	}
	for _, it := range c.Items {
		if it.Count == 0 {
			// A zero-count line sells nothing; ingest would refuse the whole
			// receipt for it.
			continue
		}
		name := n.MenuItems[it.MenuItemID]
		if strings.TrimSpace(name) == "" {
			name = "メニュー " + it.MenuItemID
		}
		r.Items = append(r.Items, schematype.Item{Name: clipRunes(name, 200), Quantity: it.Count, Amount: it.Amount().Yen()})
	}
	var methods []string
	seen := map[string]bool{}
	for _, p := range c.Payments {
		name := n.PaymentTypes[p.PaymentTypeID]
		if strings.TrimSpace(name) == "" {
			name = "支払い種別 " + p.PaymentTypeID
		}
		if !seen[name] {
			seen[name] = true
			methods = append(methods, name)
		}
	}
	r.PaymentMethod = clipRunes(strings.Join(methods, " / "), 100)
}

// ingest refuses raw payloads over 64 KiB; a bill with hundreds of lines
// still deserves its entry, so an oversized one keeps only its identity.
const maxRaw = 64 << 10

func rawOf(c Checkout) json.RawMessage {
	if len(c.Raw) > 0 && len(c.Raw) <= maxRaw && json.Valid(c.Raw) {
		return c.Raw
	}
	b, _ := json.Marshal(map[string]any{"id": c.ID, "guid": c.GUID, "status": c.Status, "truncated": true})
	return b
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
