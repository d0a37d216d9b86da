package helper

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"howett.net/plist"
)

// testServer runs a Server with the test binary as powermetrics on a socket
// in a temp dir, and stops it (checking Serve's result) at cleanup.
type testServer struct {
	*Server
	sock string
	mu   sync.Mutex
	pids []int
}

func startServer(t *testing.T, configure func(*Server)) *testServer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{sock: filepath.Join(t.TempDir(), "h.sock")}
	ts.Server = &Server{
		Powermetrics: exe,
		Allow:        func(uid uint32) bool { return uid == uint32(os.Getuid()) },
		IdleTimeout:  5 * time.Second,
	}
	ts.childStarted = func(pid int) {
		ts.mu.Lock()
		ts.pids = append(ts.pids, pid)
		ts.mu.Unlock()
	}
	if configure != nil {
		configure(ts.Server)
	}
	ln, err := Listen(ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

func (ts *testServer) childPIDs() []int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]int(nil), ts.pids...)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitGone polls until pid no longer exists (reaped), or fails.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("powermetrics pid %d still exists", pid)
}

// decodeDocs splits the relayed stream the way a powermetrics parser would
// (on NUL) and decodes each document with the plist package.
func decodeDocs(t *testing.T, r io.Reader, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	sp := newDocSplitter(r)
	for len(out) < n {
		doc, err := sp.Next()
		if err != nil {
			t.Fatalf("after %d docs: %v", len(out), err)
		}
		var m map[string]any
		if _, err := plist.Unmarshal(doc, &m); err != nil {
			t.Fatalf("doc %d does not decode: %v", len(out), err)
		}
		out = append(out, m)
	}
	return out
}

func TestRelayRealPlists(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctxT(t)
	rc, st, err := Stream(ctx, ts.sock, 50*time.Millisecond) // clamped to 100
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if !st.Running || st.IntervalMS != MinIntervalMS || st.PeerUID != uint32(os.Getuid()) {
		t.Errorf("start status = %+v", st)
	}
	docs := decodeDocs(t, rc, 3)
	for i, d := range docs {
		if d["elapsed_ns"] != uint64(2019178750) || d["hw_model"] != "MacBookPro17,1" {
			t.Errorf("doc %d: elapsed_ns=%v hw_model=%v", i, d["elapsed_ns"], d["hw_model"])
		}
	}
}

func TestRawStreamIsPowermetricsFormat(t *testing.T) {
	ts := startServer(t, nil)
	rc, _, err := Stream(ctxT(t), ts.sock, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// doc, NUL, doc: byte for byte what powermetrics writes.
	want := append(append(append([]byte{}, fixturePlist...), 0), fixturePlist...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(rc, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("relayed stream differs from powermetrics' format")
	}
}

func TestChildKilledOnDisconnect(t *testing.T) {
	ts := startServer(t, nil)
	rc, _, err := Stream(ctxT(t), ts.sock, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	decodeDocs(t, rc, 1)
	pids := ts.childPIDs()
	if len(pids) != 1 {
		t.Fatalf("children started: %v, want one", pids)
	}
	if err := syscall.Kill(pids[0], 0); err != nil {
		t.Fatalf("child %d not running while streaming: %v", pids[0], err)
	}
	rc.Close()
	waitGone(t, pids[0])
}

func TestStopAndRestartReplaceTheChild(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctxT(t)
	c, err := Dial(ctx, ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Start(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st, err := c.Start(ctx, 20*time.Second) // restart, clamped to 10 s
	if err != nil {
		t.Fatal(err)
	}
	if st.IntervalMS != MaxIntervalMS {
		t.Errorf("restart interval = %d, want %d", st.IntervalMS, MaxIntervalMS)
	}
	pids := ts.childPIDs()
	if len(pids) != 2 {
		t.Fatalf("children: %v, want 2", pids)
	}
	waitGone(t, pids[0]) // the first was killed by the second START
	st, err = c.roundTrip(ctx, Frame{Type: MsgStop})
	if err != nil || st.Running {
		t.Fatalf("STOP: %+v, %v", st, err)
	}
	waitGone(t, pids[1])
}

func TestServeStopsChildrenOnShutdown(t *testing.T) {
	exe, _ := os.Executable()
	var mu sync.Mutex
	var pid int
	s := &Server{Powermetrics: exe, Allow: func(uint32) bool { return true }}
	s.childStarted = func(p int) { mu.Lock(); pid = p; mu.Unlock() }
	sock := filepath.Join(t.TempDir(), "h.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	rc, _, err := Stream(ctxT(t), sock, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	waitGone(t, pid)
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestPeerUIDChecked(t *testing.T) {
	var mu sync.Mutex
	var seen []uint32
	ts := startServer(t, func(s *Server) {
		s.Allow = func(uid uint32) bool {
			mu.Lock()
			seen = append(seen, uid)
			mu.Unlock()
			return false
		}
	})
	ctx := ctxT(t)
	c, err := Dial(ctx, ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Start(ctx, time.Second)
	var rerr *RemoteError
	if !errors.As(err, &rerr) || rerr.Code != CodePermission {
		t.Fatalf("Start as a refused uid: %v, want ERROR code %d", err, CodePermission)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != uint32(os.Getuid()) {
		t.Errorf("Allow saw uids %v, want [%d] (the kernel's peer credentials)", seen, os.Getuid())
	}
	if pids := ts.childPIDs(); len(pids) != 0 {
		t.Errorf("a refused peer started powermetrics: %v", pids)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.IdleTimeout = 150 * time.Millisecond })
	conn, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	f, err := ReadFrame(conn)
	if err != nil {
		t.Fatal(err)
	}
	rerr, err := ParseError(f)
	if err != nil || rerr.Code != CodeIdle {
		t.Fatalf("idle connection got %s %v (%v), want ERROR code %d", f.Type, rerr, err, CodeIdle)
	}
	if _, err := ReadFrame(conn); err != io.EOF {
		t.Fatalf("after idle ERROR: %v, want EOF", err)
	}
}

func TestIdleTimeoutSparesAStream(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.IdleTimeout = 150 * time.Millisecond })
	rc, _, err := Stream(ctxT(t), ts.sock, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	decodeDocs(t, rc, 6) // ≥ 500 ms of streaming, over three idle timeouts
}

func TestStartFailed(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.Powermetrics = "/nonexistent/powermetrics" })
	_, _, err := Stream(ctxT(t), ts.sock, time.Second)
	var rerr *RemoteError
	if !errors.As(err, &rerr) || rerr.Code != CodeStartFailed {
		t.Fatalf("Stream with a missing binary: %v, want code %d", err, CodeStartFailed)
	}
}

func TestChildExitReported(t *testing.T) {
	ts := startServer(t, nil)
	rc, _, err := Stream(ctxT(t), ts.sock, 9999*time.Millisecond) // fake: 2 samples, then exit 3
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	decodeDocs(t, rc, 2)
	_, err = io.ReadAll(rc)
	var rerr *RemoteError
	if !errors.As(err, &rerr) || rerr.Code != CodeChildExited {
		t.Fatalf("after the child exits: %v, want code %d", err, CodeChildExited)
	}
	if want := "fake powermetrics: done"; !strings.Contains(rerr.Message, want) || !strings.Contains(rerr.Message, "exit status 3") {
		t.Errorf("message %q lacks the child's stderr and status", rerr.Message)
	}
}

func TestMalformedFrameClosesConnection(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		name string
		raw  []byte
		code uint16
	}{
		{"version", []byte{9, byte(MsgStart), 0, 0, 0, 4, 0, 0, 3, 232}, CodeVersion},
		{"short START", []byte{ProtocolVersion, byte(MsgStart), 0, 0, 0, 2, 3, 232}, CodeBadRequest},
		{"reply type as request", []byte{ProtocolVersion, byte(MsgSample), 0, 0, 0, 0}, CodeBadRequest},
		{"oversized request", []byte{ProtocolVersion, byte(MsgStart), 0, 1, 0, 0}, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("unix", ts.sock)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			conn.Write(tc.raw)
			f, err := ReadFrame(conn)
			if err != nil {
				t.Fatal(err)
			}
			rerr, err := ParseError(f)
			if err != nil || rerr.Code != tc.code {
				t.Fatalf("got %s %v, want ERROR code %d", f.Type, rerr, tc.code)
			}
			// Closed: EOF, or a reset when the server left our unread bytes.
			if _, err := ReadFrame(conn); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("connection stays open after a malformed frame: %v", err)
			}
		})
	}
	if pids := ts.childPIDs(); len(pids) != 0 {
		t.Errorf("malformed requests started powermetrics: %v", pids)
	}
}

func TestMaxConnections(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.MaxConnections = 1 })
	ctx := ctxT(t)
	first, err := Dial(ctx, ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := first.Status(ctx); err != nil {
		t.Fatal(err)
	}
	second, err := Dial(ctx, ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_, err = second.Status(ctx)
	var rerr *RemoteError
	if !errors.As(err, &rerr) || rerr.Code != CodeBusy {
		t.Fatalf("second connection: %v, want code %d", err, CodeBusy)
	}
}

func TestListenReplacesOnlyStaleSockets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "not-a-socket")
	os.WriteFile(file, []byte("keep me"), 0o600)
	if _, err := Listen(file); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatal("the regular file was changed")
	}
	sock := filepath.Join(dir, "s.sock")
	ln1, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ln1.SetUnlinkOnClose(false)
	ln1.Close() // leaves a stale socket, as a crash would
	ln2, err := Listen(sock)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer ln2.Close()
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket mode = %v, %v; want 0666 (access is decided per connection by uid)", fi.Mode(), err)
	}
}

func TestDialMissingSocketSaysWhatToDo(t *testing.T) {
	_, err := Dial(ctxT(t), filepath.Join(t.TempDir(), "none.sock"))
	if err == nil || !strings.Contains(err.Error(), "helper install") {
		t.Fatalf("Dial to a missing socket: %v", err)
	}
}

// The socket gets mode 0666 from bind itself (umask 0111), whatever the
// process umask was, and the process umask is restored afterwards.
func TestListenSocketModeUnderAnyUmask(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no umask")
	}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	sock := filepath.Join(t.TempDir(), "h.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, want 0666", fi.Mode().Perm())
	}
	if now := syscall.Umask(0o077); now != 0o077 {
		t.Errorf("umask left at %#o, want 077 restored", now)
	}
}

// LOCAL_PEERCRED's struct xucred is read only in the layout we know.
func TestXucredVersionChecked(t *testing.T) {
	if uid, err := xucredUID(0, 501); err != nil || uid != 501 {
		t.Errorf("version 0: %d, %v", uid, err)
	}
	if _, err := xucredUID(1, 501); err == nil {
		t.Error("an unknown xucred version was accepted")
	}
}
