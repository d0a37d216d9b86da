package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/tokenizer"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveInBackground runs `serve args…` until the test ends and returns the
// port it listens on.
func serveInBackground(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	// The quantized demos cost seconds of CPU that these tests do not need.
	args = append([]string{"serve", "--quantized-demos=false"}, args...)
	go func() { done <- Main(ctx, args, &out, &errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	})
	re := regexp.MustCompile(`dashboard: http://[^ ]*:(\d+)/`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s %s", code, out.String(), errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start: %s %s", out.String(), errOut.String())
	return ""
}

// Issue 12 item 10: with --allow-remote, a request to the machine's real
// name or address with the right token got 403 "not a loopback name"; only
// a forged Host: 0.0.0.0 passed. The machine's own names are now accepted,
// and the token comes from the environment (or a file), never argv.
func TestRemoteServeAcceptsTheMachinesOwnNames(t *testing.T) {
	token := "feedfacefeedfacefeedfacefeedface"
	t.Setenv(tokenEnv, token)
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	if _, err := demo.WriteSpec(models, demo.Spec{Name: "tiny", Hidden: 32, Intermediate: 64, Layers: 1, Heads: 4, KVHead: 2,
		Vocab: tokenizer.DemoVocabSize(demo.TokenizerMerges) + 8}); err != nil {
		t.Fatal(err)
	}
	// A model that is not a demo in the folder: serve writes no demo models.
	if err := os.Remove(filepath.Join(models, "tiny", demo.MarkerFile)); err != nil {
		t.Fatal(err)
	}
	port := serveInBackground(t, "--addr", "0.0.0.0:0", "--allow-remote", "--db", filepath.Join(dir, "p.db"),
		"--models-dir", models, "--power", "cpu-load")
	names := machineNames("0.0.0.0")
	if len(names) == 0 {
		t.Fatal("no names for this machine")
	}
	get := func(host, auth string) int {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+port+"/api/health", nil)
		req.Host = host
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, name := range names {
		host := net.JoinHostPort(name, port)
		if code := get(host, "Bearer "+token); code != 200 {
			t.Errorf("Host %s with the token: %d, want 200", host, code)
		}
		if code := get(host, "Bearer wrong"); code != 401 {
			t.Errorf("Host %s with a wrong token: %d, want 401", host, code)
		}
	}
	if code := get("0.0.0.0:"+port, "Bearer "+token); code != 403 {
		t.Errorf("Host 0.0.0.0 (not a name anyone browses to): %d, want 403", code)
	}
	if code := get("evil.example:"+port, "Bearer "+token); code != 403 {
		t.Errorf("a foreign Host: %d, want 403", code)
	}
}

func TestServeRefusesATokenOnTheCommandLine(t *testing.T) {
	code, _, stderr := profCLI(t, "serve", "--addr", "0.0.0.0:0", "--allow-remote", "--token", "secretsecretsecret")
	if code != 2 || !strings.Contains(stderr, "ps") {
		t.Errorf("serve --token: exit %d %q, want 2 explaining that argv shows in ps", code, stderr)
	}
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte("0123456789abcdef0123\n"), 0o644)
	if code, _, stderr := profCLI(t, "serve", "--addr", "0.0.0.0:0", "--allow-remote", "--token-file", file); code == 0 || !strings.Contains(stderr, "chmod 600") {
		t.Errorf("a world-readable token file: exit %d %q", code, stderr)
	}
	if tok, err := loadToken("", " fromenv "); err != nil || tok != "fromenv" {
		t.Errorf("token from the environment: %q %v", tok, err)
	}
	os.Chmod(file, 0o600)
	if tok, err := loadToken(file, "ignored"); err != nil || tok != "0123456789abcdef0123" {
		t.Errorf("token from a file: %q %v", tok, err)
	}
}

// Item 12: `serve --addr 127.0.0.1:99999` wrote 248 MB of demo models before
// failing on the port. The address is checked first.
func TestServeChecksTheAddressBeforeWritingModels(t *testing.T) {
	models := filepath.Join(t.TempDir(), "models")
	for _, addr := range []string{"127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:http-alt"} {
		code, _, stderr := profCLI(t, "serve", "--addr", addr, "--models-dir", models, "--db", filepath.Join(t.TempDir(), "p.db"))
		if code != 2 || !strings.Contains(stderr, "port") {
			t.Errorf("--addr %s: exit %d %q, want 2 naming the port", addr, code, stderr)
		}
	}
	// A port already taken fails before the models are written, too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if code, _, _ := profCLI(t, "serve", "--addr", ln.Addr().String(), "--models-dir", models, "--db", filepath.Join(t.TempDir(), "p.db")); code == 0 {
		t.Error("serve on a taken port succeeded")
	}
	if _, err := os.Stat(models); !os.IsNotExist(err) {
		t.Errorf("the models folder was created before the address was checked: %v", err)
	}
}

// Item 11: slow clients cannot hold the server. A body trickled slower than
// the read timeout is cut off, and connections beyond the cap wait without
// being served.
func TestHTTPServerLimits(t *testing.T) {
	lim := httpLimits{ReadHeader: 200 * time.Millisecond, Read: 400 * time.Millisecond, Write: time.Second, Idle: time.Second, MaxConns: 2}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(t.Context(), handler, lim)
	go srv.Serve(limitListener(ln, lim.MaxConns))
	defer srv.Close()
	addr := ln.Addr().String()

	// Trickle: one byte of a 1000-byte body every 100 ms.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	cut := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 1)
		for {
			if _, err := conn.Write([]byte("x")); err != nil {
				cut <- time.Now()
				return
			}
			if conn.SetReadDeadline(time.Now().Add(100*time.Millisecond)) == nil {
				if _, err := conn.Read(buf); err != nil && !isTimeout(err) {
					cut <- time.Now()
					return
				}
			}
		}
	}()
	select {
	case <-cut:
	case <-time.After(5 * time.Second):
		t.Error("a trickled body held its connection past the read timeout")
	}

	// The cap: two idle connections hold both slots; a third waits. (A
	// server of its own, whose header timeout outlasts the check.)
	lim.ReadHeader, lim.Idle = 10*time.Second, 10*time.Second
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv2 := newHTTPServer(t.Context(), handler, lim)
	go srv2.Serve(limitListener(ln2, lim.MaxConns))
	defer srv2.Close()
	addr = ln2.Addr().String()
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond)
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	fmt.Fprintf(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if _, err := bufio.NewReader(third).ReadString('\n'); err == nil {
		t.Error("a connection beyond the cap was served while the cap was full")
	}
	for _, c := range held {
		c.Close()
	}
	third.SetReadDeadline(time.Now().Add(3 * time.Second))
	if line, err := bufio.NewReader(third).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Errorf("the waiting connection was not served once slots freed: %q %v", line, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
