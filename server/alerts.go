package server

import (
	"context"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/export"
	"github.com/regicam/regicam/reports"
)

// extras are the reporting side of the app: summaries, CSV exports and
// exception alerts.
type extras struct {
	reports *reports.Service
	exports *export.Progress
	alerts  *alerts.Service
}

// startAlerts builds the reporting services, hooks rule evaluation into
// ingest and runs the alert stream, webhook sender and silence checker
// until runCtx ends (Close waits for them).
func (a *App) startAlerts(runCtx context.Context, cfg Config) {
	a.ext.reports = &reports.Service{Client: a.DB.Client, DB: a.DB.SQL, Dialect: a.DB.Dialect}
	a.ext.exports = export.NewProgress()
	a.ext.alerts = alerts.New(a.DB.Client, a.DB.Dialect, a.Secrets, a.log, alerts.Options{AllowPrivate: cfg.AlertWebhookAllowPrivate})
	a.Ingester.Observer = a.ext.alerts
	a.background(func() { a.ext.alerts.Run(runCtx) })
}

// Alerts is the app's alert service (tests drive its checker and sender).
func (a *App) Alerts() *alerts.Service { return a.ext.alerts }
