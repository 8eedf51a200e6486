package server

import (
	"net/http"
	"strings"

	"github.com/regicam/regicam/connector"
	"github.com/regicam/regicam/ent/posconnection"
	"github.com/regicam/regicam/portal"
	smaregiconnect "github.com/regicam/regicam/pos/smaregi/connect"
	"github.com/regicam/regicam/pos/ubiregi"
	ubiregiconnect "github.com/regicam/regicam/pos/ubiregi/connect"
)

// connectorFactories says how to reach each provider.
func (a *App) connectorFactories(cfg Config) map[posconnection.Provider]connector.Factory {
	f := map[posconnection.Provider]connector.Factory{}
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
	a.ubiregi = &ubiregiconnect.Connector{Client: a.DB.Client, Box: a.Secrets, API: api, Log: a.log, Done: "/"}
	return nil
}

func (a *App) registerProviders(mux *http.ServeMux) {
	if a.ubiregi != nil {
		a.ubiregi.Register(mux)
	}
}

func (a *App) setupSmaregi(cfg Config) {
	a.smaregi = &smaregiconnect.Connector{Client: a.DB.Client, Box: a.Secrets,
		IDBaseURL: cfg.SmaregiIDURL, APIBaseURL: cfg.SmaregiAPIURL, Log: a.log}
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
