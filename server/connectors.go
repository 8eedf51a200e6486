package server

import (
	"github.com/regicam/regicam/connector"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/webhook"
)

// connectorFactories says how to reach each provider.
func (a *App) connectorFactories(cfg Config) map[posconnection.Provider]connector.Factory {
	return map[posconnection.Provider]connector.Factory{}
}

// smaregiPush fetches the transactions a Smaregi webhook names.
func (a *App) smaregiPush(cfg Config) webhook.PushFetcher { return nil }
