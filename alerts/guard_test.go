package alerts_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/regicam/regicam/alerts"
	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/ent/alert"
	"github.com/regicam/regicam/ent/alertrule"
	"github.com/regicam/regicam/ent/journalentry"
	"github.com/regicam/regicam/internal/testenv"
	"github.com/regicam/regicam/viewer"
)

// TestWebhookRefusesPrivateTargets: by default a rule cannot point its
// webhook at the server's own network, and a stored URL that reaches such
// an address anyway (a rule saved before, or a name that resolves there)
// is never connected to.
func TestWebhookRefusesPrivateTargets(t *testing.T) {
	testenv.Backends(t, func(t *testing.T, b testenv.Backend) {
		e := open(t, b)
		var calls atomic.Int64
		hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
		defer hook.Close()
		strict := alerts.New(e.db.Client, e.db.Dialect, e.svc.Box, testenv.Logger(), alerts.Options{})
		strict.Now = e.svc.Now
		for _, u := range []string{hook.URL, "http://localhost:8080/hook", "http://[::1]/x", "http://169.254.169.254/latest/meta-data",
			"https://10.1.2.3/x", "http://192.168.0.10/", "http://[fe80::1]/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/"} {
			_, _, err := strict.Create(e.ctx, alerts.Input{Name: "r", Kind: alertrule.KindUNLINKED_TERMINAL, WebhookURL: &u})
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.BadUserInput || ae.Field != "input.webhookURL" || !strings.Contains(ae.Message, "指定できません") {
				t.Errorf("%s: got %v, want BAD_USER_INPUT on input.webhookURL", u, err)
			}
		}
		if _, _, err := strict.Create(e.ctx, alerts.Input{Name: "ok", Kind: alertrule.KindUNLINKED_TERMINAL,
			WebhookURL: ptr("https://hooks.example.com/regicam")}); err != nil {
			t.Errorf("public name refused: %v", err)
		}

		// Saved through a permissive server, delivered by a strict one.
		e.rule(t, alerts.Input{Kind: alertrule.KindAMOUNT_OVER, Amount: ptr(int64(1000)), WebhookURL: ptr(hook.URL)})
		_, as := e.ring(t, rec{kind: journalentry.KindCANCEL, at: tokyo("2026-11-23 12:00:00"), total: 5000, staff: "a"})
		if len(as) != 1 {
			t.Fatalf("alerts %+v", as)
		}
		ctx := viewer.System(context.Background())
		if n := strict.DeliverDue(ctx); n != 1 {
			t.Fatalf("%d deliveries attempted, want 1", n)
		}
		a, err := e.db.Client.Alert.Get(ctx, as[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 0 || a.WebhookState != alert.WebhookStatePENDING || !strings.Contains(a.WebhookLastError, "private") {
			t.Errorf("loopback receiver called %d times; alert %s, last error %q", calls.Load(), a.WebhookState, a.WebhookLastError)
		}
	})
}
