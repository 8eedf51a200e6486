package app

import (
	"strings"

	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/portal"
	"github.com/regicam/regicam/pos"
	smaregiconn "github.com/regicam/regicam/pos/smaregi/storedconn"
	"github.com/regicam/regicam/pos/ubiregi"
	ubiregiconn "github.com/regicam/regicam/pos/ubiregi/storedconn"
	"github.com/regicam/regicam/pos/webhook"
	"github.com/regicam/regicam/server"
)

// connectorFactories says how the poll runtime reaches each provider.
func (a *App) connectorFactories() map[posconnection.Provider]pos.Factory {
	f := map[posconnection.Provider]pos.Factory{}
	if a.ubiregi != nil {
		f[posconnection.ProviderUBIREGI] = a.ubiregi.Factory()
	}
	f[posconnection.ProviderSMAREGI] = a.smaregi.Factory()
	return f
}

// setupUbiregi prepares the Ubiregi OAuth application when its client id
// is configured (REGICAM_UBIREGI_CLIENT_ID / _SECRET).
func (a *App) setupUbiregi(cfg Config) error {
	if cfg.UbiregiClientID == "" {
		return nil
	}
	api, err := ubiregi.New(ubiregi.Config{
		AuthBaseURL: cfg.UbiregiAuthURL, APIBaseURL: cfg.UbiregiAPIURL,
		ClientID: cfg.UbiregiClientID, ClientSecret: cfg.UbiregiClientSecret,
		RedirectURL: strings.TrimRight(cfg.PublicURL, "/") + "/oauth/ubiregi/callback",
	})
	if err != nil {
		return err
	}
	a.ubiregi = &ubiregiconn.Connector{Client: a.DB.Client, Box: a.Secrets, API: api, Log: a.log, Done: "/"}
	return nil
}

func (a *App) setupSmaregi(cfg Config) {
	a.smaregi = &smaregiconn.Connector{Client: a.DB.Client, Box: a.Secrets,
		IDBaseURL: cfg.SmaregiIDURL, APIBaseURL: cfg.SmaregiAPIURL, Log: a.log}
}

// providerRoutes are the providers that serve routes of their own
// (Ubiregi's OAuth start and callback).
func (a *App) providerRoutes() []server.RouteRegistrar {
	if a.ubiregi == nil {
		return nil
	}
	return []server.RouteRegistrar{a.ubiregi}
}

// webhooks takes the providers' pushed data (/webhooks/…).
func (a *App) webhooks() *webhook.Handler {
	return &webhook.Handler{Client: a.DB.Client, Box: a.Secrets, Runtime: a.Connectors, Smaregi: a.smaregi, Log: a.log}
}

// portal is the link portal over this process's connectors.
func (a *App) portal() *portal.Service {
	p := &portal.Service{Client: a.DB.Client, Smaregi: a.smaregi, Ubiregi: a.ubiregi,
		Connectors: a.Connectors, Box: a.Secrets, Log: a.log}
	if a.ubiregi != nil {
		a.ubiregi.Saved = p.UbiregiSaved
	}
	return p
}
