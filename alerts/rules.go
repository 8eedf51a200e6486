// Package alerts raises exception alerts: per-account rules evaluated on
// every ingested journal entry (and, for silent feeds, by a periodic
// checker), stored as Alert rows with an ALERT outbox event each (so
// feed.Hub streams them to subscribers across server processes the way it
// streams journal events; docs/ARCHITECTURE.md) and optionally POSTed,
// signed, to a webhook with retries from a persisted queue. Nothing here
// ever fails or slows an ingest beyond the evaluation queries: delivery
// runs in the background.
package alerts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/regicam/regicam/alerts/builder"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/schematype"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// Input is a rule as the owner enters it.
type Input struct {
	Name          string
	Kind          alertrule.Kind
	Enabled       *bool
	Scope         *journal.Filter // nil: every entry of the account
	EntryKinds    []journalentry.Kind
	Amount        *int64
	WindowSeconds *int
	Count         *int
	OpensAt       *string
	ClosesAt      *string
	WebhookURL    *string
	// Conditions of a CUSTOM rule (package alerts/builder).
	Conditions *schematype.RuleConditions
}

// Limits of rule parameters.
const (
	MaxWindow = 7 * 24 * 3600
	MaxCount  = 1000
)

var changeKinds = []journalentry.Kind{journalentry.KindCANCEL, journalentry.KindDELETE, journalentry.KindMODIFY}

// validate checks in against its kind; errors name the field under "input".
func (s *Service) validate(ctx context.Context, account pulid.ID, in *Input) error {
	if in.Name == "" || len([]rune(in.Name)) > 200 {
		return apperr.Invalid("input.name", "ルール名を 1〜200 文字で入力してください (name is required, at most 200 characters)").Because(apperr.LENGTH_OUT_OF_RANGE)
	}
	if alertrule.KindValidator(in.Kind) != nil {
		return apperr.Invalid("input.kind", "ルールの種類 %q は使えません (unknown kind)", in.Kind).Because(apperr.INVALID_CHOICE)
	}
	positive := func(field string, v *int, max int, what string) error {
		if v == nil || *v <= 0 {
			return apperr.Invalid("input."+field, "%sは 1 以上で指定してください (%s must be at least 1)", what, field).Because(apperr.VALUE_OUT_OF_RANGE)
		}
		if *v > max {
			return apperr.Invalid("input."+field, "%sは %d 以下で指定してください (%s must be at most %d)", what, max, field, max).Because(apperr.VALUE_OUT_OF_RANGE)
		}
		return nil
	}
	if in.Conditions != nil && in.Kind != alertrule.KindCUSTOM {
		return apperr.Invalid("input.conditions", "条件を指定できるのは種類が「条件を組み合わせる」のルールだけです").Because(apperr.INVALID_CHOICE)
	}
	switch in.Kind {
	case alertrule.KindCUSTOM:
		if in.Conditions == nil {
			return apperr.Invalid("input.conditions", "条件を 1 つ以上指定してください").Because(apperr.REQUIRED)
		}
		if err := builder.Validate(ctx, s.Client, account, in.Conditions, "input.conditions"); err != nil {
			return err
		}
	case alertrule.KindCARD_MISMATCH:
		// Only the wait for the counterpart; cardmatch decides the pairs.
		if in.WindowSeconds == nil {
			in.WindowSeconds = ptrTo(int(DefaultCardMismatchWindow / time.Second))
		}
		if *in.WindowSeconds < 60 || *in.WindowSeconds > 86400 {
			return apperr.Invalid("input.windowSeconds", "照合を待つ秒数は 60〜86400 秒で指定してください").Because(apperr.VALUE_OUT_OF_RANGE)
		}
		for _, extra := range []struct {
			field string
			set   bool
		}{{"amount", in.Amount != nil}, {"count", in.Count != nil}, {"entryKinds", len(in.EntryKinds) > 0},
			{"opensAt", deref(in.OpensAt) != ""}, {"closesAt", deref(in.ClosesAt) != ""}} {
			if extra.set {
				return apperr.Invalid("input."+extra.field, "カードとレジの照合ルールに指定できるのは照合を待つ秒数だけです").Because(apperr.INVALID_CHOICE)
			}
		}
	case alertrule.KindAMOUNT_OVER:
		if in.Amount == nil || *in.Amount < 0 {
			return apperr.Invalid("input.amount", "金額は 0 円以上で指定してください (amount must be 0 or more)").Because(apperr.VALUE_OUT_OF_RANGE)
		}
		for _, k := range in.EntryKinds {
			if !slices.Contains(changeKinds, k) {
				return apperr.Invalid("input.entryKinds", "対象にできるのはキャンセル・削除・修正だけです (only CANCEL, DELETE, MODIFY)").Because(apperr.INVALID_CHOICE)
			}
		}
	case alertrule.KindNO_PERSON:
		if in.WindowSeconds == nil {
			in.WindowSeconds = ptrTo(int(DefaultPresenceWindow / time.Second))
		}
		if err := positive("windowSeconds", in.WindowSeconds, int(MaxPresenceWindow/time.Second), "人の検知を探す前後の秒数"); err != nil {
			return err
		}
		if len(in.EntryKinds) == 0 {
			in.EntryKinds = []journalentry.Kind{journalentry.KindCANCEL}
		}
		for _, k := range in.EntryKinds {
			if !slices.Contains(changeKinds, k) {
				return apperr.Invalid("input.entryKinds", "対象にできるのはキャンセル・削除・修正だけです (only CANCEL, DELETE, MODIFY)").Because(apperr.INVALID_CHOICE)
			}
		}
	case alertrule.KindCAMERA_NOT_RECORDING:
		// No parameters: an episode starts when the cloud says the camera
		// stopped and ends when it streams again (camcloud's sync).
	case alertrule.KindRECEIPTS_NOT_RECORDED:
		// No parameters: an episode starts with a receipt its linked camera
		// did not record and ends with one it did (alerts/recording.go).
	case alertrule.KindREGISTER_CLOCK_OFF:
		if in.WindowSeconds == nil {
			in.WindowSeconds = ptrTo(DefaultClockOffSeconds)
		}
		if err := positive("windowSeconds", in.WindowSeconds, MaxClockOffSeconds, "許容する時計のずれ (秒)"); err != nil {
			return err
		}
	case alertrule.KindQUICK_CANCEL:
		if err := positive("windowSeconds", in.WindowSeconds, MaxWindow, "秒数"); err != nil {
			return err
		}
	case alertrule.KindCANCEL_BURST:
		if err := positive("windowSeconds", in.WindowSeconds, MaxWindow, "期間"); err != nil {
			return err
		}
		if err := positive("count", in.Count, MaxCount, "回数"); err != nil {
			return err
		}
	case alertrule.KindOUTSIDE_HOURS, alertrule.KindFEED_SILENT:
		// FEED_SILENT without windowSeconds learns what is usual per terminal.
		if in.Kind == alertrule.KindFEED_SILENT && in.WindowSeconds != nil {
			if err := positive("windowSeconds", in.WindowSeconds, MaxWindow, "無通信の許容時間"); err != nil {
				return err
			}
		}
		if in.Kind == alertrule.KindOUTSIDE_HOURS && deref(in.OpensAt) == "" && deref(in.ClosesAt) == "" {
			break // no hours on the rule: each shop's own business hours apply
		}
		o, c, err := hoursOf(in.OpensAt, in.ClosesAt)
		if err != nil {
			return err
		}
		if o == c {
			return apperr.Invalid("input.closesAt", "開店と閉店が同じ時刻です (opensAt equals closesAt)").Because(apperr.OPEN_EQUALS_CLOSE)
		}
	}
	if in.WebhookURL != nil && *in.WebhookURL != "" {
		u, err := url.Parse(*in.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(*in.WebhookURL) > 2000 {
			return apperr.Invalid("input.webhookURL", "通知先 URL は http(s):// で始まる URL を入力してください (webhookURL must be an http(s) URL)").Because(apperr.WEBHOOK_URL_INVALID)
		}
		if !s.opt.AllowPrivate && blockedHost(u.Hostname()) {
			return apperr.Invalid("input.webhookURL", "通知先 URL に社内ネットワークやこのサーバー自身 (localhost・プライベート IP など) は指定できません。インターネットから届く URL を入力してください (webhookURL must not be a private, loopback or link-local address)").Because(apperr.WEBHOOK_URL_PRIVATE)
		}
	}
	if in.Scope != nil {
		f := in.Scope
		f.AccountID = account
		if err := f.Validate("input.scope"); err != nil {
			return err
		}
		if err := journal.CheckIDs(ctx, s.Client, *f); err != nil {
			return apperr.WithFieldPrefix(err, "input.scope")
		}
		if f.Staff != "" {
			known, err := s.Client.JournalEntry.Query().Where(journalentry.AccountID(account),
				journalentry.Or(journalentry.StaffID(f.Staff), journalentry.StaffName(f.Staff))).Exist(ctx)
			if err != nil {
				return fmt.Errorf("check staff: %w", err)
			}
			if !known {
				return apperr.Invalid("input.scope.staff", "担当者 %q の記録がありません (unknown staff)", f.Staff).Because(apperr.STAFF_UNKNOWN)
			}
		}
	}
	return nil
}

// hoursOf parses business hours "HH:MM" into minutes after midnight.
func hoursOf(opens, closes *string) (int, int, error) {
	parse := func(field string, p *string) (int, error) {
		if p == nil || *p == "" {
			return 0, apperr.Invalid("input."+field, "営業時間を HH:MM で入力してください (%s is required, HH:MM)", field).Because(apperr.INVALID_TIME)
		}
		t, err := time.Parse("15:04", *p)
		if err != nil {
			return 0, apperr.Invalid("input."+field, "営業時間を HH:MM で入力してください (%s must be HH:MM)", field).Because(apperr.INVALID_TIME)
		}
		return t.Hour()*60 + t.Minute(), nil
	}
	o, err := parse("opensAt", opens)
	if err != nil {
		return 0, 0, err
	}
	c, err := parse("closesAt", closes)
	return o, c, err
}

func requireAdmin(ctx context.Context) (viewer.Viewer, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return v, err
	}
	if v.Restricted {
		return v, apperr.Forbiddenf("ルールを変更できるのは管理者だけです (only owners and admins change rules)").Because(apperr.ADMIN_ONLY)
	}
	return v, nil
}

// Create stores a new rule. secret is the webhook key, returned only here.
func (s *Service) Create(ctx context.Context, in Input) (*ent.AlertRule, string, error) {
	v, err := requireAdmin(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := s.validate(ctx, v.AccountID, &in); err != nil {
		return nil, "", err
	}
	id := pulid.MustNew("AR")
	c := s.Client.AlertRule.Create().SetID(id).SetAccountID(v.AccountID)
	apply(c.Mutation(), in)
	var secret string
	if in.WebhookURL != nil && *in.WebhookURL != "" {
		var sealed []byte
		if secret, sealed, err = s.newSecret(id); err != nil {
			return nil, "", err
		}
		c.SetWebhookSecret(sealed)
	}
	r, err := c.Save(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("create rule: %w", err)
	}
	s.rules.forget(v.AccountID)
	return r, secret, nil
}

// Update replaces a rule's settings; a webhook key is made when a URL is
// first set.
func (s *Service) Update(ctx context.Context, id pulid.ID, in Input) (*ent.AlertRule, string, error) {
	v, err := requireAdmin(ctx)
	if err != nil {
		return nil, "", err
	}
	old, err := s.own(ctx, v, id)
	if err != nil {
		return nil, "", err
	}
	if err := s.validate(ctx, v.AccountID, &in); err != nil {
		return nil, "", err
	}
	u := old.Update()
	m := u.Mutation()
	m.ClearScope()
	m.ClearEntryKinds()
	apply(m, in)
	var secret string
	if in.WebhookURL != nil && *in.WebhookURL != "" && len(old.WebhookSecret) == 0 {
		var sealed []byte
		if secret, sealed, err = s.newSecret(id); err != nil {
			return nil, "", err
		}
		u.SetWebhookSecret(sealed)
	}
	r, err := u.Save(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("update rule: %w", err)
	}
	s.rules.forget(v.AccountID)
	return r, secret, nil
}

// Delete removes a rule; its alerts stay (they are records).
func (s *Service) Delete(ctx context.Context, id pulid.ID) error {
	v, err := requireAdmin(ctx)
	if err != nil {
		return err
	}
	if _, err := s.own(ctx, v, id); err != nil {
		return err
	}
	if err := s.Client.AlertRule.DeleteOneID(id).Exec(ctx); err != nil {
		return fmt.Errorf("delete rule: %w", err)
	}
	s.rules.forget(v.AccountID)
	return nil
}

// RotateSecret replaces a rule's webhook key and returns the new one.
func (s *Service) RotateSecret(ctx context.Context, id pulid.ID) (*ent.AlertRule, string, error) {
	v, err := requireAdmin(ctx)
	if err != nil {
		return nil, "", err
	}
	r, err := s.own(ctx, v, id)
	if err != nil {
		return nil, "", err
	}
	if r.WebhookURL == "" {
		return nil, "", apperr.Invalid("id", "このルールには通知先 URL がありません (rule has no webhookURL)").Because(apperr.ALERT_NO_WEBHOOK_URL)
	}
	secret, sealed, err := s.newSecret(id)
	if err != nil {
		return nil, "", err
	}
	if r, err = r.Update().SetWebhookSecret(sealed).Save(ctx); err != nil {
		return nil, "", fmt.Errorf("rotate secret: %w", err)
	}
	s.rules.forget(v.AccountID)
	return r, secret, nil
}

// Rules lists the account's rules (any reader may see them).
func (s *Service) Rules(ctx context.Context) ([]*ent.AlertRule, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	return s.Client.AlertRule.Query().Where(alertrule.AccountID(v.AccountID)).
		Order(ent.Asc(alertrule.FieldCreatedAt), ent.Asc(alertrule.FieldID)).All(ctx)
}

func (s *Service) own(ctx context.Context, v viewer.Viewer, id pulid.ID) (*ent.AlertRule, error) {
	r, err := s.Client.AlertRule.Query().Where(alertrule.ID(id), alertrule.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Missing("id", "ルールが見つかりません (no such rule)").Because(apperr.NOT_FOUND)
	}
	return r, err
}

func apply(m *ent.AlertRuleMutation, in Input) {
	m.SetName(in.Name)
	m.SetKind(in.Kind)
	m.SetEnabled(in.Enabled == nil || *in.Enabled)
	if in.Scope != nil {
		raw, _ := json.Marshal(journal.WhereOf(*in.Scope))
		m.SetScope(raw)
	}
	kinds := in.EntryKinds
	if in.Kind == alertrule.KindAMOUNT_OVER && len(kinds) == 0 {
		kinds = changeKinds
	}
	var ks []string
	for _, k := range kinds {
		ks = append(ks, string(k))
	}
	m.SetEntryKinds(ks)
	m.SetAmount(deref(in.Amount))
	m.SetWindowSeconds(deref(in.WindowSeconds))
	m.SetCount(deref(in.Count))
	m.SetOpensAt(deref(in.OpensAt))
	m.SetClosesAt(deref(in.ClosesAt))
	m.SetWebhookURL(deref(in.WebhookURL))
	// A fixed kind stores its preset's conditions too, so the rule reads
	// the same as after MigratePresets (ConditionsOf decides either way).
	if in.Kind == alertrule.KindCUSTOM && in.Conditions != nil {
		m.SetConditions(in.Conditions)
	} else if c, ok := ConditionsOf(&ent.AlertRule{Kind: in.Kind, EntryKinds: ks, Amount: deref(in.Amount),
		WindowSeconds: deref(in.WindowSeconds), Count: deref(in.Count), OpensAt: deref(in.OpensAt), ClosesAt: deref(in.ClosesAt)}); ok {
		m.SetConditions(&c)
	} else {
		m.ClearConditions()
	}
}

// MigratePresets turns the account rules of the fixed kinds that are now
// presets of the builder into CUSTOM rules with their preset's conditions
// (package alerts/builder). It runs once at start-up and again harmlessly:
// a migrated rule is CUSTOM and is not picked again. The rule's id stays,
// and with it the dedupe keys of its alerts, so nothing fires twice; its
// alerts keep the fixed kind (presetOf).
func (s *Service) MigratePresets(ctx context.Context) (int, error) {
	ctx = viewer.System(ctx)
	rows, err := s.Client.AlertRule.Query().Where(alertrule.KindIn(alertrule.KindAMOUNT_OVER, alertrule.KindQUICK_CANCEL,
		alertrule.KindCANCEL_BURST, alertrule.KindOUTSIDE_HOURS, alertrule.KindUNLINKED_TERMINAL, alertrule.KindFEED_SILENT)).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("rules to migrate: %w", err)
	}
	n := 0
	for _, r := range rows {
		c, ok := builder.FromRule(fixedOf(r))
		if !ok {
			continue
		}
		// Conditional on the kind: two servers starting together migrate
		// each rule once.
		k, err := s.Client.AlertRule.Update().Where(alertrule.ID(r.ID), alertrule.KindEQ(r.Kind)).
			SetKind(alertrule.KindCUSTOM).SetPreset(string(r.Kind)).SetConditions(&c).Save(ctx)
		if err != nil {
			return n, fmt.Errorf("migrate rule %s: %w", r.ID, err)
		}
		n += k
		s.rules.forget(r.AccountID)
	}
	return n, nil
}

func ptrTo[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (s *Service) newSecret(rule pulid.ID) (string, []byte, error) {
	if s.Box == nil {
		return "", nil, fmt.Errorf("webhook secret: no secret box configured")
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.RawURLEncoding.EncodeToString(raw)
	sealed, err := s.Box.Seal([]byte(secret), secrets.AlertWebhookSecretAAD(rule))
	if err != nil {
		return "", nil, fmt.Errorf("seal webhook secret: %w", err)
	}
	return secret, sealed, nil
}

// PreviewDays are the history lengths a preview may look at; 7 by default.
var PreviewDays = []int{7, 30}

// Preview answers how often the rule in would have fired over the last
// days of the account's history (alerts/builder.Preview), without storing
// it. Like changing a rule it is for owners and admins: it reads every
// shop's entries.
func (s *Service) Preview(ctx context.Context, in Input, days *int) (builder.PreviewResult, error) {
	v, err := requireAdmin(ctx)
	if err != nil {
		return builder.PreviewResult{}, err
	}
	d := 7
	if days != nil {
		d = *days
	}
	if !slices.Contains(PreviewDays, d) {
		return builder.PreviewResult{}, apperr.Invalid("days", "試す期間は 7 日か 30 日で指定してください").Because(apperr.INVALID_CHOICE)
	}
	if err := s.validate(ctx, v.AccountID, &in); err != nil {
		return builder.PreviewResult{}, err
	}
	var c schematype.RuleConditions
	if in.Kind == alertrule.KindCUSTOM {
		c = *in.Conditions
	} else {
		r := &ent.AlertRule{Kind: in.Kind, Amount: deref(in.Amount), WindowSeconds: deref(in.WindowSeconds), Count: deref(in.Count),
			OpensAt: deref(in.OpensAt), ClosesAt: deref(in.ClosesAt)}
		for _, k := range in.EntryKinds {
			r.EntryKinds = append(r.EntryKinds, string(k))
		}
		var ok bool
		if c, ok = builder.FromRule(fixedOf(r)); !ok {
			return builder.PreviewResult{}, apperr.Invalid("input.kind", "この種類のルールは過去の記録で試せません。条件を組み合わせるルールか、そのひな形で試してください").Because(apperr.INVALID_CHOICE)
		}
	}
	// The preview reads up to builder's row cap; on a busy chain a rule that
	// matches little may still walk it all, so it gets a time bound too.
	pctx, cancel := context.WithTimeout(ctx, PreviewTimeout)
	defer cancel()
	res, err := builder.Preview(pctx, s.Client, builder.PreviewInput{Account: v.AccountID, Conditions: c, Scope: in.Scope, Days: d, Now: s.Now()})
	if err != nil && ctx.Err() == nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
		return builder.PreviewResult{}, apperr.Invalid("days", "%d 秒で試し終わりませんでした。期間を 7 日にするか、条件や店舗を絞ってください", int(PreviewTimeout/time.Second)).Because(apperr.RANGE_TOO_LONG)
	}
	return res, err
}

// PreviewTimeout bounds one preview's reading of the history.
const PreviewTimeout = 20 * time.Second
