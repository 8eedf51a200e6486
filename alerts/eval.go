package alerts

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/predicate"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/ent/shop"
	shophours "github.com/regicam/regicam/shop"
	"github.com/regicam/regicam/viewer"
)

// Observe evaluates the account's rules on a committed entry and stores
// the alerts it raises. It runs as the system (rules are the account's own
// configuration, not the caller's request) and reports failures only to
// the log: an alert problem must never fail an ingest.
func (s *Service) Observe(ctx context.Context, e *ent.JournalEntry) {
	if s == nil || e == nil {
		return
	}
	ctx = viewer.System(context.WithoutCancel(ctx))
	hits, err := s.Evaluate(ctx, e)
	ok := err == nil
	if err != nil {
		s.Log.ErrorContext(ctx, "evaluate alert rules", "entry", e.ID, "err", err)
	}
	for _, h := range hits {
		if _, err := s.save(ctx, h); err != nil {
			ok = false
			s.Log.ErrorContext(ctx, "store alert", "entry", e.ID, "rule", h.rule.ID, "err", err)
		}
	}
	// The sweep may skip this entry now; on any failure it retries it.
	if ok && s.hasRules(e.AccountID) {
		s.observed.add(e.ID)
	}
}

// Evaluate returns the hits of e without storing them.
func (s *Service) Evaluate(ctx context.Context, e *ent.JournalEntry) ([]hit, error) {
	rules, err := s.enabled(ctx, e.AccountID)
	if err != nil || len(rules) == 0 {
		return nil, err
	}
	var hits []hit
	for _, r := range rules {
		if r.Kind == alertrule.KindFEED_SILENT || !r.scope.Match(e) {
			continue
		}
		msg, ok, err := s.check(ctx, r, e)
		if err != nil {
			return hits, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		if ok {
			term, shopID := e.TerminalID, e.ShopID
			hits = append(hits, hit{rule: r, dedupe: string(e.ID), entry: e, term: &term, shop: &shopID,
				camera: e.CameraID, staff: e.StaffName, amount: e.Total, at: e.OccurredAt, message: msg})
		}
	}
	return hits, nil
}

var kindJa = map[journalentry.Kind]string{
	journalentry.KindPAYMENT: "支払い", journalentry.KindCANCEL: "キャンセル", journalentry.KindMODIFY: "修正",
	journalentry.KindDELETE: "削除", journalentry.KindOTHER: "その他",
}

// check decides one entry-based rule. Edges are inclusive where the owner
// names a limit ("within 60 s" fires at 60 s) and exclusive where the owner
// names a threshold ("over ¥10,000" does not fire at ¥10,000).
func (s *Service) check(ctx context.Context, r rule, e *ent.JournalEntry) (string, bool, error) {
	switch r.Kind {
	case alertrule.KindAMOUNT_OVER:
		if !slices.Contains(r.EntryKinds, string(e.Kind)) || abs(e.Total) <= r.Amount {
			return "", false, nil
		}
		return fmt.Sprintf("%s ¥%d が ¥%d を超えています (%s)", kindJa[e.Kind], abs(e.Total), r.Amount, staffOf(e)), true, nil

	case alertrule.KindQUICK_CANCEL:
		if e.Kind != journalentry.KindCANCEL || e.RelatedID == nil {
			return "", false, nil
		}
		sale, err := s.Client.JournalEntry.Get(ctx, *e.RelatedID)
		if ent.IsNotFound(err) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		gap := e.OccurredAt.Sub(sale.OccurredAt)
		if !sameStaff(sale, e) || gap < 0 || gap > time.Duration(r.WindowSeconds)*time.Second {
			return "", false, nil
		}
		return fmt.Sprintf("売上から %d 秒後に同じ担当者 (%s) がキャンセルしました", int(gap.Seconds()), staffOf(e)), true, nil

	case alertrule.KindCANCEL_BURST:
		if e.Kind != journalentry.KindCANCEL || e.StaffID == "" && e.StaffName == "" {
			return "", false, nil
		}
		since := e.OccurredAt.Add(-time.Duration(r.WindowSeconds) * time.Second)
		q := s.Client.JournalEntry.Query().Where(journalentry.AccountID(e.AccountID), journalentry.KindEQ(journalentry.KindCANCEL),
			journalentry.OccurredAtGT(since), journalentry.OccurredAtLTE(e.OccurredAt), staffIs(e))
		q = q.Where(r.scope.Predicates()...)
		n, err := q.Count(ctx)
		if err != nil || n < r.Count {
			return "", false, err
		}
		// One alert per burst: later cancels inside the same window add nothing.
		dup, err := s.Client.Alert.Query().Where(alert.RuleID(r.ID), alert.StaffName(e.StaffName),
			alert.OccurredAtGT(since), alert.OccurredAtLTE(e.OccurredAt)).Exist(ctx)
		if err != nil || dup {
			return "", false, err
		}
		return fmt.Sprintf("%s が %d 秒以内に %d 回キャンセルしました", staffOf(e), r.WindowSeconds, n), true, nil

	case alertrule.KindOUTSIDE_HOURS:
		z, err := s.shopZone(ctx, e)
		if err != nil {
			return "", false, err
		}
		loc := z.loc
		if r.OpensAt == "" && r.ClosesAt == "" {
			// No hours on the rule: the shop's own, per weekday (a shop
			// whose hours are not set is always open).
			if shophours.OpenAt(z.hours, loc, e.OccurredAt) {
				return "", false, nil
			}
			return fmt.Sprintf("店舗の営業時間外 (%s) の%s: %s", shophours.FormatHours(z.hours), kindJa[e.Kind], e.OccurredAt.In(loc).Format("01/02 15:04:05")), true, nil
		}
		open, err := openAt(r, e.OccurredAt.In(loc))
		if err != nil || open {
			return "", false, err
		}
		return fmt.Sprintf("営業時間外 (%s–%s) の%s: %s", r.OpensAt, r.ClosesAt, kindJa[e.Kind], e.OccurredAt.In(loc).Format("01/02 15:04:05")), true, nil

	case alertrule.KindUNLINKED_TERMINAL:
		if e.CameraID != nil {
			return "", false, nil
		}
		return fmt.Sprintf("カメラに紐付いていない端末の%s (レジNo. %s)", kindJa[e.Kind], e.RegisterNo), true, nil
	}
	return "", false, nil
}

// openAt reports whether local time t is inside the rule's business hours
// [opensAt, closesAt); closing before opening spans midnight.
func openAt(r rule, t time.Time) (bool, error) {
	o, c, err := hoursOf(&r.OpensAt, &r.ClosesAt)
	if err != nil {
		return false, err
	}
	m := t.Hour()*60 + t.Minute()
	if o < c {
		return m >= o && m < c, nil
	}
	return m >= o || m < c, nil
}

// shopZone is the shop's timezone and business hours, cached like the
// rules: they practically never change, and a query per entry would
// double the cost of the OUTSIDE_HOURS rule.
func (s *Service) shopZone(ctx context.Context, e *ent.JournalEntry) (cachedZone, error) {
	if z, ok := s.zones.Load(e.ShopID); ok && time.Since(z.(cachedZone).at) < s.opt.RuleTTL {
		return z.(cachedZone), nil
	}
	sh, err := s.Client.Shop.Query().Where(shop.ID(e.ShopID)).Select(shop.FieldTimezone, shop.FieldBusinessHours).Only(ctx)
	if err != nil {
		return cachedZone{}, fmt.Errorf("shop timezone: %w", err)
	}
	z := cachedZone{loc: zone(sh.Timezone), hours: sh.BusinessHours, at: time.Now()}
	s.zones.Store(e.ShopID, z)
	return z, nil
}

type cachedZone struct {
	loc   *time.Location
	hours schematype.BusinessHours
	at    time.Time
}

func zone(name string) *time.Location {
	if loc, err := time.LoadLocation(name); err == nil && name != "" {
		return loc
	}
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return time.FixedZone("JST", 9*3600)
	}
	return loc
}

func sameStaff(a, b *ent.JournalEntry) bool {
	if a.StaffID != "" && b.StaffID != "" {
		return a.StaffID == b.StaffID
	}
	return a.StaffName != "" && a.StaffName == b.StaffName
}

func staffIs(e *ent.JournalEntry) predicate.JournalEntry {
	if e.StaffID != "" {
		return journalentry.StaffID(e.StaffID)
	}
	return journalentry.StaffName(e.StaffName)
}

func staffOf(e *ent.JournalEntry) string {
	if e.StaffName != "" {
		return e.StaffName
	}
	if e.StaffID != "" {
		return e.StaffID
	}
	return "担当不明"
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
