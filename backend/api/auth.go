package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Remote mode: a server reachable from other machines requires its token on
// every API request. Scripts send it as "Authorization: Bearer TOKEN". A
// browser exchanges it once, on the dashboard's login page, for a session
// cookie (HttpOnly, so page scripts never see it; SameSite=Strict, so other
// sites' pages cannot make the browser send it), which the API, the
// WebSocket and the event stream all accept.
//
// A team server also accepts the tokens it handed out (Options.Tokens),
// each with a role: RolePush tokens belong to machines, which copy their
// runs in and read; RoleView tokens belong to people who only look. The
// server's own token is RoleAdmin: everything.

// Roles a request may act in.
const (
	RoleAdmin = "admin"
	RolePush  = "push"
	RoleView  = "view"
)

// Principal is who a request acts as: a token's name and role.
type Principal struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// TokenChecker finds the token whose secret this is (ok false: none).
type TokenChecker func(ctx context.Context, secret string) (p Principal, ok bool, err error)

const (
	sessionCookie = "ep_session"
	sessionTTL    = 7 * 24 * time.Hour
	// maxSessions bounds the session table; the oldest session is dropped
	// when a new one would exceed it.
	maxSessions = 1000
	// failedLoginDelay slows guessing (tokens are 128-bit random, so this
	// is a courtesy, not the defence).
	failedLoginDelay = 500 * time.Millisecond
)

// sessions are the browser sessions of one Handler.
type sessions struct {
	mu      sync.Mutex
	expires map[string]session // by SHA-256 of the cookie value
}

type session struct {
	expires time.Time
	who     Principal
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails on supported platforms
	return hex.EncodeToString(b)
}

func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return string(sum[:])
}

// create starts a session for who and returns its cookie value.
func (s *sessions) create(now time.Time, who Principal) string {
	id := newID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expires == nil {
		s.expires = map[string]session{}
	}
	for k, se := range s.expires {
		if now.After(se.expires) {
			delete(s.expires, k)
		}
	}
	for len(s.expires) >= maxSessions {
		oldest, at := "", time.Time{}
		for k, se := range s.expires {
			if oldest == "" || se.expires.Before(at) {
				oldest, at = k, se.expires
			}
		}
		delete(s.expires, oldest)
	}
	s.expires[hashString(id)] = session{expires: now.Add(sessionTTL), who: who}
	return id
}

// valid returns who a cookie value's live session belongs to. Looking up
// its hash keeps the comparison free of timing that depends on the secret.
func (s *sessions) valid(id string, now time.Time) (Principal, bool) {
	if id == "" {
		return Principal{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.expires[hashString(id)]
	if !ok || !now.Before(se.expires) {
		return Principal{}, false
	}
	return se.who, true
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.expires, hashString(id))
}

// tokenMatches compares a presented token with the server's in constant
// time (over their hashes, so the length does not leak either).
func (h *Handler) tokenMatches(presented string) bool {
	want := sha256.Sum256([]byte(h.opts.Token))
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// identify finds who a secret belongs to: the server's token, or one of
// the tokens it handed out.
func (h *Handler) identify(ctx context.Context, secret string) (Principal, bool) {
	if secret == "" {
		return Principal{}, false
	}
	if h.opts.Token != "" && h.tokenMatches(secret) {
		return Principal{Name: "server token", Role: RoleAdmin}, true
	}
	if h.opts.Tokens != nil {
		p, ok, err := h.opts.Tokens(ctx, secret)
		if err != nil {
			h.log.Error("check token", "err", err)
			return Principal{}, false
		}
		return p, ok
	}
	return Principal{}, false
}

// authorized returns who r acts as: the bearer of a token, the holder of a
// live session cookie, or, on a server without a token (this machine
// only), the local user.
func (h *Handler) authorized(r *http.Request) (Principal, bool) {
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if p, ok := h.identify(r.Context(), bearer); ok {
			return p, true
		}
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if p, ok := h.sessions.valid(c.Value, time.Now()); ok {
			return p, true
		}
	}
	if h.opts.Token == "" {
		return Principal{Name: "local", Role: RoleAdmin}, true
	}
	return Principal{}, false
}

// permits reports whether a role may make request r: viewers only read;
// pushers read and copy runs in; the server's own token does everything.
func permits(role string, r *http.Request) bool {
	switch r.URL.Path {
	case "/api/login", "/api/logout", "/api/auth":
		return true
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch role {
	case RoleAdmin:
		return true
	case RolePush:
		return read || strings.HasPrefix(r.URL.Path, "/api/push/")
	case RoleView:
		return read
	}
	return false
}

// forbid answers 403 to a token whose role may not do what it asked.
func forbid(w http.ResponseWriter, p Principal) {
	what := "only read"
	if p.Role == RolePush {
		what = "read and push runs"
	}
	writeError(w, http.StatusForbidden, "forbidden",
		fmt.Sprintf("the token %q is a %s token: it may %s", p.Name, p.Role, what))
}

// needsAuth says which requests need the token: every API request (the
// OpenAI-compatible /v1 included) except logging in and asking whether
// login is needed. The dashboard's files are public (they hold no data),
// so a browser can show the login page.
func needsAuth(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(r.URL.Path, "/v1/") {
		return false
	}
	switch r.URL.Path {
	case "/api/login", "/api/auth":
		return false
	}
	return true
}

// refuse answers 401 without reading the request's body, and closes the
// connection so the server does not read it either.
func refuse(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.Header().Set("WWW-Authenticate", `Bearer realm="energyprofiler"`)
	writeError(w, http.StatusUnauthorized, "unauthorized",
		"this server needs its token: log in on the dashboard, or send 'Authorization: Bearer TOKEN'")
}

type loginRequest struct {
	Token string `json:"token"`
}

// login exchanges the token for a session cookie.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if h.opts.Token == "" && h.opts.Tokens == nil {
		writeJSON(w, http.StatusOK, map[string]any{"required": false})
		return
	}
	var req loginRequest
	if !decodeJSONBody(w, r, &req) {
		return
	}
	who, ok := h.identify(r.Context(), req.Token)
	if !ok {
		time.Sleep(failedLoginDelay)
		h.log.Warn("failed login", "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "wrong token", "the token does not match this server's (see where the server was started)")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: h.sessions.create(time.Now(), who), Path: "/",
		MaxAge: int(sessionTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	h.log.Info("logged in", "remote", r.RemoteAddr, "token", who.Name, "role", who.Role)
	writeJSON(w, http.StatusOK, map[string]any{"required": true, "authenticated": true, "name": who.Name, "role": who.Role})
}

// logout ends the browser's session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		h.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// authStatus tells the dashboard whether it must show the login page, and
// in which role it acts (a viewer's dashboard hides what it may not do).
func (h *Handler) authStatus(w http.ResponseWriter, r *http.Request) {
	who, ok := h.authorized(r)
	res := map[string]any{"required": h.opts.Token != "", "authenticated": ok}
	if ok {
		res["name"], res["role"] = who.Name, who.Role
	}
	writeJSON(w, http.StatusOK, res)
}
