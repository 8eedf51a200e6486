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
		// Not entry-time rules: FEED_SILENT is the silence checker's (and
		// so is a builder rule with a silence: matcherOf has none for it),
		// NO_PERSON waits for the presence check (EvaluatePresence), and
		// CAMERA_NOT_RECORDING is raised by the camera-cloud sync.
		if !entryTime(r.Kind) || !r.scope.Match(e) {
			continue
		}
		msg, ok, err := s.check(ctx, r, e)
		if err != nil {
			return hits, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		if ok {
			term, shopID := e.TerminalID, e.ShopID
			hr := r
			if p := presetOf(r.AlertRule); p != "" && r.Kind == alertrule.KindCUSTOM {
				// A migrated rule's alerts keep the kind they always had.
				row := *r.AlertRule
				row.Kind = alertrule.Kind(p)
				hr.AlertRule = &row
			}
			hits = append(hits, hit{rule: hr, dedupe: string(e.ID), entry: e, term: &term, shop: &shopID,
				camera: e.CameraID, staff: e.StaffName, amount: e.Total, at: e.OccurredAt, message: msg})
		}
	}
	return hits, nil
}

// entryTime reports whether a rule kind is decided when an entry arrives.
func entryTime(k alertrule.Kind) bool {
	switch k {
	case alertrule.KindFEED_SILENT, alertrule.KindNO_PERSON, alertrule.KindCAMERA_NOT_RECORDING:
		return false
	}
	return true
}

var kindJa = map[journalentry.Kind]string{
	journalentry.KindPAYMENT: "支払い", journalentry.KindCANCEL: "キャンセル", journalentry.KindMODIFY: "修正",
	journalentry.KindDELETE: "削除", journalentry.KindOTHER: "その他",
}

// check decides one entry-based rule. The builder's rules and the fixed
// kinds it has presets for are decided by package alerts/builder (a fixed
// kind through the conditions of its preset); the episode kinds here.
func (s *Service) check(ctx context.Context, r rule, e *ent.JournalEntry) (string, bool, error) {
	if m := matcherOf(r.AlertRule); m != nil {
		return s.decide(ctx, r, m, e)
	}
	switch r.Kind {
	case alertrule.KindRECEIPTS_NOT_RECORDED:
		return s.receiptsNotRecorded(ctx, r, e) // an episode per camera (alerts/recording.go)

	case alertrule.KindREGISTER_CLOCK_OFF:
		return s.registerClockOff(ctx, r, e) // an episode per register (alerts/clock.go)
	}
	return "", false, nil
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

func zone(name string) *time.Location { return builder.LoadZone(name) }

func staffOf(e *ent.JournalEntry) string {
	if e.StaffName != "" {
		return e.StaffName
	}
	if e.StaffID != "" {
		return e.StaffID
	}
	return "担当不明"
}

func abs(v int64) int64 { return builder.Magnitude(v) }
