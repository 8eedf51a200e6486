package alerts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/regicam/regicam/netguard"
)

// A webhook URL is typed by a shop owner but fetched by the server, so an
// address inside the server's network (loopback, private ranges, link-local
// such as the cloud metadata service) would let a tenant probe or poke
// internal services. Such targets are refused twice (netguard): at rule
// validation for addresses written in the URL, and at dial time for the
// address a name resolves to (so a name that later resolves elsewhere, DNS
// rebinding included, gains nothing). Options.AllowPrivate lifts both for
// deployments whose receivers live on the private network.

// errPrivateTarget is what a refused delivery records as its last error.
var errPrivateTarget = errors.New("webhook target is a private, loopback or link-local address (refused)")

// strict refuses every address that is not public.
var strict = netguard.Policy{}

// blockedHost reports whether a URL host is visibly internal: an address
// literal in a blocked range, or a localhost or metadata name. Other names
// are checked when dialled.
func blockedHost(host string) bool { return strict.CheckHost(host) != nil }

// guardedClient posts webhooks and refuses to connect to a blocked
// address. It uses no proxy: through a proxy the address checked would be
// the proxy's, not the receiver's.
func guardedClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(network, address string, c syscall.RawConn) error {
			if err := strict.Control(network, address, c); err != nil {
				return fmt.Errorf("%w: %v", errPrivateTarget, err)
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
