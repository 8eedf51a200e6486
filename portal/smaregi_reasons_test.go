package portal_test

import (
	"strings"
	"testing"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/pos/smaregi/fake"
)

// TestSmaregiRefusalsSayWhich: each way the スマレジ連携 form can be wrong
// has its own field and reason and its own sentence, said once, with none
// of Smaregi's OAuth text (the owner was shown one message for a wrong
// contract id, a wrong client id and a non-numeric 端末ID, with the
// provider's English twice).
func TestSmaregiRefusalsSayWhich(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		fk := fake.New(fake.Options{ContractID: contract, ClientID: clientID, ClientSecret: secret,
			Stores: []fake.Store{{ID: "1", Name: "本店"}}})
		t.Cleanup(fk.Close)
		fk.AddContract("sb_noscope", "cli-noscope", "noscope-Secret-4321", []string{"pos.transactions:read"}, nil)
		e := start(t, b, func(cfg *app.Config, _ string) { cfg.SmaregiIDURL, cfg.SmaregiAPIURL = fk.URL(), fk.URL() })
		fx := testenv.NewFixture(t, e.srv.DB.Client, e.srv.AccountID)
		form := func(change func(m map[string]any)) map[string]any {
			m := map[string]any{"contractID": contract, "clientID": clientID, "clientSecret": secret,
				"terminalID": "3", "cameraID": fx.CameraIDs[0]}
			change(m)
			return map[string]any{"in": m}
		}
		seen := map[string]string{}
		for _, c := range []struct {
			name, field, reason string
			change              func(m map[string]any)
		}{
			{"wrong secret", "input.clientSecret", apperr.SMAREGI_CLIENT_REJECTED, func(m map[string]any) { m["clientSecret"] = wrongSecret }},
			{"wrong client id", "input.clientSecret", apperr.SMAREGI_CLIENT_REJECTED, func(m map[string]any) { m["clientID"] = "cli-other" }},
			{"unknown contract", "input.contractID", apperr.SMAREGI_CONTRACT_NOT_FOUND, func(m map[string]any) { m["contractID"] = "sb_nosuch" }},
			{"contract id with a slash", "input.contractID", apperr.SMAREGI_CONTRACT_ID_INVALID, func(m map[string]any) { m["contractID"] = "sb/1" }},
			{"app without the scopes", "input.clientID", apperr.SMAREGI_SCOPE_MISSING, func(m map[string]any) {
				m["contractID"], m["clientID"], m["clientSecret"] = "sb_noscope", "cli-noscope", "noscope-Secret-4321"
			}},
			{"terminal id not a number", "input.terminalID", apperr.TERMINAL_ID_NOT_NUMERIC, func(m map[string]any) { m["terminalID"] = "レジ1" }},
		} {
			r := e.q(addQ, form(c.change))
			if len(r.Errors) != 1 {
				t.Fatalf("%s: want one error, got %+v", c.name, r.Errors)
			}
			got := r.Errors[0]
			if got.Code() != apperr.BadUserInput || got.Field() != c.field || got.Extensions["reason"] != c.reason {
				t.Errorf("%s: code %s field %s reason %v, want BAD_USER_INPUT %s %s", c.name, got.Code(), got.Field(), got.Extensions["reason"], c.field, c.reason)
			}
			for _, raw := range []string{"invalid_client", "invalid_scope", "Client authentication", "smaregi:", "HTTP 4", "Not Found"} {
				if strings.Contains(got.Message, raw) {
					t.Errorf("%s: message %q holds Smaregi's own text %q", c.name, got.Message, raw)
				}
			}
			if strings.Count(got.Message, "スマレジ") > 1 {
				t.Errorf("%s: message says it twice: %q", c.name, got.Message)
			}
			if prev, ok := seen[c.reason]; ok && prev != got.Message {
				t.Errorf("%s: one reason, two messages: %q and %q", c.name, prev, got.Message)
			}
			for r, m := range seen {
				if r != c.reason && m == got.Message {
					t.Errorf("%s: reasons %s and %s share the message %q", c.name, r, c.reason, m)
				}
			}
			seen[c.reason] = got.Message
		}

		// An IME's full-width digits name the same register.
		var out struct {
			AddSmaregiLink struct{ TerminalExternalID string }
		}
		e.must(addQ, form(func(m map[string]any) { m["terminalID"] = "３" }), &out)
		if out.AddSmaregiLink.TerminalExternalID != "3" {
			t.Fatalf("full-width 端末ID stored as %q, want 3", out.AddSmaregiLink.TerminalExternalID)
		}
	})
}
