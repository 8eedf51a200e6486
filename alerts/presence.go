package alerts

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Bounds of the NO_PERSON window (how far before and after an entry people
// are looked for). The default is also what the receipt card's count
// covers when no rule asks for more.
const (
	DefaultPresenceWindow = 30 * time.Second
	MaxPresenceWindow     = 300 * time.Second
)

// PresenceWindow is how far around an entry of account the presence
// checker must look for people so that every enabled NO_PERSON rule can be
// decided: the widest rule window, at least DefaultPresenceWindow, at most
// MaxPresenceWindow.
func (s *Service) PresenceWindow(ctx context.Context, account pulid.ID) (time.Duration, error) {
	rules, err := s.enabled(viewer.System(ctx), account)
	if err != nil {
		return 0, err
	}
	w := DefaultPresenceWindow
	for _, r := range rules {
		if r.Kind == alertrule.KindNO_PERSON {
			w = max(w, ruleWindow(r))
		}
	}
	return min(w, MaxPresenceWindow), nil
}

func ruleWindow(r rule) time.Duration {
	if r.WindowSeconds <= 0 {
		return DefaultPresenceWindow
	}
	return time.Duration(r.WindowSeconds) * time.Second
}

// EvaluatePresence decides the NO_PERSON rules of an entry once its camera
// was checked for people: persons are the times of the person events the
// checker found within ±window of the entry's occurred_at.
//
// The times, not a count, are passed so each rule counts within its own
// window_seconds: a rule of ±10 s next to one of ±60 s is decided on its
// own ten seconds, not on whatever count the widest window gave (the
// stored persons_nearby is the count for the checker's window, which is
// PresenceWindow). Edges are inclusive — a person exactly window_seconds
// before or after still counts, so the rule stays silent. A rule wider
// than the window looked at (it was widened between the look and now) is
// left undecided: someone may have stood just outside what was looked at.
//
// One alert per rule and entry (the entry id is the dedupe key), so a
// retry or a second replica evaluating the same entry raises nothing new.
// Errors are returned, not logged away: the checker keeps the entry
// unchecked and tries again, so no rule is skipped silently.
func (s *Service) EvaluatePresence(ctx context.Context, entryID pulid.ID, window time.Duration, persons []time.Time) error {
	ctx = viewer.System(ctx)
	e, err := s.Client.JournalEntry.Get(ctx, entryID)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("presence entry %s: %w", entryID, err)
	}
	rules, err := s.enabled(ctx, e.AccountID)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if r.Kind != alertrule.KindNO_PERSON || !slices.Contains(r.EntryKinds, string(e.Kind)) || !r.scope.Match(e) {
			continue
		}
		w := ruleWindow(r)
		if w > window {
			s.Log.WarnContext(ctx, "NO_PERSON rule wider than the presence window looked at; not decided for this entry",
				"rule", r.ID, "entry", e.ID, "rule_window", w, "looked", window)
			continue
		}
		if slices.ContainsFunc(persons, func(t time.Time) bool {
			d := t.Sub(e.OccurredAt)
			return d >= -w && d <= w
		}) {
			continue
		}
		term, shopID := e.TerminalID, e.ShopID
		h := hit{rule: r, dedupe: string(e.ID), entry: e, term: &term, shop: &shopID, camera: e.CameraID,
			staff: e.StaffName, amount: e.Total, at: e.OccurredAt,
			message: fmt.Sprintf("人が検知されていない%s ¥%d (%s, 前後 %d 秒に人の検知なし)", kindJa[e.Kind], abs(e.Total), staffOf(e), int(w/time.Second))}
		if _, err := s.save(ctx, h); err != nil {
			return fmt.Errorf("rule %s: %w", r.ID, err)
		}
	}
	return nil
}
