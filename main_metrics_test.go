package main

import (
	"fmt"
	"testing"
)

// TestMetricsFlags: the token comes from the flag or REGICAM_METRICS_TOKEN
// (the flag wins), the allowlist takes CIDRs and single addresses, and
// with neither /metrics stays loopback only (both empty).
func TestMetricsFlags(t *testing.T) {
	noEnv := func(string) string { return "" }
	cfg, err := parseConfig(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.Token != "" || len(cfg.Metrics.Allow) != 0 {
		t.Fatalf("metrics open by default: %+v", cfg.Metrics)
	}
	env := func(k string) string {
		return map[string]string{"REGICAM_METRICS_TOKEN": "from-the-variable", "REGICAM_METRICS_ALLOW": "10.1.0.0/16"}[k]
	}
	if cfg, _ = parseConfig(nil, env); cfg.Metrics.Token != "from-the-variable" || fmt.Sprint(cfg.Metrics.Allow) != "[10.1.0.0/16]" {
		t.Fatalf("from the environment: %+v", cfg.Metrics)
	}
	cfg, err = parseConfig([]string{"--metrics-token", "from-the-flag", "--metrics-allow", "10.0.0.0/8, 192.0.2.1,::1"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.Token != "from-the-flag" || fmt.Sprint(cfg.Metrics.Allow) != "[10.0.0.0/8 192.0.2.1/32 ::1/128]" {
		t.Fatalf("flags: %+v", cfg.Metrics)
	}
	if _, err := parseConfig([]string{"--metrics-allow", "prometheus.local"}, noEnv); err == nil {
		t.Fatal("a host name was accepted")
	}
}
