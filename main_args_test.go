package main

import (
	"strings"
	"testing"
)

// A bool flag followed by a word ends Go's flag parsing at that word; the
// flags after it would be dropped without a word, so the word is refused.
func TestLeftoverArgumentsRefused(t *testing.T) {
	noEnv := func(string) string { return "" }
	_, err := parseConfig([]string{"--demo-safie", "true", "--addr", ":9999"}, noEnv)
	if err == nil || !strings.Contains(err.Error(), `"true"`) {
		t.Fatalf("parseConfig(--demo-safie true --addr :9999) = %v; want the leftover \"true\" named", err)
	}
	if _, err := parseConfig([]string{"--demo", "true", "--addr", ":9999"}, noEnv); err == nil {
		t.Fatal("--demo true --addr :9999 accepted; --demo is a switch, the leftover true must be refused")
	}
	cfg, err := parseConfig([]string{"--demo=true", "--addr", ":9999"}, noEnv)
	if err != nil || cfg.Demo != "true" || cfg.Addr != ":9999" {
		t.Fatalf("--demo=true --addr :9999: demo %q addr %q err %v", cfg.Demo, cfg.Addr, err)
	}
}
