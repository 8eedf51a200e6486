package alerts

import (
	"context"
	"strconv"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/cardmatch"
	"github.com/regicam/regicam/pulid"
)

// DefaultCardMismatchWindow is how long a card or register entry waits for
// its counterpart when the rule says nothing (windowSeconds 0).
const DefaultCardMismatchWindow = 600 * time.Second

// CardMismatchWindow is how long account's card matches wait for their
// counterpart (package cardmatch decides them): the longest window of its
// enabled CARD_MISMATCH rules, so no rule sees a decision before its own
// window has passed; DefaultCardMismatchWindow without a rule.
func (s *Service) CardMismatchWindow(ctx context.Context, account pulid.ID) (time.Duration, error) {
	rules, err := s.enabled(ctx, account)
	if err != nil {
		return 0, err
	}
	var w time.Duration
	for _, r := range rules {
		if r.Kind != alertrule.KindCARD_MISMATCH {
			continue
		}
		d := time.Duration(r.WindowSeconds) * time.Second
		if d <= 0 {
			d = DefaultCardMismatchWindow
		}
		w = max(w, d)
	}
	if w == 0 {
		w = DefaultCardMismatchWindow
	}
	return w, nil
}

// CardMismatch raises the CARD_MISMATCH alert of an unmatched refund or
// cancel e (its match m) for every enabled rule whose scope takes e. The
// dedupe key is the entry, so every replica may call it: one alert per
// rule and entry.
func (s *Service) CardMismatch(ctx context.Context, m *ent.CardMatch, e *ent.JournalEntry) error {
	rules, err := s.enabled(ctx, e.AccountID)
	if err != nil {
		return err
	}
	msg := "レジの取消（カード払い ¥" + yen(abs(e.Total)) + "）に対応するカード端末の返金がありません"
	if m.Side == cardmatch.SideCARD {
		msg = "カード端末の返金 ¥" + yen(abs(e.Total)) + " に対応するレジの取消がありません"
	}
	for _, r := range rules {
		if r.Kind != alertrule.KindCARD_MISMATCH || !r.scope.Match(e) {
			continue
		}
		term, shopID := e.TerminalID, e.ShopID
		h := hit{rule: r, dedupe: "card|" + string(e.ID), entry: e, term: &term, shop: &shopID,
			camera: e.CameraID, staff: e.StaffName, amount: e.Total, at: e.OccurredAt, message: msg}
		if _, err := s.save(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// yen writes n with thousands separators (3500 → 3,500).
func yen(n int64) string {
	s := strconv.FormatInt(n, 10)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
