// Package cases owns investigations ("cases", ent type Investigation): a
// title, a status, the receipts and alerts collected under it, append-only
// notes and a history line for every change.
//
// Every read and write runs as the caller's viewer, so the ent privacy
// rules (ent/schema/rule: Cases, StaffWritable, AppendOnly) keep it inside
// the account and keep STAFF to the cases whose receipts and alerts are
// all in their shops; this package checks what a caller adds (STAFF: only
// their shops' receipts). Another account's id, or one the caller cannot
// see, is NOT_FOUND on the field that named it. Each change is one
// transaction: the case, its history row and its audit row land together
// or not at all.
package cases

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/audit"
	"github.com/regicam/regicam/db"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/caseevent"
	"github.com/regicam/regicam/ent/casenote"
	"github.com/regicam/regicam/ent/investigation"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/user"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Limits. Text limits are in bytes, as the columns (ent/schema/case.go)
// count them.
const (
	MaxItems      = 500  // receipts per case, and alerts per case
	MaxIDsPerCall = 100  // ids in one list of one call
	MaxTitle      = 200  // bytes
	MaxTags       = 20   // tags per case
	MaxTagRunes   = 50   // characters per tag
	MaxNote       = 4000 // bytes
	MaxResolution = 2000 // bytes
	MaxNotes      = 1000 // notes per case: a response carries them all
	MaxHistory    = 2000 // history rows a case shows: the newest
)

// History actions (CaseEvent.action), as schema/cases.graphql lists them.
const (
	ActionCreated        = "CREATED"
	ActionStatus         = "STATUS"
	ActionEntriesAdded   = "ENTRIES_ADDED"
	ActionEntriesRemoved = "ENTRIES_REMOVED"
	ActionNote           = "NOTE"
	ActionAssigned       = "ASSIGNED"
	ActionTags           = "TAGS"
	ActionTitle          = "TITLE"
	// ActionEvidenceDownloaded is written by RecordDownload.
	ActionEvidenceDownloaded = "EVIDENCE_DOWNLOADED"
)

// Service creates and changes cases.
type Service struct {
	Client *ent.Client
	Log    *slog.Logger
	// Now is the clock of closed_at; nil is time.Now.
	Now func() time.Time
}

// CreateInput is createCase's input.
type CreateInput struct {
	Title      string
	EntryIDs   []pulid.ID
	AlertIDs   []pulid.ID
	AssigneeID *pulid.ID
	Tags       []string
}

// UpdateInput is updateCase's input; nil leaves a value as it is.
type UpdateInput struct {
	Title         *string
	Status        *investigation.Status
	Resolution    *string
	AssigneeID    *pulid.ID
	ClearAssignee bool
	Tags          []string // nil: unchanged; empty: no tags
	SetTags       bool     // Tags was given (an empty list clears them)
}

// actor is the person changing a case: a signed-in user. API keys read
// cases but change none (access.Table); this stands behind that gate.
type actor struct {
	viewer.Viewer
	name string
}

func (s *Service) actor(ctx context.Context) (actor, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return actor{}, apperr.Unauthenticatedf("ログインしてください").Because(apperr.NOT_SIGNED_IN)
	}
	if v.UserID == "" {
		return actor{}, apperr.Forbiddenf("ケースを変更できるのはログインした利用者だけです").Because(apperr.FORBIDDEN)
	}
	// The viewer's own row: its name is what the history shows.
	u, err := s.Client.User.Query().Where(user.ID(v.UserID), user.AccountID(v.AccountID)).Only(viewer.System(ctx))
	if err != nil {
		return actor{}, err
	}
	name := u.Name
	if name == "" {
		name = u.Email
	}
	return actor{Viewer: v, name: clip(name, 200)}, nil
}

// RecordDownload writes the history row (EVIDENCE_DOWNLOADED) and the
// audit row (case.evidence_downloaded) of one download of a case's
// evidence bundle, in one transaction, as the viewer in ctx: a person, or
// an API key with journal:read (keys read cases). detail says what was
// downloaded (files, size, hash); a case the viewer does not see is
// NOT_FOUND on "id".
func (s *Service) RecordDownload(ctx context.Context, caseID pulid.ID, detail string) error {
	v, err := viewer.Require(ctx, viewer.ScopeJournalRead)
	if err != nil {
		return err
	}
	a := actor{Viewer: v}
	sys := viewer.System(ctx)
	if v.UserID != "" {
		if a, err = s.actor(ctx); err != nil {
			return err
		}
	} else if k, err := s.Client.ApiKey.Get(sys, v.APIKeyID); err == nil && k.AccountID == v.AccountID {
		a.name = clip("API キー「"+k.Name+"」", 200)
	}
	return s.inTx(ctx, func(c *ent.Client) error {
		cur, err := load(ctx, c, a, caseID, "id")
		if err != nil {
			return err
		}
		return s.record(ctx, c, a, cur.ID, ActionEvidenceDownloaded, "case.evidence_downloaded", detail)
	})
}

// Create opens a case with the given receipts and alerts.
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.Investigation, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, err
	}
	title, err := checkTitle("input.title", in.Title)
	if err != nil {
		return nil, err
	}
	tags, err := checkTags("input.tags", in.Tags)
	if err != nil {
		return nil, err
	}
	entryIDs, err := checkIDs("input.entryIDs", in.EntryIDs)
	if err != nil {
		return nil, err
	}
	alertIDs, err := checkIDs("input.alertIDs", in.AlertIDs)
	if err != nil {
		return nil, err
	}
	var out *ent.Investigation
	err = s.inTx(ctx, func(c *ent.Client) error {
		entries, err := loadEntries(ctx, c, a, "input.entryIDs", entryIDs)
		if err != nil {
			return err
		}
		alerts, err := loadAlerts(ctx, c, a, "input.alertIDs", alertIDs)
		if err != nil {
			return err
		}
		create := c.Investigation.Create().SetAccountID(a.AccountID).SetTitle(title).
			SetCreatedByID(a.UserID).AddEntryIDs(entryIDs...).AddAlertIDs(alertIDs...).
			SetShopIds(shopsOf(entries, alerts))
		if len(tags) > 0 {
			create.SetTags(tags)
		}
		assigned := ""
		if in.AssigneeID != nil {
			u, err := loadUser(ctx, c, a, "input.assigneeID", *in.AssigneeID)
			if err != nil {
				return err
			}
			create.SetAssigneeID(u.ID)
			assigned = "、担当 " + displayName(u)
		}
		if out, err = create.Save(ctx); err != nil {
			return err
		}
		detail := fmt.Sprintf("「%s」を作成 (取引 %d 件、アラート %d 件%s)", title, len(entries), len(alerts), assigned)
		return s.record(ctx, c, a, out.ID, ActionCreated, "case.created", detail)
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// Update changes a case's title, status, assignee or tags. Closing needs
// a resolution; reopening clears it and closed_at (the history keeps it).
func (s *Service) Update(ctx context.Context, id pulid.ID, in UpdateInput) (*ent.Investigation, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, err
	}
	if in.AssigneeID != nil && in.ClearAssignee {
		return nil, apperr.Invalid("input.clearAssignee", "担当者の指定と解除は同時にできません").Because(apperr.MUTUALLY_EXCLUSIVE)
	}
	var title string
	if in.Title != nil {
		if title, err = checkTitle("input.title", *in.Title); err != nil {
			return nil, err
		}
	}
	var tags []string
	if in.SetTags {
		if tags, err = checkTags("input.tags", in.Tags); err != nil {
			return nil, err
		}
	}
	var resolution string
	if in.Resolution != nil {
		resolution = strings.TrimSpace(*in.Resolution)
		if len(resolution) > MaxResolution {
			return nil, apperr.Invalid("input.resolution", "解決内容は %d バイト (全角で約 %d 文字) 以内で入力してください", MaxResolution, MaxResolution/3).Because(apperr.VALUE_TOO_LONG)
		}
	}
	var out *ent.Investigation
	err = s.inTx(ctx, func(c *ent.Client) error {
		cur, err := load(ctx, c, a, id, "id")
		if err != nil {
			return err
		}
		up := c.Investigation.UpdateOne(cur)
		type change struct{ action, detail string }
		var changes []change
		if in.Title != nil && title != cur.Title {
			up.SetTitle(title)
			changes = append(changes, change{ActionTitle, fmt.Sprintf("件名「%s」→「%s」", cur.Title, title)})
		}
		status := cur.Status
		if in.Status != nil {
			if err := investigation.StatusValidator(*in.Status); err != nil {
				return apperr.Invalid("input.status", "状態は OPEN、INVESTIGATING、CLOSED のいずれかです").Because(apperr.INVALID_CHOICE)
			}
			status = *in.Status
		}
		switch {
		case status == investigation.StatusCLOSED && in.Resolution == nil && cur.Status != investigation.StatusCLOSED,
			status == investigation.StatusCLOSED && in.Resolution != nil && resolution == "":
			return apperr.Invalid("input.resolution", "ケースを閉じるときは解決内容を入力してください").Because(apperr.REQUIRED)
		case status != investigation.StatusCLOSED && in.Resolution != nil && resolution != "":
			return apperr.Invalid("input.resolution", "解決内容はケースを閉じるときに入力します").Because(apperr.BAD_USER_INPUT)
		}
		if status != cur.Status {
			detail := fmt.Sprintf("状態 %s → %s", statusJa[cur.Status], statusJa[status])
			switch {
			case status == investigation.StatusCLOSED:
				up.SetClosedAt(s.now()).SetResolution(resolution)
				detail += "。解決内容: " + resolution
			case cur.Status == investigation.StatusCLOSED:
				up.ClearClosedAt().SetResolution("")
			}
			up.SetStatus(status)
			changes = append(changes, change{ActionStatus, detail})
		} else if status == investigation.StatusCLOSED && in.Resolution != nil && resolution != cur.Resolution {
			up.SetResolution(resolution)
			changes = append(changes, change{ActionStatus, "解決内容: " + resolution})
		}
		switch {
		case in.AssigneeID != nil && (cur.AssigneeID == nil || *cur.AssigneeID != *in.AssigneeID):
			u, err := loadUser(ctx, c, a, "input.assigneeID", *in.AssigneeID)
			if err != nil {
				return err
			}
			up.SetAssigneeID(u.ID)
			changes = append(changes, change{ActionAssigned, "担当 " + displayName(u)})
		case in.AssigneeID != nil:
			// Already assigned to them; still an id the caller must be able to name.
			if _, err := loadUser(ctx, c, a, "input.assigneeID", *in.AssigneeID); err != nil {
				return err
			}
		case in.ClearAssignee && cur.AssigneeID != nil:
			up.ClearAssigneeID()
			changes = append(changes, change{ActionAssigned, "担当を解除"})
		}
		if in.SetTags && !slices.Equal(tags, cur.Tags) && !(len(tags) == 0 && len(cur.Tags) == 0) {
			if len(tags) == 0 {
				up.ClearTags()
			} else {
				up.SetTags(tags)
			}
			changes = append(changes, change{ActionTags, "タグ " + tagList(tags)})
		}
		if len(changes) == 0 {
			out = cur
			return nil
		}
		if out, err = up.Save(ctx); err != nil {
			return err
		}
		details := make([]string, len(changes))
		for i, ch := range changes {
			details[i] = ch.detail
			if err := s.history(ctx, c, a, out.ID, ch.action, ch.detail); err != nil {
				return err
			}
		}
		return audit.Record(ctx, c, audit.Entry{Action: "case.updated", TargetID: string(out.ID),
			Detail: strings.Join(details, "、")})
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// AddItems adds receipts and alerts to a case; ones already in it are
// left as they are.
func (s *Service) AddItems(ctx context.Context, id pulid.ID, entryIDs, alertIDs []pulid.ID) (*ent.Investigation, error) {
	return s.changeItems(ctx, id, entryIDs, alertIDs, true)
}

// RemoveItems takes receipts and alerts out of a case.
func (s *Service) RemoveItems(ctx context.Context, id pulid.ID, entryIDs, alertIDs []pulid.ID) (*ent.Investigation, error) {
	return s.changeItems(ctx, id, entryIDs, alertIDs, false)
}

func (s *Service) changeItems(ctx context.Context, id pulid.ID, entryIDs, alertIDs []pulid.ID, add bool) (*ent.Investigation, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, err
	}
	if entryIDs, err = checkIDs("entryIDs", entryIDs); err != nil {
		return nil, err
	}
	if alertIDs, err = checkIDs("alertIDs", alertIDs); err != nil {
		return nil, err
	}
	var out *ent.Investigation
	err = s.inTx(ctx, func(c *ent.Client) error {
		cur, err := load(ctx, c, a, id, "id")
		if err != nil {
			return err
		}
		if len(entryIDs) == 0 && len(alertIDs) == 0 {
			return apperr.Invalid("entryIDs", "取引かアラートを 1 件以上指定してください").Because(apperr.NOTHING_SELECTED)
		}
		haveEntries, err := c.Investigation.QueryEntries(cur).IDs(ctx)
		if err != nil {
			return err
		}
		haveAlerts, err := c.Investigation.QueryAlerts(cur).IDs(ctx)
		if err != nil {
			return err
		}
		up := c.Investigation.UpdateOne(cur)
		var nEntries, nAlerts int
		if add {
			newEntries := without(entryIDs, haveEntries)
			newAlerts := without(alertIDs, haveAlerts)
			if len(haveEntries)+len(newEntries) > MaxItems {
				return apperr.Invalid("entryIDs", "1 つのケースに入れられる取引は %d 件までです (今 %d 件)", MaxItems, len(haveEntries)).Because(apperr.TOO_MANY_ITEMS)
			}
			if len(haveAlerts)+len(newAlerts) > MaxItems {
				return apperr.Invalid("alertIDs", "1 つのケースに入れられるアラートは %d 件までです (今 %d 件)", MaxItems, len(haveAlerts)).Because(apperr.TOO_MANY_ITEMS)
			}
			if _, err := loadEntries(ctx, c, a, "entryIDs", entryIDs); err != nil {
				return err
			}
			if _, err := loadAlerts(ctx, c, a, "alertIDs", alertIDs); err != nil {
				return err
			}
			up.AddEntryIDs(newEntries...).AddAlertIDs(newAlerts...)
			nEntries, nAlerts = len(newEntries), len(newAlerts)
		} else {
			if err := allIn("entryIDs", "取引", entryIDs, haveEntries); err != nil {
				return err
			}
			if err := allIn("alertIDs", "アラート", alertIDs, haveAlerts); err != nil {
				return err
			}
			up.RemoveEntryIDs(entryIDs...).RemoveAlertIDs(alertIDs...)
			nEntries, nAlerts = len(entryIDs), len(alertIDs)
		}
		if nEntries == 0 && nAlerts == 0 {
			out = cur
			return nil
		}
		if out, err = up.Save(ctx); err != nil {
			return err
		}
		// The shops follow the items: read back as the system, since a
		// STAFF viewer's removal may leave rows it could not see before
		// (none: it sees the case only when it sees them all).
		if out, err = s.syncShops(ctx, c, out); err != nil {
			return err
		}
		action, verb, what := ActionEntriesAdded, "追加", "case.entries_added"
		if !add {
			action, verb, what = ActionEntriesRemoved, "削除", "case.entries_removed"
		}
		return s.record(ctx, c, a, out.ID, action, what, fmt.Sprintf("取引 %d 件、アラート %d 件を%s", nEntries, nAlerts, verb))
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// AddNote appends a note to a case. Notes are never changed afterwards
// (rule.AppendOnly refuses any update or delete of one).
func (s *Service) AddNote(ctx context.Context, caseID pulid.ID, text string) (*ent.CaseNote, error) {
	a, err := s.actor(ctx)
	if err != nil {
		return nil, err
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, apperr.Invalid("text", "メモを入力してください").Because(apperr.REQUIRED)
	}
	if len(text) > MaxNote {
		return nil, apperr.Invalid("text", "メモは %d バイト (全角で約 %d 文字) 以内で入力してください", MaxNote, MaxNote/3).Because(apperr.VALUE_TOO_LONG)
	}
	var out *ent.CaseNote
	err = s.inTx(ctx, func(c *ent.Client) error {
		cur, err := load(ctx, c, a, caseID, "caseID")
		if err != nil {
			return err
		}
		n, err := c.CaseNote.Query().Where(casenote.CaseID(cur.ID)).Count(ctx)
		if err != nil {
			return err
		}
		if n >= MaxNotes {
			return apperr.Invalid("caseID", "1 つのケースに書けるメモは %d 件までです", MaxNotes).Because(apperr.TOO_MANY_ITEMS)
		}
		if out, err = c.CaseNote.Create().SetAccountID(a.AccountID).SetCaseID(cur.ID).
			SetAuthorID(a.UserID).SetAuthorName(a.name).SetText(text).Save(ctx); err != nil {
			return err
		}
		// The list is ordered by the last change, and a note is one.
		if err := c.Investigation.UpdateOne(cur).SetUpdatedAt(s.now()).Exec(ctx); err != nil {
			return err
		}
		return s.record(ctx, c, a, cur.ID, ActionNote, "case.note_added",
			fmt.Sprintf("メモ %d 文字: %s", utf8.RuneCountInString(text), clip(text, 200)))
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// Notes are a case's notes, oldest first.
func Notes(ctx context.Context, c *ent.Client, cs *ent.Investigation) ([]*ent.CaseNote, error) {
	return c.CaseNote.Query().Where(casenote.CaseID(cs.ID), casenote.AccountID(cs.AccountID)).
		Order(ent.Asc(casenote.FieldCreatedAt), ent.Asc(casenote.FieldID)).All(ctx)
}

// History is a case's history, oldest first: its newest MaxHistory rows
// (the audit log keeps every change).
func History(ctx context.Context, c *ent.Client, cs *ent.Investigation) ([]*ent.CaseEvent, error) {
	rows, err := c.CaseEvent.Query().Where(caseevent.CaseID(cs.ID), caseevent.AccountID(cs.AccountID)).
		Order(ent.Desc(caseevent.FieldAt), ent.Desc(caseevent.FieldID)).Limit(MaxHistory).All(ctx)
	slices.Reverse(rows)
	return rows, err
}

// Entries are a case's receipts, oldest first.
func Entries(ctx context.Context, c *ent.Client, cs *ent.Investigation) ([]*ent.JournalEntry, error) {
	return c.Investigation.QueryEntries(cs).Where(journalentry.AccountID(cs.AccountID)).
		Order(ent.Asc(journalentry.FieldOccurredAt), ent.Asc(journalentry.FieldID)).All(ctx)
}

// Alerts are a case's alerts, oldest first.
func Alerts(ctx context.Context, c *ent.Client, cs *ent.Investigation) ([]*ent.Alert, error) {
	return c.Investigation.QueryAlerts(cs).Where(alert.AccountID(cs.AccountID)).
		Order(ent.Asc(alert.FieldOccurredAt), ent.Asc(alert.FieldID)).All(ctx)
}

// record writes a history row and the audit row of one change.
func (s *Service) record(ctx context.Context, c *ent.Client, a actor, id pulid.ID, action, auditAction, detail string) error {
	if err := s.history(ctx, c, a, id, action, detail); err != nil {
		return err
	}
	return audit.Record(ctx, c, audit.Entry{Action: auditAction, TargetID: string(id), Detail: detail})
}

func (s *Service) history(ctx context.Context, c *ent.Client, a actor, id pulid.ID, action, detail string) error {
	create := c.CaseEvent.Create().SetAccountID(a.AccountID).SetCaseID(id).
		SetActorName(a.name).SetAction(action).SetDetail(clip(detail, 2000)).SetAt(s.now())
	if a.UserID != "" {
		create.SetActorID(a.UserID)
	}
	return create.Exec(ctx)
}

// syncShops sets shop_ids to the distinct shops of the case's receipts
// and alerts.
func (s *Service) syncShops(ctx context.Context, c *ent.Client, cs *ent.Investigation) (*ent.Investigation, error) {
	sys := viewer.System(ctx)
	entries, err := c.Investigation.QueryEntries(cs).Select(journalentry.FieldShopID).All(sys)
	if err != nil {
		return nil, err
	}
	alerts, err := c.Investigation.QueryAlerts(cs).Select(alert.FieldShopID).All(sys)
	if err != nil {
		return nil, err
	}
	shops := shopsOf(entries, alerts)
	if slices.Equal(shops, cs.ShopIds) {
		return cs, nil
	}
	// As the system: the caller already changed this case in this
	// transaction, and the column only mirrors its rows.
	return c.Investigation.UpdateOne(cs).SetShopIds(shops).Save(sys)
}

func shopsOf(entries []*ent.JournalEntry, alerts []*ent.Alert) []string {
	var shops []string
	for _, e := range entries {
		shops = append(shops, string(e.ShopID))
	}
	for _, a := range alerts {
		if a.ShopID != nil {
			shops = append(shops, string(*a.ShopID))
		}
	}
	slices.Sort(shops)
	return slices.Compact(shops)
}

// load finds a case the viewer sees; anything else is NOT_FOUND on field.
func load(ctx context.Context, c *ent.Client, a actor, id pulid.ID, field string) (*ent.Investigation, error) {
	cs, err := c.Investigation.Query().Where(investigation.ID(id), investigation.AccountID(a.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Missing(field, "ケースが見つかりません").Because(apperr.NOT_FOUND)
	}
	return cs, err
}

// loadEntries reads the receipts ids name as the viewer (STAFF: their
// shops only); the first it cannot see is NOT_FOUND on field[i]. A receipt
// may be in several cases (a join table, ent/schema/journalentry.go).
func loadEntries(ctx context.Context, c *ent.Client, a actor, field string, ids []pulid.ID) ([]*ent.JournalEntry, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	found, err := c.JournalEntry.Query().Where(journalentry.IDIn(ids...), journalentry.AccountID(a.AccountID)).All(ctx)
	if err != nil {
		return nil, err
	}
	if i := missing(ids, found, func(e *ent.JournalEntry) pulid.ID { return e.ID }); i >= 0 {
		return nil, apperr.Missing(fmt.Sprintf("%s[%d]", field, i), "取引が見つかりません").Because(apperr.NOT_FOUND)
	}
	return found, nil
}

// loadAlerts is loadEntries for alerts.
func loadAlerts(ctx context.Context, c *ent.Client, a actor, field string, ids []pulid.ID) ([]*ent.Alert, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	found, err := c.Alert.Query().Where(alert.IDIn(ids...), alert.AccountID(a.AccountID)).All(ctx)
	if err != nil {
		return nil, err
	}
	if i := missing(ids, found, func(x *ent.Alert) pulid.ID { return x.ID }); i >= 0 {
		return nil, apperr.Missing(fmt.Sprintf("%s[%d]", field, i), "アラートが見つかりません").Because(apperr.NOT_FOUND)
	}
	return found, nil
}

// loadUser finds the assignee: a user of the viewer's account. It reads as
// the system, within the account, because STAFF see only their own user
// row and may still hand a case to a manager.
func loadUser(ctx context.Context, c *ent.Client, a actor, field string, id pulid.ID) (*ent.User, error) {
	u, err := c.User.Query().Where(user.ID(id), user.AccountID(a.AccountID)).Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return nil, apperr.Missing(field, "担当者が見つかりません").Because(apperr.NOT_FOUND)
	}
	return u, err
}

func missing[T any](ids []pulid.ID, found []T, id func(T) pulid.ID) int {
	for i, want := range ids {
		if !slices.ContainsFunc(found, func(x T) bool { return id(x) == want }) {
			return i
		}
	}
	return -1
}

func allIn(field, what string, ids, have []pulid.ID) error {
	for i, id := range ids {
		if !slices.Contains(have, id) {
			return apperr.Missing(fmt.Sprintf("%s[%d]", field, i), "このケースにその%sはありません", what).Because(apperr.NOT_FOUND)
		}
	}
	return nil
}

func without(ids, have []pulid.ID) []pulid.ID {
	var out []pulid.ID
	for _, id := range ids {
		if !slices.Contains(have, id) {
			out = append(out, id)
		}
	}
	return out
}

// checkIDs bounds one list of ids and drops repeats (naming a receipt
// twice means it once).
func checkIDs(field string, ids []pulid.ID) ([]pulid.ID, error) {
	if len(ids) > MaxIDsPerCall {
		return nil, apperr.Invalid(field, "一度に指定できるのは %d 件までです", MaxIDsPerCall).Because(apperr.TOO_MANY_ITEMS)
	}
	var out []pulid.ID
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func checkTitle(field, title string) (string, error) {
	title = strings.TrimSpace(title)
	if title == "" {
		return "", apperr.Invalid(field, "件名を入力してください").Because(apperr.REQUIRED)
	}
	if len(title) > MaxTitle {
		return "", apperr.Invalid(field, "件名は %d バイト (全角で約 %d 文字) 以内で入力してください", MaxTitle, MaxTitle/3).Because(apperr.VALUE_TOO_LONG)
	}
	return title, nil
}

func checkTags(field string, tags []string) ([]string, error) {
	if len(tags) > MaxTags {
		return nil, apperr.Invalid(field, "タグは %d 個までです", MaxTags).Because(apperr.TOO_MANY_ITEMS)
	}
	out := []string{}
	for i, t := range tags {
		t = strings.TrimSpace(t)
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case t == "":
			return nil, apperr.Invalid(f, "空のタグは付けられません").Because(apperr.REQUIRED)
		case utf8.RuneCountInString(t) > MaxTagRunes:
			return nil, apperr.Invalid(f, "タグは %d 文字以内で入力してください", MaxTagRunes).Because(apperr.VALUE_TOO_LONG)
		case strings.ContainsAny(t, "\r\n\t"):
			return nil, apperr.Invalid(f, "タグに改行やタブは使えません").Because(apperr.INVALID_TEXT)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

var statusJa = map[investigation.Status]string{
	investigation.StatusOPEN:          "未着手",
	investigation.StatusINVESTIGATING: "調査中",
	investigation.StatusCLOSED:        "解決済み",
}

func tagList(tags []string) string {
	if len(tags) == 0 {
		return "なし"
	}
	return strings.Join(tags, ", ")
}

func displayName(u *ent.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func (s *Service) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	// Microseconds, as PostgreSQL stores them (the list's cursor compares them).
	return now().UTC().Truncate(time.Microsecond)
}

func (s *Service) inTx(ctx context.Context, fn func(c *ent.Client) error) error {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	return db.InTx(ctx, s.Client, log, "cases", func(tx *ent.Tx) error { return fn(tx.Client()) })
}
