package helper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for a zero Server.
const (
	DefaultIdleTimeout    = time.Minute
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxConnections = 4
)

// Server relays powermetrics to clients on a unix socket. The zero value is
// ready to use with the defaults above; set fields before Serve.
type Server struct {
	// Powermetrics is the binary to run, an absolute path. Empty means
	// PowermetricsPath. Tests point it at a fake.
	Powermetrics string

	// Allow decides whether a peer uid may use the helper. Nil means
	// DefaultAllow: root and the user logged in at the console.
	Allow func(uid uint32) bool

	// IdleTimeout closes a connection that has no powermetrics running and
	// sends nothing for this long.
	IdleTimeout time.Duration

	// WriteTimeout drops a client that stops reading, which also stops its
	// powermetrics.
	WriteTimeout time.Duration

	// MaxConnections bounds concurrent clients, and so concurrent
	// powermetrics processes.
	MaxConnections int

	// Logf receives one line per connection event. Nil discards them.
	Logf func(format string, args ...any)

	// childStarted, when set (tests), is told each powermetrics pid.
	childStarted func(pid int)

	conns atomic.Int64
}

// DefaultAllow admits root and the owner of /dev/console, i.e. the user
// logged in at the Mac's screen, checked per connection so a fast user switch
// takes effect at once. Other local users, daemons and ssh sessions of other
// accounts are refused.
func DefaultAllow(uid uint32) bool {
	if uid == 0 {
		return true
	}
	cu, ok := consoleUID()
	return ok && cu == uid
}

// Listen creates the socket at path, replacing a stale socket left by a
// crashed helper (but never a regular file or a directory), and makes it
// connectable by every user: who may actually use it is decided per
// connection from the peer's uid.
func Listen(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("listen %s: a %s is in the way; move it and retry", path, fi.Mode().Type())
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("listen %s: remove stale socket: %w", path, err)
		}
	}
	// The socket is created with mode 0666 by bind itself, under a umask
	// of 0111, rather than chmod-ed afterwards: no moment with other
	// permissions, and no second call on a path that could have changed.
	var ln *net.UnixListener
	err := withUmask(0o111, func() (err error) {
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	return ln, nil
}

// Serve accepts connections until ctx is done or ln fails, then closes ln,
// stops every powermetrics child and returns. It returns nil after ctx ends.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(ctx, conn)
		}()
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Server) powermetrics() string {
	if s.Powermetrics != "" {
		return s.Powermetrics
	}
	return PowermetricsPath
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// session is one client connection: a reader goroutine feeding frames, and this
// loop owning the socket's write side and the powermetrics child.
type session struct {
	s       *Server
	conn    *net.UnixConn
	uid     uint32
	child   *child
	samples uint64
	exitMsg string
}

type readResult struct {
	f   Frame
	err error
}

func (s *Server) handle(ctx context.Context, conn *net.UnixConn) {
	defer conn.Close()
	n := s.conns.Add(1)
	defer s.conns.Add(-1)
	ss := &session{s: s, conn: conn}

	uid, err := peerUID(conn)
	if err != nil {
		s.logf("refused a connection: %v", err)
		ss.send(ErrorFrame(CodeInternal, "cannot read the peer's credentials: "+err.Error()))
		return
	}
	ss.uid = uid
	allow := s.Allow
	if allow == nil {
		allow = DefaultAllow
	}
	if !allow(uid) {
		s.logf("refused uid %d", uid)
		ss.send(ErrorFrame(CodePermission, fmt.Sprintf("uid %d may not use the powermetrics helper; only root and the user logged in at the console may", uid)))
		return
	}
	if n > int64(orDefault(s.MaxConnections, DefaultMaxConnections)) {
		ss.send(ErrorFrame(CodeBusy, fmt.Sprintf("too many connections (%d); close another Energy Profiler and retry", n-1)))
		return
	}
	s.logf("uid %d connected", uid)

	done := make(chan struct{})
	defer close(done)
	frames := make(chan readResult)
	go func() {
		for {
			f, err := readFrame(conn, maxRequestPayload)
			select {
			case frames <- readResult{f, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()

	defer ss.stopChild()
	idleTimeout := orDefault(s.IdleTimeout, DefaultIdleTimeout)
	idle := time.NewTimer(idleTimeout)
	defer idle.Stop()
	for {
		var docs <-chan []byte
		var exited <-chan error
		if ss.child != nil {
			docs, exited = ss.child.docs, ss.child.exited
		}
		select {
		case <-ctx.Done():
			return
		case r := <-frames:
			if r.err != nil {
				if !errors.Is(r.err, io.EOF) && !errors.Is(r.err, net.ErrClosed) {
					code := CodeBadRequest
					if errors.Is(r.err, ErrVersion) {
						code = CodeVersion
					}
					ss.send(ErrorFrame(code, r.err.Error()))
				}
				s.logf("uid %d disconnected: %v", uid, r.err)
				return
			}
			idle.Reset(idleTimeout)
			if !ss.request(r.f) {
				return
			}
		case doc := <-docs:
			ss.samples++
			if !ss.send(Frame{Type: MsgSample, Payload: doc}) {
				return
			}
		case err := <-exited:
			ss.exitMsg = err.Error()
			ss.child = nil
			idle.Reset(idleTimeout)
			code := CodeChildExited
			if errors.Is(err, ErrDocTooLarge) || errors.Is(err, io.ErrUnexpectedEOF) {
				code = CodeStreamBroken
			}
			if !ss.send(ErrorFrame(code, err.Error())) {
				return
			}
		case <-idle.C:
			if ss.child != nil {
				idle.Reset(idleTimeout)
				continue
			}
			ss.send(ErrorFrame(CodeIdle, fmt.Sprintf("no request for %s; reconnect to continue", idleTimeout)))
			s.logf("uid %d idle for %s, closed", uid, idleTimeout)
			return
		}
	}
}

// request handles one client frame and reports whether to keep the
// connection.
func (ss *session) request(f Frame) bool {
	switch f.Type {
	case MsgStart:
		ms, err := ParseStart(f)
		if err != nil {
			ss.send(ErrorFrame(CodeBadRequest, err.Error()))
			return false
		}
		ss.stopChild()
		c, err := startChild(ss.s.powermetrics(), uint32(ClampInterval(ms)))
		if err != nil {
			ss.s.logf("uid %d: %v", ss.uid, err)
			return ss.send(ErrorFrame(CodeStartFailed, err.Error()))
		}
		ss.child = c
		ss.exitMsg = ""
		if ss.s.childStarted != nil {
			ss.s.childStarted(c.cmd.Process.Pid)
		}
		ss.s.logf("uid %d: started powermetrics pid %d at %d ms", ss.uid, c.cmd.Process.Pid, c.intervalMS)
		return ss.send(StatusFrame(ss.status()))
	case MsgStop:
		ss.stopChild()
		return ss.send(StatusFrame(ss.status()))
	case MsgStatus:
		return ss.send(StatusFrame(ss.status()))
	default:
		ss.send(ErrorFrame(CodeBadRequest, fmt.Sprintf("%s is not a request", f.Type)))
		return false
	}
}

func (ss *session) status() Status {
	st := Status{
		Protocol:     ProtocolVersion,
		Powermetrics: ss.s.powermetrics(),
		PeerUID:      ss.uid,
		Samples:      ss.samples,
		HelperPID:    os.Getpid(),
		HelperUID:    os.Getuid(),
		Connections:  int(ss.s.conns.Load()),
		IdleTimeout:  orDefault(ss.s.IdleTimeout, DefaultIdleTimeout).String(),
		ChildExitMsg: ss.exitMsg,
	}
	if ss.child != nil {
		st.Running = true
		st.IntervalMS = int(ss.child.intervalMS)
		st.Argv = Argv(ss.child.intervalMS)
	}
	return st
}

// send writes one frame within the write timeout and reports success.
func (ss *session) send(f Frame) bool {
	ss.conn.SetWriteDeadline(time.Now().Add(orDefault(ss.s.WriteTimeout, DefaultWriteTimeout)))
	if err := WriteFrame(ss.conn, f); err != nil {
		ss.s.logf("uid %d: %v", ss.uid, err)
		return false
	}
	return true
}

func (ss *session) stopChild() {
	if ss.child != nil {
		ss.child.stop()
		ss.child = nil
	}
}

// child is one running powermetrics. A goroutine splits its stdout into
// documents on docs and reports its end on exited (buffered, so it never
// blocks after stop).
type child struct {
	cmd        *exec.Cmd
	intervalMS uint32
	docs       chan []byte
	exited     chan error
	quit       chan struct{}
	stderr     *limitedBuffer
}

func startChild(path string, intervalMS uint32) (*child, error) {
	cmd := &exec.Cmd{
		Path:   path,
		Args:   append([]string{path}, Argv(intervalMS)...),
		Env:    []string{}, // empty, not nil: nil would inherit the helper's environment
		Dir:    "/",
		Stdin:  nil,
		Stderr: &limitedBuffer{max: 2048},
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	c := &child{
		cmd:        cmd,
		intervalMS: intervalMS,
		docs:       make(chan []byte),
		exited:     make(chan error, 1),
		quit:       make(chan struct{}),
		stderr:     cmd.Stderr.(*limitedBuffer),
	}
	go c.relay(stdout)
	return c, nil
}

func (c *child) relay(stdout io.Reader) {
	sp := newDocSplitter(stdout)
	var readErr error
	for {
		doc, err := sp.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		select {
		case c.docs <- doc:
		case <-c.quit:
			// Drain so powermetrics never blocks on a full pipe while it is
			// being killed.
			io.Copy(io.Discard, stdout)
			c.exited <- c.cmd.Wait()
			return
		}
	}
	if readErr != nil {
		c.cmd.Process.Kill()
	}
	waitErr := c.cmd.Wait()
	msg := "powermetrics exited"
	switch {
	case readErr != nil:
		c.exited <- fmt.Errorf("%s: its output was not a plist stream: %w", msg, readErr)
	case waitErr != nil:
		c.exited <- fmt.Errorf("%s: %v; stderr: %q", msg, waitErr, c.stderr.String())
	default:
		c.exited <- fmt.Errorf("%s unexpectedly; stderr: %q", msg, c.stderr.String())
	}
}

// stop kills powermetrics and waits until it is reaped. SIGKILL is fine: the
// tool holds no files (there is no -o) and its pipe is ours.
func (c *child) stop() {
	close(c.quit)
	c.cmd.Process.Kill()
	<-c.exited
}

// limitedBuffer keeps the first max bytes written to it, for error messages.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *limitedBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - len(t.b); room > 0 {
		t.b = append(t.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (t *limitedBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
