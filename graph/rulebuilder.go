package graph

import (
	"context"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/pulid"
)

// ruleInput is alertInput with the rule builder's conditions.
func ruleInput(ctx context.Context, input model.AlertRuleInput) (alerts.Input, error) {
	in, err := alertInput(ctx, input)
	if err != nil {
		return in, err
	}
	in.Conditions = conditionsOf(input.Conditions)
	return in, nil
}

// conditionsOf copies the GraphQL input into the stored shape; an absent
// list or flag is no condition.
func conditionsOf(in *model.RuleConditionsInput) *schematype.RuleConditions {
	if in == nil {
		return nil
	}
	c := &schematype.RuleConditions{AmountMin: i64p(in.AmountMin), AmountMax: i64p(in.AmountMax), PaymentMethods: in.PaymentMethods,
		Staff: in.Staff, StaySecondsMin: in.StaySecondsMin, StaySecondsMax: in.StaySecondsMax, Weekdays: in.Weekdays,
		OutsideHours: in.OutsideHours != nil && *in.OutsideHours, UnlinkedTerminal: in.UnlinkedTerminal != nil && *in.UnlinkedTerminal}
	for _, k := range in.Kinds {
		c.Kinds = append(c.Kinds, string(k))
	}
	for _, id := range in.ShopIDs {
		c.ShopIDs = append(c.ShopIDs, string(id))
	}
	for _, id := range in.TerminalIDs {
		c.TerminalIDs = append(c.TerminalIDs, string(id))
	}
	if in.TimeFrom != nil {
		c.TimeFrom = *in.TimeFrom
	}
	if in.TimeTo != nil {
		c.TimeTo = *in.TimeTo
	}
	if it := in.Item; it != nil {
		c.Item = &schematype.ItemCondition{QuantityMin: it.QuantityMin, QuantityMax: it.QuantityMax,
			LineAmountMin: i64p(it.LineAmountMin), LineAmountMax: i64p(it.LineAmountMax)}
		if it.NameContains != nil {
			c.Item.NameContains = *it.NameContains
		}
	}
	window := func(w *model.WindowConditionInput) *schematype.WindowCondition {
		if w == nil {
			return nil
		}
		out := &schematype.WindowCondition{WindowSeconds: w.WindowSeconds}
		if w.Count != nil {
			out.Count = *w.Count
		}
		return out
	}
	c.Burst, c.QuickCancel = window(in.Burst), window(in.QuickCancel)
	if in.Silence != nil {
		c.Silence = &schematype.SilenceCondition{}
		if w := in.Silence.WindowSeconds; w != nil {
			if *w == 0 {
				// 0 is the stored "learn it": a typed 0 is refused, not learned.
				c.Silence.WindowSeconds = -1
			} else {
				c.Silence.WindowSeconds = *w
			}
		}
	}
	return c
}

func i64p(p *int) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

func idsOf(ss []string) []pulid.ID {
	out := make([]pulid.ID, len(ss))
	for i, s := range ss {
		out[i] = pulid.ID(s)
	}
	return out
}
