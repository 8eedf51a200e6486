package builder

import (
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/schema/schematype"
)

// Preset is one of the fixed rule kinds as conditions of the builder.
type Preset struct {
	Name       string // the fixed kind it replaces
	Label      string
	Conditions schematype.RuleConditions
}

// Presets lists the fixed kinds the builder replaces, with the defaults the
// dashboard offered for them. FEED_SILENT is among them through the silence
// condition: it fires on the absence of entries, so no entry decides it;
// package alerts' silence checker reads the condition instead
// (alerts/silent.go), with the scope and hours as its only companions.
func Presets() []Preset {
	return []Preset{
		{Name: string(alertrule.KindAMOUNT_OVER), Label: "高額の取消・削除・修正",
			Conditions: schematype.RuleConditions{Kinds: []string{"CANCEL", "DELETE", "MODIFY"}, AmountMin: ptr[int64](10001)}},
		{Name: string(alertrule.KindQUICK_CANCEL), Label: "売上直後の取消",
			Conditions: schematype.RuleConditions{Kinds: []string{"CANCEL"}, QuickCancel: &schematype.WindowCondition{WindowSeconds: 60}}},
		{Name: string(alertrule.KindCANCEL_BURST), Label: "短時間の連続取消",
			Conditions: schematype.RuleConditions{Kinds: []string{"CANCEL"}, Burst: &schematype.WindowCondition{Count: 3, WindowSeconds: 600}}},
		{Name: string(alertrule.KindOUTSIDE_HOURS), Label: "営業時間外の記録",
			Conditions: schematype.RuleConditions{OutsideHours: true}},
		{Name: string(alertrule.KindUNLINKED_TERMINAL), Label: "カメラのない端末の記録",
			Conditions: schematype.RuleConditions{UnlinkedTerminal: true}},
		{Name: string(alertrule.KindFEED_SILENT), Label: "営業時間中に記録が届かない",
			Conditions: schematype.RuleConditions{Silence: &schematype.SilenceCondition{WindowSeconds: 1800}}},
	}
}

// IsPreset reports whether kind is one of the fixed kinds Presets replace.
func IsPreset(kind alertrule.Kind) bool {
	switch kind {
	case alertrule.KindAMOUNT_OVER, alertrule.KindQUICK_CANCEL, alertrule.KindCANCEL_BURST,
		alertrule.KindOUTSIDE_HOURS, alertrule.KindUNLINKED_TERMINAL, alertrule.KindFEED_SILENT:
		return true
	}
	return false
}

// FromRule expresses a rule of a fixed kind with its parameters as
// conditions that fire on exactly the same entries: AMOUNT_OVER's "over
// amount" is amountMin amount+1 (yen are whole), OUTSIDE_HOURS with hours
// on the rule is the clock window from closing to opening, FEED_SILENT's
// hours are the silence's time window (its window 0 still learns). ok is
// false for kinds that are not presets.
func FromRule(r Fixed) (schematype.RuleConditions, bool) {
	var c schematype.RuleConditions
	switch r.Kind {
	case alertrule.KindAMOUNT_OVER:
		c.Kinds = r.EntryKinds
		if len(c.Kinds) == 0 {
			c.Kinds = []string{"CANCEL", "DELETE", "MODIFY"}
		}
		c.AmountMin = ptr(r.Amount + 1)
	case alertrule.KindQUICK_CANCEL:
		c.Kinds = []string{"CANCEL"}
		c.QuickCancel = &schematype.WindowCondition{WindowSeconds: r.WindowSeconds}
	case alertrule.KindCANCEL_BURST:
		c.Kinds = []string{"CANCEL"}
		c.Burst = &schematype.WindowCondition{Count: r.Count, WindowSeconds: r.WindowSeconds}
	case alertrule.KindOUTSIDE_HOURS:
		if r.OpensAt == "" && r.ClosesAt == "" {
			c.OutsideHours = true
		} else {
			c.TimeFrom, c.TimeTo = r.ClosesAt, r.OpensAt
		}
	case alertrule.KindUNLINKED_TERMINAL:
		c.UnlinkedTerminal = true
	case alertrule.KindFEED_SILENT:
		c.Silence = &schematype.SilenceCondition{WindowSeconds: r.WindowSeconds}
		c.TimeFrom, c.TimeTo = r.OpensAt, r.ClosesAt
	default:
		return c, false
	}
	return c, true
}

// Fixed is the parameters a rule of a fixed kind was stored with.
type Fixed struct {
	Kind              alertrule.Kind
	EntryKinds        []string
	Amount            int64
	WindowSeconds     int
	Count             int
	OpensAt, ClosesAt string
}

func ptr[T any](v T) *T { return &v }
