// Package presence answers "was anyone there?" for the journal entries of
// cloud cameras: once the cloud can be asked (its events API wants a range
// ending at least a minute ago), it counts the camera's `person` events
// within the presence window around each entry, has the NO_PERSON rules
// decided on them, and stores the count on the entry (persons_nearby, with
// an UPDATED event so live views refresh the card).
//
// Order of work per entry: rules first, then the count. An entry is
// "checked" only once its rules were decided, so a crash or an error in
// between leaves it unchecked and the next pass decides it again — the
// alerts' dedupe key (rule, entry) keeps that to one alert. Nothing is
// marked checked on an error from the cloud; only entries older than the
// cloud's retention are marked checked without a count (unknown).
//
// The window is the Evaluator's PresenceWindow: the widest window of the
// account's enabled NO_PERSON rules, at least 30 s, at most 300 s; the
// stored count is for that window, while each rule is decided on the
// person times within its own (alerts.Service.EvaluatePresence). Every
// replica may run a Checker: the store is conditional and the alerts are
// deduplicated, so the cost of a second one is only its requests.
package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/camcloud/safie"
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/viewer"
)

// Cloud resolves cloud cameras and hands out their connection's client
// (*camcloud.Service).
type Cloud interface {
	Camera(ctx context.Context, cameraID pulid.ID) (camcloud.CameraRef, error)
	Client(ctx context.Context, connectionID pulid.ID) (*safie.Client, error)
}

// Recorder stores an entry's presence once, with its UPDATED event
// (*ingest.Ingester).
type Recorder interface {
	RecordPresence(ctx context.Context, entryID pulid.ID, persons *int, checkedAt time.Time) error
}

// Evaluator decides the NO_PERSON rules (*alerts.Service): the window to
// look within for an account, and the rules of one entry given the person
// events seen within ±window of it.
type Evaluator interface {
	PresenceWindow(ctx context.Context, accountID pulid.ID) (time.Duration, error)
	EvaluatePresence(ctx context.Context, entryID pulid.ID, window time.Duration, persons []time.Time) error
}

// Defaults of Config.
const (
	DefaultEvery     = 30 * time.Second
	DefaultMaxBatch  = 500
	DefaultMaxSpan   = time.Hour
	DefaultFullEvery = 10 * time.Minute
	DefaultRecent    = 15 * time.Minute
	DefaultWindow    = 30 * time.Second
	DefaultTimeout   = 2 * time.Minute
	perCameraShare   = 200
	retentionDefault = 7
)

// Config tunes a Checker; zero values take the defaults.
type Config struct {
	Every time.Duration // how often Run makes a pass (default 30 s)
	// MaxBatch caps the entries one pass looks at (default 500).
	MaxBatch int
	// MaxSpan is the longest stretch of one camera's entries asked for in
	// one events request (default 1 h; the cloud allows a day, but a busy
	// counter's person events over a day would make a long answer).
	MaxSpan time.Duration
	// FullEvery is how often a pass looks back over the whole retention
	// (default 10 min; also the first pass, and every pass while a full
	// look is cut short by MaxBatch). The passes between look only at
	// entries that occurred in the last Recent (default 15 min): the
	// unchecked entries are nearly all recent, and walking days of checked
	// ones every 30 s per camera would cost the database for nothing. A
	// receipt that arrives later than Recent is counted at the next full
	// look.
	FullEvery, Recent time.Duration
	// Timeout bounds one group's events request with its retries
	// (default 2 min).
	Timeout time.Duration
	// Settle is how long after an entry's window the check waits for the
	// cloud's person events of that window to arrive (default 1 min, and
	// never less: the events API answers only ranges that ended at least
	// safie.RangeEndAge ago).
	Settle time.Duration
	Now    func() time.Time // default time.Now
}

// Checker finds entries of cloud cameras whose presence is due and checks
// them. Several replicas may run one each: the rules' dedupe and the
// conditional store keep one alert and one event per entry.
type Checker struct {
	db    *ent.Client
	cloud Cloud
	rec   Recorder
	eval  Evaluator // nil: window DefaultWindow, no rules
	cfg   Config
	log   *slog.Logger
	next  int       // rotates which camera is looked at first
	full  time.Time // when the last full look completed
}

// New returns a Checker; call Run to start it.
func New(db *ent.Client, cloud Cloud, rec Recorder, eval Evaluator, cfg Config, log *slog.Logger) *Checker {
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxSpan <= 0 || cfg.MaxSpan > safie.MaxRange {
		cfg.MaxSpan = DefaultMaxSpan
	}
	if cfg.FullEvery <= 0 {
		cfg.FullEvery = DefaultFullEvery
	}
	if cfg.Recent <= 0 {
		cfg.Recent = DefaultRecent
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	cfg.Settle = max(cfg.Settle, safie.RangeEndAge)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Checker{db: db, cloud: cloud, rec: rec, eval: eval, cfg: cfg, log: log}
}

// Run makes a pass every Every until ctx ends.
func (c *Checker) Run(ctx context.Context) {
	ctx = viewer.System(ctx)
	t := time.NewTicker(c.cfg.Every)
	defer t.Stop()
	for {
		if _, err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.log.WarnContext(ctx, "presence check", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stats is what one pass did.
type Stats struct {
	Checked  int // entries given a count
	Unknown  int // entries marked checked without one (past retention, camera gone)
	Requests int // events requests made
	Failed   int // entries left for a later pass after an error
}

// entry is one entry due for a check, with what its camera resolved to.
type entry struct {
	id       pulid.ID
	at       time.Time
	window   time.Duration
	cam      camcloud.CameraRef
	retained bool // within the cloud's retention
}

// Pass checks the entries due now (on the configured clock). Not for
// concurrent use (Run calls it from one goroutine).
func (c *Checker) Pass(ctx context.Context) (Stats, error) {
	ctx = viewer.System(ctx)
	now := c.cfg.Now()
	var st Stats
	full := c.full.IsZero() || now.Sub(c.full) >= c.cfg.FullEvery || now.Before(c.full)
	// A full look counts as done unless the caps cut it short or entries
	// failed for a reason that may pass by the next pass (those must be
	// looked for again then, however old). Entries waiting for the owner
	// to reconnect (NEEDS_REAUTH) do not hold the full look open.
	cut, waiting := false, 0
	cams, err := c.db.Camera.Query().Where(camera.SourceKindEQ(camera.SourceKindCLOUD)).
		Order(ent.Asc(camera.FieldID)).All(ctx)
	if err != nil {
		return st, fmt.Errorf("cloud cameras: %w", err)
	}
	if len(cams) == 0 {
		return st, nil
	}
	// A different camera goes first each pass, so one camera's backlog
	// cannot keep the others waiting past the per-pass cap.
	c.next %= len(cams)
	cams = append(cams[c.next:], cams[:c.next]...)
	c.next++

	windows := map[pulid.ID]time.Duration{}
	// Connections not asked again this pass: the cloud refused their
	// credential, or is rate limiting them (the client's hold covers every
	// call of the connection).
	skip := map[pulid.ID]bool{}
	needsOwner := map[pulid.ID]bool{} // NEEDS_REAUTH: nothing to do until the owner reconnects
	budget := c.cfg.MaxBatch
	for _, cam := range cams {
		if budget <= 0 || ctx.Err() != nil {
			cut = true
			break
		}
		w, ok := windows[cam.AccountID]
		if !ok {
			if w, err = c.window(ctx, cam.AccountID); err != nil {
				return st, err
			}
			windows[cam.AccountID] = w
		}
		ref, err := c.cloud.Camera(ctx, cam.ID)
		gone := errors.Is(err, camcloud.ErrNotCloud)
		if err != nil && !gone {
			c.log.WarnContext(ctx, "presence: resolve camera", "camera", cam.ID, "err", err)
			cut = true
			continue
		}
		if gone && cam.RetiredAt != nil && now.Sub(*cam.RetiredAt) > scanBack(retentionDefault) {
			continue // retired long ago: nothing of it can still be due
		}
		days := ref.RetentionDays
		if days <= 0 {
			days = retentionDefault
		}
		from := now.Add(-scanBack(days))
		if !full {
			from = now.Add(-c.cfg.Recent)
		}
		limit := min(budget, perCameraShare)
		due, err := c.db.JournalEntry.Query().Where(journalentry.AccountID(cam.AccountID), journalentry.CameraID(cam.ID),
			journalentry.PersonsCheckedAtIsNil(), journalentry.OccurredAtGTE(from),
			journalentry.OccurredAtLTE(now.Add(-w-c.cfg.Settle))).
			Order(ent.Asc(journalentry.FieldOccurredAt), ent.Asc(journalentry.FieldID)).
			Select(journalentry.FieldID, journalentry.FieldOccurredAt).Limit(limit).All(ctx)
		if err != nil {
			return st, fmt.Errorf("due entries of %s: %w", cam.ID, err)
		}
		if len(due) == limit {
			cut = true
		}
		budget -= len(due)
		var todo []entry
		for _, e := range due {
			en := entry{id: e.ID, at: e.OccurredAt, window: w, cam: ref,
				retained: !e.OccurredAt.Add(-w).Before(now.AddDate(0, 0, -days))}
			if !gone && en.retained && rangeEnd(e.OccurredAt, w).After(now.Add(-c.cfg.Settle)) {
				continue // the cloud cannot be asked about its last second yet
			}
			if gone && en.retained && camcloud.RetiredBySync(cam) {
				// The sync retired the camera (its device left the list,
				// or the connection was removed): it may come back with
				// the cloud's recording of this moment, so the entry
				// waits, and is marked unknown only past the retention.
				continue
			}
			if gone || !en.retained {
				// The camera left the cloud, or the cloud no longer keeps
				// that moment: checked, with no count to give.
				if err := c.rec.RecordPresence(ctx, e.ID, nil, now); err != nil {
					st.Failed++
					c.log.WarnContext(ctx, "presence: record unknown", "entry", e.ID, "err", err)
					continue
				}
				st.Unknown++
				continue
			}
			todo = append(todo, en)
		}
		if len(todo) == 0 {
			continue
		}
		if skip[ref.ConnectionID] {
			st.Failed += len(todo)
			if needsOwner[ref.ConnectionID] {
				waiting += len(todo)
			}
			continue
		}
		client, err := c.cloud.Client(ctx, ref.ConnectionID)
		if errors.Is(err, safie.ErrAuth) {
			// NEEDS_REAUTH: the owner must reconnect first; asking again
			// changes nothing (the sync reports it on the connection).
			skip[ref.ConnectionID], needsOwner[ref.ConnectionID] = true, true
			st.Failed += len(todo)
			waiting += len(todo)
			continue
		}
		if err != nil {
			c.log.WarnContext(ctx, "presence: client", "connection", ref.ConnectionID, "err", err)
			st.Failed += len(todo)
			continue
		}
		gs := c.groups(todo)
		for i, g := range gs {
			err := c.check(ctx, client, g, now, &st)
			if errors.Is(err, safie.ErrForbidden) {
				// A 403 on one device's events is that device's problem
				// (the key may not see it, or it lacks the option): the
				// connection's other cameras go on, and the device's
				// entries wait without holding the full look open.
				rest := 0
				for _, r := range gs[i+1:] {
					rest += len(r)
				}
				st.Failed += rest
				waiting += len(g) + rest
				c.log.WarnContext(ctx, "presence: the cloud refuses this device's events; skipped this pass",
					"camera", ref.CameraID, "err", err)
				break
			}
			if errors.Is(err, safie.ErrAuth) || errors.Is(err, safie.ErrRateLimited) {
				skip[ref.ConnectionID] = true
				for _, rest := range gs[i+1:] {
					st.Failed += len(rest)
				}
				c.log.WarnContext(ctx, "presence: the cloud refused or rate-limits the connection; skipped this pass",
					"connection", ref.ConnectionID, "err", err)
				break
			}
			if err != nil {
				c.log.WarnContext(ctx, "presence: events; retried next pass", "camera", ref.CameraID, "entries", len(g), "err", err)
			}
		}
	}
	if full && !cut && st.Failed == waiting {
		c.full = now
	}
	return st, nil
}

// scanBack is how far back unchecked entries are looked for: a day past
// the cloud's retention, so entries that fell out of it are still marked
// (unknown). Entries older than that — a backfill of long-past days —
// stay unchecked, which the card shows the same way.
func scanBack(days int) time.Duration { return time.Duration(days+1) * 24 * time.Hour }

func (c *Checker) window(ctx context.Context, account pulid.ID) (time.Duration, error) {
	if c.eval == nil {
		return DefaultWindow, nil
	}
	w, err := c.eval.PresenceWindow(ctx, account)
	if err != nil {
		return 0, fmt.Errorf("presence window of %s: %w", account, err)
	}
	if w <= 0 {
		w = DefaultWindow
	}
	return w, nil
}

// rangeStart / rangeEnd are an entry's window on whole seconds, widened
// outwards: the API speaks in seconds, and cutting inwards would miss a
// person at the window's edge.
func rangeStart(at time.Time, w time.Duration) time.Time { return at.Add(-w).Truncate(time.Second) }

func rangeEnd(at time.Time, w time.Duration) time.Time {
	end := at.Add(w)
	if t := end.Truncate(time.Second); !t.Equal(end) {
		return t.Add(time.Second)
	}
	return end
}

// groups cuts a camera's due entries (oldest first) into runs whose events
// fit one request: at most MaxSpan from the first entry to the last.
func (c *Checker) groups(es []entry) [][]entry {
	var out [][]entry
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].at.Sub(es[i].at) <= c.cfg.MaxSpan {
			j++
		}
		out = append(out, es[i:j])
		i = j
	}
	return out
}

// check asks the events of one group in one request and settles each of
// its entries. An error of the cloud leaves the whole group for a later
// pass (returned); an entry whose rules or store fail is left alone and
// the others go on.
func (c *Checker) check(ctx context.Context, client *safie.Client, g []entry, now time.Time, st *Stats) error {
	start, end := rangeStart(g[0].at, g[0].window), rangeEnd(g[0].at, g[0].window)
	for _, e := range g[1:] {
		start = minTime(start, rangeStart(e.at, e.window))
		end = maxTime(end, rangeEnd(e.at, e.window))
	}
	if end.Sub(start) < safie.MinRange {
		start = end.Add(-safie.MinRange) // backwards: the end must stay a minute in the past
	}
	st.Requests++
	// One group's request has a deadline, so a connection that answers
	// slowly cannot hold the pass (and every other camera) for long.
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	evs, err := client.StandardEvents(rctx, g[0].cam.DeviceID, start, end, safie.EventPerson)
	cancel()
	if err != nil {
		st.Failed += len(g)
		return err
	}
	for _, e := range g {
		var near []time.Time
		for _, ev := range evs {
			if d := ev.At.Sub(e.at); ev.Type == safie.EventPerson && d >= -e.window && d <= e.window {
				near = append(near, ev.At)
			}
		}
		if c.eval != nil {
			if err := c.eval.EvaluatePresence(ctx, e.id, e.window, near); err != nil {
				st.Failed++
				c.log.WarnContext(ctx, "presence: rules; retried next pass", "entry", e.id, "err", err)
				continue
			}
		}
		n := len(near)
		if err := c.rec.RecordPresence(ctx, e.id, &n, now); err != nil {
			st.Failed++
			c.log.WarnContext(ctx, "presence: record; retried next pass", "entry", e.id, "err", err)
			continue
		}
		st.Checked++
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
