package api

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// checkHost rejects requests whose Host header names anything but this
// machine's loopback names on our port. A web page on another site that
// rebinds its DNS name to 127.0.0.1 still sends its own name as Host, so this
// is what stops DNS-rebinding attacks.
func (h *Handler) checkHost(r *http.Request) error {
	if r.Host == "" {
		return errNoHost
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, ""
	}
	if h.anyHost() {
		return nil
	}
	if h.opts.Port != "" && port != h.opts.Port {
		return fmt.Errorf("host %q is not this server (expected port %s)", r.Host, h.opts.Port)
	}
	if !h.hostAllowed(host) {
		if h.opts.Token != "" {
			return fmt.Errorf("host %q is not one of this server's names (%s); restart it with --allow-host %s to accept it", r.Host, strings.Join(h.opts.AllowedHosts, ", "), host)
		}
		return fmt.Errorf("host %q is not a loopback name; open the dashboard at http://127.0.0.1:%s/", r.Host, h.opts.Port)
	}
	return nil
}

func (h *Handler) hostAllowed(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	for _, a := range h.opts.AllowedHosts {
		a = strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
		if strings.EqualFold(host, a) {
			return true
		}
	}
	return false
}

// anyHost reports whether the Host check is off: only with a token, which
// a rebinding page cannot know.
func (h *Handler) anyHost() bool {
	return h.opts.Token != "" && slices.Contains(h.opts.AllowedHosts, "*")
}

// checkOrigin rejects state-changing requests and WebSocket upgrades sent by
// pages of other origins. Browsers always send Origin on those, so a missing
// Origin means a non-browser client (curl, a script), which is allowed.
func (h *Handler) checkOrigin(r *http.Request) error {
	upgrade := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		if !upgrade {
			return nil
		}
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("origin %q is not this app", origin)
	}
	if u.Host != r.Host {
		return fmt.Errorf("origin %q is not this app (%s)", origin, r.Host)
	}
	return nil
}
