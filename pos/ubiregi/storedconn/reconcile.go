package storedconn

import (
	"context"
	"time"

	"github.com/regicam/regicam/pos"
	"github.com/regicam/regicam/pos/ubiregi"
)

// reconcileSlack widens the listing backwards: a sale's time is paid_at
// on the iPad, the listing goes by the server's updated_at, and Ubiregi
// cannot be asked about one id, so every sale of the window must be in the
// listing or it would read as gone. A register clock may run up to a day
// ahead and its time still stand (regclock.MaxOffset); an hour more covers
// the server's own rounding.
const reconcileSlack = 25 * time.Hour

// Reconcile lists every checkout updated since from − slack (Ubiregi can
// only list by update time, and a sale's update time is never before its
// paid_at by more than the slack), paced and retried by the client, and
// maps them, as Poll does from that cursor; the day of slack is
// re-ingested as duplicates. Checkouts updated after to come too; ingest
// takes them as the poller would. It implements pos.Reconciler.
func (s *source) Reconcile(ctx context.Context, from, _ time.Time) ([]pos.Record, error) {
	recs, _, err := s.Poll(ctx, ubiregi.FormatTime(from.Add(-reconcileSlack)))
	return recs, err
}

// Gone returns ids: Ubiregi cannot look a checkout up by id, and the
// listing since the window's start is complete (an error fails the sweep
// before this is asked), so a sale of the window it did not list is gone.
// It implements pos.Reconciler.
func (s *source) Gone(_ context.Context, ids []string) ([]string, error) { return ids, nil }
