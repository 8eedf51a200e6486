package app

import (
	"context"

	"github.com/regicam/regicam/cardmatch"
)

// startCardMatch runs the card ↔ register matcher until runCtx ends (Close
// waits for it); its mismatches raise CARD_MISMATCH alerts. Every replica
// runs it: rows, pairs and alerts are idempotent (cardmatch's doc).
func (a *App) startCardMatch(runCtx context.Context) {
	m := cardmatch.New(a.DB.Client, a.DB.Dialect, cardmatch.Options{Alerter: a.alerts, Log: a.log})
	a.background(func() { m.Run(runCtx) })
}
