package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
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
func (s *Service) CheckSilent(ctx context.Context) (int, error) {
	rules, err := s.Client.AlertRule.Query().Where(alertrule.KindEQ(alertrule.KindFEED_SILENT), alertrule.Enabled(true)).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("silent rules: %w", err)
	}
	now := s.Now()
	raised := 0
	for _, r := range rules {
		rs, err := s.enabled(ctx, r.AccountID)
		if err != nil {
			return raised, err
		}
		for _, cr := range rs {
			if cr.ID != r.ID {
				continue
			}
			n, err := s.checkRule(ctx, cr, now)
			raised += n
			if err != nil {
				return raised, err
			}
		}
	}
	return raised, nil
}

func (s *Service) checkRule(ctx context.Context, r rule, now time.Time) (int, error) {
	q := s.Client.Terminal.Query().Where(terminal.AccountID(r.AccountID)).WithShop(func(q *ent.ShopQuery) {
		q.Select(shop.FieldTimezone)
	})
	if len(r.scope.TerminalIDs) > 0 {
		q = q.Where(terminal.IDIn(r.scope.TerminalIDs...))
	}
	if len(r.scope.ShopIDs) > 0 {
		q = q.Where(terminal.ShopIDIn(r.scope.ShopIDs...))
	}
	terms, err := q.All(ctx)
	if err != nil {
		return 0, fmt.Errorf("silent terminals: %w", err)
	}
	raised := 0
	for _, t := range terms {
		loc := zone("")
		if t.Edges.Shop != nil {
			loc = zone(t.Edges.Shop.Timezone)
		}
		opened, ok := openedAt(r, now.In(loc))
		if !ok {
			continue
		}
		window := time.Duration(r.WindowSeconds) * time.Second
		if window == 0 {
			if window, err = s.usualSilence(ctx, r, t.ID, now); err != nil {
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
		term, shopID := t.ID, t.ShopID
		h := hit{rule: r, dedupe: fmt.Sprintf("%s|%d", t.ID, start.UnixMicro()), term: &term, shop: &shopID,
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

// openedAt returns when the current business period began, if the shop is
// open at local time t.
func openedAt(r rule, t time.Time) (time.Time, bool) {
	open, err := openAt(r, t)
	if err != nil || !open {
		return time.Time{}, false
	}
	o, _, _ := hoursOf(&r.OpensAt, &r.ClosesAt)
	start := time.Date(t.Year(), t.Month(), t.Day(), o/60, o%60, 0, 0, t.Location())
	if start.After(t) { // hours spanning midnight, after midnight
		start = start.AddDate(0, 0, -1)
	}
	return start, true
}

// Bounds of a learned silence threshold.
const (
	minUsual = 10 * time.Minute
	maxUsual = 4 * time.Hour
)

// usualSilence is "longer than usual" for a terminal: three times its mean
// gap between entries during business hours over the last seven days,
// kept within [10 min, 4 h]; zero without any entry in those days.
func (s *Service) usualSilence(ctx context.Context, r rule, terminalID pulid.ID, now time.Time) (time.Duration, error) {
	n, err := s.Client.JournalEntry.Query().Where(journalentry.TerminalID(terminalID),
		journalentry.OccurredAtGTE(now.AddDate(0, 0, -7)), journalentry.OccurredAtLT(now)).Count(ctx)
	if err != nil || n == 0 {
		return 0, err
	}
	o, c, err := hoursOf(&r.OpensAt, &r.ClosesAt)
	if err != nil {
		return 0, err
	}
	open := c - o
	if open <= 0 {
		open += 24 * 60
	}
	gap := time.Duration(open) * time.Minute * 7 / time.Duration(n)
	return min(max(3*gap, minUsual), maxUsual), nil
}
