package smaregi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pos"
)

// reconcileSlack widens the listing of a reconciliation window backwards:
// the window is of sale times (the register's clock) and Smaregi is asked
// by transactionDateTime (its own), which a register running a little
// ahead puts before the sale. A sale whose register ran further ahead is
// missing from the listing, and Gone looks it up by id: a request more,
// never a false deletion.
const reconcileSlack = 15 * time.Minute

// maxSplit bounds how often a refused window is halved (48 h → 3 h).
const maxSplit = 4

// Reconcile lists every transaction received in [from − slack, to] by
// transactionDateTime, in windows Smaregi accepts, and maps them. The
// client paces every request on the contract's shared bucket and retries
// 429 and 5xx; a window that still fails (a storm longer than the
// client's retries, or a range Smaregi refuses as too long) is halved
// after a pause and each half read on its own, down to maxSplit halvings.
// It implements pos.Reconciler.
func (p *Poller) Reconcile(ctx context.Context, from, to time.Time) ([]pos.Record, error) {
	// To is inclusive: the second of to itself is read too (an upload
	// of this very second must not wait a sweep).
	end := to.Truncate(time.Second)
	if end.Before(from) {
		return nil, nil
	}
	var ts []Transaction
	var list func(w Window, depth int) error
	list = func(w Window, depth int) error {
		got, err := p.c.Transactions(ctx, w, p.opt.StoreID)
		if err == nil {
			ts = append(ts, got...)
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, pos.ErrAuth) || depth >= maxSplit || w.To.Sub(w.From) < 2*time.Minute {
			return err
		}
		p.c.log.Info("smaregi reconciliation window refused; splitting it", "from", FormatTime(w.From), "to", FormatTime(w.To), "err", err)
		if err := pos.Sleep(ctx, time.Duration(depth+1)*time.Second); err != nil {
			return err
		}
		mid := w.From.Add(w.To.Sub(w.From) / 2).Truncate(time.Second)
		if err := list(Window{Field: w.Field, From: w.From, To: mid}, depth+1); err != nil {
			return err
		}
		return list(Window{Field: w.Field, From: mid.Add(time.Second), To: w.To}, depth+1)
	}
	for _, w := range SplitWindows(from.Add(-reconcileSlack), end, MaxWindow) {
		w.Field = FieldTransaction
		if err := list(w, 0); err != nil {
			return nil, err
		}
	}
	// Halves and windows do not overlap, but a transaction edited between
	// two pages may be listed twice: keep the newest.
	byID := map[string]int{}
	out := ts[:0]
	for _, t := range ts {
		if i, ok := byID[t.TransactionHeadID]; ok && t.TransactionHeadID != "" {
			if !parseTime(t.UpdDateTime).Before(parseTime(out[i].UpdDateTime)) {
				out[i] = t
			}
			continue
		}
		byID[t.TransactionHeadID] = len(out)
		out = append(out, t)
	}
	return p.records(ctx, out)
}

// Gone looks each id up (GET /pos/transactions/{id}, paced like every
// request) and returns the ones Smaregi answers 404 for. An id that is
// still there was only outside the listing (its server time before the
// window): it is not gone. It implements pos.Reconciler.
func (p *Poller) Gone(ctx context.Context, ids []string) ([]string, error) {
	_, missing, err := p.c.Get(ctx, ids)
	if err != nil {
		return nil, err
	}
	return missing, nil
}

// sequenceOf reads terminalTranId, the register's own running number of
// the transaction (ingest.Receipt.Sequence); 0 when it is not a positive
// number.
func sequenceOf(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// outcome is the metrics outcome of one attempt at a request.
func outcome(status int, err error) string {
	switch {
	case err != nil:
		return metrics.OutcomeError
	case status == http.StatusTooManyRequests:
		return metrics.OutcomeRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return metrics.OutcomeAuth
	case status >= 200 && status < 300 || status == http.StatusNotFound:
		return metrics.OutcomeOK
	default:
		return metrics.OutcomeError
	}
}
