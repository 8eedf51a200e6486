package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/regicam/regicam/alerts/builder"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pulid"
)

func (s *Service) silentLoop(ctx context.Context) {
	t := time.NewTicker(s.opt.SilentEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.CheckSilent(ctx); err != nil && ctx.Err() == nil {
			s.Log.WarnContext(ctx, "check silent feeds", "err", err)
		}
	}
}

// CheckSilent raises FEED_SILENT alerts as of s.Now(): a terminal in a
// rule's scope that has had no entry for windowSeconds while its shop is
// open (silence counted from opening time at the earliest, so the quiet
// night never counts). One alert per silence: its key is the terminal and
// when the silence began. Every server may run it; the key keeps one alert.
// The rules are FEED_SILENT ones and builder rules with a silence
// condition (FEED_SILENT migrated to its preset among them): the same
// check, so a migrated rule fires on the same silences with the same keys.
func (s *Service) CheckSilent(ctx context.Context) (int, error) {
	rules, err := s.Client.AlertRule.Query().Where(alertrule.KindIn(alertrule.KindFEED_SILENT, alertrule.KindCUSTOM),
		alertrule.Enabled(true)).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("silent rules: %w", err)
	}
	now := s.Now()
	raised := 0
	for _, r := range rules {
		sp, ok := silenceOf(r)
		if !ok {
			continue
		}
		rs, err := s.enabled(ctx, r.AccountID)
		if err != nil {
			return raised, err
		}
		for _, cr := range rs {
			if cr.ID != r.ID {
				continue
			}
			if p := presetOf(cr.AlertRule); p != "" && cr.Kind == alertrule.KindCUSTOM {
				// A migrated rule's alerts keep the kind they always had.
				row := *cr.AlertRule
				row.Kind = alertrule.Kind(p)
				cr.AlertRule = &row
			}
			n, err := s.checkRule(ctx, cr, sp, now)
			raised += n
			if err != nil {
				return raised, err
			}
		}
	}
	return raised, nil
}

// silence is what the silence check asks of a rule: the quiet that fires
// (0: learned per terminal), the hours it counts in and the builder's shops
// and terminals.
type silence struct {
	window      time.Duration
	hours       builder.SilenceHours
	shops, term []pulid.ID
}

// silenceOf reads a FEED_SILENT rule's parameters or a builder rule's
// silence condition; ok is false for any other rule.
func silenceOf(r *ent.AlertRule) (silence, bool) {
	var sp silence
	switch {
	case r.Kind == alertrule.KindFEED_SILENT:
		o, c, err := hoursOf(&r.OpensAt, &r.ClosesAt)
		if err != nil {
			return sp, false
		}
		sp.window, sp.hours = time.Duration(r.WindowSeconds)*time.Second, builder.SilenceHours{From: o, To: c}
	case r.Kind == alertrule.KindCUSTOM && r.Conditions != nil && r.Conditions.Silence != nil:
		c := r.Conditions
		sp.window = time.Duration(max(c.Silence.WindowSeconds, 0)) * time.Second
		var ok bool
		if sp.hours, ok = builder.SilenceHoursOf(c); !ok {
			return sp, false
		}
		for _, id := range c.ShopIDs {
			sp.shops = append(sp.shops, pulid.ID(id))
		}
		for _, id := range c.TerminalIDs {
			sp.term = append(sp.term, pulid.ID(id))
		}
	default:
		return sp, false
	}
	return sp, true
}

func (s *Service) checkRule(ctx context.Context, r rule, sp silence, now time.Time) (int, error) {
	q := s.Client.Terminal.Query().Where(terminal.AccountID(r.AccountID)).WithShop(func(q *ent.ShopQuery) {
		q.Select(shop.FieldTimezone, shop.FieldBusinessHours)
	})
	if len(r.scope.TerminalIDs) > 0 {
		q = q.Where(terminal.IDIn(r.scope.TerminalIDs...))
	}
	if len(r.scope.ShopIDs) > 0 {
		q = q.Where(terminal.ShopIDIn(r.scope.ShopIDs...))
	}
	if len(sp.term) > 0 {
		q = q.Where(terminal.IDIn(sp.term...))
	}
	if len(sp.shops) > 0 {
		q = q.Where(terminal.ShopIDIn(sp.shops...))
	}
	terms, err := q.All(ctx)
	if err != nil {
		return 0, fmt.Errorf("silent terminals: %w", err)
	}
	raised := 0
	for _, t := range terms {
		loc := zone("")
		var hours schematype.BusinessHours
		if t.Edges.Shop != nil {
			loc = zone(t.Edges.Shop.Timezone)
			hours = t.Edges.Shop.BusinessHours
		}
		opened, ok := sp.hours.OpenedAt(hours, now.In(loc))
		if !ok {
			continue
		}
		window := sp.window
		if window == 0 {
			if window, err = s.usualSilence(ctx, sp, hours, t.ID, now); err != nil {
				return raised, err
			}
			if window == 0 {
				continue // no history yet: nothing is usual
			}
		}
		start := opened
		last, err := s.Client.JournalEntry.Query().Where(journalentry.TerminalID(t.ID), journalentry.OccurredAtLTE(now)).
			Order(ent.Desc(journalentry.FieldOccurredAt)).Select(journalentry.FieldOccurredAt).First(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return raised, fmt.Errorf("last entry: %w", err)
		}
		if last != nil && last.OccurredAt.After(start) {
			start = last.OccurredAt
		}
		if now.Sub(start) < window {
			continue
		}
		// A shop open round the clock counts a silence from a day back at
		// most, and that cap moves with the clock: a register quiet for
		// longer is one silence, named by its last entry (or by none).
		keyAt := start.UnixMicro()
		if start.Equal(opened) && now.Truncate(time.Minute).Sub(opened) >= 24*time.Hour {
			keyAt = 0
			if last != nil {
				keyAt = last.OccurredAt.UnixMicro()
			}
		}
		term, shopID := t.ID, t.ShopID
		h := hit{rule: r, dedupe: fmt.Sprintf("%s|%d", t.ID, keyAt), term: &term, shop: &shopID,
			at:      start.Add(window),
			message: fmt.Sprintf("端末 %s から %s 以降データが届いていません (%d 分以上)", t.Name, start.In(loc).Format("15:04"), int(window.Minutes()))}
		a, err := s.save(ctx, h)
		if err != nil {
			return raised, err
		}
		if a != nil {
			raised++
		}
	}
	return raised, nil
}

// usualSilence is "longer than usual" for a terminal (builder.UsualSilence)
// from its entries over the last seven days; zero without any.
func (s *Service) usualSilence(ctx context.Context, sp silence, hours schematype.BusinessHours, terminalID pulid.ID, now time.Time) (time.Duration, error) {
	n, err := s.Client.JournalEntry.Query().Where(journalentry.TerminalID(terminalID),
		journalentry.OccurredAtGTE(now.Add(-builder.UsualSilenceOf)), journalentry.OccurredAtLT(now)).Count(ctx)
	if err != nil {
		return 0, err
	}
	return builder.UsualSilence(n, sp.hours.WeekMinutes(hours)), nil
}
