package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
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
	expires map[string]time.Time // by SHA-256 of the cookie value
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

// create starts a session and returns its cookie value.
func (s *sessions) create(now time.Time) string {
	id := newID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expires == nil {
		s.expires = map[string]time.Time{}
	}
	for k, exp := range s.expires {
		if now.After(exp) {
			delete(s.expires, k)
		}
	}
	for len(s.expires) >= maxSessions {
		oldest, at := "", time.Time{}
		for k, exp := range s.expires {
			if oldest == "" || exp.Before(at) {
				oldest, at = k, exp
			}
		}
		delete(s.expires, oldest)
	}
	s.expires[hashString(id)] = now.Add(sessionTTL)
	return id
}

// valid reports whether a cookie value names a live session. Looking up its
// hash keeps the comparison free of timing that depends on the secret.
func (s *sessions) valid(id string, now time.Time) bool {
	if id == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.expires[hashString(id)]
	return ok && now.Before(exp)
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

// authorized reports whether r carries the token or a live session cookie.
func (h *Handler) authorized(r *http.Request) bool {
	if h.opts.Token == "" {
		return true
	}
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && h.tokenMatches(bearer) {
		return true
	}
	if c, err := r.Cookie(sessionCookie); err == nil && h.sessions.valid(c.Value, time.Now()) {
		return true
	}
	return false
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
	if h.opts.Token == "" {
		writeJSON(w, http.StatusOK, map[string]any{"required": false})
		return
	}
	var req loginRequest
	if !decodeJSONBody(w, r, &req) {
		return
	}
	if !h.tokenMatches(req.Token) {
		time.Sleep(failedLoginDelay)
		h.log.Warn("failed login", "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "wrong token", "the token does not match this server's (see where the server was started)")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: h.sessions.create(time.Now()), Path: "/",
		MaxAge: int(sessionTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	h.log.Info("logged in", "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]any{"required": true, "authenticated": true})
}

// logout ends the browser's session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		h.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// authStatus tells the dashboard whether it must show the login page.
func (h *Handler) authStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"required": h.opts.Token != "", "authenticated": h.authorized(r)})
}
