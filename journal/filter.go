// Package journal reads the journal: the filter behind the dashboard tabs
// and search box, keyset pages and timeline buckets. The same Filter decides
// what the list query returns and which live events a subscriber receives.
package journal

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/predicate"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// MaxSearchLen bounds the search box input.
const MaxSearchLen = 100

// MaxIDs bounds each id list of a filter.
const MaxIDs = 200

// Filter selects journal entries. Zero values mean "no restriction".
type Filter struct {
	AccountID   pulid.ID
	CameraIDs   []pulid.ID
	TerminalIDs []pulid.ID
	ShopIDs     []pulid.ID
	Kinds       []journalentry.Kind
	Search      string
	From, To    *time.Time

	// Beyond the search box: the reports, exports and alert scopes use the
	// same filter.
	MinTotal, MaxTotal *int64
	PaymentMethods     []string // exact 支払い方法 names
	ItemText           string   // substring of any item name, case-insensitive
	MaskedCard         string   // e.g. "411111" (first 6) or "11" (last 2) or the whole masked number
	ExternalID         string   // the provider's transaction id, exact
	Staff              string   // staff id or name, exact

	// Restricted limits a STAFF viewer to VisibleShops whatever it asked
	// for (set by ForViewer; ent privacy does the same to SQL).
	Restricted   bool
	VisibleShops []pulid.ID
}

// ForViewer applies the shop restriction of the viewer in ctx, so the
// in-memory Match of the live feed keeps a STAFF user inside its shops.
func (f *Filter) ForViewer(ctx context.Context) {
	if v, ok := viewer.FromContext(ctx); ok && v.Restricted {
		f.Restricted, f.VisibleShops = true, v.ShopIDs
	}
}

// Validate checks the shape of f; field names are reported under prefix
// (e.g. "where").
func (f *Filter) Validate(prefix string) error {
	for _, l := range []struct {
		name, entity string
		ids          []pulid.ID
	}{{"cameraIDs", "CA", f.CameraIDs}, {"terminalIDs", "TE", f.TerminalIDs}, {"shopIDs", "SH", f.ShopIDs}} {
		if len(l.ids) > MaxIDs {
			return apperr.Invalid(prefix+"."+l.name, "指定できるのは %d 件までです (at most %d ids)", MaxIDs, MaxIDs).Because(apperr.TOO_MANY_ITEMS)
		}
		for _, id := range l.ids {
			if id.Prefix() != l.entity {
				return apperr.Missing(prefix+"."+l.name, "%s が見つかりません (no such id)", id).Because(apperr.NOT_FOUND)
			}
		}
	}
	f.Search = strings.TrimSpace(f.Search)
	if len([]rune(f.Search)) > MaxSearchLen {
		return apperr.Invalid(prefix+".search", "検索語は %d 文字以内で入力してください (search is limited to %d characters)", MaxSearchLen, MaxSearchLen).Because(apperr.VALUE_TOO_LONG)
	}
	if f.MinTotal != nil && f.MaxTotal != nil && *f.MinTotal > *f.MaxTotal {
		return apperr.Invalid(prefix+".minTotal", "金額の下限が上限を超えています (minTotal is above maxTotal)").Because(apperr.RANGE_REVERSED)
	}
	if len(f.PaymentMethods) > MaxIDs {
		return apperr.Invalid(prefix+".paymentMethods", "指定できるのは %d 件までです (at most %d)", MaxIDs, MaxIDs).Because(apperr.TOO_MANY_ITEMS)
	}
	for _, t := range []struct{ name, v string }{{"itemText", f.ItemText}, {"maskedCard", f.MaskedCard}, {"externalID", f.ExternalID}, {"staff", f.Staff}} {
		if len([]rune(t.v)) > MaxSearchLen {
			return apperr.Invalid(prefix+"."+t.name, "%d 文字以内で入力してください (at most %d characters)", MaxSearchLen, MaxSearchLen).Because(apperr.VALUE_TOO_LONG)
		}
	}
	if strings.ContainsFunc(f.MaskedCard, func(r rune) bool { return r != '*' && (r < '0' || r > '9') }) {
		return apperr.Invalid(prefix+".maskedCard", "カード番号は数字と * で入力してください (digits and * only)").Because(apperr.INVALID_FORMAT)
	}
	if f.From != nil && f.To != nil && f.From.After(*f.To) {
		return apperr.Invalid(prefix+".from", "開始日時が終了日時より後になっています (from is after to)").Because(apperr.RANGE_REVERSED)
	}
	if f.From != nil {
		t := f.From.UTC()
		f.From = &t
	}
	if f.To != nil {
		t := f.To.UTC()
		f.To = &t
	}
	return nil
}

// Predicates returns f as SQL conditions.
func (f *Filter) Predicates() []predicate.JournalEntry {
	var ps []predicate.JournalEntry
	if f.AccountID != "" {
		ps = append(ps, journalentry.AccountID(f.AccountID))
	}
	if len(f.CameraIDs) > 0 {
		ps = append(ps, journalentry.CameraIDIn(f.CameraIDs...))
	}
	if len(f.TerminalIDs) > 0 {
		ps = append(ps, journalentry.TerminalIDIn(f.TerminalIDs...))
	}
	if len(f.ShopIDs) > 0 {
		ps = append(ps, journalentry.ShopIDIn(f.ShopIDs...))
	}
	if f.Restricted {
		ps = append(ps, journalentry.ShopIDIn(f.VisibleShops...))
	}
	if len(f.Kinds) > 0 {
		ps = append(ps, journalentry.KindIn(f.Kinds...))
	}
	if f.Search != "" {
		var or []predicate.JournalEntry
		for _, v := range SearchVariants(f.Search) {
			or = append(or,
				journalentry.ReceiptNoContainsFold(v),
				journalentry.RegisterNoContainsFold(v),
				journalentry.StaffNameContainsFold(v),
			)
		}
		ps = append(ps, journalentry.Or(or...))
	}
	if f.From != nil {
		ps = append(ps, journalentry.OccurredAtGTE(*f.From))
	}
	if f.To != nil {
		ps = append(ps, journalentry.OccurredAtLT(*f.To))
	}
	if f.MinTotal != nil {
		ps = append(ps, journalentry.TotalGTE(*f.MinTotal))
	}
	if f.MaxTotal != nil {
		ps = append(ps, journalentry.TotalLTE(*f.MaxTotal))
	}
	if len(f.PaymentMethods) > 0 {
		ps = append(ps, journalentry.PaymentMethodIn(f.PaymentMethods...))
	}
	if f.ItemText != "" {
		ps = append(ps, itemsContain(f.ItemText))
	}
	if f.MaskedCard != "" {
		ps = append(ps, maskedCardMatches(f.MaskedCard))
	}
	if f.ExternalID != "" {
		ps = append(ps, journalentry.ExternalID(f.ExternalID))
	}
	if f.Staff != "" {
		ps = append(ps, journalentry.Or(journalentry.StaffID(f.Staff), journalentry.StaffName(f.Staff)))
	}
	return ps
}

// itemsContain matches an item name substring inside the items JSON text.
func itemsContain(text string) predicate.JournalEntry {
	return func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			// SQLite keeps JSON as a blob, PostgreSQL as jsonb: compare text.
			// Case-insensitive like the search box: ILIKE on PostgreSQL;
			// SQLite's LIKE already folds ASCII.
			op := " LIKE "
			if s.Dialect() == "postgres" {
				op = " ILIKE "
			}
			b.WriteString("CAST(").Ident(s.C(journalentry.FieldItems)).WriteString(" AS TEXT)" + op).Arg("%" + escapeLike(text) + "%").WriteString(" ESCAPE '\\'")
		}))
	}
}

// maskedCardMatches: digits typed as a prefix match the first 6, a short
// number also matches the last 2, a full masked number matches exactly.
func maskedCardMatches(q string) predicate.JournalEntry {
	if strings.Contains(q, "*") || len(q) > 6 {
		return journalentry.MaskedCard(q)
	}
	if len(q) <= 2 {
		return journalentry.Or(journalentry.MaskedCardHasPrefix(q), journalentry.MaskedCardHasSuffix(q))
	}
	return journalentry.MaskedCardHasPrefix(q)
}

// maxVariantLen bounds a normalised search variant (the typed words are
// bounded by MaxSearchLen).
const maxVariantLen = 2 * MaxSearchLen

// SearchVariants are the spellings the search box tries: the words as typed,
// their NFKC form (full-width digits and letters become ASCII, half-width
// katakana full-width), the narrow form (half-width katakana, with ﾀﾞ for ダ)
// and the wide form. A POS writes receipt numbers and staff names in
// whichever width its keyboard gave, and neither SQLite nor PostgreSQL can
// normalise a stored column inside LIKE, so the query carries the widths
// instead: an entry matches when any variant is a substring (case-folded;
// SQLite folds ASCII letters only, so a full-width ＳＵＺＵＫＩ is found by
// ｓｕｚｕｋｉ on PostgreSQL and in Match but not on SQLite).
func SearchVariants(q string) []string {
	nfkc := norm.NFKC.String(q)
	// Narrow maps only precomposed-free kana, so ダ is split into タ + ゛
	// first; NFC then puts back the accents that are not kana (é).
	narrow := norm.NFC.String(width.Narrow.String(norm.NFKD.String(q)))
	wide := width.Widen.String(nfkc)
	vs := []string{q}
	for _, v := range []string{nfkc, narrow, wide} {
		// Compatibility forms can expand a character up to 18-fold (ﷺ);
		// no receipt no, register no or staff name is that long, and a
		// variant past it would only make the query heavier.
		if utf8.RuneCountInString(v) > maxVariantLen {
			continue
		}
		if !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	return vs
}

func escapeLike(s string) string {
	return strings.NewReplacer("\\", "\\\\", "%", "\\%", "_", "\\_").Replace(s)
}

// Match reports whether e passes f: the in-memory twin of Predicates, used
// to route live events. Keep the two in step.
func (f *Filter) Match(e *ent.JournalEntry) bool {
	if f.AccountID != "" && e.AccountID != f.AccountID {
		return false
	}
	if len(f.CameraIDs) > 0 && (e.CameraID == nil || !contains(f.CameraIDs, *e.CameraID)) {
		return false
	}
	if len(f.TerminalIDs) > 0 && !contains(f.TerminalIDs, e.TerminalID) {
		return false
	}
	if len(f.ShopIDs) > 0 && !contains(f.ShopIDs, e.ShopID) {
		return false
	}
	if f.Restricted && !contains(f.VisibleShops, e.ShopID) {
		return false
	}
	if len(f.Kinds) > 0 && !contains(f.Kinds, e.Kind) {
		return false
	}
	if f.Search != "" {
		fields := []string{strings.ToLower(e.ReceiptNo), strings.ToLower(e.RegisterNo), strings.ToLower(e.StaffName)}
		if !slices.ContainsFunc(SearchVariants(f.Search), func(v string) bool {
			v = strings.ToLower(v)
			return slices.ContainsFunc(fields, func(s string) bool { return strings.Contains(s, v) })
		}) {
			return false
		}
	}
	if f.From != nil && e.OccurredAt.Before(*f.From) {
		return false
	}
	if f.To != nil && !e.OccurredAt.Before(*f.To) {
		return false
	}
	if f.MinTotal != nil && e.Total < *f.MinTotal || f.MaxTotal != nil && e.Total > *f.MaxTotal {
		return false
	}
	if len(f.PaymentMethods) > 0 && !contains(f.PaymentMethods, e.PaymentMethod) {
		return false
	}
	if f.ItemText != "" && !slices.ContainsFunc(e.Items, func(it schematype.Item) bool {
		return strings.Contains(strings.ToLower(it.Name), strings.ToLower(f.ItemText))
	}) {
		return false
	}
	if f.MaskedCard != "" && !cardMatches(f.MaskedCard, e.MaskedCard) {
		return false
	}
	if f.ExternalID != "" && e.ExternalID != f.ExternalID {
		return false
	}
	if f.Staff != "" && e.StaffID != f.Staff && e.StaffName != f.Staff {
		return false
	}
	return true
}

func cardMatches(q, card string) bool {
	switch {
	case strings.Contains(q, "*") || len(q) > 6:
		return card == q
	case len(q) <= 2:
		return strings.HasPrefix(card, q) || strings.HasSuffix(card, q)
	}
	return strings.HasPrefix(card, q)
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// olderThan is the keyset condition (occurred_at, id) < (c.OccurredAt, c.ID),
// written as a row comparison so PostgreSQL and SQLite both turn it into an
// index range.
func olderThan(c Cursor) predicate.JournalEntry {
	return func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString("(").Ident(s.C(journalentry.FieldOccurredAt)).Comma().
				Ident(s.C(journalentry.FieldID)).WriteString(") < (").
				Args(c.OccurredAt, string(c.ID)).WriteString(")")
		}))
	}
}
