// Package netguard decides which addresses the server may connect to when
// a tenant chose the URL (camera sources, alert webhooks) or the mail
// server (digests). Such an address is typed by a shop owner but reached
// from inside the server's network, so without a guard it could reach the
// cloud metadata service or internal admin ports (SSRF).
//
// An address is checked twice: when the URL is validated (an address
// literal, a well-known internal name, or what a name resolves to now),
// and again at dial time through a net.Dialer Control func, which sees the
// address actually connected to, so a name that later resolves elsewhere
// (DNS rebinding included) gains nothing.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Rule names why an address was refused.
type Rule string

const (
	// RuleMetadata: a cloud metadata service (always refused).
	RuleMetadata Rule = "metadata"
	// RuleLinkLocal: 169.254.0.0/16, fe80::/10 (always refused).
	RuleLinkLocal Rule = "link-local"
	// RuleSpecial: unspecified, multicast, broadcast and 0.0.0.0/8 — never
	// a device one connects to (always refused).
	RuleSpecial Rule = "special"
	// RulePrivate: loopback, private ranges (RFC 1918, fc00::/7), carrier
	// NAT and localhost names; refused unless Policy.AllowPrivate.
	RulePrivate Rule = "private"
)

// ErrRefused matches every *RefusedError under errors.Is.
var ErrRefused = errors.New("netguard: address refused")

// RefusedError says which rule refused which address or name.
type RefusedError struct {
	Rule Rule
	Addr string // the address or host name refused
}

// Message is the sentence for the owner who typed the URL.
func (e *RefusedError) Message() string {
	switch e.Rule {
	case RuleMetadata:
		return fmt.Sprintf("リンクローカル/メタデータのアドレスは使えません (%s: クラウドのメタデータサービス)", e.Addr)
	case RuleLinkLocal:
		return fmt.Sprintf("リンクローカル/メタデータのアドレスは使えません (%s)", e.Addr)
	case RulePrivate:
		return fmt.Sprintf("このサーバーの設定ではプライベート/ループバックのアドレスは使えません (%s)", e.Addr)
	default:
		return fmt.Sprintf("接続先にできないアドレスです (%s: 未指定/マルチキャスト/ブロードキャスト)", e.Addr)
	}
}

func (e *RefusedError) Error() string {
	what := map[Rule]string{
		RuleMetadata:  "cloud metadata address",
		RuleLinkLocal: "link-local address",
		RulePrivate:   "private or loopback address",
		RuleSpecial:   "unspecified, multicast or broadcast address",
	}[e.Rule]
	return fmt.Sprintf("%s %s refused (rule %s)", what, e.Addr, e.Rule)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

var (
	// Metadata services answer on these addresses in AWS (IPv4, IPv6 and
	// the ECS task endpoint), GCP, Azure, OpenStack and Alibaba Cloud.
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"),
		netip.MustParseAddr("169.254.170.2"),
		netip.MustParseAddr("fd00:ec2::254"),
		netip.MustParseAddr("100.100.100.200"),
	}
	// Names that reach a metadata service without any DNS record we could
	// check (they are answered by the cloud's own resolver).
	metadataNames = []string{"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
		"instance-data.ec2.internal", "metadata.azure.internal"}
	cgnat  = netip.MustParsePrefix("100.64.0.0/10")
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixto4 = netip.MustParsePrefix("2002::/16")
)

// Policy is what a caller lets through. The zero value refuses every
// address that is not public.
type Policy struct {
	// AllowPrivate lets loopback and private ranges through (cameras on the
	// shop's own network). Link-local and metadata addresses stay refused.
	AllowPrivate bool
}

// Classify returns the rule that refuses a on any policy, or RulePrivate
// for a private address, or "" for a public one.
func Classify(a netip.Addr) Rule {
	a = embedded(a.Unmap())
	switch {
	case !a.IsValid():
		return RuleSpecial
	case isMetadata(a):
		return RuleMetadata
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return RuleLinkLocal
	case a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast() ||
		a.Is4() && (a.As4()[0] == 0 || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})):
		return RuleSpecial
	case a.IsLoopback() || a.IsPrivate() || a.Is4() && cgnat.Contains(a):
		return RulePrivate
	}
	return ""
}

// embedded returns the IPv4 address inside a NAT64 or 6to4 address, which
// a gateway would connect to on the caller's behalf.
func embedded(a netip.Addr) netip.Addr {
	b := a.As16()
	switch {
	case a.Is6() && nat64.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	case a.Is6() && sixto4.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	return a
}

func isMetadata(a netip.Addr) bool {
	for _, m := range metadataAddrs {
		if a == m {
			return true
		}
	}
	return false
}

// CheckAddr refuses a when the policy does.
func (p Policy) CheckAddr(a netip.Addr) error {
	switch r := Classify(a); r {
	case "":
		return nil
	case RulePrivate:
		if p.AllowPrivate {
			return nil
		}
		return &RefusedError{Rule: r, Addr: a.Unmap().String()}
	default:
		return &RefusedError{Rule: r, Addr: a.Unmap().String()}
	}
}

// CheckHost checks what a URL host visibly is, without DNS: an address
// literal, a localhost name or a metadata name. Other names are checked by
// Resolve and at dial time.
func (p Policy) CheckHost(host string) error {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if a, err := netip.ParseAddr(h); err == nil {
		return p.CheckAddr(a)
	}
	for _, m := range metadataNames {
		if h == m {
			return &RefusedError{Rule: RuleMetadata, Addr: h}
		}
	}
	if (h == "localhost" || strings.HasSuffix(h, ".localhost")) && !p.AllowPrivate {
		return &RefusedError{Rule: RulePrivate, Addr: h}
	}
	return nil
}

// Resolve is CheckHost plus the addresses a name resolves to now, so a
// name pointing at a refused address is refused when it is saved rather
// than failing at every fetch. A name that does not resolve is not a
// policy matter and passes (the fetch then reports it unreachable).
func (p Policy) Resolve(ctx context.Context, host string) error {
	if err := p.CheckHost(host); err != nil {
		return err
	}
	h := strings.Trim(host, "[]")
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			re := err.(*RefusedError)
			re.Addr = h + " → " + re.Addr
			return re
		}
	}
	return nil
}

// Control is a net.Dialer Control func: it refuses to connect to an
// address the policy refuses, whatever name led there.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("netguard: dial %q: %w", address, err)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return &RefusedError{Rule: RuleSpecial, Addr: host}
	}
	return p.CheckAddr(a)
}

// Dialer returns a dialer that applies the policy to every connection.
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
}

// Transport returns an HTTP transport that dials through the policy. It
// uses no proxy: through a proxy the address checked would be the
// proxy's, not the target's.
func (p Policy) Transport() *http.Transport {
	d := p.Dialer(10 * time.Second)
	return &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // callers bound requests with their context or client Timeout
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// Client returns an HTTP client over Transport; timeout 0 means none (a
// stream, bounded by its context instead).
func (p Policy) Client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: p.Transport()}
}
