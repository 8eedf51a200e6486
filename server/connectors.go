package server

import (
	"github.com/regicam/regicam/connector"
	"github.com/regicam/regicam/ent/posconnection"
)

// connectorFactories says how to reach each provider.
func (a *App) connectorFactories(cfg Config) map[posconnection.Provider]connector.Factory {
	return map[posconnection.Provider]connector.Factory{}
}
