package main

import (
	"fmt"
	"testing"
)

// TestTrustedProxiesFlag: CIDRs and single addresses are read; anything
// else stops the start with the flag's name.
func TestTrustedProxiesFlag(t *testing.T) {
	noEnv := func(string) string { return "" }
	cfg, err := parseConfig([]string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.1,::1"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(cfg.TrustedProxies); got != "[10.0.0.0/8 192.0.2.1/32 ::1/128]" {
		t.Fatalf("trusted proxies %s", got)
	}
	if cfg, _ := parseConfig(nil, noEnv); len(cfg.TrustedProxies) != 0 {
		t.Fatalf("trusted by default: %v", cfg.TrustedProxies)
	}
	if _, err := parseConfig([]string{"--trusted-proxies", "proxy.local"}, noEnv); err == nil {
		t.Fatal("a host name was accepted")
	}
}
