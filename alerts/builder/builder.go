// Package builder is the rule builder of alerts: it validates a rule's
// conditions (schematype.RuleConditions), decides them on an entry, and
// expresses the fixed rule kinds as presets. Package alerts runs it at
// ingest and in the preview; everything that decides whether an entry
// matches lives here once, so a preset and the history preview cannot drift
// from what fires.
package builder

import (
	"slices"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/predicate"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/pulid"
	shophours "github.com/regicam/regicam/shop"
)

// Zone is what an entry's shop contributes to the decision: the timezone
// its clock and weekday conditions are read in, and its business hours.
type Zone struct {
	Loc   *time.Location
	Hours schematype.BusinessHours
}

// Matcher is a validated condition set prepared for many entries: names
// folded and times parsed once, so a rule costs no allocation per entry.
type Matcher struct {
	C        schematype.RuleConditions
	kinds    []journalentry.Kind
	itemName string // folded
	pay      []string
	from, to int // minutes after midnight; hasClock when set
	hasClock bool
	days     uint8 // bit per weekday
}

// Compile prepares c; it does not validate (Validate does, before a rule
// is stored), and a part it cannot read is treated as no condition.
func Compile(c schematype.RuleConditions) *Matcher {
	m := &Matcher{C: c}
	for _, k := range c.Kinds {
		m.kinds = append(m.kinds, journalentry.Kind(k))
	}
	if c.Item != nil {
		m.itemName = Fold(c.Item.NameContains)
	}
	for _, p := range c.PaymentMethods {
		m.pay = append(m.pay, Fold(p))
	}
	if c.TimeFrom != "" && c.TimeTo != "" {
		f, err1 := clock(c.TimeFrom)
		t, err2 := clock(c.TimeTo)
		if err1 == nil && err2 == nil {
			m.from, m.to, m.hasClock = f, t, true
		}
	}
	for _, d := range c.Weekdays {
		if d >= 0 && d <= 6 {
			m.days |= 1 << d
		}
	}
	return m
}

// Fold is the spelling an item name or payment method is compared in:
// NFKC (full-width letters and digits become ASCII, half-width katakana
// full-width) and lower case, so ｺｰﾗ, コーラ, ＣＯＬＡ and cola meet the way
// the journal search (journal.SearchVariants) finds them.
func Fold(s string) string { return strings.ToLower(norm.NFKC.String(s)) }

// NeedsZone reports whether the decision reads the shop's clock or hours.
func (m *Matcher) NeedsZone() bool { return m.hasClock || m.days != 0 || m.C.OutsideHours }

// Magnitude is the amount the amount range compares: a cancel or refund
// stored as −¥5,000 is a ¥5,000 cancel to the owner (like AMOUNT_OVER).
func Magnitude(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Entry decides every condition about the entry itself (not the window
// rules Burst and QuickCancel, which need other entries). Bounds are
// inclusive; a time window is [timeFrom, timeTo) to the minute, spanning
// midnight when timeFrom is after timeTo.
func (m *Matcher) Entry(e *ent.JournalEntry, z Zone) bool {
	c := &m.C
	if len(m.kinds) > 0 && !slices.Contains(m.kinds, e.Kind) {
		return false
	}
	if c.QuickCancel != nil && e.Kind != journalentry.KindCANCEL {
		return false
	}
	amt := Magnitude(e.Total)
	if c.AmountMin != nil && amt < *c.AmountMin || c.AmountMax != nil && amt > *c.AmountMax {
		return false
	}
	if len(c.ShopIDs) > 0 && !slices.Contains(c.ShopIDs, string(e.ShopID)) {
		return false
	}
	if len(c.TerminalIDs) > 0 && !slices.Contains(c.TerminalIDs, string(e.TerminalID)) {
		return false
	}
	if len(c.Staff) > 0 && !(e.StaffID != "" && slices.Contains(c.Staff, e.StaffID) || e.StaffName != "" && slices.Contains(c.Staff, e.StaffName)) {
		return false
	}
	if c.UnlinkedTerminal && e.CameraID != nil {
		return false
	}
	if len(m.pay) > 0 {
		p := Fold(e.PaymentMethod)
		if !slices.ContainsFunc(m.pay, func(v string) bool { return v != "" && strings.Contains(p, v) }) {
			return false
		}
	}
	if c.StaySecondsMin != nil || c.StaySecondsMax != nil {
		if e.EnteredAt == nil {
			return false
		}
		stay := int(e.OccurredAt.Sub(*e.EnteredAt) / time.Second)
		if c.StaySecondsMin != nil && stay < *c.StaySecondsMin || c.StaySecondsMax != nil && stay > *c.StaySecondsMax {
			return false
		}
	}
	if c.Item != nil && !slices.ContainsFunc(e.Items, m.item) {
		return false
	}
	if m.NeedsZone() {
		loc := z.Loc
		if loc == nil {
			loc = time.UTC
		}
		t := e.OccurredAt.In(loc)
		if m.days != 0 && m.days&(1<<int(t.Weekday())) == 0 {
			return false
		}
		if m.hasClock && !InWindow(m.from, m.to, t.Hour()*60+t.Minute()) {
			return false
		}
		if c.OutsideHours && shophours.OpenAt(z.Hours, loc, e.OccurredAt) {
			return false
		}
	}
	return true
}

func (m *Matcher) item(it schematype.Item) bool {
	c := m.C.Item
	if m.itemName != "" && !strings.Contains(Fold(it.Name), m.itemName) {
		return false
	}
	if c.QuantityMin != nil && it.Quantity < *c.QuantityMin || c.QuantityMax != nil && it.Quantity > *c.QuantityMax {
		return false
	}
	if c.LineAmountMin != nil && it.Amount < *c.LineAmountMin || c.LineAmountMax != nil && it.Amount > *c.LineAmountMax {
		return false
	}
	return true
}

// InWindow reports whether minute m of the day is in [from, to); from after
// to spans midnight (22:00–06:00 holds 23:30 and 05:59, not 06:00).
func InWindow(from, to, m int) bool {
	if from < to {
		return m >= from && m < to
	}
	return m >= from || m < to
}

// Predicates are the conditions a database can decide, for pre-filtering
// the entries a window rule counts and the preview scans; Entry still
// decides every candidate, so a predicate may only be looser, never
// stricter.
func (m *Matcher) Predicates() []predicate.JournalEntry {
	c := &m.C
	var ps []predicate.JournalEntry
	if len(m.kinds) > 0 {
		ps = append(ps, journalentry.KindIn(m.kinds...))
	}
	if c.QuickCancel != nil {
		ps = append(ps, journalentry.KindEQ(journalentry.KindCANCEL), journalentry.RelatedIDNotNil())
	}
	if c.AmountMin != nil || c.AmountMax != nil {
		// |total| in [min, max]: total in [min, max] or in [−max, −min].
		var pos, neg []predicate.JournalEntry
		if c.AmountMin != nil {
			pos = append(pos, journalentry.TotalGTE(*c.AmountMin))
			neg = append(neg, journalentry.TotalLTE(-*c.AmountMin))
		}
		if c.AmountMax != nil {
			pos = append(pos, journalentry.TotalLTE(*c.AmountMax))
			neg = append(neg, journalentry.TotalGTE(-*c.AmountMax))
		}
		ps = append(ps, journalentry.Or(journalentry.And(pos...), journalentry.And(neg...)))
	}
	if len(c.ShopIDs) > 0 {
		ps = append(ps, journalentry.ShopIDIn(ids(c.ShopIDs)...))
	}
	if len(c.TerminalIDs) > 0 {
		ps = append(ps, journalentry.TerminalIDIn(ids(c.TerminalIDs)...))
	}
	if len(c.Staff) > 0 {
		ps = append(ps, journalentry.Or(journalentry.StaffIDIn(c.Staff...), journalentry.StaffNameIn(c.Staff...)))
	}
	if c.UnlinkedTerminal {
		ps = append(ps, journalentry.CameraIDIsNil())
	}
	return ps
}

// OnlySQL reports whether Predicates decide every per-entry condition, so
// counting a window needs no rows read.
func (m *Matcher) OnlySQL() bool {
	c := &m.C
	return c.Item == nil && len(c.PaymentMethods) == 0 && c.StaySecondsMin == nil && c.StaySecondsMax == nil && !m.NeedsZone()
}

func ids(ss []string) []pulid.ID {
	out := make([]pulid.ID, len(ss))
	for i, s := range ss {
		out[i] = pulid.ID(s)
	}
	return out
}

// SameStaff is the burst's and the quick cancel's notion of one person:
// the staff id when both entries carry one, else the name.
func SameStaff(a, b *ent.JournalEntry) bool {
	if a.StaffID != "" && b.StaffID != "" {
		return a.StaffID == b.StaffID
	}
	return a.StaffName != "" && a.StaffName == b.StaffName
}

// StaffIs selects the entries of e's staff as SameStaff sees them.
func StaffIs(e *ent.JournalEntry) predicate.JournalEntry {
	if e.StaffID != "" {
		return journalentry.StaffID(e.StaffID)
	}
	return journalentry.StaffName(e.StaffName)
}

// QuickGap decides QuickCancel for cancel e of sale: the same staff
// cancelled within WindowSeconds (inclusive) of the sale.
func (m *Matcher) QuickGap(e, sale *ent.JournalEntry) (time.Duration, bool) {
	gap := e.OccurredAt.Sub(sale.OccurredAt)
	if !SameStaff(sale, e) || gap < 0 || gap > time.Duration(m.C.QuickCancel.WindowSeconds)*time.Second {
		return gap, false
	}
	return gap, true
}

func clock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}
