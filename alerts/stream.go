package alerts

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// EncodeCursor / DecodeCursor make an alert's seq opaque.
func EncodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("al:" + strconv.FormatInt(seq, 10)))
}

// DecodeCursor parses a cursor of EncodeCursor; field names the argument.
func DecodeCursor(s, field string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil && len(raw) > 3 && string(raw[:3]) == "al:" {
		if n, err := strconv.ParseInt(string(raw[3:]), 10, 64); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, apperr.Invalid(field, "カーソルが不正です (malformed cursor)").Because(apperr.CURSOR_INVALID)
}

// ThumbnailWait is how long a live alert waits for its entry's picture
// (taken after the entry is stored when the camera is slow).
var ThumbnailWait = 3 * time.Second

// Subscribe streams the viewer's new alerts; with after, missed ones first.
// Alerts ride the outbox like journal events (save writes an ALERT event
// in the alert's transaction), so the feed hub serves them to subscribers
// of every server, in seq order.
func (s *Service) Subscribe(ctx context.Context, after *string) (<-chan *ent.Alert, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	if s.opt.Feed == nil {
		return nil, errors.New("alerts: no live feed")
	}
	var from *int64
	seq := int64(-1) // alerts up to this seq are not sent
	if after != nil {
		if seq, err = DecodeCursor(*after, "after"); err != nil {
			return nil, err
		}
		pos, err := s.eventOf(viewer.System(ctx), seq)
		if err != nil {
			return nil, err
		}
		from = &pos
	}
	evs, err := s.opt.Feed.Stream(ctx, feed.AlertTypes, from, func(ev *feed.Event) bool {
		return ev.Alert.Seq > seq && visible(v, ev.Alert)
	})
	if err != nil {
		return nil, err
	}
	ch := make(chan *ent.Alert, 16)
	go func() {
		defer close(ch)
		sys := viewer.System(ctx)
		for ev := range evs {
			s.awaitThumbnail(sys, ev.Alert)
			select {
			case ch <- ev.Alert:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// eventOf returns the outbox position to resume the alert stream after
// seq: the event of the newest alert up to seq. seq and event ids are
// taken under one lock (save), so every later alert has a later event. 0
// (the start) when there is none, or when that alert predates alert events.
func (s *Service) eventOf(ctx context.Context, seq int64) (int64, error) {
	a, err := s.Client.Alert.Query().Where(alert.SeqLTE(seq)).Order(ent.Desc(alert.FieldSeq)).Select(alert.FieldID).First(ctx)
	if ent.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("resume alerts: %w", err)
	}
	ev, err := s.Client.Event.Query().Where(event.AlertID(a.ID), event.TypeEQ(event.TypeALERT)).Select(event.FieldID).First(ctx)
	if ent.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("resume alerts: %w", err)
	}
	return ev.ID, nil
}

func visible(v viewer.Viewer, a *ent.Alert) bool {
	if a.AccountID != v.AccountID {
		return false
	}
	if v.Restricted {
		return a.ShopID != nil && v.SeesShop(*a.ShopID)
	}
	return true
}

// awaitThumbnail holds a fresh alert briefly until its entry's picture is
// stored, so the message carries it; an entry without a camera, or whose
// picture failed (a thumbnail_reason other than PENDING), is not waited for.
func (s *Service) awaitThumbnail(ctx context.Context, a *ent.Alert) {
	if a.EntryID == nil || a.CameraID == nil || time.Since(a.CreatedAt) > ThumbnailWait {
		return
	}
	deadline := time.Now().Add(ThumbnailWait)
	for time.Now().Before(deadline) {
		has, err := s.Client.Thumbnail.Query().Where(thumbnail.EntryID(*a.EntryID)).Exist(ctx)
		if err != nil || has {
			return
		}
		e, err := s.Client.JournalEntry.Get(ctx, *a.EntryID)
		if err != nil || e.ThumbnailReason != "" && ingest.CodeOf(e.ThumbnailReason) != ingest.ReasonPending {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Page is one newest-first page of alerts.
type Page struct {
	Alerts  []*ent.Alert
	HasNext bool
}

// List returns the viewer's alerts, newest first.
func (s *Service) List(ctx context.Context, acknowledged *bool, first int, after *string) (*Page, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	if first < 1 || first > 200 {
		return nil, apperr.Invalid("first", "first は 1 から 200 の範囲で指定してください (first must be between 1 and 200)").Because(apperr.VALUE_OUT_OF_RANGE)
	}
	q := s.Client.Alert.Query().Where(alert.AccountID(v.AccountID))
	if v.Restricted {
		q = q.Where(alert.ShopIDIn(v.ShopIDs...))
	}
	if acknowledged != nil {
		if *acknowledged {
			q = q.Where(alert.AcknowledgedAtNotNil())
		} else {
			q = q.Where(alert.AcknowledgedAtIsNil())
		}
	}
	if after != nil {
		seq, err := DecodeCursor(*after, "after")
		if err != nil {
			return nil, err
		}
		q = q.Where(alert.SeqLT(seq))
	}
	rows, err := q.Order(ent.Desc(alert.FieldSeq)).Limit(first + 1).All(ctx)
	if err != nil {
		return nil, err
	}
	p := &Page{HasNext: len(rows) > first}
	if p.HasNext {
		rows = rows[:first]
	}
	p.Alerts = rows
	return p, nil
}

// Acknowledge marks an alert seen by the viewer; acknowledging twice keeps
// the first acknowledgement.
func (s *Service) Acknowledge(ctx context.Context, id pulid.ID) (*ent.Alert, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	a, err := s.Client.Alert.Query().Where(alert.ID(id), alert.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) || err == nil && !visible(v, a) {
		return nil, apperr.Missing("id", "アラートが見つかりません (no such alert)").Because(apperr.NOT_FOUND)
	}
	if err != nil {
		return nil, err
	}
	if a.AcknowledgedAt != nil {
		return a, nil
	}
	u := a.Update().SetAcknowledgedAt(s.Now().UTC())
	if v.UserID != "" {
		u.SetAcknowledgedByID(v.UserID)
	}
	// Staff may acknowledge alerts of their shops, which the row policy
	// (no writes for STAFF) would refuse: the visibility check above is the rule.
	return u.Save(viewer.System(ctx))
}
