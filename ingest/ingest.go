package ingest

import (
	"context"
	"fmt"
	"strings"
	"log/slog"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/schema/pulid"
	"github.com/regicam/regicam/ent/terminal"
)

// Status says what ingesting one receipt did.
type Status string

const (
	Created   Status = "CREATED"
	Duplicate Status = "DUPLICATE"
	Failed    Status = "FAILED"
)

// Result of one receipt. Entry is the entry the receipt produced, or the one
// already stored for it when Status is Duplicate.
type Result struct {
	Status Status
	Entry  *ent.JournalEntry
	Err    error
}

// Publisher announces committed events (pubsub.Bus satisfies it).
type Publisher interface {
	Publish(ctx context.Context, eventID int64) error
}

// Ingester writes receipts into the journal.
type Ingester struct {
	client  *ent.Client
	dialect string
	bus     Publisher
	log     *slog.Logger
	now     func() time.Time
	// AfterCommit, when set, sees every stored entry after its commit (the
	// thumbnail grabber hooks in here).
	AfterCommit func(ctx context.Context, e *ent.JournalEntry)
}

// New returns an Ingester; dialectName is entgo's dialect name.
func New(client *ent.Client, dialectName string, bus Publisher, log *slog.Logger) *Ingester {
	if log == nil {
		log = slog.Default()
	}
	return &Ingester{client: client, dialect: dialectName, bus: bus, log: log, now: time.Now}
}

// MaxBatch is the largest batch IngestBatch accepts.
const MaxBatch = 500

// IngestBatch stores each receipt in its own transaction, so one bad item
// neither blocks nor half-writes the others. Results follow input order;
// errors carry fields prefixed with "input[i]". rejected, when not nil,
// holds per-item errors the caller found while decoding: those items are
// reported, not stored.
func (in *Ingester) IngestBatch(ctx context.Context, accountID pulid.ID, rs []Receipt, rejected []error) ([]Result, error) {
	if len(rs) == 0 {
		return nil, apperr.Invalid("input", "データが空です (input is empty)")
	}
	if len(rs) > MaxBatch {
		return nil, apperr.Invalid("input", "一度に送れるのは %d 件までです (at most %d items per call)", MaxBatch, MaxBatch)
	}
	type key struct {
		terminal pulid.ID
		ext      string
		kind     journalentry.Kind
		updated  int64
	}
	seen := make(map[key]int, len(rs))
	out := make([]Result, len(rs))
	for i := range rs {
		prefix := fmt.Sprintf("input[%d]", i)
		if i < len(rejected) && rejected[i] != nil {
			out[i] = Result{Status: Failed, Err: apperr.WithFieldPrefix(rejected[i], prefix)}
			continue
		}
		k := key{rs[i].TerminalID, strings.TrimSpace(rs[i].ExternalID), rs[i].Kind, 0}
		if rs[i].UpdatedAt != nil {
			k.updated = rs[i].UpdatedAt.UnixMicro()
		}
		if j, dup := seen[k]; dup {
			out[i] = Result{Status: Failed, Err: apperr.Invalid(prefix+".externalID",
				"同じ取引IDが input[%d] と重複しています (duplicate of input[%d] in this batch)", j, j)}
			continue
		}
		seen[k] = i
		res := in.Ingest(ctx, accountID, rs[i])
		if res.Err != nil {
			res.Err = apperr.WithFieldPrefix(res.Err, prefix)
		}
		out[i] = res
	}
	return out, nil
}

// Ingest stores one receipt. Failures are in Result.Err with Status Failed.
func (in *Ingester) Ingest(ctx context.Context, accountID pulid.ID, r Receipt) Result {
	if err := r.Validate(in.now()); err != nil {
		return Result{Status: Failed, Err: err}
	}
	res, err := in.store(ctx, accountID, &r)
	if err != nil && ent.IsConstraintError(err) {
		// A concurrent ingest of the same record won the insert; ours is
		// then a duplicate, which the second attempt finds.
		res, err = in.store(ctx, accountID, &r)
	}
	if err != nil {
		if _, ok := apperr.As(err); !ok {
			in.log.ErrorContext(ctx, "ingest failed", "external_id", r.ExternalID, "err", err)
		}
		return Result{Status: Failed, Err: err}
	}
	return res
}

type change struct {
	entry    *ent.JournalEntry
	original *ent.JournalEntry // the entry this one changes, marked in the same tx
}

func (in *Ingester) store(ctx context.Context, accountID pulid.ID, r *Receipt) (Result, error) {
	tx, err := in.client.Tx(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after commit

	term, err := tx.Terminal.Query().Where(terminal.ID(r.TerminalID), terminal.AccountID(accountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return Result{}, apperr.Missing("terminalID", "端末が見つかりません (no such terminal): %s", r.TerminalID)
	}
	if err != nil {
		return Result{}, fmt.Errorf("load terminal: %w", err)
	}
	res, ch, err := in.apply(ctx, tx, term, r)
	if err != nil {
		return res, err
	}
	if res.Status == Duplicate {
		// Detach from the transaction so callers can still load edges.
		res.Entry = res.Entry.Unwrap()
		return res, nil
	}
	lastEvent, err := in.writeEvents(ctx, tx, ch)
	if err != nil {
		return Result{}, err
	}
	if err := tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("commit: %w", err)
	}
	res.Entry = res.Entry.Unwrap()
	ch.entry = res.Entry
	// Publishing after commit: a reader woken earlier could look before the
	// rows are visible. A failed publish only delays delivery until the next
	// signal or resync, so it is logged, not returned.
	if err := in.bus.Publish(ctx, lastEvent); err != nil {
		in.log.WarnContext(ctx, "publish event", "event_id", lastEvent, "err", err)
	}
	if in.AfterCommit != nil {
		in.AfterCommit(ctx, ch.entry)
	}
	return res, nil
}

// apply decides, per kind, whether r is new, a duplicate, or a change to an
// earlier sale, and writes the entry (and the mark on the original).
func (in *Ingester) apply(ctx context.Context, tx *ent.Tx, term *ent.Terminal, r *Receipt) (Result, change, error) {
	fp := r.fingerprint()
	byKey := func(ext string, kind journalentry.Kind, rev string) (*ent.JournalEntry, error) {
		e, err := tx.JournalEntry.Query().Where(
			journalentry.ConnectionID(term.ConnectionID), journalentry.ExternalID(ext),
			journalentry.KindEQ(kind), journalentry.Revision(rev)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, nil
		}
		return e, err
	}
	// The sale a change refers to: a PAYMENT, else an OTHER record.
	findOriginal := func() (*ent.JournalEntry, error) {
		ext := r.ExternalID
		if r.RelatedExternalID != "" {
			ext = r.RelatedExternalID
		}
		for _, k := range []journalentry.Kind{journalentry.KindPAYMENT, journalentry.KindOTHER} {
			if e, err := byKey(ext, k, ""); e != nil || err != nil {
				return e, err
			}
		}
		return nil, nil
	}

	kind, at, revision := r.Kind, r.OccurredAt, ""
	var original *ent.JournalEntry
	var err error
	switch r.Kind {
	case journalentry.KindPAYMENT, journalentry.KindOTHER:
		existing, err := byKey(r.ExternalID, r.Kind, "")
		if err != nil {
			return Result{}, change{}, fmt.Errorf("find entry: %w", err)
		}
		if existing == nil {
			break
		}
		seen, err := in.alreadyKnown(ctx, tx, existing, r, fp)
		if err != nil {
			return Result{}, change{}, err
		}
		if seen != nil {
			return Result{Status: Duplicate, Entry: seen}, change{}, nil
		}
		// Same sale, other content: the provider edited it.
		kind, original = journalentry.KindMODIFY, existing
		at = in.changeTime(r)
		revision = revisionOf(fp, r.UpdatedAt)
	case journalentry.KindMODIFY:
		if original, err = findOriginal(); err != nil {
			return Result{}, change{}, fmt.Errorf("find original: %w", err)
		}
		if r.UpdatedAt != nil {
			at = *r.UpdatedAt
		}
		revision = revisionOf(fp, r.UpdatedAt)
	case journalentry.KindCANCEL, journalentry.KindDELETE:
		if original, err = findOriginal(); err != nil {
			return Result{}, change{}, fmt.Errorf("find original: %w", err)
		}
	}
	if kind != journalentry.KindPAYMENT && kind != journalentry.KindOTHER {
		existing, err := byKey(r.ExternalID, kind, revision)
		if err != nil {
			return Result{}, change{}, fmt.Errorf("find change: %w", err)
		}
		if existing != nil {
			return Result{Status: Duplicate, Entry: existing}, change{}, nil
		}
	}

	cameraID, err := cameraAt(ctx, tx, term.ID, at)
	if err != nil {
		return Result{}, change{}, err
	}
	create := tx.JournalEntry.Create().
		SetAccountID(term.AccountID).
		SetConnectionID(term.ConnectionID).
		SetTerminalID(term.ID).
		SetShopID(term.ShopID).
		SetNillableCameraID(cameraID).
		SetKind(kind).
		SetOccurredAt(at).
		SetReceivedAt(normTime(in.now())).
		SetExternalID(r.ExternalID).
		SetRevision(revision).
		SetReceiptNo(r.ReceiptNo).
		SetRegisterNo(r.RegisterNo).
		SetStaffID(r.StaffID).
		SetStaffName(r.StaffName).
		SetTotal(r.Total).
		SetDeposit(r.Deposit).
		SetChange(r.Change).
		SetNillableEnteredAt(r.EnteredAt).
		SetPaymentMethod(r.PaymentMethod).
		SetItems(r.Items).
		SetMaskedCard(r.MaskedCard).
		SetFingerprint(fp)
	if len(r.Raw) > 0 {
		create.SetRaw(r.Raw)
	}
	if original != nil {
		create.SetRelatedID(original.ID)
	}
	entry, err := create.Save(ctx)
	if err != nil {
		return Result{}, change{}, fmt.Errorf("insert entry: %w", err)
	}
	if original != nil {
		upd := tx.JournalEntry.UpdateOne(original)
		switch kind {
		case journalentry.KindCANCEL:
			upd.SetCanceledAt(at)
		case journalentry.KindDELETE:
			upd.SetDeletedAt(at)
		case journalentry.KindMODIFY:
			upd.SetModifiedAt(at).SetFingerprint(fp)
		}
		if original, err = upd.Save(ctx); err != nil {
			return Result{}, change{}, fmt.Errorf("mark original: %w", err)
		}
	}
	return Result{Status: Created, Entry: entry}, change{entry: entry, original: original}, nil
}

// alreadyKnown recognises a re-sent sale that is not news, and returns the
// entry it was recorded as: the very edit already stored, a copy of the
// latest state, an edit older than the latest one (webhooks arrive out of
// order), or a late retry of the original content.
func (in *Ingester) alreadyKnown(ctx context.Context, tx *ent.Tx, sale *ent.JournalEntry, r *Receipt, fp string) (*ent.JournalEntry, error) {
	edits := tx.JournalEntry.Query().Where(journalentry.RelatedID(sale.ID), journalentry.KindEQ(journalentry.KindMODIFY))
	same, err := edits.Clone().Where(journalentry.Revision(revisionOf(fp, r.UpdatedAt))).First(ctx)
	if err == nil {
		return same, nil
	}
	if !ent.IsNotFound(err) {
		return nil, fmt.Errorf("find edit: %w", err)
	}
	if sale.Fingerprint == fp {
		latest, err := edits.Clone().Order(ent.Desc(journalentry.FieldOccurredAt), ent.Desc(journalentry.FieldID)).First(ctx)
		if ent.IsNotFound(err) {
			return sale, nil
		}
		return latest, err
	}
	if sale.ModifiedAt != nil {
		if r.UpdatedAt != nil && !r.UpdatedAt.After(*sale.ModifiedAt) {
			return sale, nil
		}
		if r.UpdatedAt == nil && fp == receiptOf(sale).fingerprint() {
			return sale, nil
		}
	}
	return nil, nil
}

// receiptOf rebuilds the content a stored entry was made from.
func receiptOf(e *ent.JournalEntry) *Receipt {
	return &Receipt{
		ReceiptNo: e.ReceiptNo, RegisterNo: e.RegisterNo, StaffID: e.StaffID, StaffName: e.StaffName,
		PaymentMethod: e.PaymentMethod, MaskedCard: e.MaskedCard, Total: e.Total, Deposit: e.Deposit,
		Change: e.Change, EnteredAt: e.EnteredAt, Items: e.Items,
	}
}

// changeTime is when a provider edit happened: its own update time when it
// says so, else when we learned of it.
func (in *Ingester) changeTime(r *Receipt) time.Time {
	if r.UpdatedAt != nil {
		return *r.UpdatedAt
	}
	return normTime(in.now())
}

func revisionOf(fp string, updatedAt *time.Time) string {
	if updatedAt == nil {
		return fp
	}
	return fmt.Sprintf("%s@%d", fp, updatedAt.UnixMicro())
}

// cameraAt returns the camera linked to the terminal at t: links are
// half-open intervals [created_at, ended_at).
func cameraAt(ctx context.Context, tx *ent.Tx, terminalID pulid.ID, t time.Time) (*pulid.ID, error) {
	l, err := tx.Link.Query().
		Where(link.TerminalID(terminalID), link.CreatedAtLTE(t),
			link.Or(link.EndedAtIsNil(), link.EndedAtGT(t))).
		Order(ent.Desc(link.FieldCreatedAt)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resolve camera: %w", err)
	}
	return &l.CameraID, nil
}

// writeEvents appends the outbox rows. On PostgreSQL a transaction-level
// advisory lock serialises this step to commit, so event ids become visible
// strictly in id order and a reader never skips a late-committing id.
func (in *Ingester) writeEvents(ctx context.Context, tx *ent.Tx, ch change) (int64, error) {
	if in.dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", EventLockKey); err != nil {
			return 0, fmt.Errorf("event lock: %w", err)
		}
	}
	var last int64
	add := func(e *ent.JournalEntry, typ event.Type) error {
		ev, err := tx.Event.Create().SetAccountID(e.AccountID).SetNillableCameraID(e.CameraID).
			SetEntryID(e.ID).SetType(typ).Save(ctx)
		if err != nil {
			return fmt.Errorf("insert event: %w", err)
		}
		last = ev.ID
		return nil
	}
	if err := add(ch.entry, event.TypeADDED); err != nil {
		return 0, err
	}
	if ch.original != nil {
		if err := add(ch.original, event.TypeUPDATED); err != nil {
			return 0, err
		}
	}
	return last, nil
}

// EventLockKey is the advisory lock every event writer takes (shared with
// other writers of events such as the thumbnail grabber).
const EventLockKey int64 = 0x7265676963616d // "regicam"
