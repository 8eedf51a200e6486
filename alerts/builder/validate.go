package builder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
)

// Limits of a condition set: bounded lists and strings keep a rule's cost
// per entry small and its row small.
const (
	MaxList     = 100
	MaxText     = 100
	MaxWindow   = 7 * 24 * 3600
	MaxCount    = 1000
	MaxStay     = 7 * 24 * 3600
	MaxQuantity = 1_000_000
)

var entryKinds = []string{"PAYMENT", "CANCEL", "MODIFY", "DELETE", "OTHER"}

// Validate checks c for account; errors name the field under prefix
// (e.g. "input.conditions"). Ids of another account answer NOT_FOUND like
// ids that do not exist.
func Validate(ctx context.Context, client *ent.Client, account pulid.ID, c *Conditions, prefix string) error {
	f := func(name string) string { return prefix + "." + name }
	if c == nil || empty(c) {
		return apperr.Invalid(prefix, "条件を 1 つ以上指定してください").Because(apperr.REQUIRED)
	}
	for _, k := range c.Kinds {
		if !slices.Contains(entryKinds, k) {
			return apperr.Invalid(f("kinds"), "記録の種類 %q は使えません", k).Because(apperr.INVALID_CHOICE)
		}
	}
	for _, l := range []struct {
		name string
		n    int
	}{{"kinds", len(c.Kinds)}, {"paymentMethods", len(c.PaymentMethods)}, {"staff", len(c.Staff)},
		{"shopIDs", len(c.ShopIDs)}, {"terminalIDs", len(c.TerminalIDs)}, {"weekdays", len(c.Weekdays)}} {
		if l.n > MaxList {
			return apperr.Invalid(f(l.name), "指定できるのは %d 件までです", MaxList).Because(apperr.TOO_MANY_ITEMS)
		}
	}
	if err := minMax(f("amountMin"), f("amountMax"), c.AmountMin, c.AmountMax, 0, 1<<53, "金額"); err != nil {
		return err
	}
	if it := c.Item; it != nil {
		if utf8.RuneCountInString(it.NameContains) > MaxText {
			return apperr.Invalid(f("item.nameContains"), "商品名は %d 文字以内で入力してください", MaxText).Because(apperr.VALUE_TOO_LONG)
		}
		if err := minMax(f("item.quantityMin"), f("item.quantityMax"), i64(it.QuantityMin), i64(it.QuantityMax), -MaxQuantity, MaxQuantity, "数量"); err != nil {
			return err
		}
		if err := minMax(f("item.lineAmountMin"), f("item.lineAmountMax"), it.LineAmountMin, it.LineAmountMax, -(1 << 53), 1<<53, "明細の金額"); err != nil {
			return err
		}
		if strings.TrimSpace(it.NameContains) == "" && it.QuantityMin == nil && it.QuantityMax == nil && it.LineAmountMin == nil && it.LineAmountMax == nil {
			return apperr.Invalid(f("item"), "商品の条件 (商品名・数量・明細の金額) を 1 つ以上指定してください").Because(apperr.REQUIRED)
		}
	}
	for i, p := range c.PaymentMethods {
		if strings.TrimSpace(p) == "" || utf8.RuneCountInString(p) > MaxText {
			return apperr.Invalid(fmt.Sprintf("%s.%d", f("paymentMethods"), i), "支払方法を 1〜%d 文字で入力してください", MaxText).Because(apperr.LENGTH_OUT_OF_RANGE)
		}
	}
	if err := minMax(f("staySecondsMin"), f("staySecondsMax"), i64(c.StaySecondsMin), i64(c.StaySecondsMax), 0, MaxStay, "入店から会計までの秒数"); err != nil {
		return err
	}
	if c.TimeFrom != "" || c.TimeTo != "" {
		from, err := clock(c.TimeFrom)
		if err != nil {
			return apperr.Invalid(f("timeFrom"), "時間帯の開始を HH:MM (例 22:00) で入力してください").Because(apperr.INVALID_TIME)
		}
		to, err := clock(c.TimeTo)
		if err != nil {
			return apperr.Invalid(f("timeTo"), "時間帯の終了を HH:MM (例 06:00) で入力してください").Because(apperr.INVALID_TIME)
		}
		if from == to {
			return apperr.Invalid(f("timeTo"), "時間帯の開始と終了が同じ時刻です。日をまたぐ時間帯は開始を終了より後にしてください (例 22:00〜06:00)").Because(apperr.OPEN_EQUALS_CLOSE)
		}
	}
	for _, d := range c.Weekdays {
		if d < 0 || d > 6 {
			return apperr.Invalid(f("weekdays"), "曜日は 0 (日曜) から 6 (土曜) で指定してください").Because(apperr.VALUE_OUT_OF_RANGE)
		}
	}
	if err := validateSilence(c, f); err != nil {
		return err
	}
	if c.Burst != nil && c.QuickCancel != nil {
		return apperr.Invalid(f("quickCancel"), "連続の条件と売上直後の取消の条件は同じルールに指定できません").Because(apperr.INVALID_CHOICE)
	}
	if w := c.Burst; w != nil {
		if w.Count < 1 || w.Count > MaxCount {
			return apperr.Invalid(f("burst.count"), "回数は 1〜%d で指定してください", MaxCount).Because(apperr.VALUE_OUT_OF_RANGE)
		}
		if w.WindowSeconds < 1 || w.WindowSeconds > MaxWindow {
			return apperr.Invalid(f("burst.windowSeconds"), "期間は 1〜%d 秒で指定してください", MaxWindow).Because(apperr.VALUE_OUT_OF_RANGE)
		}
	}
	if w := c.QuickCancel; w != nil {
		if w.WindowSeconds < 1 || w.WindowSeconds > MaxWindow {
			return apperr.Invalid(f("quickCancel.windowSeconds"), "売上からの秒数は 1〜%d 秒で指定してください", MaxWindow).Because(apperr.VALUE_OUT_OF_RANGE)
		}
		if w.Count != 0 {
			return apperr.Invalid(f("quickCancel.count"), "売上直後の取消に回数は指定できません").Because(apperr.INVALID_CHOICE)
		}
		if len(c.Kinds) > 0 && !slices.Contains(c.Kinds, "CANCEL") {
			return apperr.Invalid(f("kinds"), "売上直後の取消は取消の記録にしか当てはまりません。種類に取消を含めてください").Because(apperr.INVALID_CHOICE)
		}
	}
	if err := journal.CheckIDs(ctx, client, journal.Filter{AccountID: account, ShopIDs: ids(c.ShopIDs), TerminalIDs: ids(c.TerminalIDs)}); err != nil {
		if e, ok := apperr.As(err); ok {
			field := f("shopIDs")
			if strings.Contains(e.Field, "terminal") {
				field = f("terminalIDs")
			}
			return apperr.Missing(field, "指定された ID の一部が見つかりません").Because(apperr.NOT_FOUND)
		}
		return err
	}
	for i, s := range c.Staff {
		if strings.TrimSpace(s) == "" || utf8.RuneCountInString(s) > MaxText {
			return apperr.Invalid(fmt.Sprintf("%s.%d", f("staff"), i), "担当者を 1〜%d 文字で入力してください", MaxText).Because(apperr.LENGTH_OUT_OF_RANGE)
		}
		known, err := client.JournalEntry.Query().Where(journalentry.AccountID(account),
			journalentry.Or(journalentry.StaffID(s), journalentry.StaffName(s))).Exist(ctx)
		if err != nil {
			return fmt.Errorf("check staff: %w", err)
		}
		if !known {
			return apperr.Invalid(fmt.Sprintf("%s.%d", f("staff"), i), "担当者 %q の記録がありません", s).Because(apperr.STAFF_UNKNOWN)
		}
	}
	return nil
}

// validateSilence refuses a silence combined with a condition on an entry:
// a silence has no entry to ask it of, so the condition would be ignored
// silently. The field named is the one to remove.
func validateSilence(c *Conditions, f func(string) string) error {
	if c.Silence == nil {
		return nil
	}
	if w := c.Silence.WindowSeconds; w < 0 || w > MaxWindow {
		return apperr.Invalid(f("silence.windowSeconds"), "記録がない時間は 1〜%d 秒で指定してください (空欄にするとふだんの間隔から決めます)", MaxWindow).Because(apperr.VALUE_OUT_OF_RANGE)
	}
	for _, x := range []struct {
		field, label string
		set          bool
	}{
		{"kinds", "記録の種類", len(c.Kinds) > 0},
		{"amountMin", "金額", c.AmountMin != nil}, {"amountMax", "金額", c.AmountMax != nil},
		{"item", "商品", c.Item != nil},
		{"paymentMethods", "支払方法", len(c.PaymentMethods) > 0},
		{"staff", "担当者", len(c.Staff) > 0},
		{"staySecondsMin", "入店から会計までの秒数", c.StaySecondsMin != nil}, {"staySecondsMax", "入店から会計までの秒数", c.StaySecondsMax != nil},
		{"weekdays", "曜日", len(c.Weekdays) > 0},
		{"outsideHours", "営業時間外", c.OutsideHours},
		{"unlinkedTerminal", "カメラのない端末", c.UnlinkedTerminal},
		{"burst", "短時間の連続", c.Burst != nil},
		{"quickCancel", "売上直後の取消", c.QuickCancel != nil},
	} {
		if x.set {
			return apperr.Invalid(f(x.field), "「記録がない（営業時間中）」の条件と「%s」は同じルールに指定できません。記録がないときは確かめる記録がないためです。組み合わせられるのは店舗・端末・時間帯（営業時間として使います）だけです", x.label).Because(apperr.INVALID_CHOICE)
		}
	}
	return nil
}

// Conditions is the stored condition set.
type Conditions = schematype.RuleConditions

func empty(c *Conditions) bool {
	return len(c.Kinds) == 0 && c.AmountMin == nil && c.AmountMax == nil && c.Item == nil && len(c.PaymentMethods) == 0 &&
		len(c.Staff) == 0 && len(c.ShopIDs) == 0 && len(c.TerminalIDs) == 0 && c.StaySecondsMin == nil && c.StaySecondsMax == nil &&
		c.TimeFrom == "" && c.TimeTo == "" && len(c.Weekdays) == 0 && !c.OutsideHours && !c.UnlinkedTerminal && c.Burst == nil && c.QuickCancel == nil && c.Silence == nil
}

// minMax checks an inclusive range: each bound within [lo, hi] and min not
// above max (min = max is a single value, allowed).
func minMax(fMin, fMax string, vMin, vMax *int64, lo, hi int64, what string) error {
	for _, b := range []struct {
		f string
		v *int64
	}{{fMin, vMin}, {fMax, vMax}} {
		if b.v != nil && (*b.v < lo || *b.v > hi) {
			return apperr.Invalid(b.f, "%sは %d 以上 %d 以下で指定してください", what, lo, hi).Because(apperr.VALUE_OUT_OF_RANGE)
		}
	}
	if vMin != nil && vMax != nil && *vMin > *vMax {
		return apperr.Invalid(fMin, "%sの下限 (%d) が上限 (%d) より大きくなっています", what, *vMin, *vMax).Because(apperr.VALUE_OUT_OF_RANGE)
	}
	return nil
}

func i64(p *int) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}
