package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
)

// REGISTER_CLOCK_OFF: a register whose clock is off true time by more than
// the rule's windowSeconds, by the estimate ingest stores on the terminal
// in the transaction of each entry (ingest/clock.go, regclock). It is
// decided when an entry of the register is committed (Observe, through
// check), so the estimate it reads already includes that entry's sample.
//
// An episode is one alert per rule and register: raised when the estimate
// is over the threshold and no episode of the rule and register is open,
// resolved (resolved_at, the estimate's time) by the first entry whose
// estimate is back at or under it. An unknown estimate (too few samples)
// neither raises nor resolves. Exactly once with several servers, as
// RECEIPTS_NOT_RECORDED (alerts/recording.go): the dedupe key names the
// register and the episode before it.
const (
	// DefaultClockOffSeconds is the threshold when the rule names none:
	// half a minute is well past what upload delay and whole-second times
	// explain, and enough to show the wrong person in a picture.
	DefaultClockOffSeconds = 30
	// MaxClockOffSeconds: the estimator refuses offsets over a day.
	MaxClockOffSeconds = 24 * 3600
)

// registerClockOff decides REGISTER_CLOCK_OFF for one entry (check's case).
// It stores or resolves the episode itself and never returns a hit.
func (s *Service) registerClockOff(ctx context.Context, r rule, e *ent.JournalEntry) (string, bool, error) {
	// A rule made after the entry arrived never saw it live (as the sweep).
	if r.CreatedAt.After(e.ReceivedAt) {
		return "", false, nil
	}
	term, err := s.Client.Terminal.Get(ctx, e.TerminalID)
	if ent.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("register clock: %w", err)
	}
	if term.ClockOffsetMs == nil {
		return "", false, nil
	}
	off := time.Duration(*term.ClockOffsetMs) * time.Millisecond
	at := e.ReceivedAt
	if term.ClockUpdatedAt != nil {
		at = *term.ClockUpdatedAt
	}
	over := off.Abs() > time.Duration(r.WindowSeconds)*time.Second
	last, err := s.Client.Alert.Query().Where(alert.RuleID(r.ID), alert.TerminalID(term.ID)).
		Order(ent.Desc(alert.FieldSeq)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return "", false, fmt.Errorf("last clock episode: %w", err)
	}
	open := last != nil && last.ResolvedAt == nil
	switch {
	case !over && open:
		// Resolving is a change of state, not a new alert: no event.
		err := s.Client.Alert.Update().Where(alert.ID(last.ID), alert.ResolvedAtIsNil()).
			SetResolvedAt(at.UTC()).Exec(ctx)
		return "", false, err
	case !over || open:
		return "", false, nil
	}
	after := "none"
	if last != nil {
		after = string(last.ID)
	}
	termID, shopID := term.ID, term.ShopID
	h := hit{rule: r, dedupe: fmt.Sprintf("clock:%s:after:%s", term.ID, after), entry: e, term: &termID, shop: &shopID,
		camera: e.CameraID, at: at, message: clockMessage(term.Name, off)}
	_, err = s.save(ctx, h)
	return "", false, err
}

// clockMessage is the alert's sentence (the dashboard shows the same
// wording: 「レジの時計が 42 秒進んでいます」).
func clockMessage(name string, off time.Duration) string {
	secs := int64(off.Abs().Round(time.Second) / time.Second)
	way := "進んでいます"
	if off < 0 {
		way = "遅れています"
	}
	if name == "" {
		name = "レジ"
	}
	if secs >= 120 {
		return fmt.Sprintf("%s の時計が %d 分 %d 秒%s", name, secs/60, secs%60, way)
	}
	return fmt.Sprintf("%s の時計が %d 秒%s", name, secs, way)
}
