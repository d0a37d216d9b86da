package api

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

const testToken = "0123456789abcdef0123456789abcdef"

func remoteServer(t *testing.T, hosts ...string) *testServer {
	return newTestServerWith(t, false, func(o *Options) {
		o.Token = testToken
		o.AllowedHosts = hosts
	})
}

// Issue 12 item 10: a browser logs in once with the token and gets a
// session cookie (HttpOnly, SameSite=Strict) that the API, the WebSocket
// and the event stream accept; before, nothing but a bearer header worked,
// and the dashboard never sent one.
func TestLoginExchangesTheTokenForASessionCookie(t *testing.T) {
	ts := remoteServer(t)
	if r := ts.do(t, "GET", "/api/profiling/runs", "", nil); r.status != 401 {
		t.Fatalf("runs without a token: %d", r.status)
	}
	if r := ts.do(t, "GET", "/api/auth", "", nil); r.status != 200 || r.body["required"] != true || r.body["authenticated"] != false {
		t.Fatalf("auth status before login: %d %s", r.status, r.raw)
	}
	if r := ts.do(t, "POST", "/api/login", `{"token":"wrong"}`, nil); r.status != 401 || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("login with a wrong token: %d %v", r.status, r.header)
	}
	r := ts.do(t, "POST", "/api/login", `{"token":"`+testToken+`"}`, nil)
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	setCookie := r.header.Get("Set-Cookie")
	for _, want := range []string{"ep_session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("Set-Cookie %q lacks %s", setCookie, want)
		}
	}
	if strings.Contains(setCookie, testToken) {
		t.Error("the cookie carries the token itself")
	}
	cookie := strings.SplitN(setCookie, ";", 2)[0]
	withCookie := map[string]string{"Cookie": cookie}
	if r := ts.do(t, "GET", "/api/profiling/runs", "", withCookie); r.status != 200 {
		t.Errorf("runs with the session cookie: %d %s", r.status, r.raw)
	}
	if r := ts.do(t, "POST", "/api/profiling/generate", okBody, withCookie); r.status != 202 {
		t.Errorf("generate with the session cookie: %d %s", r.status, r.raw)
	}

	// The WebSocket upgrade carries the cookie, as a browser's does.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	url := strings.Replace(ts.URL, "http", "ws", 1) + "/api/profiling/live"
	if _, res, err := websocket.Dial(ctx, url, nil); err == nil || res == nil || res.StatusCode != 401 {
		t.Errorf("WebSocket without the cookie was not refused with 401: %v", err)
	}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {cookie}}})
	if err != nil {
		t.Fatalf("WebSocket with the session cookie: %v", err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Errorf("no live event over the WebSocket: %v", err)
	}
	c.CloseNow()

	// So does the event stream.
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/profiling/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cookie", cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(res.Body).ReadString('\n')
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(line, "data: ") {
		t.Errorf("event stream with the cookie: %d %q", res.StatusCode, line)
	}

	if r := ts.do(t, "POST", "/api/logout", "", withCookie); r.status != 204 {
		t.Errorf("logout: %d", r.status)
	}
	if r := ts.do(t, "GET", "/api/profiling/runs", "", withCookie); r.status != 401 {
		t.Errorf("runs after logout: %d", r.status)
	}
}

// Remote mode's Host check: the machine's names and addresses (what serve
// passes), any Host at all with "*", and never without a token.
func TestRemoteHostAllowList(t *testing.T) {
	bearer := "Bearer " + testToken
	ts := remoteServer(t, "192.0.2.7", "box.example")
	for host, want := range map[string]int{
		"192.0.2.7:" + ts.Port:    200,
		"box.example:" + ts.Port:  200,
		"127.0.0.1:" + ts.Port:    200,
		"evil.example:" + ts.Port: 403,
		"192.0.2.7:1":             403,
		"198.51.100.1:" + ts.Port: 403,
	} {
		if r := ts.do(t, "GET", "/api/health", "", map[string]string{"Host": host, "Authorization": bearer}); r.status != want {
			t.Errorf("Host %s: %d, want %d (%s)", host, r.status, want, r.raw)
		}
	}
	any := remoteServer(t, "*")
	if r := any.do(t, "GET", "/api/health", "", map[string]string{"Host": "anything.example:99", "Authorization": bearer}); r.status != 200 {
		t.Errorf("'*' with a token: %d", r.status)
	}
	open := newTestServerWith(t, false, func(o *Options) { o.AllowedHosts = []string{"*"} })
	if r := open.do(t, "GET", "/api/health", "", map[string]string{"Host": "anything.example:99"}); r.status != 403 {
		t.Errorf("'*' without a token turned the Host check off: %d", r.status)
	}
}

// Item 11: an unauthenticated request is answered 401 at once, without
// waiting for (or reading) its body.
func TestUnauthenticatedRequestIsRefusedBeforeItsBody(t *testing.T) {
	ts := remoteServer(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/profiling/generate HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{", ts.Port)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, "401") {
		t.Fatalf("status line %q, %v: want 401 before the body is sent", status, err)
	}
}

// Item 12: an Origin with another scheme (a browser extension's) is not the
// dashboard, even with the right host and port.
func TestOriginMustBeHTTP(t *testing.T) {
	ts := newTestServer(t, false)
	for _, origin := range []string{"chrome-extension://127.0.0.1:" + ts.Port, "file://127.0.0.1:" + ts.Port, "null"} {
		if r := ts.do(t, "POST", "/api/profiling/generate", okBody, map[string]string{"Origin": origin}); r.status != 403 {
			t.Errorf("Origin %s: %d, want 403", origin, r.status)
		}
	}
}

// Item 12, the smaller ones on the API.
func TestSmallerRequestChecks(t *testing.T) {
	ts := newTestServerWith(t, false, func(o *Options) {
		o.PowerSpec = "cpu-load"
		o.CheckPrompt = func(_ context.Context, path, prompt string, _ bool) error {
			if len(prompt) > 100 {
				return fmt.Errorf("%w: the prompt has %d tokens but the context holds 100", ErrBadRequest, len(prompt))
			}
			return nil
		}
	})
	body := func(extra string) string {
		return strings.Replace(okBody, `"max_length":4`, `"max_length":4,`+extra, 1)
	}
	for _, c := range []struct {
		name, body string
		status     int
		detail     string
	}{
		{"unknown power source", body(`"power":"definitely-not-a-source"`), 400, "power"},
		{"replay of any file", body(`"power":"replay:/etc/passwd"`), 400, "power"},
		{"the server's own source", body(`"power":"cpu-load"`), 202, ""},
		{"tiny idle", body(`"idle_s":1e-300`), 400, "idle_s"},
		{"prompt longer than the context", strings.Replace(okBody, `"hello"`, `"`+strings.Repeat("a", 200)+`"`, 1), 400, "context"},
	} {
		r := ts.do(t, "POST", "/api/profiling/generate", c.body, nil)
		if r.status != c.status || !strings.Contains(fmt.Sprint(r.body["detail"]), c.detail) {
			t.Errorf("%s: %d %s, want %d mentioning %q", c.name, r.status, r.raw, c.status, c.detail)
		}
	}
}

// The documented group form a+b: '+' in a query string decodes to a space,
// so both a space and a literal '+' (%2B) separate a group's runs; a group
// has a bounded size.
func TestCompareGroups(t *testing.T) {
	ts := newTestServer(t, false)
	for _, id := range []string{"a", "b", "c", "d"} {
		ts.store.put(RunListItem{ID: id, Status: "completed"})
	}
	for _, q := range []string{"ids=a+b,c+d", "ids=a%2Bb,c%2Bd", "ids=a%20b,c"} {
		r := ts.do(t, "GET", "/api/profiling/compare?"+q, "", nil)
		if r.status != 200 {
			t.Errorf("%s: %d %s", q, r.status, r.raw)
			continue
		}
		if ids := fmt.Sprint(r.body["ids"]); !strings.Contains(ids, "a+b") {
			t.Errorf("%s: compared %s, want the group a+b", q, ids)
		}
	}
	big := make([]string, maxGroupRuns+1)
	for i := range big {
		big[i] = fmt.Sprintf("r%d", i)
	}
	if r := ts.do(t, "GET", "/api/profiling/compare?ids="+strings.Join(big, "+")+",a", "", nil); r.status != 400 {
		t.Errorf("a group of %d runs: %d, want 400", len(big), r.status)
	}
}
