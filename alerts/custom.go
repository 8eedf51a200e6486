package alerts

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/regicam/regicam/alerts/builder"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	shophours "github.com/regicam/regicam/shop"
)

// compiled is a rule's matcher, kept while the cached rule row is the same
// (the rule cache reloads rows every RuleTTL; a new row is compiled again).
type compiled struct {
	src *ent.AlertRule
	m   *builder.Matcher
}

var matchers sync.Map // rule id → compiled

// ConditionsOf is what a rule is decided by: a CUSTOM rule's conditions,
// and for a rule of a fixed kind the conditions of its preset. ok is false
// for the kinds that are not conditions on an entry.
func ConditionsOf(r *ent.AlertRule) (schematype.RuleConditions, bool) {
	if r.Kind == alertrule.KindCUSTOM {
		if r.Conditions == nil {
			return schematype.RuleConditions{}, false
		}
		return *r.Conditions, true
	}
	return builder.FromRule(fixedOf(r))
}

func fixedOf(r *ent.AlertRule) builder.Fixed {
	return builder.Fixed{Kind: r.Kind, EntryKinds: r.EntryKinds, Amount: r.Amount, WindowSeconds: r.WindowSeconds,
		Count: r.Count, OpensAt: r.OpensAt, ClosesAt: r.ClosesAt}
}

func matcherOf(r *ent.AlertRule) *builder.Matcher {
	if c, ok := matchers.Load(r.ID); ok && c.(compiled).src == r {
		return c.(compiled).m
	}
	c, ok := ConditionsOf(r)
	if !ok || c.Silence != nil {
		return nil // a silence has no entry to decide: CheckSilent's
	}
	m := builder.Compile(c)
	matchers.Store(r.ID, compiled{src: r, m: m})
	return m
}

// presetOf is the fixed kind a rule behaves as, or "": its alerts carry
// that kind, so a migrated rule's alerts read as they did before.
func presetOf(r *ent.AlertRule) string {
	if r.Preset != "" {
		return r.Preset
	}
	if builder.IsPreset(r.Kind) {
		return string(r.Kind)
	}
	return ""
}

func (s *Service) zoneOf(ctx context.Context, e *ent.JournalEntry) (builder.Zone, error) {
	z, err := s.shopZone(ctx, e)
	return builder.Zone{Loc: z.loc, Hours: z.hours}, err
}

// decide runs a builder rule on e: the conditions on e itself, then its
// window rule, if any, against the stored entries.
func (s *Service) decide(ctx context.Context, r rule, m *builder.Matcher, e *ent.JournalEntry) (string, bool, error) {
	var z builder.Zone
	if m.NeedsZone() {
		var err error
		if z, err = s.zoneOf(ctx, e); err != nil {
			return "", false, err
		}
	}
	if !m.Entry(e, z) {
		return "", false, nil
	}
	c := &m.C
	switch {
	case c.QuickCancel != nil:
		if e.RelatedID == nil {
			return "", false, nil
		}
		sale, err := s.Client.JournalEntry.Get(ctx, *e.RelatedID)
		if ent.IsNotFound(err) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		gap, ok := m.QuickGap(e, sale)
		if !ok {
			return "", false, nil
		}
		return fmt.Sprintf("売上から %d 秒後に同じ担当者 (%s) がキャンセルしました", int(gap.Seconds()), staffOf(e)), true, nil

	case c.Burst != nil:
		if e.StaffID == "" && e.StaffName == "" {
			return "", false, nil
		}
		since := e.OccurredAt.Add(-time.Duration(c.Burst.WindowSeconds) * time.Second)
		n, err := s.burstCount(ctx, r, m, e, since)
		if err != nil || n < c.Burst.Count {
			return "", false, err
		}
		// One alert per burst: later entries inside the same window add nothing.
		dup, err := s.Client.Alert.Query().Where(alert.RuleID(r.ID), alert.StaffName(e.StaffName),
			alert.OccurredAtGT(since), alert.OccurredAtLTE(e.OccurredAt)).Exist(ctx)
		if err != nil || dup {
			return "", false, err
		}
		if slices.Equal(c.Kinds, []string{"CANCEL"}) {
			return fmt.Sprintf("%s が %d 秒以内に %d 回キャンセルしました", staffOf(e), c.Burst.WindowSeconds, n), true, nil
		}
		return fmt.Sprintf("%s が %d 秒以内に条件に合う記録を %d 件残しました", staffOf(e), c.Burst.WindowSeconds, n), true, nil
	}
	return message(r.AlertRule, m, e, z), true, nil
}

// maxBurstRows bounds the rows read to count a window whose conditions the
// database cannot decide alone; past it the count is at least this.
const maxBurstRows = 5000

// burstCount counts the entries of e's staff in (since, e] that meet the
// rule's conditions (and scope), e included.
func (s *Service) burstCount(ctx context.Context, r rule, m *builder.Matcher, e *ent.JournalEntry, since time.Time) (int, error) {
	q := s.Client.JournalEntry.Query().Where(journalentry.AccountID(e.AccountID), journalentry.OccurredAtGT(since),
		journalentry.OccurredAtLTE(e.OccurredAt), builder.StaffIs(e)).Where(m.Predicates()...).Where(r.scope.Predicates()...)
	if m.OnlySQL() {
		return q.Count(ctx)
	}
	rows, err := q.Limit(maxBurstRows).All(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range rows {
		var z builder.Zone
		if m.NeedsZone() {
			if z, err = s.zoneOf(ctx, o); err != nil {
				return 0, err
			}
		}
		if m.Entry(o, z) {
			n++
		}
	}
	return n, nil
}

// message says why a rule fired, in the words its preset always used.
func message(r *ent.AlertRule, m *builder.Matcher, e *ent.JournalEntry, z builder.Zone) string {
	c := &m.C
	loc := z.Loc
	if loc == nil {
		loc = time.UTC
	}
	when := e.OccurredAt.In(loc).Format("01/02 15:04:05")
	switch presetOf(r) {
	case string(alertrule.KindAMOUNT_OVER):
		if c.AmountMin != nil {
			return fmt.Sprintf("%s ¥%d が ¥%d を超えています (%s)", kindJa[e.Kind], abs(e.Total), *c.AmountMin-1, staffOf(e))
		}
	case string(alertrule.KindOUTSIDE_HOURS):
		if c.OutsideHours {
			return fmt.Sprintf("店舗の営業時間外 (%s) の%s: %s", shophours.FormatHours(z.Hours), kindJa[e.Kind], when)
		}
		if c.TimeFrom != "" {
			return fmt.Sprintf("営業時間外 (%s–%s) の%s: %s", c.TimeTo, c.TimeFrom, kindJa[e.Kind], when)
		}
	case string(alertrule.KindUNLINKED_TERMINAL):
		return fmt.Sprintf("カメラに紐付いていない端末の%s (レジNo. %s)", kindJa[e.Kind], e.RegisterNo)
	}
	return fmt.Sprintf("「%s」の条件に合う%s ¥%d (%s, レジNo. %s): %s", r.Name, kindJa[e.Kind], abs(e.Total), staffOf(e), e.RegisterNo, when)
}
