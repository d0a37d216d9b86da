package cli

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// httpLimits bound what clients can hold on the server. The timeouts cut
// off clients that send slowly (a trickled header or body) or never read;
// the live stream and runs waited for ("wait": true) lift their own
// deadlines once the request is read, since they legitimately last long.
type httpLimits struct {
	ReadHeader, Read, Write, Idle time.Duration
	// MaxConns caps concurrent connections; more wait in the kernel's
	// accept backlog, costing the server nothing.
	MaxConns int
}

var defaultHTTPLimits = httpLimits{
	ReadHeader: 10 * time.Second,
	Read:       30 * time.Second,
	Write:      2 * time.Minute,
	Idle:       2 * time.Minute,
	MaxConns:   256,
}

// newHTTPServer returns the server for h with lim's timeouts. Requests'
// contexts end with ctx, so streams close at shutdown.
func newHTTPServer(ctx context.Context, h http.Handler, lim httpLimits) *http.Server {
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

// limitListener accepts at most n connections at once.
func limitListener(l net.Listener, n int) net.Listener {
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
