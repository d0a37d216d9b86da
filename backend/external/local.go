package external

import (
	"context"
	"energyprofiler/backend/clock"
	"net"
	"net/url"
	"strings"
)

// IsLocal reports whether a server URL names this machine: a loopback
// address or name, or an address of one of this machine's interfaces
// (directly or through DNS). Anything else is another machine, whose power
// this machine's sources do not see.
func IsLocal(ctx context.Context, rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	own := ownAddrs()
	check := func(ip net.IP) bool { return ip.IsLoopback() || own[ip.String()] }
	if ip := net.ParseIP(host); ip != nil {
		return check(ip)
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !check(ip) {
			return false
		}
	}
	return true
}

func ownAddrs() map[string]bool {
	out := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out[ipn.IP.String()] = true
		}
	}
	return out
}

// RemotePowerNote labels a remote server run's energy.
func RemotePowerNote(host string) string {
	return "the server runs on another machine (" + host + "): the energy is this machine's, measured while it waited for the server, not the server's"
}

func clockNow() int64 { return clock.Now() }
