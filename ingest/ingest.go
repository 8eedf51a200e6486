package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pulid"
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
	// Thumbnails, when set, takes each new entry's camera picture.
	Thumbnails Thumbnailer
	late       sync.WaitGroup

	// Observer, when set, sees each new entry after commit.
	Observer Observer
	// Rollups, when set, counts each new entry in its transaction.
	Rollups Rollups
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

// IngestBatch stores a batch with the guarantees of storing each receipt
// in its own transaction: one bad item neither blocks nor half-writes the
// others, and a re-sent item is a duplicate. New records share one
// transaction (see storeBatch); the rest go one by one. Results follow input order;
// errors carry fields prefixed with "input[i]". rejected, when not nil,
// holds per-item errors the caller found while decoding: those items are
// reported, not stored.
func (in *Ingester) IngestBatch(ctx context.Context, accountID pulid.ID, rs []Receipt, rejected []error) ([]Result, error) {
	if len(rs) == 0 {
		return nil, apperr.Invalid("input", "データが空です (input is empty)").Because(apperr.REQUIRED)
	}
	if len(rs) > MaxBatch {
		return nil, apperr.Invalid("input", "一度に送れるのは %d 件までです (at most %d items per call)", MaxBatch, MaxBatch).Because(apperr.TOO_MANY_ITEMS)
	}
	type key struct {
		terminal pulid.ID
		ext      string
		kind     journalentry.Kind
		updated  int64
	}
	seen := make(map[key]int, len(rs))
	out := make([]Result, len(rs))
	var todo []int
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
				"同じ取引IDが input[%d] と重複しています (duplicate of input[%d] in this batch)", j, j).Because(apperr.DUPLICATE_IN_LIST)}
			continue
		}
		seen[k] = i
		if err := rs[i].Validate(in.now()); err != nil {
			out[i] = Result{Status: Failed, Err: apperr.WithFieldPrefix(err, prefix)}
			continue
		}
		todo = append(todo, i)
	}
	// Runs of new sales and other records, the bulk of any batch, go in
	// together; changes, re-sent records and anything a shared transaction
	// could not take go one by one, exactly as a single receipt would. The
	// order of the input is the order of the events.
	in.storeInOrder(ctx, accountID, rs, todo, out)
	return out, nil
}

// storeOne stores rs[i] on its own.
func (in *Ingester) storeOne(ctx context.Context, accountID pulid.ID, rs []Receipt, i int, out []Result) {
	res := in.Ingest(ctx, accountID, rs[i])
	if res.Err != nil {
		res.Err = apperr.WithFieldPrefix(res.Err, fmt.Sprintf("input[%d]", i))
	}
	out[i] = res
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
	shot     *Shot
}

// decision is what a receipt means given what is stored: a duplicate of an
// entry, or a new entry of kind at time at (changing original, if any).
type decision struct {
	dup      *ent.JournalEntry
	kind     journalentry.Kind
	at       time.Time
	revision string
	fp       string
	original *ent.JournalEntry
	cameraID *pulid.ID
	// corrected is at on true time when the register's clock is corrected
	// (clock.go), nil otherwise.
	corrected *time.Time
}

// pictureAt is the moment the entry's picture shows: the corrected time
// when there is one, else the entry's own.
func (d decision) pictureAt() time.Time {
	if d.corrected != nil {
		return *d.corrected
	}
	return d.at
}

// PictureAt is the second a stored entry's picture is of: its corrected
// time when the register's clock offset was known, else its own time.
func PictureAt(e *ent.JournalEntry) time.Time {
	if e.CorrectedAt != nil {
		return *e.CorrectedAt
	}
	return e.OccurredAt
}

// reader is what deciding needs; both *ent.Client and *ent.Tx provide it.
type reader struct {
	entries *ent.JournalEntryClient
	links   *ent.LinkClient
}

func (in *Ingester) store(ctx context.Context, accountID pulid.ID, r *Receipt) (Result, error) {
	term, err := in.client.Terminal.Query().Where(terminal.ID(r.TerminalID), terminal.AccountID(accountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return Result{}, apperr.Missing("terminalID", "端末が見つかりません (no such terminal): %s", r.TerminalID).Because(apperr.NOT_FOUND)
	}
	if err != nil {
		return Result{}, fmt.Errorf("load terminal: %w", err)
	}
	// Decide once outside the transaction so the picture can be taken
	// without holding it (the camera may need a moment): re-sent records,
	// which pollers produce all day, never cost a capture.
	pre, err := in.decide(ctx, reader{in.client.JournalEntry, in.client.Link}, term, r)
	if err != nil {
		return Result{}, err
	}
	if pre.dup != nil {
		return Result{Status: Duplicate, Entry: pre.dup}, nil
	}
	entryID := pulid.MustNew("JE")
	var shot *Shot
	var reason string
	var pending bool
	if pre.cameraID != nil && in.Thumbnails != nil {
		shot, reason, pending = in.Thumbnails.Capture(ctx, term.AccountID, entryID, *pre.cameraID, pre.pictureAt())
	}

	tx, err := in.client.Tx(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after commit
	d, err := in.decide(ctx, reader{tx.JournalEntry, tx.Link}, term, r)
	if err != nil {
		return Result{}, err
	}
	if d.dup != nil {
		// Another ingest of the same record committed meanwhile.
		return Result{Status: Duplicate, Entry: d.dup.Unwrap()}, nil
	}
	if shot != nil && (d.cameraID == nil || *d.cameraID != shot.CameraID || !d.pictureAt().Equal(shot.RequestedAt)) {
		shot, reason, pending = nil, "", true // taken for another moment: take it again
	}
	// Never an entry without its picture and without a reason: no link, or
	// a picture still to come (ingest/thumbreason.go).
	reason = in.entryReason(d.cameraID, shot, reason)
	ch, err := in.write(ctx, tx, term, r, d, entryID, shot, reason)
	if err != nil {
		return Result{}, err
	}
	clock, err := in.recordClock(ctx, tx, samplesOf(term.ID, r, d))
	if err != nil {
		return Result{}, err
	}
	lastEvent, err := in.writeEvents(ctx, tx, ch)
	if err != nil {
		return Result{}, err
	}
	if err := tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("commit: %w", err)
	}
	reportClock(clock)
	ch.entry = ch.entry.Unwrap()
	// Publishing after commit: a reader woken earlier could look before the
	// rows are visible. A failed publish only delays delivery until the next
	// signal or resync, so it is logged, not returned.
	in.publish(ctx, lastEvent)
	in.observe(ctx, ch.entry)
	if pending && d.cameraID != nil && in.Thumbnails != nil {
		in.late.Add(1)
		go func() {
			defer in.late.Done()
			in.lateThumbnail(context.WithoutCancel(ctx), ch.entry)
		}()
	}
	return Result{Status: Created, Entry: ch.entry}, nil
}

func (in *Ingester) publish(ctx context.Context, eventID int64) {
	if err := in.bus.Publish(ctx, eventID); err != nil {
		in.log.WarnContext(ctx, "publish event", "event_id", eventID, "err", err)
	}
}

// decide works out, per kind, whether r is new, a duplicate, or a change to
// an earlier sale, and which camera watched it.
func (in *Ingester) decide(ctx context.Context, db reader, term *ent.Terminal, r *Receipt) (decision, error) {
	d := decision{kind: r.Kind, at: r.OccurredAt, fp: r.fingerprint()}
	byKey := func(ext string, kind journalentry.Kind, rev string) (*ent.JournalEntry, error) {
		e, err := db.entries.Query().Where(
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

	var err error
	switch r.Kind {
	case journalentry.KindPAYMENT, journalentry.KindOTHER:
		existing, err := byKey(r.ExternalID, r.Kind, "")
		if err != nil {
			return d, fmt.Errorf("find entry: %w", err)
		}
		if existing == nil {
			break
		}
		if d.dup, err = alreadyKnown(ctx, db.entries, existing, r, d.fp); err != nil || d.dup != nil {
			return d, err
		}
		// Same sale, other content: the provider edited it.
		d.kind, d.original = journalentry.KindMODIFY, existing
		d.at = in.changeTime(r)
		d.revision = revisionOf(d.fp, r.UpdatedAt)
	case journalentry.KindMODIFY:
		if d.original, err = findOriginal(); err != nil {
			return d, fmt.Errorf("find original: %w", err)
		}
		if r.UpdatedAt != nil {
			d.at = *r.UpdatedAt
		}
		d.revision = revisionOf(d.fp, r.UpdatedAt)
	case journalentry.KindCANCEL, journalentry.KindDELETE:
		if d.original, err = findOriginal(); err != nil {
			return d, fmt.Errorf("find original: %w", err)
		}
	}
	if d.kind != journalentry.KindPAYMENT && d.kind != journalentry.KindOTHER {
		if d.dup, err = byKey(r.ExternalID, d.kind, d.revision); err != nil || d.dup != nil {
			if err != nil {
				err = fmt.Errorf("find change: %w", err)
			}
			return d, err
		}
	}
	st := windowOf(term)
	d.corrected = in.correction(&st, r, &d)
	d.cameraID, err = cameraAt(ctx, db.links, term.ID, d.pictureAt())
	return d, err
}

// write stores the entry d decided on (and the mark on the original).
func (in *Ingester) write(ctx context.Context, tx *ent.Tx, term *ent.Terminal, r *Receipt, d decision, id pulid.ID, shot *Shot, reason string) (change, error) {
	entry, err := in.entryCreate(tx, term, r, d, id, reason).Save(ctx)
	if err != nil {
		return change{}, fmt.Errorf("insert entry: %w", err)
	}
	if shot != nil {
		if err := saveShot(ctx, tx, entry, shot); err != nil {
			return change{}, err
		}
	}
	original := d.original
	if original != nil {
		upd := tx.JournalEntry.UpdateOneID(original.ID)
		switch d.kind {
		case journalentry.KindCANCEL:
			upd.SetCanceledAt(d.at)
		case journalentry.KindDELETE:
			upd.SetDeletedAt(d.at)
		case journalentry.KindMODIFY:
			upd.SetModifiedAt(d.at).SetFingerprint(d.fp)
		}
		if original, err = upd.Save(ctx); err != nil {
			return change{}, fmt.Errorf("mark original: %w", err)
		}
	}
	return change{entry: entry, original: original, shot: shot}, nil
}

// entryCreate is the insert of the entry d decided on.
func (in *Ingester) entryCreate(tx *ent.Tx, term *ent.Terminal, r *Receipt, d decision, id pulid.ID, reason string) *ent.JournalEntryCreate {
	create := tx.JournalEntry.Create().
		SetID(id).
		SetAccountID(term.AccountID).
		SetConnectionID(term.ConnectionID).
		SetTerminalID(term.ID).
		SetShopID(term.ShopID).
		SetNillableCameraID(d.cameraID).
		SetKind(d.kind).
		SetOccurredAt(d.at).
		SetNillableCorrectedAt(d.corrected).
		SetReceivedAt(normTime(in.now())).
		SetExternalID(r.ExternalID).
		SetRevision(d.revision).
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
		SetFingerprint(d.fp).
		SetThumbnailReason(reason)
	if len(r.Raw) > 0 {
		create.SetRaw(r.Raw)
	}
	if d.original != nil {
		create.SetRelatedID(d.original.ID)
	}
	return create
}

// alreadyKnown recognises a re-sent sale that is not news, and returns the
// entry it was recorded as: the very edit already stored, a copy of the
// latest state, an edit older than the latest one (webhooks arrive out of
// order), or a late retry of the original content.
func alreadyKnown(ctx context.Context, entries *ent.JournalEntryClient, sale *ent.JournalEntry, r *Receipt, fp string) (*ent.JournalEntry, error) {
	edits := entries.Query().Where(journalentry.RelatedID(sale.ID), journalentry.KindEQ(journalentry.KindMODIFY))
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
func cameraAt(ctx context.Context, links *ent.LinkClient, terminalID pulid.ID, t time.Time) (*pulid.ID, error) {
	l, err := links.Query().
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

// writeEvents appends the outbox rows of a new entry.
func (in *Ingester) writeEvents(ctx context.Context, tx *ent.Tx, ch change) (int64, error) {
	evs := []eventOf{{ch.entry, event.TypeADDED}}
	if ch.original != nil {
		evs = append(evs, eventOf{ch.original, event.TypeUPDATED})
	}
	return in.appendEvents(ctx, tx, evs...)
}

type eventOf struct {
	entry *ent.JournalEntry
	typ   event.Type
}

// appendEvents writes outbox rows and returns the last id. On PostgreSQL a
// transaction-level advisory lock serialises this step to commit, so event
// ids become visible strictly in id order and a reader never skips a
// late-committing id.
func (in *Ingester) appendEvents(ctx context.Context, tx *ent.Tx, evs ...eventOf) (int64, error) {
	if in.dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", EventLockKey); err != nil {
			return 0, fmt.Errorf("event lock: %w", err)
		}
	}
	if err := in.countInRollups(ctx, tx, evs); err != nil {
		return 0, err
	}
	creates := make([]*ent.EventCreate, len(evs))
	for i, e := range evs {
		creates[i] = tx.Event.Create().SetAccountID(e.entry.AccountID).SetNillableCameraID(e.entry.CameraID).
			SetEntryID(e.entry.ID).SetType(e.typ)
	}
	saved, err := tx.Event.CreateBulk(creates...).Save(ctx)
	if err != nil {
		return 0, fmt.Errorf("insert event: %w", err)
	}
	var last int64
	for _, ev := range saved {
		last = max(last, ev.ID)
	}
	return last, nil
}

// EventLockKey is the advisory lock every event writer takes (shared with
// the other writers of events: the thumbnail grabber, and alerts.Service
// for ALERT events).
const EventLockKey int64 = 0x7265676963616d // "regicam"
