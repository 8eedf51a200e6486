package graph

import (
	"sync"

	"github.com/regicam/regicam/digest"
	"github.com/regicam/regicam/graph/model"
	"github.com/regicam/regicam/secrets"
)

var digestFallback sync.Mutex

// digestService is the process's digest service (app/digest.go registers
// it for its database client). A schema built without app (the in-process
// tests) gets one without a scheduler, registered once per client.
func (r *Resolver) digestService() *digest.Service {
	if s := digest.Of(r.Client); s != nil {
		return s
	}
	digestFallback.Lock()
	defer digestFallback.Unlock()
	if s := digest.Of(r.Client); s != nil {
		return s
	}
	var box *secrets.Box
	if r.Alerts != nil {
		box = r.Alerts.Box
	}
	s := digest.New(r.Client, box, r.Reports, nil, nil, digest.Config{})
	digest.Register(s)
	return s
}

func mailSettingsInput(in model.MailSettingsInput) digest.SettingsInput {
	out := digest.SettingsInput{Host: in.Host, Port: in.Port, Username: in.Username, Password: in.Password,
		FromAddress: in.FromAddress, FromName: in.FromName}
	if in.Security != nil {
		s := string(*in.Security)
		out.Security = &s
	}
	return out
}

func digestRuleInput(in model.DigestRuleInput) digest.RuleInput {
	return digest.RuleInput{Name: in.Name, Recipients: in.Recipients, ShopIDs: in.ShopIDs, SendAt: in.SendAt, Enabled: in.Enabled}
}
