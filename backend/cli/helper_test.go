package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/helper"
)

func runHelperCLI(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelperUsage(t *testing.T) {
	for _, args := range [][]string{{"helper"}, {"helper", "frobnicate"}, {"helper", "status", "extra"}, {"helper", "install", "--method", "magic"}, {"helper", "sudoers", "--interval", "5"}} {
		code, _, stderr := runHelperCLI(t.Context(), args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage); stderr %s", args, code, stderr)
		}
	}
	if code, _, _ := runHelperCLI(t.Context(), "helper", "status", "-h"); code != 0 {
		t.Errorf("helper status -h: exit %d", code)
	}
}

func TestHelperInstallIsMacOSOnly(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("would install the helper")
	}
	for _, sub := range []string{"install", "uninstall"} {
		code, _, stderr := runHelperCLI(t.Context(), "helper", sub)
		if code != 1 || !strings.Contains(stderr, "macOS-only") || !strings.Contains(stderr, "doctor") {
			t.Errorf("helper %s on %s: exit %d, stderr %q", sub, runtime.GOOS, code, stderr)
		}
	}
}

func TestHelperStatusMissing(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	code, stdout, stderr := runHelperCLI(t.Context(), "helper", "status", "--socket", sock)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stdout, "(missing)") || !strings.Contains(stdout, "answering:     no") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if !strings.Contains(stderr, "helper install") {
		t.Errorf("stderr does not say what to do: %s", stderr)
	}
}

// `helper run` serves, `helper status` sees it answer, and cancelling the
// context stops it and removes the socket.
func TestHelperRunAndStatus(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "h.sock")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var runErr bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"helper", "run", "--socket", sock, "--allow-uid", fmt.Sprint(os.Getuid())}, &bytes.Buffer{}, &runErr)
	}()
	var stdout string
	deadline := time.Now().Add(5 * time.Second)
	for {
		var code int
		code, stdout, _ = runHelperCLI(t.Context(), "helper", "status", "--socket", sock, "--json")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("helper run never answered; its stderr:\n%s", runErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var rep helperStatusReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	if !rep.Answering || !rep.SocketPresent || rep.Helper == nil || rep.Helper.Protocol != helper.ProtocolVersion ||
		rep.Helper.PeerUID != uint32(os.Getuid()) || rep.Helper.HelperPID != os.Getpid() {
		t.Errorf("status = %+v (helper %+v)", rep, rep.Helper)
	}
	code, text, _ := runHelperCLI(t.Context(), "helper", "status", "--socket", sock)
	if code != 0 || !strings.Contains(text, "answering:     yes (protocol 1") {
		t.Errorf("text status: exit %d\n%s", code, text)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("helper run exit %d: %s", code, runErr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("helper run did not stop")
	}
	if _, err := os.Lstat(sock); err == nil {
		t.Error("socket left after helper run stopped")
	}
}

func TestHelperSudoers(t *testing.T) {
	code, stdout, stderr := runHelperCLI(t.Context(), "helper", "sudoers", "--user", "alice", "--interval", "250")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := `alice ALL = (root) NOPASSWD: /usr/bin/powermetrics -f plist -b 1 --handle-invalid-values -i 250 -s cpu_power\,gpu_power\,ane_power`
	if !strings.Contains(stdout, want+"\n") {
		t.Errorf("stdout:\n%s\nwant the line:\n%s", stdout, want)
	}
	if code, _, _ := runHelperCLI(t.Context(), "helper", "sudoers", "--user", "bob; rm -rf /"); code != 2 {
		t.Errorf("bad user name: exit %d, want 2", code)
	}
}
