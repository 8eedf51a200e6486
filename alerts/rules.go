// Package alerts raises exception alerts: per-account rules evaluated on
// every ingested journal entry (and, for silent feeds, by a periodic
// checker), stored as Alert rows, streamed to subscribers across server
// processes and optionally POSTed, signed, to a webhook with retries from a
// persisted queue. Nothing here ever fails or slows an ingest beyond the
// evaluation queries: delivery runs in the background.
package alerts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/journal"
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
		return apperr.Invalid("input.name", "ルール名を 1〜200 文字で入力してください (name is required, at most 200 characters)")
	}
	if alertrule.KindValidator(in.Kind) != nil {
		return apperr.Invalid("input.kind", "ルールの種類 %q は使えません (unknown kind)", in.Kind)
	}
	positive := func(field string, v *int, max int, what string) error {
		if v == nil || *v <= 0 {
			return apperr.Invalid("input."+field, "%sは 1 以上で指定してください (%s must be at least 1)", what, field)
		}
		if *v > max {
			return apperr.Invalid("input."+field, "%sは %d 以下で指定してください (%s must be at most %d)", what, max, field, max)
		}
		return nil
	}
	switch in.Kind {
	case alertrule.KindAMOUNT_OVER:
		if in.Amount == nil || *in.Amount < 0 {
			return apperr.Invalid("input.amount", "金額は 0 円以上で指定してください (amount must be 0 or more)")
		}
		for _, k := range in.EntryKinds {
			if !slices.Contains(changeKinds, k) {
				return apperr.Invalid("input.entryKinds", "対象にできるのはキャンセル・削除・修正だけです (only CANCEL, DELETE, MODIFY)")
			}
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
			return apperr.Invalid("input.closesAt", "開店と閉店が同じ時刻です (opensAt equals closesAt)")
		}
	}
	if in.WebhookURL != nil && *in.WebhookURL != "" {
		u, err := url.Parse(*in.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(*in.WebhookURL) > 2000 {
			return apperr.Invalid("input.webhookURL", "通知先 URL は http(s):// で始まる URL を入力してください (webhookURL must be an http(s) URL)")
		}
		if !s.opt.AllowPrivate && blockedHost(u.Hostname()) {
			return apperr.Invalid("input.webhookURL", "通知先 URL に社内ネットワークやこのサーバー自身 (localhost・プライベート IP など) は指定できません。インターネットから届く URL を入力してください (webhookURL must not be a private, loopback or link-local address)")
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
				return apperr.Invalid("input.scope.staff", "担当者 %q の記録がありません (unknown staff)", f.Staff)
			}
		}
	}
	return nil
}

// hoursOf parses business hours "HH:MM" into minutes after midnight.
func hoursOf(opens, closes *string) (int, int, error) {
	parse := func(field string, p *string) (int, error) {
		if p == nil || *p == "" {
			return 0, apperr.Invalid("input."+field, "営業時間を HH:MM で入力してください (%s is required, HH:MM)", field)
		}
		t, err := time.Parse("15:04", *p)
		if err != nil {
			return 0, apperr.Invalid("input."+field, "営業時間を HH:MM で入力してください (%s must be HH:MM)", field)
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
		return v, &apperr.Error{Code: apperr.Forbidden, Message: "ルールを変更できるのは管理者だけです (only owners and admins change rules)"}
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
		return nil, "", apperr.Invalid("id", "このルールには通知先 URL がありません (rule has no webhookURL)")
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
		return nil, apperr.Missing("id", "ルールが見つかりません (no such rule)")
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
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// SecretAAD binds a sealed webhook key to its rule.
func SecretAAD(rule pulid.ID) []byte { return []byte("alert-webhook:" + string(rule)) }

func (s *Service) newSecret(rule pulid.ID) (string, []byte, error) {
	if s.Box == nil {
		return "", nil, fmt.Errorf("webhook secret: no secret box configured")
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.RawURLEncoding.EncodeToString(raw)
	sealed, err := s.Box.Seal([]byte(secret), SecretAAD(rule))
	if err != nil {
		return "", nil, fmt.Errorf("seal webhook secret: %w", err)
	}
	return secret, sealed, nil
}
