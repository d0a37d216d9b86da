//go:build desktop || bindings

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	wailsruntime "github.com/wailsapp/wails/v2/pkg/runtime"

	"energyprofiler/backend/api"
	"energyprofiler/backend/cli"
	"energyprofiler/backend/menubar"
	"energyprofiler/backend/power"
	"energyprofiler/backend/server"
	"energyprofiler/frontend"
)

// App is the desktop shell. The window talks to the API through Wails' asset
// server (same origin, no port), and the same API is also served on
// 127.0.0.1 for scripts and browsers. Everything it does beyond wiring
// lives in backend/server and backend/menubar.
type App struct {
	ctx           context.Context
	assets        fs.FS
	backend       *server.Server
	windowHandler http.Handler
	server        *http.Server
	listener      net.Listener
	bar           *menubar.Bar // nil where there is no status item (Linux)
	log           *slog.Logger
}

func newApp(args []string) (*App, error) {
	flags := flag.NewFlagSet("energyprofiler-desktop", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:8000", "address of the local API server for scripts and browsers")
	db := flags.String("db", "", "database file (default: the user's data folder)")
	modelsDir := flags.String("models-dir", "", "models folder (default ~/EnergyProfiler/models)")
	powerSpec := flags.String("power", "auto", "power source(s)")
	quantizedDemos := flags.Bool("quantized-demos", true, "also write the quantized demo models into a demo-only models folder (about ten seconds of CPU, once)")
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
		QuantizedDemos: *quantizedDemos,
	})
	if err != nil {
		return nil, err
	}
	a := &App{assets: assets, backend: backend, log: logger}
	// The asset server is reachable only from our own window, so it skips
	// the Host and Origin checks that protect the network server.
	a.windowHandler = backend.Handler(api.Options{Frontend: assets, Trusted: true})

	// The network server serves scripts and browsers; the window works
	// without it, so a busy port is logged, not fatal.
	if ln, err := net.Listen("tcp", *addr); err != nil {
		logger.Warn("local API server not started", "addr", *addr, "err", err)
	} else {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		// The same read, write and idle timeouts and connection cap as
		// `serve`, so slow clients cannot hold it either.
		lim := server.DefaultHTTPLimits()
		a.listener = server.LimitListener(ln, lim.MaxConns)
		a.server = server.NewHTTPServer(context.Background(), backend.Handler(api.Options{Frontend: assets, Port: port}), lim)
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
	wailsruntime.OnFileDrop(ctx, a.onDrop)
	a.startMenuBar(ctx)
}

// onDrop profiles a dropped model folder with the last run's settings and
// shows it in the Live view; a folder that is not a usable model gets the
// loader's error in a dialog.
func (a *App) onDrop(x, y int, paths []string) {
	if len(paths) == 0 {
		return
	}
	a.log.Info("folder dropped", "path", paths[0])
	if _, err := a.backend.ProfileFolder(paths[0]); err != nil {
		a.log.Warn("dropped folder refused", "path", paths[0], "err", err)
		_, _ = wailsruntime.MessageDialog(a.ctx, wailsruntime.MessageDialogOptions{
			Type: wailsruntime.ErrorDialog, Title: "Not a model folder", Message: err.Error(),
		})
		return
	}
	a.show("#/live")
}

// show brings the window up on a dashboard route. Closing the window hid
// the whole app (HideWindowOnClose), so unhide it first.
func (a *App) show(route string) {
	a.bar.SetDockIconVisible(true)
	wailsruntime.Show(a.ctx)
	wailsruntime.WindowShow(a.ctx)
	wailsruntime.WindowExecJS(a.ctx, "location.hash="+strconv.Quote(route))
}

func (a *App) startMenuBar(ctx context.Context) {
	bar, err := menubar.Start(ctx, menubar.Options{
		Watts: func() (menubar.Power, bool) {
			w, ok := a.backend.LatestWatts()
			return menubar.Power{Watts: w.Total, Source: w.Source, Estimated: w.Kind == power.KindEstimate}, ok
		},
		RecentRuns:        a.recentRuns,
		PowerStatus:       a.backend.PowerStatus,
		QuickProfileLabel: a.backend.QuickProfileLabel,
		Actions: menubar.Actions{
			QuickProfile: func(ctx context.Context, progress func(menubar.Progress)) (string, error) {
				return a.backend.QuickProfile(ctx, func(phase string, done, total int) {
					progress(menubar.Progress{Phase: phase, Done: done, Total: total})
				})
			},
			OpenDashboard:   func() { a.show("#/live") },
			OpenRun:         func(id string) { a.show("#/run/" + id) },
			OpenPowerStatus: func() { a.show("#/machine") },
			Quit:            func() { wailsruntime.Quit(ctx) },
		},
		Logf: func(f string, args ...any) { a.log.Warn(fmt.Sprintf(f, args...)) },
	})
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		a.log.Warn("status item not available", "err", err)
	}
	a.bar = bar
	if startHidden, _ := menubar.WindowBehaviour(); bar == nil && startHidden {
		// The window started hidden for a status item that failed: show
		// it, or nothing could.
		wailsruntime.WindowShow(ctx)
	}
}

func (a *App) recentRuns() []menubar.RunItem {
	rows, err := a.backend.RecentRuns(a.ctx, menubar.MaxRecentRuns)
	if err != nil {
		a.log.Warn("recent runs", "err", err)
		return nil
	}
	items := make([]menubar.RunItem, 0, len(rows))
	for _, r := range rows {
		it := menubar.RunItem{ID: r.ID, Model: r.ModelName, Started: r.CreatedAt, Failed: r.Status == "failed"}
		if r.TotalEnergyJ != nil {
			it.EnergyJ, it.EnergyKnown = *r.TotalEnergyJ, true
			it.Estimated = strings.HasPrefix(r.EnergyLabel, "estimated")
		}
		items = append(items, it)
	}
	return items
}

func (a *App) shutdown(ctx context.Context) {
	a.bar.Close()
	if a.server != nil {
		shutdownCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_ = a.server.Shutdown(shutdownCtx)
	}
	if err := a.backend.Close(); err != nil {
		a.log.Error("close", "err", err)
	}
}
