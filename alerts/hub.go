package alerts

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/viewer"
)

// hub reads new alerts once per process (by seq, from the table, so alerts
// written by any server reach every server's subscribers) and fans them
// out. The newest alerts stay in memory for subscribers that fell behind.
type hub struct {
	s     *Service
	mu    sync.Mutex
	ready bool
	head  int64
	buf   []*ent.Alert
	wake  chan struct{} // closed when head moves
	poked chan struct{}
}

const keep = 1024

func newHub(s *Service) *hub {
	return &hub{s: s, wake: make(chan struct{}), poked: make(chan struct{}, 1)}
}

func (h *hub) poke() {
	select {
	case h.poked <- struct{}{}:
	default:
	}
}

func (h *hub) run(ctx context.Context) {
	t := time.NewTicker(h.s.opt.Poll)
	defer t.Stop()
	for {
		if err := h.advance(ctx); err != nil && ctx.Err() == nil {
			h.s.Log.WarnContext(ctx, "read alerts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.poked:
		}
	}
}

// start finds the newest seq, so live subscribers begin from now.
func (h *hub) start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ready {
		return nil
	}
	a, err := h.s.Client.Alert.Query().Order(ent.Desc(alert.FieldSeq)).First(viewer.System(ctx))
	if err != nil && !ent.IsNotFound(err) {
		return err
	}
	if a != nil {
		h.head = a.Seq
	}
	h.ready = true
	return nil
}

func (h *hub) advance(ctx context.Context) error {
	if err := h.start(ctx); err != nil {
		return err
	}
	for {
		h.mu.Lock()
		head := h.head
		h.mu.Unlock()
		rows, err := h.s.Client.Alert.Query().Where(alert.SeqGT(head)).Order(ent.Asc(alert.FieldSeq)).Limit(500).All(ctx)
		if err != nil || len(rows) == 0 {
			return err
		}
		h.mu.Lock()
		h.buf = append(h.buf, rows...)
		if len(h.buf) > keep {
			h.buf = slices.Clone(h.buf[len(h.buf)-keep:])
		}
		h.head = rows[len(rows)-1].Seq
		close(h.wake)
		h.wake = make(chan struct{})
		h.mu.Unlock()
		if len(rows) < 500 {
			return nil
		}
	}
}

// since returns buffered alerts after pos; ok is false when pos is older
// than the buffer (the caller reads the table instead).
func (h *hub) since(pos int64) ([]*ent.Alert, bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if pos >= h.head {
		return nil, true, h.wake
	}
	if len(h.buf) == 0 || h.buf[0].Seq > pos+1 {
		return nil, false, h.wake
	}
	i, _ := slices.BinarySearchFunc(h.buf, pos+1, func(a *ent.Alert, seq int64) int { return int(a.Seq - seq) })
	return slices.Clone(h.buf[i:]), true, h.wake
}

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
	return 0, apperr.Invalid(field, "カーソルが不正です (malformed cursor)")
}

// ThumbnailWait is how long a live alert waits for its entry's picture
// (taken after the entry is stored when the camera is slow).
var ThumbnailWait = 3 * time.Second

// Subscribe streams the viewer's new alerts; with after, missed ones first.
func (s *Service) Subscribe(ctx context.Context, after *string) (<-chan *ent.Alert, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	if err := s.hub.start(ctx); err != nil {
		return nil, err
	}
	s.hub.mu.Lock()
	pos := s.hub.head
	s.hub.mu.Unlock()
	if after != nil {
		if pos, err = DecodeCursor(*after, "after"); err != nil {
			return nil, err
		}
	}
	ch := make(chan *ent.Alert, 16)
	go func() {
		defer close(ch)
		sys := viewer.System(ctx)
		for {
			list, ok, wake := s.hub.since(pos)
			if !ok {
				var err error
				if list, err = s.Client.Alert.Query().Where(alert.SeqGT(pos)).Order(ent.Asc(alert.FieldSeq)).Limit(200).All(sys); err != nil {
					s.Log.WarnContext(ctx, "replay alerts", "err", err)
					return
				}
			}
			for _, a := range list {
				pos = a.Seq
				if !visible(v, a) {
					continue
				}
				s.awaitThumbnail(sys, a)
				select {
				case ch <- a:
				case <-ctx.Done():
					return
				}
			}
			if len(list) > 0 {
				continue
			}
			select {
			case <-wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
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
// picture failed (thumbnail_reason set), is not waited for.
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
		if err != nil || e.ThumbnailReason != "" {
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
		return nil, apperr.Invalid("first", "first は 1 から 200 の範囲で指定してください (first must be between 1 and 200)")
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
		return nil, apperr.Missing("id", "アラートが見つかりません (no such alert)")
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
