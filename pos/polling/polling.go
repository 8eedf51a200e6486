// Package polling runs the POS connections of one server: a poller per
// connection that reads what changed at the provider, ingests it and only
// then stores the provider cursor, so a restart neither loses nor re-reads
// entries; plus backfills of past ranges and the shared path webhooks use;
// the reconciliation sweep the lease holder runs over a recent window
// (pos/polling/reconcile.go: vanished sales, missed changes); and each
// register's sequence gaps, its missing receipts (pos/polling/sequence.go).
package polling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/textcheck"
)

// Options tune the runtime; zero values take the defaults.
type Options struct {
	Interval   time.Duration // between polls, default 30s (±20% jitter)
	MaxBackoff time.Duration // after repeated errors, default 10m
	Rescan     time.Duration // how often the connection list is re-read, default 30s
	// ReconcileEvery is how often the replica holding a connection's poll
	// lease runs its reconciliation sweep (pos/polling/reconcile.go), default 15m;
	// ReconcileWindow how far back the sweep re-reads, default 48h.
	ReconcileEvery  time.Duration
	ReconcileWindow time.Duration
	// Now is the clock of sweeps and missing ranges (default time.Now);
	// tests move it to age ranges.
	Now func() time.Time
}

// Runtime polls every connection that has a pos.Factory for its provider.
type Runtime struct {
	client    *ent.Client
	ingester  *ingest.Ingester
	log       *slog.Logger
	opt       Options
	factories map[posconnection.Provider]pos.Factory

	owner string // this process, for poll leases

	mu        sync.Mutex
	workers   map[pulid.ID]*worker
	backfills map[pulid.ID]*Progress
}

// New returns a Runtime.
func New(client *ent.Client, in *ingest.Ingester, log *slog.Logger, opt Options, factories map[posconnection.Provider]pos.Factory) *Runtime {
	if opt.Interval <= 0 {
		opt.Interval = 30 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 10 * time.Minute
	}
	if opt.Rescan <= 0 {
		opt.Rescan = 30 * time.Second
	}
	if opt.ReconcileEvery <= 0 {
		opt.ReconcileEvery = DefaultReconcileEvery
	}
	if opt.ReconcileWindow <= 0 {
		opt.ReconcileWindow = DefaultReconcileWindow
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Runtime{client: client, ingester: in, log: log, opt: opt, factories: factories,
		owner:   string(pulid.MustNew("rt")),
		workers: map[pulid.ID]*worker{}, backfills: map[pulid.ID]*Progress{}}
}

type worker struct {
	config string // what the worker was built from; new credentials restart it
	kick   chan chan error
	// sweep asks the worker for a reconciliation sweep now (ReconcileNow).
	sweep  chan chan sweepReply
	cancel context.CancelFunc
	done   chan struct{}
}

// Run keeps one worker per pollable connection until ctx ends.
func (rt *Runtime) Run(ctx context.Context) {
	t := time.NewTicker(rt.opt.Rescan)
	defer t.Stop()
	defer rt.stopAll()
	for {
		if err := rt.Rescan(ctx); err != nil && ctx.Err() == nil {
			rt.log.Warn("connector rescan", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Rescan starts workers for new or changed connections and stops the rest.
func (rt *Runtime) Rescan(ctx context.Context) error {
	var providers []posconnection.Provider
	for p := range rt.factories {
		providers = append(providers, p)
	}
	conns, err := rt.client.PosConnection.Query().Where(posconnection.ProviderIn(providers...)).All(ctx)
	if err != nil {
		return fmt.Errorf("load connections: %w", err)
	}
	live := map[pulid.ID]bool{}
	for _, c := range conns {
		live[c.ID] = true
		rt.mu.Lock()
		w := rt.workers[c.ID]
		current := w != nil && w.config == configOf(c)
		rt.mu.Unlock()
		if current {
			continue
		}
		rt.stop(c.ID)
		rt.start(ctx, c)
	}
	rt.mu.Lock()
	var gone []pulid.ID
	for id := range rt.workers {
		if !live[id] {
			gone = append(gone, id)
		}
	}
	rt.mu.Unlock()
	for _, id := range gone {
		rt.stop(id)
	}
	return nil
}

func (rt *Runtime) start(ctx context.Context, c *ent.PosConnection) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &worker{config: configOf(c), kick: make(chan chan error), sweep: make(chan chan sweepReply), cancel: cancel, done: make(chan struct{})}
	rt.mu.Lock()
	rt.workers[c.ID] = w
	rt.mu.Unlock()
	go func() {
		defer close(w.done)
		rt.loop(wctx, c.ID, w)
	}()
}

// configOf is what a worker depends on: status writes do not count.
func configOf(c *ent.PosConnection) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%x", c.Provider, c.ContractID, c.CredentialKind, c.Secrets)
}

func (rt *Runtime) stop(id pulid.ID) {
	rt.mu.Lock()
	w := rt.workers[id]
	delete(rt.workers, id)
	rt.mu.Unlock()
	if w != nil {
		w.cancel()
		<-w.done
	}
}

// Close stops every worker (Run does this when its ctx ends).
func (rt *Runtime) Close() { rt.stopAll() }

func (rt *Runtime) stopAll() {
	rt.mu.Lock()
	ids := make([]pulid.ID, 0, len(rt.workers))
	for id := range rt.workers {
		ids = append(ids, id)
	}
	rt.mu.Unlock()
	for _, id := range ids {
		rt.stop(id)
	}
}

func (rt *Runtime) loop(ctx context.Context, id pulid.ID, w *worker) {
	failures := 0
	wait := time.Duration(0) // poll at once on start: catch up after a restart
	for {
		var reply chan error
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case reply = <-w.kick:
			timer.Stop()
		case sr := <-w.sweep:
			// A sweep asked for by a user runs in this goroutine, between
			// polls, like the scheduled one: never beside a poll of the
			// same connection (a token refresh must not race).
			timer.Stop()
			res, err := rt.Reconcile(ctx, id)
			sr <- sweepReply{res, err}
			wait = jitter(rt.opt.Interval)
			continue
		case <-timer.C:
		}
		// A poll asked for by a user runs here even if another replica
		// holds the lease: ingest is idempotent.
		leader, err := rt.pollOnce(ctx, id, reply != nil)
		if ctx.Err() != nil {
			if reply != nil {
				reply <- err
			}
			return
		}
		switch {
		case errors.Is(err, errNotLeader):
			// Another replica polls it; look again in case it stops.
			wait, err = jitter(rt.opt.Interval), nil
			if reply != nil {
				reply <- nil
				reply = nil
			}
			continue
		case err == nil:
			failures = 0
			wait = jitter(rt.opt.Interval)
		case needsReauth(err):
			// Retrying cannot help until the owner enters new credentials,
			// which restarts this worker.
			wait = 24 * time.Hour
		default:
			failures++
			wait = jitter(min(rt.opt.Interval<<min(failures, 10), rt.opt.MaxBackoff))
		}
		if err != nil {
			rt.recordFailure(ctx, id, err, wait)
		}
		// Reply once the status is stored, so the caller reads it back.
		if reply != nil {
			reply <- err
		}
		// The lease holder sweeps when the connection's time has come
		// (pos/polling/reconcile.go), after replying: a user's sync does not
		// wait for it.
		if err == nil && leader {
			rt.sweepIfDue(ctx, id)
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return d - d/5 + time.Duration(rand.Int64N(int64(d/5)*2+1))
}

func needsReauth(err error) bool {
	return errors.Is(err, pos.ErrAuth) || errors.Is(err, pos.ErrLegacyCredentials)
}

// SyncNow polls a connection at once and returns the poll's error.
func (rt *Runtime) SyncNow(ctx context.Context, id pulid.ID) error {
	rt.mu.Lock()
	w := rt.workers[id]
	rt.mu.Unlock()
	if w == nil {
		if err := rt.Rescan(ctx); err != nil {
			return err
		}
		rt.mu.Lock()
		w = rt.workers[id]
		rt.mu.Unlock()
		if w == nil {
			return apperr.Invalid("id", "この接続は自動取得に対応していません (this connection is not polled)").Because(apperr.POLLING_UNSUPPORTED)
		}
	}
	reply := make(chan error, 1)
	select {
	case w.kick <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errNotLeader: another replica holds this connection's poll lease.
var errNotLeader = errors.New("connector: another server polls this connection")

// lease takes or renews the right to poll id. Replicas share the
// database, so a conditional update decides: the holder, or anyone once
// the lease has run out (its holder stopped).
func (rt *Runtime) lease(ctx context.Context, id pulid.ID) (bool, error) {
	now := time.Now().UTC()
	n, err := rt.client.PosConnection.Update().Where(posconnection.ID(id), posconnection.Or(
		posconnection.PollOwner(rt.owner), posconnection.PollLeaseUntilIsNil(), posconnection.PollLeaseUntilLT(now))).
		SetPollOwner(rt.owner).SetPollLeaseUntil(now.Add(2*rt.opt.Interval + time.Minute)).Save(ctx)
	return n == 1, err
}

// pollOnce polls id; leader tells whether this replica holds the lease.
func (rt *Runtime) pollOnce(ctx context.Context, id pulid.ID, force bool) (leader bool, err error) {
	if leader, err = rt.lease(ctx, id); err != nil {
		return false, fmt.Errorf("poll lease: %w", err)
	} else if !leader && !force {
		return false, errNotLeader
	}
	c, err := rt.client.PosConnection.Get(ctx, id)
	if err != nil {
		return leader, fmt.Errorf("load connection: %w", err)
	}
	src, err := rt.factories[c.Provider](ctx, c)
	if err != nil {
		return leader, err
	}
	recs, next, err := src.Poll(ctx, c.SyncCursor)
	if err != nil {
		return leader, err
	}
	if _, _, err := rt.deliver(ctx, c, recs, metrics.PathPoll); err != nil {
		return leader, err
	}
	now := time.Now().UTC()
	err = rt.client.PosConnection.UpdateOneID(id).SetSyncCursor(next).SetLastSyncAt(now).
		SetStatus(posconnection.StatusOK).SetLastError("").ClearNextRetryAt().Exec(ctx)
	if err != nil {
		return leader, fmt.Errorf("save cursor: %w", err)
	}
	if len(recs) > 0 {
		rt.log.Info("connection synced", "connection", id, "provider", c.Provider, "records", len(recs))
	}
	return leader, nil
}

func (rt *Runtime) recordFailure(ctx context.Context, id pulid.ID, err error, wait time.Duration) {
	status := posconnection.StatusERROR
	msg := err.Error()
	if needsReauth(err) {
		status = posconnection.StatusNEEDS_REAUTH
	}
	rt.log.Warn("connection sync failed", "connection", id, "status", status, "err", msg, "retry_in", wait)
	if uerr := rt.client.PosConnection.UpdateOneID(id).SetStatus(status).SetLastError(truncate(msg, 500)).
		SetNextRetryAt(time.Now().Add(wait).UTC()).Exec(ctx); uerr != nil {
		rt.log.Warn("record connection status", "connection", id, "err", uerr)
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// Ingest stores provider records of connection c: it finds (or creates)
// each record's terminal and shop, then ingests. Records the provider got
// wrong are logged and skipped (retrying cannot fix them); anything else
// fails the batch so the cursor is not moved past unstored records.
func (rt *Runtime) Ingest(ctx context.Context, c *ent.PosConnection, recs []pos.Record) error {
	_, _, err := rt.deliver(ctx, c, recs, metrics.PathPoll)
	return err
}

// Deliver is Ingest for pushed records (webhooks) that also returns the
// records it skipped, one error each naming the record, for a sender that
// is told what was refused (the signed webhook's "rejected").
func (rt *Runtime) Deliver(ctx context.Context, c *ent.PosConnection, recs []pos.Record) (refused []error, err error) {
	refused, _, err = rt.deliver(ctx, c, recs, metrics.PathWebhook)
	return refused, err
}

// deliver ingests recs arriving by path and returns the results of the
// records ingest took (created or duplicate). Afterwards it counts the
// batch in the metrics and brings each terminal's last receipt and
// sequence bookkeeping up to date with what was stored.
func (rt *Runtime) deliver(ctx context.Context, c *ent.PosConnection, recs []pos.Record, path string) (refused []error, stored []ingest.Result, err error) {
	start := time.Now()
	feed := map[pulid.ID]*feedUpdate{}
	defer func() {
		created, dup := 0, 0
		for _, r := range stored {
			if r.Status == ingest.Created {
				created++
			} else {
				dup++
			}
		}
		failed := len(refused)
		if err != nil {
			failed++
		}
		metrics.Ingested(providerLabel(c.Provider), path, created, dup, failed, time.Since(start))
		for tid, u := range feed {
			noticed, recovered, _, ferr := rt.updateFeed(ctx, tid, *u, false)
			if ferr != nil {
				rt.log.Warn("terminal feed health", "connection", c.ID, "terminal", tid, "err", ferr)
				continue
			}
			metrics.ReconcileFinding(providerLabel(c.Provider), "missing", noticed)
			metrics.ReconcileFinding(providerLabel(c.Provider), "recovered", recovered)
		}
	}()
	terms := map[string]pulid.ID{}
	for _, rec := range recs {
		// A stray NUL or invalid UTF-8 from a provider is dropped, not
		// refused: PostgreSQL cannot store it, the owner cannot fix it,
		// and a refusal would skip a real sale.
		rec.TerminalExternalID, rec.StoreExternalID = textcheck.Clean(rec.TerminalExternalID), textcheck.Clean(rec.StoreExternalID)
		rec.StoreName = textcheck.Clean(rec.StoreName)
		rec.Receipt.CleanText()
		tid, ok := terms[rec.TerminalExternalID]
		if !ok || rec.TerminalExternalID == "" {
			var err error
			if tid, err = rt.terminalFor(ctx, c, rec); err != nil {
				if e, ok := apperr.As(err); ok && e.Code == apperr.BadUserInput {
					rt.log.Warn("provider record rejected", "connection", c.ID, "external_id", rec.Receipt.ExternalID, "field", e.Field, "err", e.Message)
					refused = append(refused, fmt.Errorf("%s: %w", rec.Receipt.ExternalID, err))
					continue
				}
				return refused, stored, err
			}
			terms[rec.TerminalExternalID] = tid
		}
		r := rec.Receipt
		r.TerminalID = tid
		res := rt.ingester.Ingest(ctx, c.AccountID, r)
		if res.Err == nil {
			stored = append(stored, res)
			u := feed[tid]
			if u == nil {
				u = &feedUpdate{}
				feed[tid] = u
			}
			if r.Sequence > 0 {
				u.seqs = append(u.seqs, r.Sequence)
			}
			if r.Kind != journalentry.KindDELETE && r.OccurredAt.After(u.lastAt) {
				u.lastAt = r.OccurredAt
			}
			continue
		}
		if e, ok := apperr.As(res.Err); ok && e.Code == apperr.BadUserInput {
			rt.log.Warn("provider record rejected", "connection", c.ID, "external_id", r.ExternalID, "field", e.Field, "err", e.Message)
			refused = append(refused, fmt.Errorf("%s: %w", r.ExternalID, res.Err))
			continue
		}
		return refused, stored, fmt.Errorf("ingest %s: %w", r.ExternalID, res.Err)
	}
	return refused, stored, nil
}

// providerLabel is the metrics label of a provider: its name lower-case.
func providerLabel(p posconnection.Provider) string { return strings.ToLower(string(p)) }

func (rt *Runtime) now() time.Time { return rt.opt.Now() }

// MaxNewTerminals bounds the registers that webhooks of one WEBHOOK or
// PARTNER connection may add by naming them: the signing key is all it
// takes, and a leaked one must not fill the account with registers. The
// owner adds more with createTerminal. Two deliveries at the same moment
// may each add one past the count they read, so the bound is loose by the
// number of concurrent deliveries, which is what it is for.
const MaxNewTerminals = 200

func manual(p posconnection.Provider) bool {
	return p == posconnection.ProviderWEBHOOK || p == posconnection.ProviderPARTNER
}

// terminalFor returns the terminal of a provider register, creating it
// (and its shop, from the provider's store) the first time it is seen, so
// the owner can link it to a camera in the portal.
func (rt *Runtime) terminalFor(ctx context.Context, c *ent.PosConnection, rec pos.Record) (pulid.ID, error) {
	if rec.TerminalExternalID == "" {
		// A deletion names only the transaction: it happened on the
		// register of the entry it deletes.
		e, err := rt.client.JournalEntry.Query().Where(journalentry.ConnectionID(c.ID),
			journalentry.ExternalID(rec.Receipt.ExternalID)).First(ctx)
		if err != nil {
			return "", fmt.Errorf("record %s names no terminal and no stored entry: %w", rec.Receipt.ExternalID, err)
		}
		return e.TerminalID, nil
	}
	t, err := rt.client.Terminal.Query().Where(terminal.ConnectionID(c.ID), terminal.ExternalID(rec.TerminalExternalID)).Only(ctx)
	if err == nil {
		return t.ID, nil
	}
	if !ent.IsNotFound(err) {
		return "", fmt.Errorf("find terminal: %w", err)
	}
	if manual(c.Provider) {
		n, err := rt.client.Terminal.Query().Where(terminal.ConnectionID(c.ID)).Count(ctx)
		if err != nil {
			return "", fmt.Errorf("count terminals: %w", err)
		}
		if n >= MaxNewTerminals {
			return "", apperr.Invalid("terminalId", "この連携の端末が %d 台に達したため、新しい端末 %q は自動では追加しません。管理画面の createTerminal で追加してください (connection has %d terminals; add more with createTerminal)",
				MaxNewTerminals, rec.TerminalExternalID, MaxNewTerminals).Because(apperr.TERMINAL_LIMIT)
		}
	}
	shopID, err := rt.shopFor(ctx, c, rec)
	if err != nil {
		return "", err
	}
	t, err = rt.client.Terminal.Create().SetAccountID(c.AccountID).SetConnectionID(c.ID).SetShopID(shopID).
		SetExternalID(rec.TerminalExternalID).SetName("端末 " + rec.TerminalExternalID).Save(ctx)
	if ent.IsConstraintError(err) { // created meanwhile by a webhook
		t, err = rt.client.Terminal.Query().Where(terminal.ConnectionID(c.ID), terminal.ExternalID(rec.TerminalExternalID)).Only(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("create terminal: %w", err)
	}
	rt.log.Info("new POS terminal", "connection", c.ID, "terminal", t.ID, "external_id", rec.TerminalExternalID)
	return t.ID, nil
}

func (rt *Runtime) shopFor(ctx context.Context, c *ent.PosConnection, rec pos.Record) (pulid.ID, error) {
	shops, err := rt.client.Shop.Query().Where(shop.AccountID(c.AccountID)).All(ctx)
	if err != nil {
		return "", fmt.Errorf("find shop: %w", err)
	}
	for _, s := range shops {
		if rec.StoreExternalID != "" && s.ExternalStoreIds[string(c.ID)] == rec.StoreExternalID {
			return s.ID, nil
		}
	}
	if c.DefaultShopID != nil {
		// The owner said where this connection's registers are
		// (createPosConnection): a sender's unknown store id makes no shop.
		return *c.DefaultShopID, nil
	}
	if rec.StoreExternalID == "" && len(shops) > 0 {
		return shops[0].ID, nil
	}
	name := rec.StoreName
	if name == "" {
		name = "店舗 " + rec.StoreExternalID
	}
	if rec.StoreExternalID == "" {
		name = "未設定の店舗"
	}
	s, err := rt.client.Shop.Create().SetAccountID(c.AccountID).SetName(name).
		SetExternalStoreIds(map[string]string{string(c.ID): rec.StoreExternalID}).Save(ctx)
	if err != nil {
		return "", fmt.Errorf("create shop: %w", err)
	}
	return s.ID, nil
}
