package safie

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/metrics"
)

// requests is regicam_provider_requests_total{provider="safie",outcome}.
func requests(t *testing.T, outcome string) float64 {
	t.Helper()
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "regicam_provider_requests_total" {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "provider" && l.GetValue() != "safie" || l.GetName() == "outcome" && l.GetValue() != outcome {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestRequestsCountedByOutcome: every answer of the cloud is one request
// on /metrics — two 429s then the list are two rate_limited and one ok; a
// refused key is auth.
func TestRequestsCountedByOutcome(t *testing.T) {
	e := newEnv(t, fake.Options{RetryAfter: 2 * time.Second})
	e.register()
	c := e.client(key(), func(cfg *Config) { cfg.MaxBackoff = 10 * time.Second })
	recordSleeps(c)
	before := map[string]float64{}
	for _, o := range []string{metrics.OutcomeOK, metrics.OutcomeRateLimited, metrics.OutcomeAuth, metrics.OutcomeError} {
		before[o] = requests(t, o)
	}
	e.fake.FailNext(2, http.StatusTooManyRequests)
	if _, err := c.Devices(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	e.fake.FailNext(1, http.StatusUnauthorized)
	if _, err := c.Devices(context.Background(), nil); err == nil {
		t.Fatal("a refused key was accepted")
	}
	for o, want := range map[string]float64{metrics.OutcomeOK: 1, metrics.OutcomeRateLimited: 2, metrics.OutcomeAuth: 1, metrics.OutcomeError: 0} {
		if got := requests(t, o) - before[o]; got != want {
			t.Errorf("outcome %s moved by %v, want %v", o, got, want)
		}
	}
}
