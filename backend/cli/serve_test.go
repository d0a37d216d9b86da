package cli

import (
	"bytes"
	"context"
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
			done <- code // for the cleanup, which waits for it
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
