package pictures

import (
	"context"

	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/regicam/regicam/camcloud"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/cameracloudconnection"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/ent/predicate"
	"github.com/regicam/regicam/ent/thumbnail"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/thumbs"
	"github.com/regicam/regicam/viewer"
)

// SweeperOptions tune the Sweeper; zero values take the defaults.
type SweeperOptions struct {
	Every time.Duration // between passes, default 30 s
	// Batch bounds the retakes of one pass (default 200).
	Batch int
	// MinBackoff (default 30 s) doubles per failed retake of an entry up
	// to MaxBackoff (default 30 min).
	MinBackoff, MaxBackoff time.Duration
	// Settle: entries received less than this ago are left to ingest's
	// own late capture (default 1 min).
	Settle time.Duration
	// Grace: entries up to this long past their retention are still
	// retaken once, which records the retention reason (default 1 day).
	// Older ones are no longer looked at.
	Grace time.Duration
	// Owner is this process's name in the connections' sync leases (the
	// camcloud.Config.Owner): a connection whose lease another process
	// holds is swept by that process alone, so N replicas do not ask the
	// cloud N times for each picture. A connection whose lease has lapsed
	// (its sync is backing off, or its holder stopped) is swept by any.
	// "": every connection (one process).
	Owner string
	Now   func() time.Time
	Log   *slog.Logger
}

// Sweeper retakes the pictures of entries on CLOUD cameras that the cloud
// could not give yet (their reason is empty, RetryReason or AuthReason),
// that the blob store refused (thumbs.StoreFailedReason) or that came
// unreadable (thumbs.UnreadableReason, at most MaxUnreadable times),
// with a backoff per entry, the nearest to its retention limit first,
// until each has its picture or a final reason (a gap, or the retention
// limit passed). Each connection's cameras are swept by the replica
// holding its sync lease (SweeperOptions.Owner); should two meet anyway
// (a lease changing hands), the Retaker records one thumbnail per entry.
type Sweeper struct {
	client *ent.Client
	retake Retaker
	opt    SweeperOptions
	log    *slog.Logger

	mu    sync.Mutex
	tries map[pulid.ID]*backoff
}

type backoff struct {
	n    int
	next time.Time
}

// NewSweeper returns a Sweeper.
func NewSweeper(client *ent.Client, retake Retaker, opt SweeperOptions) *Sweeper {
	if opt.Every <= 0 {
		opt.Every = 30 * time.Second
	}
	if opt.Batch <= 0 {
		opt.Batch = 200
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = 30 * time.Second
	}
	if opt.MaxBackoff < opt.MinBackoff {
		opt.MaxBackoff = max(30*time.Minute, opt.MinBackoff)
	}
	if opt.Settle <= 0 {
		opt.Settle = time.Minute
	}
	if opt.Grace <= 0 {
		opt.Grace = 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &Sweeper{client: client, retake: retake, opt: opt, log: opt.Log, tries: map[pulid.ID]*backoff{}}
}

// Run sweeps every Options.Every until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.opt.Every)
	defer t.Stop()
	for {
		if _, err := s.Pass(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("cloud picture sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type candidate struct {
	id       pulid.ID
	conn     pulid.ID
	deadline time.Time // occurred_at + the connection's retention
	reason   string    // as read before the retake
}

// withoutThumbnail is "has no thumbnail" as NOT EXISTS, which the
// planner answers from the thumbnails' unique entry_id index (ent's
// HasThumbnail negated is a NOT IN over the whole table).
func withoutThumbnail() predicate.JournalEntry {
	return func(s *sql.Selector) {
		t := sql.Table(thumbnail.Table)
		s.Where(sql.NotExists(sql.Select(t.C(thumbnail.FieldID)).From(t).
			Where(sql.ColumnsEQ(t.C(thumbnail.FieldEntryID), s.C(journalentry.FieldID)))))
	}
}

// Pass retakes the entries due now, at most Batch, and says how many it
// tried.
func (s *Sweeper) Pass(ctx context.Context) (int, error) {
	ctx = viewer.System(ctx)
	now := s.opt.Now()
	mine := entcamera.HasCloudConnection()
	if s.opt.Owner != "" {
		mine = entcamera.HasCloudConnectionWith(cameracloudconnection.Or(
			cameracloudconnection.And(cameracloudconnection.SyncOwner(s.opt.Owner), cameracloudconnection.SyncLeaseUntilGT(now)),
			cameracloudconnection.SyncLeaseUntilIsNil(), cameracloudconnection.SyncLeaseUntilLTE(now)))
	}
	cams, err := s.client.Camera.Query().
		Where(entcamera.SourceKindEQ(entcamera.SourceKindCLOUD), entcamera.RetiredAtIsNil(), mine).
		WithCloudConnection().All(ctx)
	if err != nil {
		return 0, fmt.Errorf("load cloud cameras: %w", err)
	}
	if len(cams) == 0 {
		s.forgetAll()
		return 0, nil
	}
	s.mu.Lock()
	waiting := 0
	for _, b := range s.tries {
		if b.next.After(now) {
			waiting++
		}
	}
	s.mu.Unlock()
	// Entries backing off are skipped below, so ask for enough rows that a
	// full batch of due ones can still be found.
	limit := s.opt.Batch + waiting
	var found []candidate
	truncated := false
	for _, c := range cams {
		ref := refOf(c)
		_, keep := retention(ref)
		// One camera at a time, with its account: the journal's
		// (account_id, camera_id, occurred_at) index answers it.
		rows, err := s.client.JournalEntry.Query().Where(
			journalentry.AccountID(c.AccountID), journalentry.CameraID(c.ID),
			journalentry.OccurredAtGTE(now.Add(-keep-s.opt.Grace)),
			journalentry.Or(
				journalentry.ThumbnailReasonIn(retryingReasons()...),
				journalentry.ThumbnailReasonHasPrefix(thumbs.UnreadableReason)),
			journalentry.ReceivedAtLTE(now.Add(-s.opt.Settle)),
			withoutThumbnail(),
		).Order(ent.Asc(journalentry.FieldOccurredAt), ent.Asc(journalentry.FieldID)).Limit(limit).
			Select(journalentry.FieldID, journalentry.FieldOccurredAt, journalentry.FieldThumbnailReason).All(ctx)
		if err != nil {
			return 0, fmt.Errorf("load entries without a cloud picture: %w", err)
		}
		truncated = truncated || len(rows) == limit
		for _, e := range rows {
			found = append(found, candidate{id: e.ID, conn: ref.ConnectionID, deadline: e.OccurredAt.Add(keep), reason: e.ThumbnailReason})
		}
	}
	slices.SortFunc(found, func(a, b candidate) int { return a.deadline.Compare(b.deadline) })
	s.prune(found, truncated)

	tried := 0
	failing := map[pulid.ID]bool{} // connections whose cloud refused this pass
	for _, c := range found {
		if tried >= s.opt.Batch || ctx.Err() != nil {
			break
		}
		expired := !c.deadline.After(now)
		if !s.due(c.id, now) && !expired {
			continue
		}
		// While a connection's cloud is refusing (429 storm, revoked key),
		// one entry a pass is enough to notice it has recovered; expired
		// entries cost no call and still get their reason.
		if failing[c.conn] && !expired {
			continue
		}
		tried++
		ok, err := s.retake.RetakeThumbnail(ctx, c.id)
		if err != nil {
			s.log.Warn("retake cloud picture", "entry", c.id, "err", err)
			s.failed(c.id, now)
			continue
		}
		if ok {
			s.done(c.id)
			continue
		}
		reason, err := s.client.JournalEntry.Query().Where(journalentry.ID(c.id)).
			Select(journalentry.FieldThumbnailReason).String(ctx)
		if _, ok := unreadableTries(reason); err == nil && ok && !expired {
			// The cloud answered, with a frame that could not be read.
			if final := s.unreadable(ctx, c, reason); final {
				s.done(c.id)
			} else {
				s.failed(c.id, now)
			}
			continue
		}
		if err != nil || retrying(reason) {
			failing[c.conn] = true
			s.failed(c.id, now)
			continue
		}
		s.done(c.id) // a final reason (gap, retention)
	}
	return tried, nil
}

// UnreadableFinalReason is kept on an entry once the cloud's picture of
// its second came unreadable MaxUnreadable times (final).
var UnreadableFinalReason = thumbs.Reason(thumbs.Unreadable, fmt.Sprintf("クラウドの映像を読み取れませんでした（%d回試しました）", MaxUnreadable))

// unreadable counts one more unreadable picture of c on the entry itself
// (so the count survives restarts and is shared by replicas), and makes
// the reason final at MaxUnreadable. It says whether it is final.
func (s *Sweeper) unreadable(ctx context.Context, c candidate, reason string) bool {
	prev, _ := unreadableTries(c.reason)
	n := prev + 1
	next := markUnreadable(reason, n)
	if n >= MaxUnreadable {
		next = UnreadableFinalReason
	}
	// Only over the reason this retake wrote: a picture or a newer
	// reason recorded meanwhile stays.
	err := s.client.JournalEntry.Update().
		Where(journalentry.ID(c.id), journalentry.ThumbnailReason(reason), withoutThumbnail()).
		SetThumbnailReason(next).Exec(ctx)
	if err != nil {
		s.log.Warn("count unreadable cloud picture", "entry", c.id, "err", err)
	}
	return n >= MaxUnreadable
}

func refOf(c *ent.Camera) camcloud.CameraRef {
	ref := camcloud.CameraRef{CameraID: c.ID, AccountID: c.AccountID, DeviceID: c.DeviceID}
	if cc := c.Edges.CloudConnection; cc != nil {
		ref.ConnectionID, ref.RetentionDays = cc.ID, cc.RetentionDays
	}
	return ref
}

func (s *Sweeper) due(id pulid.ID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.tries[id]
	return b == nil || !b.next.After(now)
}

func (s *Sweeper) failed(id pulid.ID, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.tries[id]
	if b == nil {
		b = &backoff{}
		s.tries[id] = b
	}
	wait := s.opt.MinBackoff << min(b.n, 20)
	if wait > s.opt.MaxBackoff || wait <= 0 {
		wait = s.opt.MaxBackoff
	}
	b.n++
	b.next = now.Add(wait)
}

func (s *Sweeper) done(id pulid.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tries, id)
}

// prune forgets the backoff of entries no longer waiting (pictured, final
// reason, or pictured by another replica) when the query saw them all.
func (s *Sweeper) prune(found []candidate, truncated bool) {
	if truncated {
		return
	}
	still := make(map[pulid.ID]bool, len(found))
	for _, c := range found {
		still[c.id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.tries {
		if !still[id] {
			delete(s.tries, id)
		}
	}
}

func (s *Sweeper) forgetAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tries)
}
