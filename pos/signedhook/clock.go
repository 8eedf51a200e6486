package signedhook

import (
	"time"

	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/pos"
)

// Arrived stamps records pushed to regicam with the moment they arrived:
// the payload's occurredAt is the terminal's clock, the arrival regicam's
// own, so the pair is one sample of the terminal's clock offset (ingest
// corrects the picture's time from them, regclock). The push comes
// seconds after the sale, a retried one later: delay only, which the
// estimator's lower envelope discounts. Records at an edit's time
// (MODIFY, at updatedAt) and those with a time of their own already are
// left alone.
func Arrived(recs []pos.Record, at time.Time) {
	for i := range recs {
		rc := &recs[i].Receipt
		if rc.ServerAt != nil || rc.Kind == journalentry.KindMODIFY {
			continue
		}
		t := at
		rc.ServerAt = &t
	}
}
