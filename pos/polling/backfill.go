package polling

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pulid"
)

// MaxBackfill bounds one backfill request.
const MaxBackfill = 400 * 24 * time.Hour

// Progress of a backfill; read it through Snapshot.
type Progress struct {
	mu           sync.Mutex
	From, To     time.Time
	WindowsDone  int
	WindowsTotal int
	Records      int
	State        string // RUNNING, DONE, FAILED
	Err          string
	StartedAt    time.Time
	FinishedAt   *time.Time
}

// ProgressSnapshot is a copy of Progress safe to read.
type ProgressSnapshot struct {
	From, To                  time.Time
	WindowsDone, WindowsTotal int
	Records                   int
	State, Err                string
	StartedAt                 time.Time
	FinishedAt                *time.Time
}

func (p *Progress) snapshot() ProgressSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ProgressSnapshot{p.From, p.To, p.WindowsDone, p.WindowsTotal, p.Records, p.State, p.Err, p.StartedAt, p.FinishedAt}
}

// BackfillProgress returns the running or last backfill of a connection.
func (rt *Runtime) BackfillProgress(id pulid.ID) (ProgressSnapshot, bool) {
	rt.mu.Lock()
	p := rt.backfills[id]
	rt.mu.Unlock()
	if p == nil {
		return ProgressSnapshot{}, false
	}
	return p.snapshot(), true
}

// StartBackfill reads [from, to) from the provider in the background and
// ingests it window by window; progress is kept for the API and logged.
func (rt *Runtime) StartBackfill(ctx context.Context, id pulid.ID, from, to time.Time) error {
	if !from.Before(to) {
		return apperr.Invalid("from", "開始日時は終了日時より前にしてください (from must be before to)").Because(apperr.RANGE_REVERSED)
	}
	if to.Sub(from) > MaxBackfill {
		return apperr.Invalid("to", "一度に取り込めるのは 400 日までです (at most 400 days per backfill)").Because(apperr.RANGE_TOO_LONG)
	}
	if to.After(time.Now().Add(time.Minute)) {
		return apperr.Invalid("to", "終了日時が未来になっています (to is in the future)").Because(apperr.DATE_IN_FUTURE)
	}
	c, err := rt.client.PosConnection.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("load connection: %w", err)
	}
	factory := rt.factories[c.Provider]
	if factory == nil {
		return apperr.Invalid("id", "この接続は過去データの取り込みに対応していません (this provider has no backfill)").Because(apperr.BACKFILL_UNSUPPORTED)
	}
	rt.mu.Lock()
	if p := rt.backfills[id]; p != nil && p.snapshot().State == "RUNNING" {
		rt.mu.Unlock()
		return apperr.Conflictf("id", "取り込みがすでに実行中です (a backfill is already running)").Because(apperr.BACKFILL_RUNNING)
	}
	p := &Progress{From: from.UTC(), To: to.UTC(), State: "RUNNING", StartedAt: time.Now().UTC()}
	rt.backfills[id] = p
	rt.mu.Unlock()

	src, err := factory(ctx, c)
	if err != nil {
		rt.finish(p, err)
		return err
	}
	bf, ok := src.(pos.Backfiller)
	if !ok {
		err := apperr.Invalid("id", "この接続は過去データの取り込みに対応していません (this provider has no backfill)").Because(apperr.BACKFILL_UNSUPPORTED)
		rt.finish(p, err)
		return err
	}
	bctx := context.WithoutCancel(ctx)
	go func() {
		err := bf.Backfill(bctx, p.From, p.To, func(window, windows int, recs []pos.Record) error {
			if _, _, err := rt.deliver(bctx, c, recs, metrics.PathPoll); err != nil {
				return err
			}
			p.mu.Lock()
			p.WindowsDone, p.WindowsTotal = window, windows
			p.Records += len(recs)
			p.mu.Unlock()
			rt.log.Info("backfill progress", "connection", id, "window", window, "windows", windows, "records", len(recs))
			return nil
		})
		rt.finish(p, err)
		st := p.snapshot()
		rt.log.Info("backfill finished", "connection", id, "state", st.State, "records", st.Records, "err", st.Err)
	}()
	return nil
}

func (rt *Runtime) finish(p *Progress, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now().UTC()
	p.FinishedAt = &now
	p.State = "DONE"
	if err != nil {
		p.State, p.Err = "FAILED", err.Error()
	}
}
