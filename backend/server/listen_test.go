package server

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Item 11: slow clients cannot hold the server. A body trickled slower than
// the read timeout is cut off, and connections beyond the cap wait without
// being served.
func TestHTTPServerLimits(t *testing.T) {
	lim := HTTPLimits{ReadHeader: 200 * time.Millisecond, Read: 400 * time.Millisecond, Write: time.Second, Idle: time.Second, MaxConns: 2}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(t.Context(), handler, lim)
	go srv.Serve(LimitListener(ln, lim.MaxConns))
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
	srv2 := NewHTTPServer(t.Context(), handler, lim)
	go srv2.Serve(LimitListener(ln2, lim.MaxConns))
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

// The desktop app's local API server (app.go, built only with the desktop
// tags and WebKit, so not compiled here) must get the same limits as
// `serve`: it builds no http.Server of its own but takes NewHTTPServer's
// with DefaultHTTPLimits and serves it on LimitListener.
func TestDesktopServerUsesTheDefaultLimits(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../../app.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Server" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "http" {
					t.Errorf("%s: app.go builds its own http.Server; use server.NewHTTPServer(…, server.DefaultHTTPLimits())", fset.Position(n.Pos()))
				}
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "server" {
					calls[sel.Sel.Name] = true
				}
			}
		}
		return true
	})
	for _, want := range []string{"NewHTTPServer", "DefaultHTTPLimits", "LimitListener"} {
		if !calls[want] {
			t.Errorf("app.go does not call server.%s", want)
		}
	}
}

// The defaults set every timeout (not only the header's) and a cap.
func TestDefaultHTTPLimitsSetEveryTimeout(t *testing.T) {
	lim := DefaultHTTPLimits()
	srv := NewHTTPServer(t.Context(), http.NotFoundHandler(), lim)
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout, "WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
		if d <= 0 {
			t.Errorf("%s is %v", name, d)
		}
	}
	if lim.MaxConns <= 0 {
		t.Errorf("MaxConns is %d", lim.MaxConns)
	}
}
