// Package cardmatch pairs card-terminal transactions with the register
// entries paid by card of the same shop (README "Card ↔ register
// matching"). A card terminal's sale or refund arrives through the signed
// webhook (a WEBHOOK connection, with a masked card number); the register
// rings the same sale or its cancel on another connection of the shop
// (paid by card: CardPaid; only in shops that have a card terminal).
// Each such entry gets one CardMatch row, PENDING until a counterpart of
// the other side is found (MATCHED, both rows) or the account's
// CARD_MISMATCH window has passed (UNMATCHED). An unmatched refund or
// cancel raises the CARD_MISMATCH alert through an Alerter (alerts
// implements it); an unmatched sale is only recorded.
//
// The matcher follows the outbox's ADDED events past a durable cursor (a
// table of its own, like the alert sweep's watermark in alerts/sweep.go),
// so nothing is missed across restarts and every replica may run it: rows
// are idempotent by their unique entry_id, pairs and decisions are
// conditional updates of PENDING rows, and the alert carries a dedupe key.
package cardmatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/cardmatch"
	"github.com/regicam/regicam/ent/event"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Defaults of Options.
const (
	DefaultTolerance = 120 * time.Second
	DefaultWindow    = 600 * time.Second
	DefaultEvery     = 5 * time.Second
)

const (
	cursorTable = "card_match_cursor"
	cursorName  = "entries"
	batch       = 500
	maxPages    = 20 // of PENDING rows per step; the rest wait for the next
	// Rows decided this long ago are checked for a missing alert once at
	// start (a process that stopped between the decision and the alert).
	recoverSpan = 24 * time.Hour
)

// Alerter raises the CARD_MISMATCH alert (alerts.Service implements it).
type Alerter interface {
	// CardMismatchWindow is how long account's entries wait for their
	// counterpart: the longest window of its enabled CARD_MISMATCH rules,
	// DefaultWindow without one.
	CardMismatchWindow(ctx context.Context, account pulid.ID) (time.Duration, error)
	// CardMismatch raises the alert of an unmatched refund or cancel once
	// (keyed by the entry); raising it again does nothing.
	CardMismatch(ctx context.Context, m *ent.CardMatch, e *ent.JournalEntry) error
}

// Options tune the matcher; zero values take the defaults.
type Options struct {
	// Tolerance is how far apart the two sides' times may be (±).
	Tolerance time.Duration
	// Every is how often Run looks for new entries and passed windows.
	Every time.Duration
	// Now is the clock of the windows (tests hand internal/testclock's).
	Now     func() time.Time
	Alerter Alerter // nil: mismatches are recorded, no alert
	Log     *slog.Logger
}

// Matcher finds and decides the card matches.
type Matcher struct {
	client  *ent.Client
	dialect string
	opt     Options

	mu        sync.Mutex // one Step at a time per process
	providers sync.Map   // connection id → posconnection.Provider (immutable)
	cardShops sync.Map   // shop id → shopSeen
	started   bool       // the cursor table exists
	recovered bool
}

// New returns a Matcher; call Run, or Step from a test.
func New(client *ent.Client, dialectName string, opt Options) *Matcher {
	if opt.Tolerance <= 0 {
		opt.Tolerance = DefaultTolerance
	}
	if opt.Every <= 0 {
		opt.Every = DefaultEvery
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &Matcher{client: client, dialect: dialectName, opt: opt}
}

// Run steps at once and then every Options.Every until ctx ends.
func (m *Matcher) Run(ctx context.Context) {
	ctx = viewer.System(ctx)
	t := time.NewTicker(m.opt.Every)
	defer t.Stop()
	for {
		if err := m.Step(ctx); err != nil && ctx.Err() == nil {
			m.opt.Log.WarnContext(ctx, "card matching", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Step records the entries added since the cursor, pairs what is pending
// and decides the matches whose window has passed.
func (m *Matcher) Step(ctx context.Context) error {
	ctx = viewer.System(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.collect(ctx); err != nil {
		return err
	}
	if err := m.pair(ctx); err != nil {
		return err
	}
	if err := m.expire(ctx); err != nil {
		return err
	}
	if !m.recovered {
		if err := m.recoverAlerts(ctx); err != nil {
			return err
		}
		m.recovered = true
	}
	return nil
}

// cardWords mark a register's payment method as a card payment. 電子マネー
// and QR codes are paid on other readers than the card terminal, and a
// split payment with cash (現金・クレジット) cannot match the terminal's
// amount, so neither takes part.
var cardWords = []string{"クレジット", "カード", "card", "credit"}

// CardPaid reports whether a register's payment method is a card payment.
func CardPaid(method string) bool {
	m := strings.ToLower(method)
	if strings.Contains(m, "現金") || strings.Contains(m, "cash") {
		return false
	}
	return slices.ContainsFunc(cardWords, func(w string) bool { return strings.Contains(m, w) })
}

// sideOf says which side e is on, if any: sales and cancels only.
func (m *Matcher) sideOf(ctx context.Context, e *ent.JournalEntry) (cardmatch.Side, bool, error) {
	if e.Kind != journalentry.KindPAYMENT && e.Kind != journalentry.KindCANCEL {
		return "", false, nil
	}
	p, err := m.provider(ctx, e.ConnectionID)
	if err != nil {
		return "", false, err
	}
	if p == posconnection.ProviderWEBHOOK {
		return cardmatch.SideCARD, e.MaskedCard != "", nil
	}
	if !CardPaid(e.PaymentMethod) {
		return "", false, nil
	}
	has, err := m.hasCardTerminal(ctx, e.ShopID)
	return cardmatch.SideREGISTER, has, err
}

// shopSeen caches whether a shop has a card terminal.
type shopSeen struct {
	has bool
	at  time.Time
}

// shopTTL is how long a shop without a card terminal is believed to have
// none: a terminal is made by its first webhook, so the register's card
// payments of the minute before it are not matched.
const shopTTL = time.Minute

// hasCardTerminal reports whether shop has a register of a WEBHOOK
// connection: a shop without a card terminal has nothing to match its
// register's card payments with, and would only fill the list with
// unmatched sales.
func (m *Matcher) hasCardTerminal(ctx context.Context, shop pulid.ID) (bool, error) {
	if v, ok := m.cardShops.Load(shop); ok {
		s := v.(shopSeen)
		if s.has || time.Since(s.at) < shopTTL {
			return s.has, nil
		}
	}
	has, err := m.client.Terminal.Query().Where(terminal.ShopID(shop),
		terminal.HasConnectionWith(posconnection.ProviderEQ(posconnection.ProviderWEBHOOK))).Exist(ctx)
	if err != nil {
		return false, fmt.Errorf("card terminals of shop: %w", err)
	}
	m.cardShops.Store(shop, shopSeen{has: has, at: time.Now()})
	return has, nil
}

func (m *Matcher) provider(ctx context.Context, id pulid.ID) (posconnection.Provider, error) {
	if p, ok := m.providers.Load(id); ok {
		return p.(posconnection.Provider), nil
	}
	c, err := m.client.PosConnection.Query().Where(posconnection.ID(id)).Select(posconnection.FieldProvider).Only(ctx)
	if ent.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("connection of entry: %w", err)
	}
	m.providers.Store(id, c.Provider)
	return c.Provider, nil
}

// collect walks the ADDED events past the cursor and makes a PENDING row
// for each entry that takes part.
func (m *Matcher) collect(ctx context.Context) error {
	w, err := m.cursor(ctx)
	if err != nil {
		return err
	}
	for {
		evs, err := m.client.Event.Query().Where(event.IDGT(w), event.TypeEQ(event.TypeADDED)).
			Order(ent.Asc(event.FieldID)).Limit(batch).All(ctx)
		if err != nil {
			return fmt.Errorf("card matching events: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		ids := make([]pulid.ID, 0, len(evs))
		for _, ev := range evs {
			ids = append(ids, ev.EntryID)
		}
		entries, err := m.client.JournalEntry.Query().Where(journalentry.IDIn(ids...),
			journalentry.KindIn(journalentry.KindPAYMENT, journalentry.KindCANCEL)).All(ctx)
		if err != nil {
			return fmt.Errorf("card matching entries: %w", err)
		}
		for _, e := range entries {
			side, ok, err := m.sideOf(ctx, e)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			err = m.client.CardMatch.Create().SetAccountID(e.AccountID).SetShopID(e.ShopID).SetEntryID(e.ID).
				SetSide(side).SetOccurredAt(e.OccurredAt).SetAmount(e.Total).Exec(ctx)
			// Another replica recorded it first.
			if err != nil && !ent.IsConstraintError(err) {
				return fmt.Errorf("record card match: %w", err)
			}
		}
		last := evs[len(evs)-1].ID
		if err := m.advance(ctx, last); err != nil {
			return err
		}
		w = last
		if len(evs) < batch {
			return nil
		}
	}
}

// pending is a PENDING row with what pairing needs of its entry.
type pending struct {
	row    *ent.CardMatch
	cancel bool
	taken  bool
}

// pair matches PENDING rows first come, first served: in the order they
// occurred, each takes the earliest free row of the other side in the same
// shop of the same class (sale or cancel) with the same absolute amount
// within the tolerance. Replicas computing the same pairs agree; one that
// raced loses its conditional update and tries again next step.
func (m *Matcher) pair(ctx context.Context) error {
	rows, err := m.client.CardMatch.Query().Where(cardmatch.StateEQ(cardmatch.StatePENDING)).
		Order(ent.Asc(cardmatch.FieldOccurredAt), ent.Asc(cardmatch.FieldID)).Limit(maxPages * batch).All(ctx)
	if err != nil || len(rows) < 2 {
		return err
	}
	ids := make([]pulid.ID, len(rows))
	for i, r := range rows {
		ids[i] = r.EntryID
	}
	kinds := map[pulid.ID]journalentry.Kind{}
	for chunk := range slices.Chunk(ids, batch) {
		es, err := m.client.JournalEntry.Query().Where(journalentry.IDIn(chunk...)).
			Select(journalentry.FieldKind).All(ctx)
		if err != nil {
			return fmt.Errorf("kinds of pending entries: %w", err)
		}
		for _, e := range es {
			kinds[e.ID] = e.Kind
		}
	}
	type key struct {
		account, shop pulid.ID
		cancel        bool
		amount        int64
	}
	groups := map[key][]*pending{}
	var order []key
	for _, r := range rows {
		p := &pending{row: r, cancel: kinds[r.EntryID] == journalentry.KindCANCEL}
		k := key{r.AccountID, r.ShopID, p.cancel, abs(r.Amount)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	now := m.opt.Now().UTC()
	for _, k := range order {
		g := groups[k]
		for i, a := range g {
			if a.taken {
				continue
			}
			for _, b := range g[i+1:] {
				if b.taken || b.row.Side == a.row.Side {
					continue
				}
				if b.row.OccurredAt.Sub(a.row.OccurredAt) > m.opt.Tolerance {
					break // sorted by time: every later one is farther
				}
				ok, err := m.match(ctx, a.row, b.row, now)
				if err != nil {
					return err
				}
				if ok {
					a.taken, b.taken = true, true
				}
				break
			}
		}
	}
	return nil
}

// match marks a and b MATCHED with each other if both are still PENDING.
func (m *Matcher) match(ctx context.Context, a, b *ent.CardMatch, now time.Time) (bool, error) {
	tx, err := m.client.Tx(ctx)
	if err != nil {
		return false, fmt.Errorf("begin card match: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, p := range [][2]*ent.CardMatch{{a, b}, {b, a}} {
		n, err := tx.CardMatch.Update().Where(cardmatch.ID(p[0].ID), cardmatch.StateEQ(cardmatch.StatePENDING)).
			SetState(cardmatch.StateMATCHED).SetCounterpartID(p[1].EntryID).SetDecidedAt(now).Save(ctx)
		if err != nil {
			return false, fmt.Errorf("match card: %w", err)
		}
		if n != 1 {
			return false, nil // decided meanwhile by another replica
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit card match: %w", err)
	}
	return true, nil
}

// expire decides UNMATCHED the PENDING rows whose account's window has
// passed since they occurred, and raises the alert of each refund or
// cancel among them. Rows are read oldest first a page at a time, so an
// account with a long window and many waiting rows cannot hide another
// account's passed ones.
func (m *Matcher) expire(ctx context.Context) error {
	now := m.opt.Now().UTC()
	windows := map[pulid.ID]time.Duration{}
	var after *ent.CardMatch
	for range maxPages {
		q := m.client.CardMatch.Query().Where(cardmatch.StateEQ(cardmatch.StatePENDING),
			cardmatch.OccurredAtLT(now.Add(-m.opt.Tolerance)))
		if after != nil {
			q = q.Where(cardmatch.Or(cardmatch.OccurredAtGT(after.OccurredAt),
				cardmatch.And(cardmatch.OccurredAt(after.OccurredAt), cardmatch.IDGT(after.ID))))
		}
		rows, err := q.Order(ent.Asc(cardmatch.FieldOccurredAt), ent.Asc(cardmatch.FieldID)).Limit(batch).All(ctx)
		if err != nil {
			return fmt.Errorf("pending card matches: %w", err)
		}
		for _, r := range rows {
			w, ok := windows[r.AccountID]
			if !ok {
				w = DefaultWindow
				if m.opt.Alerter != nil {
					if w, err = m.opt.Alerter.CardMismatchWindow(ctx, r.AccountID); err != nil {
						return err
					}
				}
				windows[r.AccountID] = w
			}
			if now.Sub(r.OccurredAt) < w {
				continue
			}
			n, err := m.client.CardMatch.Update().Where(cardmatch.ID(r.ID), cardmatch.StateEQ(cardmatch.StatePENDING)).
				SetState(cardmatch.StateUNMATCHED).SetDecidedAt(now).Save(ctx)
			if err != nil {
				return fmt.Errorf("decide card match: %w", err)
			}
			if n == 1 {
				r.State, r.DecidedAt = cardmatch.StateUNMATCHED, &now
				if err := m.alert(ctx, r); err != nil {
					return err
				}
			}
		}
		if len(rows) < batch {
			return nil
		}
		after = rows[len(rows)-1]
	}
	return nil
}

// alert raises the mismatch alert of r when its entry is a refund or cancel.
func (m *Matcher) alert(ctx context.Context, r *ent.CardMatch) error {
	if m.opt.Alerter == nil {
		return nil
	}
	e, err := m.client.JournalEntry.Get(ctx, r.EntryID)
	if err != nil {
		return fmt.Errorf("entry of card match: %w", err)
	}
	if e.Kind != journalentry.KindCANCEL {
		return nil
	}
	return m.opt.Alerter.CardMismatch(ctx, r, e)
}

// recoverAlerts raises, once per process, the alerts of rows decided
// UNMATCHED recently whose decider stopped before raising them; the
// alert's dedupe key makes the others no-ops.
func (m *Matcher) recoverAlerts(ctx context.Context) error {
	if m.opt.Alerter == nil {
		return nil
	}
	rows, err := m.client.CardMatch.Query().Where(cardmatch.StateEQ(cardmatch.StateUNMATCHED),
		cardmatch.DecidedAtGT(m.opt.Now().Add(-recoverSpan))).Limit(batch).All(ctx)
	if err != nil {
		return fmt.Errorf("recent card mismatches: %w", err)
	}
	for _, r := range rows {
		if err := m.alert(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// cursor reads the last event id looked at, creating the table and row on
// first use. A database that never had one starts at its newest event:
// history predates the matcher and would only raise stale alerts.
func (m *Matcher) cursor(ctx context.Context) (int64, error) {
	tx, err := m.client.Tx(ctx)
	if err != nil {
		return 0, fmt.Errorf("card match cursor: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if !m.started {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+cursorTable+
			" (name VARCHAR(40) PRIMARY KEY, event_id BIGINT NOT NULL)"); err != nil {
			return 0, fmt.Errorf("create %s: %w", cursorTable, err)
		}
	}
	// (SQLite needs the WHERE to parse an upsert of a SELECT.)
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+cursorTable+" (name, event_id) SELECT "+m.ph(1)+
		", COALESCE(MAX(id), 0) FROM "+event.Table+" WHERE true ON CONFLICT (name) DO NOTHING", cursorName); err != nil {
		return 0, fmt.Errorf("start %s: %w", cursorTable, err)
	}
	var w sql.NullInt64
	rows, err := tx.QueryContext(ctx, "SELECT event_id FROM "+cursorTable+" WHERE name = "+m.ph(1), cursorName)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", cursorTable, err)
	}
	for rows.Next() {
		if err := rows.Scan(&w); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read %s: %w", cursorTable, err)
		}
	}
	rows.Close()
	if !w.Valid {
		return 0, errors.New("card match cursor row missing")
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("card match cursor: %w", err)
	}
	m.started = true
	return w.Int64, nil
}

// advance moves the cursor forward only: replicas step at once.
func (m *Matcher) advance(ctx context.Context, to int64) error {
	tx, err := m.client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("advance card match cursor: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "UPDATE "+cursorTable+" SET event_id = "+m.ph(1)+
		" WHERE name = "+m.ph(2)+" AND event_id < "+m.ph(1), to, cursorName); err != nil {
		return fmt.Errorf("advance card match cursor: %w", err)
	}
	return tx.Commit()
}

func (m *Matcher) ph(n int) string {
	if m.dialect == dialect.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return fmt.Sprintf("?%d", n)
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
