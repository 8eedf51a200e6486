package graph

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/pos/polling"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Completeness of the POS feed (schema/feedtruth.graphql): the
// reconciliation sweep of a connection and each register's missing
// receipts, kept by pos/polling (pos/polling/reconcile.go and
// pos/polling/sequence.go).

// reconcileWait bounds how long reconcileConnection waits for its sweep:
// under the server's write timeout, and long enough for a paced 48 h
// window. A sweep still running after it goes on and records its result;
// the answer then shows the previous one.
const reconcileWait = 100 * time.Second

func (r *Resolver) reconcileConnection(ctx context.Context, id pulid.ID) (*ent.PosConnection, error) {
	v, err := viewer.Require(ctx, viewer.ScopeLinksWrite)
	if err != nil {
		return nil, err
	}
	c, err := r.Client.PosConnection.Query().Where(posconnection.ID(id), posconnection.AccountID(v.AccountID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.Missing("id", "POS 連携が見つかりません (connection not found)").Because(apperr.NOT_FOUND)
	}
	if err != nil {
		return nil, err
	}
	if r.Connectors == nil {
		return nil, apperr.Invalid("id", "POS 連携は無効です (connectors are disabled)").Because(apperr.FEATURE_DISABLED)
	}
	wctx, cancel := context.WithTimeout(ctx, reconcileWait)
	defer cancel()
	if _, err := r.Connectors.ReconcileNow(wctx, c.ID); err != nil {
		if _, ok := apperr.As(err); ok {
			return nil, err
		}
		// The provider's failure is on the connection (reconcile_error),
		// which is what the caller reads back; so is a sweep still running.
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
	}
	return r.Client.PosConnection.Get(ctx, c.ID)
}

func (r *Resolver) reconciliation(_ context.Context, c *ent.PosConnection) *model.Reconciliation {
	window := polling.DefaultReconcileWindow
	if r.Connectors != nil {
		window = r.Connectors.ReconcileWindow()
	}
	return &model.Reconciliation{
		LastAt: c.ReconciledAt, NextAt: c.NextReconcileAt, WindowHours: int(window / time.Hour),
		Checked: c.ReconcileChecked, Vanished: c.ReconcileVanished, Changed: c.ReconcileChanged, LastError: c.ReconcileError,
	}
}

func (r *Resolver) missingReceipts(ctx context.Context, c *ent.PosConnection) (int, error) {
	terms, err := r.Client.Terminal.Query().Where(terminal.ConnectionID(c.ID), terminal.MissingRangesNotNil()).
		Select(terminal.FieldMissingRanges).All(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range terms {
		n += polling.OpenMissing(polling.MissingRanges(t.MissingRanges))
	}
	return n, nil
}

// feedHealth counts the register's receipts of the last 24 hours (sales,
// cancels and other records; edits and deletions are changes, not
// receipts) on the (terminal_id, occurred_at) index.
func (r *Resolver) feedHealth(ctx context.Context, t *ent.Terminal) (*model.TerminalFeedHealth, error) {
	n, err := r.Client.JournalEntry.Query().Where(journalentry.TerminalID(t.ID),
		journalentry.OccurredAtGTE(time.Now().Add(-24*time.Hour)),
		journalentry.KindIn(journalentry.KindPAYMENT, journalentry.KindCANCEL, journalentry.KindOTHER)).Count(ctx)
	if err != nil {
		return nil, err
	}
	last, err := r.lastReceiptAt(ctx, t)
	if err != nil {
		return nil, err
	}
	ranges := polling.MissingRanges(t.MissingRanges)
	out := &model.TerminalFeedHealth{LastReceiptAt: last, ReceiptsLast24h: n,
		MissingRanges: make([]*model.MissingReceiptRange, 0, len(ranges)), MissingCount: polling.OpenMissing(ranges)}
	for _, m := range ranges {
		out.MissingRanges = append(out.MissingRanges, &model.MissingReceiptRange{
			From: strconv.FormatInt(m.From, 10), To: strconv.FormatInt(m.To, 10), Count: m.Count(),
			FirstNoticedAt: m.FirstNoticedAt, Checks: m.Checks, Lost: m.Lost,
		})
	}
	return out, nil
}

// lastReceiptAt is the newest receipt's time of the register, whichever way
// it came in (the poll runtime keeps last_receipt_at, but receipts of
// ingestJournal and the demo generator pass only through ingest): the
// newest entry on the (terminal_id, occurred_at) index, or the stored time
// when that is later.
func (r *Resolver) lastReceiptAt(ctx context.Context, t *ent.Terminal) (*time.Time, error) {
	e, err := r.Client.JournalEntry.Query().Where(journalentry.TerminalID(t.ID),
		journalentry.KindIn(journalentry.KindPAYMENT, journalentry.KindCANCEL, journalentry.KindOTHER)).
		Order(ent.Desc(journalentry.FieldOccurredAt)).Select(journalentry.FieldOccurredAt).First(ctx)
	switch {
	case ent.IsNotFound(err):
		return t.LastReceiptAt, nil
	case err != nil:
		return nil, err
	}
	if t.LastReceiptAt != nil && t.LastReceiptAt.After(e.OccurredAt) {
		return t.LastReceiptAt, nil
	}
	at := e.OccurredAt
	return &at, nil
}
