//go:build desktop || bindings

package main

import (
	"context"
	"errors"
	"flag"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"energyprofiler/backend/api"
	"energyprofiler/backend/cli"
	"energyprofiler/frontend"
)

// App is the desktop shell. The window talks to the API through Wails' asset
// server (same origin, no port), and the same API is also served on
// 127.0.0.1 for scripts and browsers.
type App struct {
	ctx           context.Context
	assets        fs.FS
	windowHandler http.Handler
	server        *http.Server
	listener      net.Listener
	log           *slog.Logger
}

func newApp(args []string) (*App, error) {
	flags := flag.NewFlagSet("energyprofiler-desktop", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:8000", "address of the local API server for scripts and browsers")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	assets, ok := frontend.App()
	if !ok {
		return nil, errors.New("this build has no dashboard: run 'make app', which builds the frontend first")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts := api.Options{Version: cli.Version, Frontend: assets, Logger: logger}

	windowOpts := opts
	windowOpts.Trusted = true // the asset server is reachable only from our own window
	a := &App{assets: assets, windowHandler: api.New(windowOpts), log: logger}

	// The network server is a convenience; the window works without it, so a
	// busy port is logged, not fatal.
	if ln, err := net.Listen("tcp", *addr); err != nil {
		logger.Warn("local API server not started", "addr", *addr, "err", err)
	} else {
		netOpts := opts
		_, netOpts.Port, _ = net.SplitHostPort(ln.Addr().String())
		a.listener = ln
		a.server = &http.Server{Handler: api.New(netOpts), ReadHeaderTimeout: 10 * time.Second}
	}
	return a, nil
}

func (a *App) startup(ctx context.Context) {
	a.ctx = ctx
	if a.server != nil {
		a.log.Info("local API server", "url", "http://"+a.listener.Addr().String()+"/")
		go func() {
			if err := a.server.Serve(a.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("local API server stopped", "err", err)
			}
		}()
	}
}

func (a *App) shutdown(ctx context.Context) {
	if a.server != nil {
		shutdownCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_ = a.server.Shutdown(shutdownCtx)
	}
}
