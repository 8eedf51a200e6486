package auth

import (
	"net/http"
	"net/netip"
	"testing"
)

// TestClientIP: X-Forwarded-For names the client only when the peer is a
// trusted proxy, and then the nearest hop that is not one of them.
func TestClientIP(t *testing.T) {
	s := &Service{opt: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	none := &Service{}
	for _, tc := range []struct {
		peer, xff string
		svc       *Service
		want      string
	}{
		{"203.0.113.5:4000", "198.51.100.1", s, "203.0.113.5"},                  // not from a proxy: header ignored
		{"10.0.0.2:4000", "198.51.100.1", s, "198.51.100.1"},                    // from the proxy
		{"10.0.0.2:4000", "6.6.6.6, 198.51.100.1, 10.0.0.9", s, "198.51.100.1"}, // a client-supplied hop is not believed
		{"10.0.0.2:4000", "", s, "10.0.0.2"},                                    // no header
		{"10.0.0.2:4000", "garbage", s, "10.0.0.2"},                             // unreadable hop
		{"10.0.0.2:4000", "198.51.100.1", none, "10.0.0.2"},                     // no trusted proxies
		{"[::ffff:10.0.0.2]:4000", "2001:db8::7", s, "2001:db8::7"},             // mapped IPv4 peer
	} {
		r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := tc.svc.ClientIP(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}
