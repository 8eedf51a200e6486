package graph

import (
	"github.com/regicam/regicam/ent"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/ingest"
)

// clockOffset is Terminal.clockOffset: the estimate ingest stored with the
// register's clock window (ingest/clock.go, regclock), nil while unknown.
// The terminal is loaded whole: clockOffset is not an ent field, so the
// field collection selects every column.
func clockOffset(t *ent.Terminal) *model.ClockOffset {
	if t.ClockOffsetMs == nil || t.ClockUpdatedAt == nil {
		return nil
	}
	var unc int64
	if t.ClockUncertaintyMs != nil {
		unc = *t.ClockUncertaintyMs
	}
	return &model.ClockOffset{
		OffsetMs:      int(*t.ClockOffsetMs),
		UncertaintyMs: int(unc),
		Samples:       t.ClockSamples,
		Correcting:    ingest.ClockCorrecting(*t.ClockOffsetMs),
		UpdatedAt:     *t.ClockUpdatedAt,
	}
}
