package graph

import (
	"context"
	"strings"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/reports"
)

func optional[T any](v *T, err error) (*T, error) {
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return v, err
}
func alertInput(ctx context.Context, in model.AlertRuleInput) (alerts.Input, error) {
	out := alerts.Input{Name: in.Name, Kind: alertrule.Kind(in.Kind), Enabled: in.Enabled, EntryKinds: in.EntryKinds,
		WindowSeconds: in.WindowSeconds, Count: in.Count, OpensAt: in.OpensAt, ClosesAt: in.ClosesAt, WebhookURL: in.WebhookURL}
	if in.Amount != nil {
		v := int64(*in.Amount)
		out.Amount = &v
	}
	if in.Scope != nil {
		acct, err := accountOf(ctx)
		if err != nil {
			return out, err
		}
		f, err := filterOf(acct, in.Scope)
		if err != nil {
			return out, withPrefixFrom(err, "where", "input.scope")
		}
		out.Scope = &f
	}
	return out, nil
}
func rulePayload(rule *ent.AlertRule, secret string, err error) (*model.AlertRulePayload, error) {
	if err != nil {
		return nil, err
	}
	p := &model.AlertRulePayload{Rule: rule}
	if secret != "" {
		p.WebhookSecret = &secret
	}
	return p, nil
}

// withPrefixFrom renames the field of a filter error ("where.staff") to
// where the filter sits in this input ("input.scope.staff").
func withPrefixFrom(err error, from, to string) error {
	e, ok := apperr.As(err)
	if !ok {
		return err
	}
	c := *e
	if rest, found := strings.CutPrefix(c.Field, from); found {
		c.Field = to + rest
	}
	return &c
}

func summaryRow(r reports.Row) *model.SalesSummaryRow {
	return &model.SalesSummaryRow{Key: r.Key, Label: r.Label, Start: r.Start, Sales: int(r.Sales), Refunds: int(r.Refunds),
		Net: int(r.Net()), SalesCount: int(r.SalesCount), RefundCount: int(r.RefundCount),
		ModifyCount: int(r.ModifyCount), DeleteCount: int(r.DeleteCount)}
}
