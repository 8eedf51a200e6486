package alerts

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/viewer"
)

// CameraNotRecording raises the CAMERA_NOT_RECORDING alerts of an episode
// that began at since (camcloud's sync calls it; alerts.Service is its
// camcloud.RecordingAlerter). A rule covers the camera through the
// registers linked to it now: its scope's cameras, registers and shops are
// matched against the camera and those registers (the scope's entry
// conditions — kinds, staff, amounts — say nothing about a camera and are
// ignored). The alert carries the shop of the first such register, so
// shop staff see it. An unlinked camera watches no register: no alert.
//
// The key is the camera and the episode's start, so calling again for the
// same episode (every sync while it lasts, or from two replicas) raises
// one alert; a later episode has a later since and raises a new one.
func (s *Service) CameraNotRecording(ctx context.Context, cam *ent.Camera, since time.Time) error {
	ctx = viewer.System(ctx)
	rules, err := s.enabled(ctx, cam.AccountID)
	if err != nil {
		return err
	}
	rules = slices.DeleteFunc(slices.Clone(rules), func(r rule) bool { return r.Kind != alertrule.KindCAMERA_NOT_RECORDING })
	if len(rules) == 0 {
		return nil
	}
	links, err := s.Client.Link.Query().Where(link.CameraID(cam.ID), link.EndedAtIsNil()).
		WithTerminal(func(q *ent.TerminalQuery) {
			q.WithShop(func(q *ent.ShopQuery) { q.Select(shop.FieldTimezone) })
		}).Order(ent.Asc(link.FieldCreatedAt), ent.Asc(link.FieldID)).All(ctx)
	if err != nil {
		return fmt.Errorf("camera links: %w", err)
	}
	for _, r := range rules {
		if len(r.scope.CameraIDs) > 0 && !slices.Contains(r.scope.CameraIDs, cam.ID) {
			continue
		}
		var term *ent.Terminal
		for _, l := range links {
			t := l.Edges.Terminal
			if t == nil || len(r.scope.TerminalIDs) > 0 && !slices.Contains(r.scope.TerminalIDs, t.ID) ||
				len(r.scope.ShopIDs) > 0 && !slices.Contains(r.scope.ShopIDs, t.ShopID) {
				continue
			}
			term = t
			break
		}
		if term == nil {
			continue
		}
		loc := zone("")
		if term.Edges.Shop != nil {
			loc = zone(term.Edges.Shop.Timezone)
		}
		camID, shopID := cam.ID, term.ShopID
		h := hit{rule: r, dedupe: fmt.Sprintf("camera:%s:%d", cam.ID, since.Unix()), camera: &camID, shop: &shopID,
			at: since, message: fmt.Sprintf("カメラ %s が録画していません（%s から）", cam.Name, since.In(loc).Format("15:04"))}
		if _, err := s.save(ctx, h); err != nil {
			return fmt.Errorf("rule %s: %w", r.ID, err)
		}
	}
	return nil
}

// CameraRecording ends the camera's not-recording episode: its open
// CAMERA_NOT_RECORDING alerts get resolved_at = at. Resolving is a change
// of state, not a new alert: no event, no webhook (lists and the next read
// of the alert show it resolved).
func (s *Service) CameraRecording(ctx context.Context, cam *ent.Camera, at time.Time) error {
	ctx = viewer.System(ctx)
	if _, err := s.Client.Alert.Update().Where(alert.CameraID(cam.ID),
		alert.RuleKind(string(alertrule.KindCAMERA_NOT_RECORDING)), alert.ResolvedAtIsNil()).
		SetResolvedAt(at.UTC()).Save(ctx); err != nil {
		return fmt.Errorf("resolve camera alerts: %w", err)
	}
	return nil
}
