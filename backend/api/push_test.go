package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// fakePusher stores pushed bodies by the id inside them.
type fakePusher struct {
	mu   sync.Mutex
	runs map[string]string // id -> pushed by
}

func (p *fakePusher) HaveRuns(_ context.Context, ids []string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	have := []string{}
	for _, id := range ids {
		if _, ok := p.runs[id]; ok {
			have = append(have, id)
		}
	}
	return have, nil
}

func (p *fakePusher) ImportRun(_ context.Context, body io.Reader, by string) (string, bool, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return "", false, err
	}
	id := strings.TrimSpace(string(b))
	if !strings.HasPrefix(id, "run-") {
		return "", false, ErrBadRequest
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.runs[id]; ok {
		return id, false, nil
	}
	p.runs[id] = by
	return id, true, nil
}

const (
	pushSecret = "ep_push_secret_for_tests_0123456789"
	viewSecret = "ep_view_secret_for_tests_0123456789"
)

func teamServer(t *testing.T) (*testServer, *fakePusher) {
	p := &fakePusher{runs: map[string]string{}}
	ts := newTestServerWith(t, false, func(o *Options) {
		o.Token = testToken
		o.Push = p
		o.Tokens = func(_ context.Context, secret string) (Principal, bool, error) {
			switch secret {
			case pushSecret:
				return Principal{Name: "lab-mac", Role: RolePush}, true, nil
			case viewSecret:
				return Principal{Name: "dashboard", Role: RoleView}, true, nil
			}
			return Principal{}, false, nil
		}
	})
	return ts, p
}

func bearer(s string) map[string]string { return map[string]string{"Authorization": "Bearer " + s} }

// Tokens have roles: a machine's push token copies runs in and reads, a
// viewer's token only reads, the server's own token does everything.
func TestTokenRoles(t *testing.T) {
	ts, p := teamServer(t)
	cases := []struct {
		name, method, path, body, secret string
		want                             int
	}{
		{"viewer reads runs", "GET", "/api/profiling/runs", "", viewSecret, 200},
		{"viewer reads machines", "GET", "/api/profiling/machines", "", viewSecret, 200},
		{"viewer may not push", "POST", "/api/push/have", `{"ids":[]}`, viewSecret, 403},
		{"viewer may not generate", "POST", "/api/profiling/generate", `{"model_name":"m","prompt":"p"}`, viewSecret, 403},
		{"viewer may not delete", "DELETE", "/api/profiling/run/x", "", viewSecret, 403},
		{"pusher reads", "GET", "/api/profiling/runs", "", pushSecret, 200},
		{"pusher asks what is there", "POST", "/api/push/have", `{"ids":["run-1"]}`, pushSecret, 200},
		{"pusher may not generate", "POST", "/api/profiling/generate", `{"model_name":"m","prompt":"p"}`, pushSecret, 403},
		{"pusher may not delete", "DELETE", "/api/profiling/run/x", "", pushSecret, 403},
		{"admin pushes", "POST", "/api/push/have", `{"ids":[]}`, testToken, 200},
		{"unknown token", "GET", "/api/profiling/runs", "", "ep_push_nope", 401},
	}
	for _, c := range cases {
		if r := ts.do(t, c.method, c.path, c.body, bearer(c.secret)); r.status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.raw, c.want)
		}
	}
	// A viewer logs in on the dashboard and its session keeps the role.
	r := ts.do(t, "POST", "/api/login", `{"token":"`+viewSecret+`"}`, nil)
	if r.status != 200 || r.body["role"] != RoleView {
		t.Fatalf("viewer login: %d %s", r.status, r.raw)
	}
	cookie := map[string]string{"Cookie": strings.Split(r.header.Get("Set-Cookie"), ";")[0]}
	if r := ts.do(t, "GET", "/api/auth", "", cookie); r.body["role"] != RoleView || r.body["name"] != "dashboard" {
		t.Errorf("auth status of a viewer's session: %s", r.raw)
	}
	if r := ts.do(t, "POST", "/api/push/have", `{"ids":[]}`, cookie); r.status != 403 {
		t.Errorf("a viewer's session pushing: %d", r.status)
	}
	if len(p.runs) != 0 {
		t.Errorf("runs were stored: %v", p.runs)
	}
}

func TestPushRun(t *testing.T) {
	ts, p := teamServer(t)
	post := func(body []byte, gz bool, secret string) response {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.URL+"/api/push/run", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secret)
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return response{status: res.StatusCode, raw: raw}
	}
	gzipped := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	if r := post(gzipped("run-1"), true, pushSecret); r.status != 201 {
		t.Fatalf("first push: %d %s", r.status, r.raw)
	}
	if r := post([]byte("run-1"), false, pushSecret); r.status != 200 || !strings.Contains(string(r.raw), `"created":false`) {
		t.Fatalf("second push: %d %s", r.status, r.raw)
	}
	if p.runs["run-1"] != "lab-mac" {
		t.Errorf("pushed by %q, want the token's name", p.runs["run-1"])
	}
	if r := post([]byte("garbage"), false, pushSecret); r.status != 400 {
		t.Errorf("not a run: %d", r.status)
	}
	if r := post([]byte("run-2"), true, pushSecret); r.status != 400 {
		t.Errorf("not gzip but said so: %d %s", r.status, r.raw)
	}
	if r := post(gzipped("run-3"), true, viewSecret); r.status != 403 {
		t.Errorf("a viewer pushing: %d", r.status)
	}
	if r := ts.do(t, "POST", "/api/push/have", `{"ids":["run-1","run-9"]}`, bearer(pushSecret)); r.status != 200 || !strings.Contains(string(r.raw), `"have":["run-1"]`) {
		t.Errorf("have: %d %s", r.status, r.raw)
	}
}

// /api/health tells the asker what it may do, so a viewer's dashboard can
// disable what would be refused: read_only with the reason for view and
// push tokens (bearer or session cookie), not for the server's own token.
func TestHealthSaysWhoIsReadOnly(t *testing.T) {
	ts, _ := teamServer(t)
	r := ts.do(t, "POST", "/api/login", `{"token":"`+viewSecret+`"}`, nil)
	viewCookie := map[string]string{"Cookie": strings.Split(r.header.Get("Set-Cookie"), ";")[0]}
	cases := []struct {
		name     string
		header   map[string]string
		role     string
		readOnly bool
		reason   string
	}{
		{"viewer's token", bearer(viewSecret), RoleView, true, `view token "dashboard", which may only read`},
		{"viewer's session", viewCookie, RoleView, true, `view token "dashboard", which may only read`},
		{"machine's push token", bearer(pushSecret), RolePush, true, "only read and push runs"},
		{"server's token", bearer(testToken), RoleAdmin, false, ""},
	}
	for _, c := range cases {
		r := ts.do(t, "GET", "/api/health", "", c.header)
		a, _ := r.body["access"].(map[string]any)
		if r.status != 200 || a == nil || a["role"] != c.role || a["read_only"] != c.readOnly {
			t.Errorf("%s: %d access %v, want role %s read_only %v", c.name, r.status, a, c.role, c.readOnly)
			continue
		}
		reason, _ := a["reason"].(string)
		if (c.reason == "") != (reason == "") || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: reason %q, want one containing %q", c.name, reason, c.reason)
		}
	}
	// The local user of a server without a token may do everything.
	local := newTestServerWith(t, false, nil)
	r = local.do(t, "GET", "/api/health", "", nil)
	if a, _ := r.body["access"].(map[string]any); a == nil || a["read_only"] != false || a["role"] != RoleAdmin {
		t.Errorf("local user: %s", r.raw)
	}
}
