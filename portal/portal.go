// Package portal is the link portal (カメラ - POS 認証連携ポータル): the
// account's linkable cameras, its POS connections and registers with the
// camera watching each, adding a Smaregi link in one step, binding,
// re-binding and ending links, and starting the Ubiregi OAuth connection.
//
// Links are never rewritten or deleted: ending one sets ended_at, moving a
// register ends its link and starts another at the same instant, so every
// journal entry keeps the camera that watched its register at its time.
// Every read is scoped to the viewer's account explicitly (ent privacy
// rules also apply underneath), and an id of another account reads exactly
// like one that does not exist.
package portal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pos/polling"
	smaregiconn "github.com/regicam/regicam/pos/smaregi/storedconn"
	ubiregiconn "github.com/regicam/regicam/pos/ubiregi/storedconn"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// Service runs the portal's actions.
type Service struct {
	Client  *ent.Client
	Smaregi *smaregiconn.Connector // nil: Smaregi is disabled
	Ubiregi *ubiregiconn.Connector // nil: no Ubiregi OAuth client is configured
	// Connectors polls POS providers; nil when disabled.
	Connectors *polling.Runtime
	// Box seals webhook secrets.
	Box *secrets.Box
	Log *slog.Logger
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Label is how the portal names a camera: 自宅カメラ (CC-2L_SF : 201000192).
func Label(c *ent.Camera) string {
	if c == nil {
		return ""
	}
	return registry.Label(c)
}

// terminalLabel names a register in messages by the 端末ID the owner typed.
func terminalLabel(t *ent.Terminal) string { return "端末 " + t.ExternalID }

// LinkableCameras lists the account's cameras with the POS option that are
// not retired, by name.
func (s *Service) LinkableCameras(ctx context.Context) ([]*ent.Camera, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	return s.Client.Camera.Query().
		Where(camera.AccountID(v.AccountID), camera.PosOption(true), camera.RetiredAtIsNil()).
		Order(ent.Asc(camera.FieldName), ent.Asc(camera.FieldID)).
		All(ctx)
}

// ActiveLink returns the link in force now for a terminal already loaded
// for the viewer, or nil.
func (s *Service) ActiveLink(ctx context.Context, t *ent.Terminal) (*ent.Link, error) {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return nil, err
	}
	l, err := s.Client.Link.Query().
		Where(link.TerminalID(t.ID), link.AccountID(v.AccountID), link.EndedAtIsNil()).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return l, err
}

// LinkTerminal links a register that has no camera yet. Another camera
// already watching it is CONFLICT naming that camera; the same camera is a
// no-op.
func (s *Service) LinkTerminal(ctx context.Context, terminalID, cameraID pulid.ID) (*LinkSetting, error) {
	return s.bindOne(ctx, terminalID, cameraID, false)
}

// Rebind moves a register to another camera: its link ends and the new one
// starts at the same instant, in one transaction.
func (s *Service) Rebind(ctx context.Context, terminalID, cameraID pulid.ID) (*LinkSetting, error) {
	return s.bindOne(ctx, terminalID, cameraID, true)
}

func (s *Service) bindOne(ctx context.Context, terminalID, cameraID pulid.ID, move bool) (*LinkSetting, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, err
	}
	var termID pulid.ID
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		t, err := loadTerminal(ctx, tx.Client(), v, terminalID, "terminalID")
		if err != nil {
			return err
		}
		cam, err := loadCamera(ctx, tx.Client(), v, cameraID, "cameraID")
		if err != nil {
			return err
		}
		termID = t.ID
		_, err = s.bind(ctx, tx.Client(), v, t, cam, move, s.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.settingOf(ctx, v, termID)
}

// SetTerminalCameras saves the camera choice of several registers (更新):
// each one moved as Rebind, or unlinked for a nil camera, all in one
// transaction. Errors name the item: input[2].cameraID.
func (s *Service) SetTerminalCameras(ctx context.Context, in []*TerminalCameraInput) ([]*LinkSetting, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, err
	}
	if len(in) > 500 {
		return nil, apperr.Invalid("input", "一度に更新できるのは 500 台までです (at most 500 terminals)").Because(apperr.TOO_MANY_ITEMS)
	}
	seen := make(map[pulid.ID]int, len(in))
	for i, item := range in {
		if j, dup := seen[item.TerminalID]; dup {
			return nil, apperr.Invalid(fmt.Sprintf("input[%d].terminalID", i), "同じ端末が input[%d] にもあります (terminal listed twice)", j).Because(apperr.DUPLICATE_IN_LIST)
		}
		seen[item.TerminalID] = i
	}
	now := s.now()
	ids := make([]pulid.ID, 0, len(in))
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		for i, item := range in {
			prefix := fmt.Sprintf("input[%d]", i)
			t, err := loadTerminal(ctx, c, v, item.TerminalID, "terminalID")
			if err != nil {
				return apperr.WithFieldPrefix(err, prefix)
			}
			ids = append(ids, t.ID)
			if item.CameraID == nil {
				if err := s.unlinkTerminal(ctx, c, t, now); err != nil {
					return apperr.WithFieldPrefix(err, prefix)
				}
				continue
			}
			cam, err := loadCamera(ctx, c, v, *item.CameraID, "cameraID")
			if err != nil {
				return apperr.WithFieldPrefix(err, prefix)
			}
			if _, err := s.bind(ctx, c, v, t, cam, true, now); err != nil {
				return apperr.WithFieldPrefix(err, prefix)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*LinkSetting, 0, len(ids))
	for _, id := range ids {
		row, err := s.settingOf(ctx, v, id)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

// DeleteLinks ends the selected links now. Connections, registers, journal
// entries and thumbnails stay. All or nothing: each id that is not a link
// of the viewer's account is a NOT_FOUND on ids[i] (all of them, joined
// with errors.Join) and no link ends.
func (s *Service) DeleteLinks(ctx context.Context, ids []pulid.ID) ([]*ent.Link, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, apperr.Invalid("ids", "削除するリンクを選んでください (select at least one link)").Because(apperr.NOTHING_SELECTED)
	}
	if len(ids) > 500 {
		return nil, apperr.Invalid("ids", "一度に削除できるのは 500 件までです (at most 500 links)").Because(apperr.TOO_MANY_ITEMS)
	}
	now := s.now()
	var out []*ent.Link
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.Client()
		// Every id is checked before any link ends, and every bad one is
		// reported: the owner fixes the selection once.
		var missing []error
		for i, id := range ids {
			field := fmt.Sprintf("ids[%d]", i)
			l, err := c.Link.Query().Where(link.ID(id), link.AccountID(v.AccountID)).WithTerminal().WithCamera().Only(ctx)
			if err != nil && !ent.IsNotFound(err) {
				return err
			}
			if err != nil || !v.SeesShop(l.Edges.Terminal.ShopID) {
				missing = append(missing, apperr.Missing(field, "リンク %s が見つかりません (%s: not found)", id, field).Because(apperr.NOT_FOUND))
				continue
			}
			out = append(out, l)
		}
		if len(missing) > 0 {
			return errors.Join(missing...)
		}
		for _, l := range out {
			if l.EndedAt != nil { // ended before: deleting again is harmless
				continue
			}
			if err := endLink(ctx, c, l, now); err != nil {
				return err
			}
			if err := audit.Record(ctx, c, audit.Entry{Action: "link.ended", TargetID: string(l.ID),
				Detail: fmt.Sprintf("%s と %s のリンクを削除", terminalLabel(l.Edges.Terminal), Label(l.Edges.Camera))}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, l := range out { // reload: the ended ones carry endedAt now
		if out[i], err = s.Client.Link.Get(ctx, l.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// bind makes cam watch t from now. With move, an active link to another
// camera ends at now; without, it is CONFLICT. A link to cam already is
// kept as is. It returns the link in force.
func (s *Service) bind(ctx context.Context, c *ent.Client, v viewer.Viewer, t *ent.Terminal, cam *ent.Camera, move bool, now time.Time) (*ent.Link, error) {
	cur, err := c.Link.Query().Where(link.TerminalID(t.ID), link.EndedAtIsNil()).WithCamera().Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if cur != nil && cur.CameraID == cam.ID {
		return cur, nil
	}
	if cur != nil && !move {
		return nil, apperr.Conflictf("cameraID",
			"%s は既に %s に連携されています。カメラを変更するには連携を更新してください (terminal is already linked to another camera; use rebindTerminal)",
			terminalLabel(t), Label(cur.Edges.Camera)).Because(apperr.TERMINAL_ALREADY_LINKED)
	}
	if cur != nil {
		if err := endLink(ctx, c, cur, now); err != nil {
			return nil, err
		}
	}
	create := c.Link.Create().SetAccountID(t.AccountID).SetTerminalID(t.ID).SetCameraID(cam.ID).SetCreatedAt(now)
	if v.UserID != "" {
		create.SetCreatedByID(v.UserID)
	}
	l, err := create.Save(ctx)
	if ent.IsConstraintError(err) {
		// Another request linked the register between our read and write
		// (the partial unique index allows one active link per terminal).
		return nil, apperr.Conflictf("terminalID",
			"%s の連携が同時に変更されました。もう一度お試しください (changed concurrently)", terminalLabel(t)).Because(apperr.CHANGED_CONCURRENTLY)
	}
	if err != nil {
		return nil, err
	}
	e := audit.Entry{Action: "link.created", TargetID: string(l.ID),
		Detail: fmt.Sprintf("%s → %s", terminalLabel(t), Label(cam))}
	if cur != nil {
		e = audit.Entry{Action: "link.rebound", TargetID: string(l.ID),
			Detail: fmt.Sprintf("%s: %s → %s (旧リンク %s)", terminalLabel(t), Label(cur.Edges.Camera), Label(cam), cur.ID)}
	}
	if err := audit.Record(ctx, c, e); err != nil {
		return nil, err
	}
	return l, nil
}

func (s *Service) unlinkTerminal(ctx context.Context, c *ent.Client, t *ent.Terminal, now time.Time) error {
	cur, err := c.Link.Query().Where(link.TerminalID(t.ID), link.EndedAtIsNil()).WithCamera().Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := endLink(ctx, c, cur, now); err != nil {
		return err
	}
	return audit.Record(ctx, c, audit.Entry{Action: "link.ended", TargetID: string(cur.ID),
		Detail: fmt.Sprintf("%s と %s のリンクを解除", terminalLabel(t), Label(cur.Edges.Camera))})
}

// endLink closes l at now, only if it is still open: a link ended by a
// concurrent request must not get a second, later end.
func endLink(ctx context.Context, c *ent.Client, l *ent.Link, now time.Time) error {
	if now.Before(l.CreatedAt) {
		now = l.CreatedAt // a link ended at once keeps an empty, not negative, span
	}
	n, err := c.Link.Update().Where(link.ID(l.ID), link.EndedAtIsNil()).SetEndedAt(now).Save(ctx)
	if err != nil {
		return err
	}
	if n != 1 {
		return apperr.Conflictf("terminalID",
			"リンクが同時に変更されました。もう一度お試しください (link changed concurrently)").Because(apperr.CHANGED_CONCURRENTLY)
	}
	return nil
}

// loadTerminal finds a terminal of the viewer's account (and shops); any
// other id is NOT_FOUND on field, whoever owns it.
func loadTerminal(ctx context.Context, c *ent.Client, v viewer.Viewer, id pulid.ID, field string) (*ent.Terminal, error) {
	t, err := c.Terminal.Query().Where(terminal.ID(id), terminal.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) || err == nil && !v.SeesShop(t.ShopID) {
		return nil, apperr.Missing(field, "端末が見つかりません (terminal not found)").Because(apperr.NOT_FOUND)
	}
	return t, err
}

// loadCamera finds a camera of the viewer's account that can be linked.
func loadCamera(ctx context.Context, c *ent.Client, v viewer.Viewer, id pulid.ID, field string) (*ent.Camera, error) {
	cam, err := c.Camera.Query().Where(camera.ID(id), camera.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Missing(field, "カメラが見つかりません (camera not found)").Because(apperr.NOT_FOUND)
	}
	if err != nil {
		return nil, err
	}
	if !cam.PosOption {
		return nil, apperr.Invalid(field, "%s には POS オプションがないため連携できません (camera has no POS option)", Label(cam)).Because(apperr.CAMERA_NO_POS_OPTION)
	}
	if cam.RetiredAt != nil {
		return nil, apperr.Invalid(field, "%s は退役済みのため連携できません (camera is retired)", Label(cam)).Because(apperr.CAMERA_RETIRED)
	}
	return cam, nil
}

// inTx runs fn in a transaction and commits when it returns nil.
func (s *Service) inTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	return db.InTx(ctx, s.Client, s.log(), "portal", fn)
}
