package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/feed"
	"github.com/regicam/regicam/ingest"
	"github.com/regicam/regicam/journal"
	"github.com/regicam/regicam/metrics"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/secrets"
	"github.com/regicam/regicam/viewer"
)

// Publisher announces committed outbox events (pubsub.Bus satisfies it).
type Publisher interface {
	Publish(ctx context.Context, eventID int64) error
}

// Options tune the background loops; zero values take the defaults.
type Options struct {
	// Bus announces each alert's outbox event after commit, and Feed serves
	// Subscribe: the journal's bus and hub, so alerts reach the subscribers
	// of every server like journal events do. Without Feed, Subscribe fails;
	// without Bus, alerts reach subscribers at the hub's next poll.
	Bus  Publisher
	Feed *feed.Hub
	// SilentEvery is how often feeds are checked for silence (default 30s).
	SilentEvery time.Duration
	// RuleTTL is how long a process trusts its copy of an account's rules
	// (default 5s; changes made through this process apply at once).
	RuleTTL time.Duration
	// Backoff is the first webhook retry delay (default 2s), doubled per
	// attempt up to MaxBackoff (default 1h). Deliveries are never dropped.
	Backoff, MaxBackoff time.Duration
	// HTTP posts webhooks (default: 10s timeout, refusing to connect to
	// private, loopback and link-local addresses unless AllowPrivate).
	HTTP *http.Client
	// AllowPrivate accepts webhook URLs on private, loopback and
	// link-local addresses (receivers inside the server's own network).
	AllowPrivate bool
	// SweepEvery is how often entries that may have missed evaluation (the
	// process died between an ingest's commit and Observe) are re-checked
	// (default 2m; also once at start). SweepGrace is how old an entry must
	// be before the sweep looks at it (default 1m): younger ones are
	// normally still being observed.
	SweepEvery, SweepGrace time.Duration
}

// Service owns rules, evaluation, the alert stream (served by feed.Hub) and
// webhook delivery.
type Service struct {
	Client  *ent.Client
	Dialect string
	Box     *secrets.Box
	Log     *slog.Logger
	// Now is the clock of evaluation, the silence checker and retries.
	Now func() time.Time
	opt Options

	rules *ruleCache
	kick  chan struct{} // wakes the webhook sender
	seqMu sync.Mutex    // SQLite: one writer of seq per process
	zones sync.Map      // shop id → cachedZone

	observed observed    // entries the sweep need not evaluate again
	swept    atomic.Bool // the sweep's watermark table exists
}

// New returns a Service; call Run to start its loops.
func New(client *ent.Client, dialectName string, box *secrets.Box, log *slog.Logger, opt Options) *Service {
	if log == nil {
		log = slog.Default()
	}
	if opt.SilentEvery <= 0 {
		opt.SilentEvery = 30 * time.Second
	}
	if opt.RuleTTL <= 0 {
		opt.RuleTTL = 5 * time.Second
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 2 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = time.Hour
	}
	if opt.SweepEvery <= 0 {
		opt.SweepEvery = 2 * time.Minute
	}
	if opt.SweepGrace <= 0 {
		opt.SweepGrace = time.Minute
	}
	if opt.HTTP == nil && opt.AllowPrivate {
		opt.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.HTTP == nil {
		opt.HTTP = guardedClient(10 * time.Second)
	}
	s := &Service{Client: client, Dialect: dialectName, Box: box, Log: log, Now: time.Now, opt: opt,
		kick: make(chan struct{}, 1)}
	s.rules = &ruleCache{ttl: opt.RuleTTL, m: map[pulid.ID]cachedRules{}}
	return s
}

// Run runs the webhook sender, the silence checker and the recovery sweep
// (at once, then every SweepEvery) until ctx ends.
func (s *Service) Run(ctx context.Context) {
	ctx = viewer.System(ctx)
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){s.deliverLoop, s.silentLoop, s.sweepLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Wait()
}

// rule is an enabled rule with its scope decoded once.
type rule struct {
	*ent.AlertRule
	scope journal.Filter
}

type cachedRules struct {
	rules []rule
	at    time.Time
}

type ruleCache struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[pulid.ID]cachedRules
}

func (c *ruleCache) forget(account pulid.ID) {
	c.mu.Lock()
	delete(c.m, account)
	c.mu.Unlock()
}

// enabled returns the account's enabled rules, from cache when fresh: the
// common case, an account without rules, then costs no query per entry.
func (s *Service) enabled(ctx context.Context, account pulid.ID) ([]rule, error) {
	c := s.rules
	c.mu.Lock()
	got, ok := c.m[account]
	c.mu.Unlock()
	now := time.Now()
	if ok && now.Sub(got.at) < c.ttl {
		return got.rules, nil
	}
	rows, err := s.Client.AlertRule.Query().Where(alertrule.AccountID(account), alertrule.Enabled(true)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load rules: %w", err)
	}
	rules := make([]rule, 0, len(rows))
	for _, r := range rows {
		f := journal.Filter{AccountID: account}
		if len(r.Scope) > 0 {
			var w journal.Where
			if err := json.Unmarshal(r.Scope, &w); err != nil {
				s.Log.WarnContext(ctx, "alert rule scope unreadable; rule skipped", "rule", r.ID, "err", err)
				continue
			}
			if f, err = w.Filter(account, "scope"); err != nil {
				s.Log.WarnContext(ctx, "alert rule scope invalid; rule skipped", "rule", r.ID, "err", err)
				continue
			}
		}
		rules = append(rules, rule{AlertRule: r, scope: f})
	}
	c.mu.Lock()
	c.m[account] = cachedRules{rules: rules, at: now}
	c.mu.Unlock()
	return rules, nil
}

// hasRules reports whether account had enabled rules at the last load.
func (s *Service) hasRules(account pulid.ID) bool {
	s.rules.mu.Lock()
	defer s.rules.mu.Unlock()
	return len(s.rules.m[account].rules) > 0
}

// hit is one alert about to be stored.
type hit struct {
	rule    rule
	dedupe  string
	entry   *ent.JournalEntry // nil for FEED_SILENT
	term    *pulid.ID
	shop    *pulid.ID
	camera  *pulid.ID
	staff   string
	amount  int64
	at      time.Time
	message string
}

// save stores h once (the dedupe key makes re-evaluation harmless) with
// its outbox event, announces the event and wakes the webhook sender. It
// returns nil when the alert already existed.
func (s *Service) save(ctx context.Context, h hit) (*ent.Alert, error) {
	if s.Dialect != dialect.Postgres {
		s.seqMu.Lock()
		defer s.seqMu.Unlock()
	}
	tx, err := s.Client.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin alert: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// The outbox's lock (ingest.EventLockKey): event ids become visible
	// in order, and seq is taken under it too, so seq order is event order
	// (eventOf resumes the stream by it).
	if s.Dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", ingest.EventLockKey); err != nil {
			return nil, fmt.Errorf("alert lock: %w", err)
		}
	}
	exists, err := tx.Alert.Query().Where(alert.RuleID(h.rule.ID), alert.DedupeKey(h.dedupe)).Exist(ctx)
	if err != nil || exists {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM "+alert.Table)
	if err != nil {
		return nil, fmt.Errorf("next alert seq: %w", err)
	}
	var next int64
	for rows.Next() {
		if err := rows.Scan(&next); err != nil {
			rows.Close()
			return nil, fmt.Errorf("next alert seq: %w", err)
		}
	}
	rows.Close()
	next++
	c := tx.Alert.Create().SetAccountID(h.rule.AccountID).SetSeq(next).SetRuleID(h.rule.ID).
		SetRuleKind(string(h.rule.Kind)).SetDedupeKey(h.dedupe).SetNillableTerminalID(h.term).
		SetNillableShopID(h.shop).SetNillableCameraID(h.camera).SetStaffName(h.staff).SetAmount(h.amount).
		SetOccurredAt(h.at.UTC()).SetMessage(h.message).SetCreatedAt(s.Now().UTC())
	if h.entry != nil {
		c.SetEntryID(h.entry.ID)
	}
	if h.rule.WebhookURL != "" {
		c.SetWebhookState(alert.WebhookStatePENDING).SetWebhookNextAt(s.Now().UTC())
	}
	a, err := c.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("insert alert: %w", err)
	}
	// One subject per event: the alert (its entry, if any, is the alert's).
	ev, err := tx.Event.Create().SetAccountID(a.AccountID).SetEntryID("").SetAlertID(a.ID).
		SetType(event.TypeALERT).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("insert alert event: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit alert: %w", err)
	}
	metrics.AlertRaised(string(h.rule.Kind))
	// After the commit, as ingest does: a reader woken earlier could look
	// before the rows are visible. A lost signal only delays the alert
	// until the hub's next read.
	if s.opt.Bus != nil {
		if err := s.opt.Bus.Publish(ctx, ev.ID); err != nil {
			s.Log.WarnContext(ctx, "publish alert event", "event_id", ev.ID, "err", err)
		}
	}
	if h.rule.WebhookURL != "" {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return a, nil
}

// Forget drops the cached rules of account (rules changed elsewhere).
func (s *Service) Forget(account pulid.ID) { s.rules.forget(account) }
