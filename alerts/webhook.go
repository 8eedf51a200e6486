package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/secrets"
)

// lease is how long a claimed delivery is left to its sender before
// another process may try again (a sender that died mid-POST).
const lease = time.Minute

// deliverLoop sends pending webhook alerts. Each attempt is first claimed by
// moving webhook_next_at, so two servers never POST the same alert at the
// same time; an alert stays PENDING until a 2xx, however long that takes.
func (s *Service) deliverLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for s.deliverDue(ctx) > 0 && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// DeliverDue makes one delivery pass now (tests drive it on their clock).
func (s *Service) DeliverDue(ctx context.Context) int { return s.deliverDue(ctx) }

func (s *Service) deliverDue(ctx context.Context) int {
	now := s.Now().UTC()
	due, err := s.Client.Alert.Query().Where(alert.WebhookStateEQ(alert.WebhookStatePENDING), alert.WebhookNextAtLTE(now)).
		Order(ent.Asc(alert.FieldWebhookNextAt)).Limit(20).All(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.WarnContext(ctx, "load pending webhooks", "err", err)
		}
		return 0
	}
	sent := 0
	for _, a := range due {
		n, err := s.Client.Alert.Update().Where(alert.ID(a.ID), alert.WebhookStateEQ(alert.WebhookStatePENDING),
			alert.WebhookNextAt(*a.WebhookNextAt)).SetWebhookNextAt(now.Add(lease)).Save(ctx)
		if err != nil || n == 0 {
			continue // another server took it
		}
		s.deliver(ctx, a)
		sent++
	}
	return sent
}

// Payload is the JSON body POSTed for an alert.
type Payload struct {
	ID         string    `json:"id"`
	RuleID     string    `json:"ruleId"`
	RuleName   string    `json:"ruleName"`
	Kind       string    `json:"kind"`
	Message    string    `json:"message"`
	OccurredAt time.Time `json:"occurredAt"`
	EntryID    string    `json:"entryId,omitempty"`
	TerminalID string    `json:"terminalId,omitempty"`
	ShopID     string    `json:"shopId,omitempty"`
	CameraID   string    `json:"cameraId,omitempty"`
	StaffName  string    `json:"staffName,omitempty"`
	Amount     int64     `json:"amount"`
	Thumbnail  string    `json:"thumbnailPath,omitempty"`
}

// Sign is the X-Regicam-Signature value of body sent at ts.
func Sign(key []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Service) deliver(ctx context.Context, a *ent.Alert) {
	fail := func(reason string) {
		attempts := a.WebhookAttempts + 1
		wait := s.opt.Backoff << min(attempts-1, 20)
		if wait > s.opt.MaxBackoff || wait <= 0 {
			wait = s.opt.MaxBackoff
		}
		wait += time.Duration(rand.Int64N(int64(wait)/10 + 1)) // spread retries of many alerts
		if len(reason) > 500 {
			reason = reason[:500]
		}
		if err := a.Update().SetWebhookAttempts(attempts).SetWebhookLastError(reason).
			SetWebhookNextAt(s.Now().UTC().Add(wait)).Exec(ctx); err != nil {
			s.Log.WarnContext(ctx, "record webhook failure", "alert", a.ID, "err", err)
		}
		s.Log.InfoContext(ctx, "alert webhook failed; will retry", "alert", a.ID, "attempt", attempts, "retry_in", wait, "reason", reason)
	}
	r, err := s.Client.AlertRule.Get(ctx, a.RuleID)
	if ent.IsNotFound(err) || err == nil && r.WebhookURL == "" {
		// The rule (or its URL) is gone: nobody left to tell.
		_ = a.Update().SetWebhookState(alert.WebhookStateNONE).SetWebhookLastError("rule or webhookURL removed").ClearWebhookNextAt().Exec(ctx)
		return
	}
	if err != nil {
		fail(err.Error())
		return
	}
	key, err := s.Box.Open(r.WebhookSecret, secrets.AlertWebhookSecretAAD(r.ID))
	if err != nil {
		fail("webhook secret unreadable: " + err.Error())
		return
	}
	p := Payload{ID: string(a.ID), RuleID: string(r.ID), RuleName: r.Name, Kind: a.RuleKind, Message: a.Message,
		OccurredAt: a.OccurredAt, StaffName: a.StaffName, Amount: a.Amount}
	if a.EntryID != nil {
		p.EntryID = string(*a.EntryID)
		if th, err := s.Client.Thumbnail.Query().Where(thumbnail.EntryID(*a.EntryID)).Only(ctx); err == nil {
			p.Thumbnail = "/thumbnails/" + string(th.ID)
		}
	}
	if a.TerminalID != nil {
		p.TerminalID = string(*a.TerminalID)
	}
	if a.ShopID != nil {
		p.ShopID = string(*a.ShopID)
	}
	if a.CameraID != nil {
		p.CameraID = string(*a.CameraID)
	}
	body, _ := json.Marshal(p)
	ts := strconv.FormatInt(s.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.WebhookURL, bytes.NewReader(body))
	if err != nil {
		fail(err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "regicam-alerts/1")
	req.Header.Set("X-Regicam-Timestamp", ts)
	req.Header.Set("X-Regicam-Signature", Sign(key, ts, body))
	req.Header.Set("X-Regicam-Alert-Id", string(a.ID))
	res, err := s.opt.HTTP.Do(req)
	if err != nil {
		fail(err.Error())
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		fail(fmt.Sprintf("HTTP %d", res.StatusCode))
		return
	}
	if err := a.Update().SetWebhookState(alert.WebhookStateDELIVERED).SetWebhookAttempts(a.WebhookAttempts + 1).
		SetWebhookLastError("").ClearWebhookNextAt().Exec(ctx); err != nil {
		s.Log.WarnContext(ctx, "record webhook delivery", "alert", a.ID, "err", err)
	}
}
