package digest

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqljson"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/digestrule"
	"github.com/regicam/regicam/ent/digestsend"
	"github.com/regicam/regicam/ent/investigation"
	"github.com/regicam/regicam/ent/mailsettings"
	"github.com/regicam/regicam/ent/predicate"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/reports"
	"github.com/regicam/regicam/viewer"
)

// Retry schedule of one mail: the wait after the n-th failed attempt;
// after MaxAttempts the mail is FAILED and stays so.
var backoff = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}

// MaxAttempts is how often one mail is tried before it is given up.
const MaxAttempts = 8

// lease is how long a claimed mail is left to its sender; a sender that
// died mid-send loses the claim after it and another replica retries.
// Longer than any submission (SendTimeout) plus composing.
func (s *Service) lease() time.Duration { return 2*s.cfg.SendTimeout + time.Minute }

// Run looks for due digests every cfg.Every (or when kicked) until ctx
// ends. It acts as viewer.System.
func (s *Service) Run(ctx context.Context) {
	ctx = viewer.System(ctx)
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		s.Pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// Passes counts the scheduler's completed passes (tests wait on it).
func (s *Service) Passes() int64 { return atomic.LoadInt64(&s.passes) }

// Pass queues the digests that came due and sends what is due.
func (s *Service) Pass(ctx context.Context) {
	ctx = viewer.System(ctx)
	now := s.now()
	if err := s.queueDue(ctx, now); err != nil && ctx.Err() == nil {
		s.Log.WarnContext(ctx, "digest: queue due digests", "err", err)
	}
	for ctx.Err() == nil && s.sendDue(ctx) > 0 {
	}
	atomic.AddInt64(&s.passes, 1)
}

// queueDue inserts the rows of every enabled rule's shop whose local time
// has passed send_at today — and yesterday's, when the rule existed at
// yesterday's send time (a server that was down then catches up).
func (s *Service) queueDue(ctx context.Context, now time.Time) error {
	rules, err := s.Client.DigestRule.Query().Where(digestrule.Enabled(true)).All(ctx)
	if err != nil {
		return err
	}
	for _, r := range rules {
		shops, err := s.RuleShops(ctx, r)
		if err != nil {
			return err
		}
		for _, sh := range shops {
			loc := zone(sh)
			local := now.In(loc)
			at, err := time.ParseInLocation("15:04", r.SendAt, loc)
			if err != nil {
				continue
			}
			today := time.Date(local.Year(), local.Month(), local.Day(), at.Hour(), at.Minute(), 0, 0, loc)
			due := today
			if now.Before(today) {
				due = today.AddDate(0, 0, -1)
			}
			if r.CreatedAt.After(due) {
				continue
			}
			if err := s.enqueue(ctx, r, sh.ID, due.Format(time.DateOnly), now); err != nil {
				return err
			}
		}
	}
	return nil
}

// enqueue inserts one PENDING row per recipient for the rule's shop-day.
// The unique key (rule, shop, day, recipient) and ON CONFLICT DO NOTHING
// make it once across replicas and repeated passes.
func (s *Service) enqueue(ctx context.Context, r *ent.DigestRule, shopID pulid.ID, day string, now time.Time) error {
	have, err := s.Client.DigestSend.Query().Where(digestsend.DigestRuleID(r.ID), digestsend.ShopID(shopID),
		digestsend.Day(day)).Select(digestsend.FieldRecipient).Strings(ctx)
	if err != nil {
		return err
	}
	var creates []*ent.DigestSendCreate
	for _, to := range r.Recipients {
		if containsFold(have, to) {
			continue
		}
		creates = append(creates, s.Client.DigestSend.Create().SetAccountID(r.AccountID).SetDigestRuleID(r.ID).
			SetShopID(shopID).SetDay(day).SetRecipient(to).SetNextAt(now).SetCreatedAt(now))
	}
	if len(creates) == 0 {
		return nil
	}
	return s.Client.DigestSend.CreateBulk(creates...).OnConflict(
		sql.ConflictColumns(digestsend.FieldDigestRuleID, digestsend.FieldShopID, digestsend.FieldDay, digestsend.FieldRecipient),
	).Ignore().Exec(ctx)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// sendDue claims up to ten due rows and sends them; it returns how many
// it claimed. A row is due when PENDING and next_at has passed, or
// SENDING with a lapsed claim.
func (s *Service) sendDue(ctx context.Context) int {
	now := s.now()
	dueP := []predicate.DigestSend{digestsend.Or(
		digestsend.And(digestsend.StateEQ(digestsend.StatePENDING), digestsend.NextAtLTE(now)),
		digestsend.And(digestsend.StateEQ(digestsend.StateSENDING), digestsend.ClaimedUntilLT(now)),
	)}
	due, err := s.Client.DigestSend.Query().Where(dueP...).Order(ent.Asc(digestsend.FieldNextAt), ent.Asc(digestsend.FieldID)).
		Limit(100).All(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.WarnContext(ctx, "digest: load due mails", "err", err)
		}
		return 0
	}
	due = fairShare(due, 10, 2)
	claimed := 0
	for _, d := range due {
		n, err := s.Client.DigestSend.Update().Where(append(dueP, digestsend.ID(d.ID))...).
			SetState(digestsend.StateSENDING).SetClaimedBy(s.cfg.Instance).SetClaimedUntil(now.Add(s.lease())).Save(ctx)
		if err != nil || n == 0 {
			continue // another replica took it
		}
		claimed++
		s.deliver(ctx, d)
	}
	return claimed
}

// fairShare keeps up to n of the due rows, oldest first, at most perAccount
// of one account: sends go one at a time and a send to a server that never
// answers takes the whole send timeout, so one account's many recipients
// (or a mail server of theirs that hangs) cannot hold up everyone else's.
func fairShare(due []*ent.DigestSend, n, perAccount int) []*ent.DigestSend {
	out := make([]*ent.DigestSend, 0, n)
	taken := map[pulid.ID]int{}
	for _, d := range due {
		if len(out) == n {
			break
		}
		if taken[d.AccountID] == perAccount {
			continue
		}
		taken[d.AccountID]++
		out = append(out, d)
	}
	return out
}

// failure is a send that did not go, in words for the owner.
type failure struct {
	plain     string
	permanent bool
}

func (s *Service) deliver(ctx context.Context, d *ent.DigestSend) {
	msgID, f := s.attempt(ctx, d)
	now := s.now()
	if f == nil {
		err := s.Client.DigestSend.UpdateOneID(d.ID).Where(digestsend.ClaimedBy(s.cfg.Instance)).
			SetState(digestsend.StateSENT).SetMessageID(msgID).SetSentAt(now).SetAttempts(d.Attempts + 1).
			SetLastError("").SetClaimedBy("").ClearClaimedUntil().ClearNextAt().Exec(ctx)
		if err != nil {
			s.Log.WarnContext(ctx, "digest: record sent mail", "send", d.ID, "err", err)
		}
		s.Log.InfoContext(ctx, "digest sent", "send", d.ID, "rule", d.DigestRuleID, "shop", d.ShopID, "day", d.Day)
		s.ruleOutcome(ctx, d, "")
		return
	}
	attempts := d.Attempts + 1
	u := s.Client.DigestSend.UpdateOneID(d.ID).Where(digestsend.ClaimedBy(s.cfg.Instance)).
		SetAttempts(attempts).SetLastError(clip(f.plain, 1000)).SetClaimedBy("").ClearClaimedUntil()
	if f.permanent || attempts >= MaxAttempts {
		u.SetState(digestsend.StateFAILED).ClearNextAt()
	} else {
		wait := backoff[min(attempts, len(backoff))-1]
		u.SetState(digestsend.StatePENDING).SetNextAt(now.Add(wait))
	}
	if err := u.Exec(ctx); err != nil {
		s.Log.WarnContext(ctx, "digest: record failed mail", "send", d.ID, "err", err)
	}
	s.Log.InfoContext(ctx, "digest not sent", "send", d.ID, "attempt", attempts, "permanent", f.permanent, "reason", f.plain)
	s.ruleOutcome(ctx, d, f.plain)
}

// ruleOutcome keeps the rule's status: ERROR with the reason after a
// failure; OK after a success unless another mail of the same day has
// failed or waits for a retry.
func (s *Service) ruleOutcome(ctx context.Context, d *ent.DigestSend, reason string) {
	u := s.Client.DigestRule.Update().Where(digestrule.ID(d.DigestRuleID))
	if reason != "" {
		u.SetStatus(digestrule.StatusERROR).SetLastError(clip(reason, 1000))
	} else {
		bad, err := s.Client.DigestSend.Query().Where(digestsend.DigestRuleID(d.DigestRuleID), digestsend.Day(d.Day),
			digestsend.Or(digestsend.StateEQ(digestsend.StateFAILED), digestsend.And(digestsend.AttemptsGT(0), digestsend.StateNEQ(digestsend.StateSENT)))).Exist(ctx)
		if err != nil {
			s.Log.WarnContext(ctx, "digest: rule status", "rule", d.DigestRuleID, "err", err)
			return
		}
		u.SetLastSentAt(s.now())
		if !bad {
			u.SetStatus(digestrule.StatusOK).SetLastError("")
		}
	}
	if err := u.Exec(ctx); err != nil {
		s.Log.WarnContext(ctx, "digest: rule status", "rule", d.DigestRuleID, "err", err)
	}
}

// attempt composes and submits one mail; it returns its Message-ID, or
// why it did not go.
func (s *Service) attempt(ctx context.Context, d *ent.DigestSend) (string, *failure) {
	r, err := s.Client.DigestRule.Get(ctx, d.DigestRuleID)
	if ent.IsNotFound(err) {
		return "", &failure{plain: "日次レポートの設定が削除されました。", permanent: true}
	}
	if err != nil {
		return "", &failure{plain: "データベースを読めませんでした。あとで送り直します。"}
	}
	m, err := s.Client.MailSettings.Query().Where(mailsettings.AccountID(d.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return "", &failure{plain: "メールサーバーが設定されていません。メールの設定を保存してください。"}
	}
	if err != nil {
		return "", &failure{plain: "データベースを読めませんでした。あとで送り直します。"}
	}
	srv, err := s.server(m)
	if err != nil {
		s.Log.WarnContext(ctx, "digest: mail password", "settings", m.ID, "err", err)
		return "", &failure{plain: "保存されたメールサーバーのパスワードを読めませんでした。パスワードを入力し直してください。"}
	}
	dg, err := s.gather(ctx, r, d)
	if err != nil {
		s.Log.WarnContext(ctx, "digest: gather", "send", d.ID, "err", err)
		return "", &failure{plain: "レポートの内容を集められませんでした。あとで送り直します。"}
	}
	id := messageID("digest."+string(d.ID), m)
	msg, err := Compose(dg, Envelope{From: fromAddress(m), To: &mail.Address{Address: d.Recipient}, MessageID: id, Date: s.now()})
	if err != nil {
		return "", &failure{plain: "メールを組み立てられませんでした。", permanent: true}
	}
	if err := Send(ctx, srv, m.FromAddress, d.Recipient, msg); err != nil {
		var se *SendError
		if !errors.As(err, &se) {
			return "", &failure{plain: "メールを送れませんでした。あとで送り直します。"}
		}
		// Only a recipient refused for good fails at once: the other
		// recipients' mails go on; any other refusal may be the server's
		// passing state or a setting the owner fixes, so it is retried.
		return "", &failure{plain: fmt.Sprintf("%s宛: %s", d.Recipient, se.Plain()), permanent: se.Permanent && se.Step == StepRcpt}
	}
	return id, nil
}

// gather reads what the mail says about the shop-day.
func (s *Service) gather(ctx context.Context, r *ent.DigestRule, d *ent.DigestSend) (Digest, error) {
	sh, err := s.Client.Shop.Query().Where(shop.ID(d.ShopID), shop.AccountID(d.AccountID)).Only(ctx)
	if err != nil {
		return Digest{}, err
	}
	loc := zone(sh)
	day, err := time.ParseInLocation(time.DateOnly, d.Day, loc)
	if err != nil {
		return Digest{}, err
	}
	from, to := day.UTC(), day.AddDate(0, 0, 1).UTC()
	dg := Digest{ShopName: sh.Name, Day: d.Day, PublicURL: s.cfg.PublicURL}
	// The figures are package reports' own sums, as the dashboard shows them.
	sum, err := s.Reports.Summarize(ctx, viewer.Viewer{AccountID: d.AccountID, Role: viewer.RoleOwner},
		reports.Request{Filter: journal.Filter{ShopIDs: []pulid.ID{sh.ID}}, From: &from, To: &to, GroupBy: reports.ByShop})
	if err != nil {
		return Digest{}, fmt.Errorf("figures: %w", err)
	}
	dg.Figures = Figures{Sales: sum.Total.Sales, Refunds: sum.Total.Refunds, Net: sum.Total.Net(),
		Count: sum.Total.SalesCount + sum.Total.RefundCount}
	alerts, err := s.Client.Alert.Query().Where(alert.AccountID(d.AccountID), alert.ShopID(sh.ID),
		alert.OccurredAtGTE(from), alert.OccurredAtLT(to)).Order(ent.Asc(alert.FieldOccurredAt), ent.Asc(alert.FieldSeq)).
		Limit(maxListed + 1).All(ctx)
	if err != nil {
		return Digest{}, fmt.Errorf("alerts: %w", err)
	}
	if len(alerts) > maxListed {
		n, err := s.Client.Alert.Query().Where(alert.AccountID(d.AccountID), alert.ShopID(sh.ID),
			alert.OccurredAtGTE(from), alert.OccurredAtLT(to)).Count(ctx)
		if err != nil {
			return Digest{}, err
		}
		dg.MoreAlert = n - maxListed
		alerts = alerts[:maxListed]
	}
	images := 0
	for _, a := range alerts {
		item := AlertItem{ID: string(a.ID), At: a.OccurredAt.In(loc), Message: a.Message, StaffName: a.StaffName, Amount: a.Amount}
		if a.EntryID != nil && s.Blobs != nil && images < MaxImages {
			if th, err := s.Client.Thumbnail.Query().Where(thumbnail.EntryID(*a.EntryID)).First(ctx); err == nil &&
				th.Bytes <= MaxImageBytes && th.ContentType == "image/jpeg" {
				if b, err := s.Blobs.Get(ctx, th.StorageKey); err == nil && len(b) <= MaxImageBytes {
					item.Image = b
					images++
				}
			}
		}
		dg.Alerts = append(dg.Alerts, item)
	}
	open := []predicate.Investigation{investigation.AccountID(d.AccountID), investigation.StatusNEQ(investigation.StatusCLOSED),
		func(sel *sql.Selector) { sel.Where(sqljson.ValueContains(investigation.FieldShopIds, string(sh.ID))) }}
	cases, err := s.Client.Investigation.Query().Where(open...).Order(ent.Desc(investigation.FieldUpdatedAt)).
		Limit(maxCases + 1).All(ctx)
	if err != nil {
		return Digest{}, fmt.Errorf("cases: %w", err)
	}
	if len(cases) > maxCases {
		n, err := s.Client.Investigation.Query().Where(open...).Count(ctx)
		if err != nil {
			return Digest{}, err
		}
		dg.MoreCases = n - maxCases
		cases = cases[:maxCases]
	}
	for _, c := range cases {
		dg.Cases = append(dg.Cases, CaseItem{ID: string(c.ID), Title: c.Title, Status: string(c.Status)})
	}
	return dg, nil
}
