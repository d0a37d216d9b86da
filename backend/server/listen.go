package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPLimits bound what clients can hold on a server. The timeouts cut
// off clients that send slowly (a trickled header or body) or never read;
// the live stream and runs waited for ("wait": true) lift their own
// deadlines once the request is read, since they legitimately last long.
// `serve` and the desktop app's local API server both use DefaultHTTPLimits().
type HTTPLimits struct {
	ReadHeader, Read, Write, Idle time.Duration
	// MaxConns caps concurrent connections; more wait in the kernel's
	// accept backlog, costing the server nothing.
	MaxConns int
}

// DefaultHTTPLimits are the limits of every server we run.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeader: 10 * time.Second,
		Read:       30 * time.Second,
		Write:      2 * time.Minute,
		Idle:       2 * time.Minute,
		MaxConns:   256,
	}
}

// NewHTTPServer returns the server for h with lim's timeouts. Requests'
// contexts end with ctx, so streams close at shutdown. Serve it on
// LimitListener(ln, lim.MaxConns).
func NewHTTPServer(ctx context.Context, h http.Handler, lim HTTPLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       lim.Read,
		WriteTimeout:      lim.Write,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
}

// LimitListener accepts at most n connections at once.
func LimitListener(l net.Listener, n int) net.Listener {
	return &limitedListener{Listener: l, slots: make(chan struct{}, n)}
}

type limitedListener struct {
	net.Listener
	slots chan struct{}
}

func (l *limitedListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
