package main

import "testing"

// TestSafieFlags: the camera cloud's settings come from flags or their
// REGICAM_* variables (the secret from the variable, kept off the process
// list); defaults reach the public API with no item filter; a negative
// item id or a client id without its secret stops the start.
func TestSafieFlags(t *testing.T) {
	noEnv := func(string) string { return "" }
	cfg, err := parseConfig(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SafieBaseURL != "https://openapi.safie.link" || cfg.SafiePOSItemID != 0 || cfg.SafieClientID != "" || cfg.DemoSafie {
		t.Fatalf("defaults: %+v", cfg)
	}
	env := map[string]string{"REGICAM_SAFIE_CLIENT_SECRET": "s3cret", "REGICAM_SAFIE_POS_ITEM_ID": "42"}
	cfg, err = parseConfig([]string{"--safie-client-id", "cid", "--safie-base-url", "http://127.0.0.1:9/", "--demo-safie"},
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SafieClientID != "cid" || cfg.SafieClientSecret != "s3cret" || cfg.SafiePOSItemID != 42 ||
		cfg.SafieBaseURL != "http://127.0.0.1:9/" || !cfg.DemoSafie {
		t.Fatalf("flags and variables: %+v", cfg)
	}
	for _, args := range [][]string{
		{"--safie-pos-item-id", "-1"},
		{"--safie-client-id", "cid"},
	} {
		if _, err := parseConfig(args, noEnv); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if _, err := parseConfig(nil, func(k string) string {
		return map[string]string{"REGICAM_SAFIE_POS_ITEM_ID": "pos"}[k]
	}); err == nil {
		t.Error("REGICAM_SAFIE_POS_ITEM_ID=pos accepted")
	}
}
