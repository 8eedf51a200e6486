package app

import (
	"context"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/reports"
)

// startAlerts builds the reporting side (sales summaries, CSV export
// progress, exception alerts), hooks rule evaluation into ingest and runs
// the alert webhook sender, silence checker and sweep until runCtx ends
// (Close waits for them); alerts reach live views through the feed hub.
func (a *App) startAlerts(runCtx context.Context, cfg Config) {
	a.reports = &reports.Service{Client: a.DB.Client, DB: a.DB.SQL, Dialect: a.DB.Dialect, Rollups: a.Rollups}
	a.background(func() { a.Rollups.Run(runCtx) })
	a.exports = export.NewProgress()
	a.alerts = alerts.New(a.DB.Client, a.DB.Dialect, a.Secrets, a.log, alerts.Options{AllowPrivate: cfg.AlertWebhookAllowPrivate,
		Bus: a.Bus, Feed: a.Hub})
	a.Ingester.Observer = a.alerts
	a.background(func() { a.alerts.Run(runCtx) })
}
