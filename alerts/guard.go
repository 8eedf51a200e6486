package alerts

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

// A webhook URL is typed by a shop owner but fetched by the server, so an
// address inside the server's network (loopback, private ranges, link-local
// such as the cloud metadata service) would let a tenant probe or poke
// internal services. Such targets are refused twice: at rule validation
// for addresses written in the URL, and at dial time for the address a
// name resolves to (so a name that later resolves elsewhere, DNS
// rebinding included, gains nothing). Options.AllowPrivate lifts both for
// deployments whose receivers live on the private network.

// errPrivateTarget is what a refused delivery records as its last error.
var errPrivateTarget = errors.New("webhook target is a private, loopback or link-local address (refused)")

// cgnat is the carrier-grade NAT range: shared, not public.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// blockedAddr reports whether a is not a public unicast address.
func blockedAddr(a netip.Addr) bool {
	a = a.Unmap()
	return !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() ||
		a.IsUnspecified() || a.Is4() && (a.As4()[0] == 0 || cgnat.Contains(a))
}

// blockedHost reports whether a URL host is visibly internal: an address
// literal in a blocked range, or a localhost name. Other names are checked
// when dialled.
func blockedHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return blockedAddr(a)
	}
	return false
}

// guardedClient posts webhooks and refuses to connect to a blocked
// address. It uses no proxy: through a proxy the address checked would be
// the proxy's, not the receiver's.
func guardedClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("webhook dial %q: %w", address, err)
			}
			a, err := netip.ParseAddr(host)
			if err != nil || blockedAddr(a) {
				return fmt.Errorf("%w: %s", errPrivateTarget, host)
			}
			return nil
		},
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}
