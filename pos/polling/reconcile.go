package polling

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pulid"
)

// The reconciliation sweep: polling reads what changed, and a change that
// never shows up as one is missed for good — a sale deleted at the provider
// (Smaregi tells no poller), an edit that did not move the update time, a
// lost webhook, receipts a register uploaded late. So the replica holding
// a connection's poll lease re-reads the last ReconcileWindow from the
// provider every ReconcileEvery and compares:
//
//   - every record the provider lists goes through ingest again: unchanged
//     ones are duplicates, changed ones become MODIFY / CANCEL entries as
//     from the poller, ones never stored are stored;
//   - a sale stored with a time in the window (received before the listing
//     began, not already deleted) that the provider no longer has becomes a
//     DELETE entry at the moment it was noticed, related to the sale (its
//     idempotency key is the sale's id and kind DELETE, so two replicas
//     sweeping at once store it once);
//   - each terminal's open missing ranges (sequence.go) count one more
//     look; the listing has just brought in whatever arrived.
//
// The sweep never touches the poll cursor: a failed or refused sweep only
// records its error (reconcile_error) and runs again at next_reconcile_at.
const (
	DefaultReconcileEvery  = 15 * time.Minute
	DefaultReconcileWindow = 48 * time.Hour
	// MaxGoneChecks bounds the ids one sweep asks the provider about (one
	// request each on Smaregi); the rest wait for the next sweep.
	MaxGoneChecks = 200
	// MassVanish: when more than this many sales, and more than half of
	// the window's, are gone at once, the sweep records nothing and says
	// so. That is a provider answering empty, or a connection pointed at
	// another contract, far likelier than a shop deleting its day.
	MassVanish = 10
	// maxCompared bounds the stored sales one sweep compares.
	maxCompared = 100_000
)

// SweepResult is what one sweep found.
type SweepResult struct {
	Checked   int // records the provider listed
	Vanished  int // sales gone at the provider, now DELETE entries
	Changed   int // MODIFY / CANCEL entries the sweep stored
	Recovered int // records the poller had never stored
	Lost      int // missing sequence numbers declared lost
}

type sweepReply struct {
	res SweepResult
	err error
}

// ReconcileWindow is how far back each sweep reads.
func (rt *Runtime) ReconcileWindow() time.Duration { return rt.opt.ReconcileWindow }

// ReconcileNow runs a sweep of the connection at once, on this replica
// whether or not it holds the lease (ingest is idempotent), and waits for
// it or ctx. What it found is also recorded on the connection.
func (rt *Runtime) ReconcileNow(ctx context.Context, id pulid.ID) (SweepResult, error) {
	rt.mu.Lock()
	w := rt.workers[id]
	rt.mu.Unlock()
	if w == nil {
		if err := rt.Rescan(ctx); err != nil {
			return SweepResult{}, err
		}
		rt.mu.Lock()
		w = rt.workers[id]
		rt.mu.Unlock()
		if w == nil {
			return SweepResult{}, apperr.Invalid("id", "この接続は照合に対応していません (this connection is not polled)").Because(apperr.POLLING_UNSUPPORTED)
		}
	}
	reply := make(chan sweepReply, 1)
	select {
	case w.sweep <- reply:
	case <-ctx.Done():
		return SweepResult{}, ctx.Err()
	}
	select {
	case r := <-reply:
		return r.res, r.err
	case <-ctx.Done():
		return SweepResult{}, ctx.Err()
	}
}

// sweepIfDue runs the scheduled sweep when the connection's time has come.
func (rt *Runtime) sweepIfDue(ctx context.Context, id pulid.ID) {
	c, err := rt.client.PosConnection.Get(ctx, id)
	if err != nil {
		rt.log.Warn("reconciliation: load connection", "connection", id, "err", err)
		return
	}
	if c.NextReconcileAt != nil && c.NextReconcileAt.After(rt.now()) {
		return
	}
	_, err = rt.Reconcile(ctx, id)
	if e, ok := apperr.As(err); ok && e.Reason == apperr.POLLING_UNSUPPORTED {
		return // a provider that cannot be re-read: nothing to sweep
	}
	if err != nil && ctx.Err() == nil {
		rt.log.Warn("reconciliation failed", "connection", id, "err", err)
	}
}

// Reconcile runs one sweep of the connection in the caller's goroutine and
// records it on the connection (reconciled_at, next_reconcile_at, the
// counts, reconcile_error). The poll loop calls it between polls; use
// ReconcileNow from elsewhere.
func (rt *Runtime) Reconcile(ctx context.Context, id pulid.ID) (SweepResult, error) {
	c, err := rt.client.PosConnection.Get(ctx, id)
	if err != nil {
		return SweepResult{}, fmt.Errorf("load connection: %w", err)
	}
	factory := rt.factories[c.Provider]
	if factory == nil {
		return SweepResult{}, apperr.Invalid("id", "この接続は照合に対応していません (this connection is not polled)").Because(apperr.POLLING_UNSUPPORTED)
	}
	start := rt.now()
	var res SweepResult
	src, err := factory(ctx, c)
	if err == nil {
		r, ok := src.(pos.Reconciler)
		if !ok {
			return SweepResult{}, apperr.Invalid("id", "この接続は照合に対応していません (this provider cannot be re-read)").Because(apperr.POLLING_UNSUPPORTED)
		}
		res, err = rt.sweep(ctx, c, r, start)
	}
	p := providerLabel(c.Provider)
	metrics.ReconcileFinding(p, "vanished", res.Vanished)
	metrics.ReconcileFinding(p, "changed", res.Changed)
	// "missing" and "recovered" count sequence numbers (deliver, as they
	// are noticed and arrive, from any path); records the sweep stored
	// that the poller had missed show as regicam_ingest_entries_total
	// {path="reconcile",result="created"}.
	metrics.ReconcileFinding(p, "lost", res.Lost)
	end := rt.now()
	upd := rt.client.PosConnection.UpdateOneID(id).SetNextReconcileAt(end.Add(rt.opt.ReconcileEvery).UTC())
	if err == nil {
		upd.SetReconciledAt(end.UTC()).SetReconcileChecked(res.Checked).SetReconcileVanished(res.Vanished).
			SetReconcileChanged(res.Changed).SetReconcileError("")
	} else {
		upd.SetReconcileError(truncate(plainSweepError(err), 500))
	}
	// Recorded even when the caller's ctx ended: the sweep's findings are
	// stored entries already.
	if uerr := upd.Exec(context.WithoutCancel(ctx)); uerr != nil {
		rt.log.Warn("record reconciliation", "connection", id, "err", uerr)
	}
	if err == nil && res != (SweepResult{Checked: res.Checked}) {
		rt.log.Info("reconciliation found", "connection", id, "checked", res.Checked, "vanished", res.Vanished,
			"changed", res.Changed, "recovered", res.Recovered, "lost", res.Lost)
	}
	return res, err
}

func (rt *Runtime) sweep(ctx context.Context, c *ent.PosConnection, r pos.Reconciler, now time.Time) (SweepResult, error) {
	var res SweepResult
	from := now.Add(-rt.opt.ReconcileWindow)
	// Only sales stored before the listing began are compared with it: one
	// the poller stores meanwhile may be newer than the listing.
	listedAt := time.Now()
	recs, err := r.Reconcile(ctx, from, now)
	if err != nil {
		return res, err
	}
	res.Checked = len(recs)
	listed := make(map[string]bool, len(recs))
	for _, rec := range recs {
		listed[rec.Receipt.ExternalID] = true
	}
	_, stored, err := rt.deliver(ctx, c, recs, metrics.PathSweep)
	res.count(stored)
	if err != nil {
		return res, err
	}

	sales, err := rt.client.JournalEntry.Query().Where(journalentry.AccountID(c.AccountID),
		journalentry.KindEQ(journalentry.KindPAYMENT), journalentry.OccurredAtGTE(from), journalentry.OccurredAtLT(now),
		journalentry.ConnectionID(c.ID), journalentry.DeletedAtIsNil(), journalentry.ReceivedAtLT(listedAt)).
		Order(ent.Asc(journalentry.FieldOccurredAt), ent.Asc(journalentry.FieldID)).Limit(maxCompared).
		Select(journalentry.FieldExternalID, journalentry.FieldRegisterNo).All(ctx)
	if err != nil {
		return res, fmt.Errorf("load stored sales: %w", err)
	}
	var unlisted []string
	register := map[string]string{}
	for _, s := range sales {
		if !listed[s.ExternalID] && len(unlisted) < MaxGoneChecks {
			unlisted = append(unlisted, s.ExternalID)
			register[s.ExternalID] = s.RegisterNo
		}
	}
	if len(unlisted) > 0 {
		gone, err := r.Gone(ctx, unlisted)
		if err != nil {
			return res, err
		}
		if len(gone) > MassVanish && 2*len(gone) > len(sales) {
			return res, massVanishError{n: len(gone), of: len(sales)}
		}
		// The moment it was noticed, on the clock ingest checks against.
		at := time.Now().UTC()
		if n := rt.now(); n.Before(at) {
			at = n.UTC()
		}
		var dels []pos.Record
		for _, ext := range gone {
			dels = append(dels, pos.Record{Receipt: ingest.Receipt{ExternalID: ext, RelatedExternalID: ext,
				Kind: journalentry.KindDELETE, OccurredAt: at, RegisterNo: register[ext]}})
		}
		_, stored, err := rt.deliver(ctx, c, dels, metrics.PathSweep)
		res.count(stored)
		if err != nil {
			return res, err
		}
	}

	tids, err := rt.client.Terminal.Query().Where(terminal.ConnectionID(c.ID), terminal.MissingRangesNotNil()).IDs(ctx)
	if err != nil {
		return res, fmt.Errorf("load terminals: %w", err)
	}
	for _, tid := range tids {
		_, _, lost, err := rt.updateFeed(ctx, tid, feedUpdate{}, true)
		if err != nil {
			return res, err
		}
		res.Lost += lost
	}
	return res, nil
}

// count adds the entries a sweep stored to what it found.
func (res *SweepResult) count(stored []ingest.Result) {
	for _, s := range stored {
		if s.Status != ingest.Created || s.Entry == nil {
			continue
		}
		switch s.Entry.Kind {
		case journalentry.KindMODIFY, journalentry.KindCANCEL:
			res.Changed++
		case journalentry.KindDELETE:
			res.Vanished++
		default:
			res.Recovered++
		}
	}
}

// massVanishError: a sweep that would delete most of the window.
type massVanishError struct{ n, of int }

func (e massVanishError) Error() string {
	return fmt.Sprintf("POS で見つからない取引が %d 件（照合した %d 件のうち）あり、多すぎるため削除として記録するのを保留しました。POS 側のデータと連携先の契約を確認してください。", e.n, e.of)
}

// plainSweepError is the reconcile_error an owner reads: what happened in
// plain Japanese and what happens next.
func plainSweepError(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Message
	}
	var mass massVanishError
	if errors.As(err, &mass) {
		return mass.Error()
	}
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return "照合が時間内に終わりませんでした。次回の照合で続きを行います。"
	case needsReauth(err):
		return "POS の認証が通らないため照合できませんでした。連携の設定をやり直してください。"
	case strings.Contains(msg, "rate limited") || strings.Contains(msg, "429"):
		return "POS のアクセス制限（429）が続いたため照合を中断しました。取り込み位置はそのままで、次回の照合で再試行します。"
	default:
		return "POS から取引を読み出せなかったため照合を中断しました。取り込み位置はそのままで、次回の照合で再試行します。"
	}
}
