// Package clientip finds the visitor's address of an HTTP request, trusting
// X-Forwarded-For only as far as it was written by proxies the operator
// declared trusted; anything a client could forge is not believed.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver resolves client addresses behind a set of trusted proxies.
type Resolver struct {
	trusted []netip.Prefix
}

// Parse builds a resolver from a comma-separated list of CIDR prefixes or
// single addresses of trusted proxies. An empty list trusts no proxy: the
// TCP peer is the client.
func Parse(list string) (*Resolver, error) {
	r := &Resolver{}
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR prefix", s)
			}
			r.trusted = append(r.trusted, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR prefix", s)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the visitor's address: the TCP peer if it is not a trusted
// proxy, otherwise the right-most X-Forwarded-For entry that is not a trusted
// proxy (entries to its left were written by the client and may be forged).
func (r *Resolver) ClientIP(req *http.Request) string {
	peer := peerAddr(req.RemoteAddr)
	if !peer.IsValid() {
		return ""
	}
	if !r.isTrusted(peer) {
		return peer.String()
	}
	hops := req.Header.Values("X-Forwarded-For")
	var entries []string
	for _, h := range hops {
		for e := range strings.SplitSeq(h, ",") {
			entries = append(entries, strings.TrimSpace(e))
		}
	}
	client := peer
	for i := len(entries) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(entries[i])
		if err != nil {
			break // a malformed hop: stop at the last address we could trust
		}
		client = a.Unmap()
		if !r.isTrusted(client) {
			break
		}
	}
	return client.String()
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
