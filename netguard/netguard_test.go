package netguard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPolicyRules(t *testing.T) {
	cases := []struct {
		host            string
		strict, shopLAN Rule // "" means allowed under that policy
	}{
		{"8.8.8.8", "", ""},
		{"2001:4860:4860::8888", "", ""},
		{"camera.example.com", "", ""}, // names are checked when resolved and dialled
		{"169.254.169.254", RuleMetadata, RuleMetadata},
		{"169.254.170.2", RuleMetadata, RuleMetadata},
		{"fd00:ec2::254", RuleMetadata, RuleMetadata},
		{"[fd00:ec2::254]", RuleMetadata, RuleMetadata},
		{"metadata.google.internal", RuleMetadata, RuleMetadata},
		{"METADATA.GOOGLE.INTERNAL.", RuleMetadata, RuleMetadata},
		{"169.254.1.20", RuleLinkLocal, RuleLinkLocal},
		{"fe80::1", RuleLinkLocal, RuleLinkLocal},
		{"::ffff:169.254.169.254", RuleMetadata, RuleMetadata}, // IPv4-mapped
		{"64:ff9b::a9fe:a9fe", RuleMetadata, RuleMetadata},     // NAT64 of 169.254.169.254
		{"0.0.0.0", RuleSpecial, RuleSpecial},
		{"::", RuleSpecial, RuleSpecial},
		{"239.1.2.3", RuleSpecial, RuleSpecial},
		{"224.0.0.251", RuleLinkLocal, RuleLinkLocal}, // link-local multicast (mDNS)
		{"255.255.255.255", RuleSpecial, RuleSpecial},
		{"127.0.0.1", RulePrivate, ""},
		{"::1", RulePrivate, ""},
		{"10.1.2.3", RulePrivate, ""},
		{"172.16.0.9", RulePrivate, ""},
		{"192.168.1.64", RulePrivate, ""},
		{"fc00::5", RulePrivate, ""},
		{"100.64.0.1", RulePrivate, ""},
		{"localhost", RulePrivate, ""},
		{"cam.localhost", RulePrivate, ""},
	}
	for _, c := range cases {
		for _, p := range []struct {
			policy Policy
			want   Rule
		}{{Policy{}, c.strict}, {Policy{AllowPrivate: true}, c.shopLAN}} {
			err := p.policy.CheckHost(c.host)
			var re *RefusedError
			switch {
			case p.want == "" && err != nil:
				t.Errorf("%s (allow private %v): refused: %v", c.host, p.policy.AllowPrivate, err)
			case p.want != "" && (!errors.As(err, &re) || re.Rule != p.want || !errors.Is(err, ErrRefused)):
				t.Errorf("%s (allow private %v): got %v, want rule %s", c.host, p.policy.AllowPrivate, err, p.want)
			}
		}
	}
}

// The owner reads which rule refused the URL.
func TestMessagesNameTheRule(t *testing.T) {
	for host, want := range map[string]string{
		"169.254.169.254": "リンクローカル/メタデータのアドレスは使えません (169.254.169.254",
		"fe80::1":         "リンクローカル/メタデータのアドレスは使えません (fe80::1)",
		"10.0.0.1":        "プライベート/ループバックのアドレスは使えません (10.0.0.1)",
	} {
		var re *RefusedError
		if err := (Policy{}).CheckHost(host); !errors.As(err, &re) || !strings.Contains(re.Message(), want) {
			t.Errorf("%s: %v, want message containing %q", host, err, want)
		}
	}
}

// The dial-time check refuses the address actually connected to, whatever
// name or validation came before: a loopback server is never reached by a
// strict client, and is by a shop-LAN one.
func TestClientRefusesAtDialTime(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	_, err := Policy{}.Client(0).Get(srv.URL)
	var re *RefusedError
	if !errors.As(err, &re) || re.Rule != RulePrivate || hits != 0 {
		t.Fatalf("strict client: err %v, %d hits; want a private-rule refusal and no request", err, hits)
	}
	resp, err := Policy{AllowPrivate: true}.Client(0).Get(srv.URL)
	if err != nil {
		t.Fatalf("shop-LAN client: %v", err)
	}
	resp.Body.Close()
	if hits != 1 {
		t.Fatalf("%d hits, want 1", hits)
	}
	// Through the dialer directly, as the RTSP check uses it.
	if _, err := (Policy{}).Dialer(0).DialContext(context.Background(), "tcp", srv.Listener.Addr().String()); !errors.Is(err, ErrRefused) {
		t.Fatalf("strict dialer: %v", err)
	}
}

// A name that does not resolve is not a policy matter: the fetch reports
// it unreachable. Names the policy knows are refused before any lookup.
func TestResolve(t *testing.T) {
	ctx := context.Background()
	if err := (Policy{AllowPrivate: true}).Resolve(ctx, "no-such-host.invalid"); err != nil {
		t.Fatalf("unresolvable name: %v", err)
	}
	if err := (Policy{AllowPrivate: true}).Resolve(ctx, "metadata.google.internal"); !errors.Is(err, ErrRefused) {
		t.Fatalf("metadata name: %v", err)
	}
	if err := (Policy{}).Resolve(ctx, "127.0.0.1"); !errors.Is(err, ErrRefused) {
		t.Fatalf("loopback literal: %v", err)
	}
}
