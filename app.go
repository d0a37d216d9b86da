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
	"energyprofiler/backend/server"
	"energyprofiler/frontend"
)

// App is the desktop shell. The window talks to the API through Wails' asset
// server (same origin, no port), and the same API is also served on
// 127.0.0.1 for scripts and browsers.
type App struct {
	ctx           context.Context
	assets        fs.FS
	backend       *server.Server
	windowHandler http.Handler
	server        *http.Server
	listener      net.Listener
	log           *slog.Logger
}

func newApp(args []string) (*App, error) {
	flags := flag.NewFlagSet("energyprofiler-desktop", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:8000", "address of the local API server for scripts and browsers")
	db := flags.String("db", "", "database file (default: the user's data folder)")
	modelsDir := flags.String("models-dir", "", "models folder (default ~/EnergyProfiler/models)")
	powerSpec := flags.String("power", "auto", "power source(s)")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	assets, ok := frontend.App()
	if !ok {
		return nil, errors.New("this build has no dashboard: run 'make app', which builds the frontend first")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	backend, err := server.Start(context.Background(), server.Config{
		Version: cli.Version, DBPath: *db, ModelsDir: *modelsDir, PowerSpec: *powerSpec, Logger: logger, Progress: os.Stderr,
	})
	if err != nil {
		return nil, err
	}
	a := &App{assets: assets, backend: backend, log: logger}
	windowOpts := api.Options{Frontend: assets, Trusted: true}

	// The network server serves scripts and browsers; the window works
	// without it, so a busy port is logged, not fatal.
	if ln, err := net.Listen("tcp", *addr); err != nil {
		logger.Warn("local API server not started", "addr", *addr, "err", err)
	} else {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		a.listener = ln
		a.server = &http.Server{Handler: backend.Handler(api.Options{Frontend: assets, Port: port}), ReadHeaderTimeout: 10 * time.Second}
	}
	// The asset server is reachable only from our own window, so it skips
	// the Host and Origin checks that protect the network server.
	a.windowHandler = backend.Handler(windowOpts)
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
	if err := a.backend.Close(); err != nil {
		a.log.Error("close", "err", err)
	}
}
