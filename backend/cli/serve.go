package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"

	"energyprofiler/backend/api"
	"energyprofiler/backend/modeldir"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/server"
	"energyprofiler/frontend"
)

// demoRunModel and demoRunPrompt are what `serve --demo-run` (and so
// `make run`) profiles before serving, so a fresh install has a run to look at.
const (
	demoRunModel = "demo-110m-gqa"
	// demoRunMoE is profiled after demoRunModel with the same prompt, so the
	// dashboard can compare a dense model with a mixture of experts at once.
	demoRunMoE    = "demo-100m-moe"
	demoRunPrompt = "Energy Profiler measures how much energy a language model spends on every token."
)

func runServe(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	addr := fs.String("addr", "127.0.0.1:8000", "address to listen on")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback --addr (requires a bearer token)")
	token := fs.String("token", "", "bearer token required on /api (generated when --allow-remote is set without one)")
	db := fs.String("db", "", "database file (default: the user's data folder)")
	modelsDir := fs.String("models-dir", "", "models folder (default ~/EnergyProfiler/models)")
	powerSpec := fs.String("power", "auto", "power source(s): auto, or a list such as rapl,nvml, cpu-load, replay:FILE")
	threads := fs.Int("threads", 0, "CPU threads for inference (0: all)")
	demoRun := fs.Bool("demo-run", false, "profile one run of the demo model before serving")
	if err := fs.Parse(env.Args); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("%w: --addr %q: %v", ErrUsage, *addr, err)
	}
	var allowed []string
	if !isLoopback(host) {
		if !*allowRemote {
			return fmt.Errorf("%w: --addr %s is reachable from other machines; pass --allow-remote to confirm (a bearer token is then required)", ErrUsage, *addr)
		}
		if *token == "" {
			*token = newToken()
		}
		fmt.Fprintf(env.Stderr, "WARNING: serving on %s, reachable from other machines. Every /api request needs 'Authorization: Bearer %s'.\n", *addr, *token)
		allowed = append(allowed, host)
	}

	logger := slog.New(slog.NewTextHandler(env.Stderr, nil))
	srv, err := server.Start(ctx, server.Config{
		Version: Version, DBPath: *db, ModelsDir: *modelsDir, PowerSpec: *powerSpec,
		Threads: *threads, Logger: logger, Progress: env.Stdout,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another energyprofiler running? pick another port with --addr)", *addr, err)
	}
	defer ln.Close()
	// With --addr :0 the kernel picks the port; the Host check needs the real one.
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	opts := api.Options{Port: port, AllowedHosts: allowed, Token: *token, Logger: logger}
	if app, ok := frontend.App(); ok {
		opts.Frontend = app
	} else {
		fmt.Fprintln(env.Stderr, "note: this binary has no built dashboard; run 'make run' to build it")
	}
	handler := srv.Handler(opts)

	fmt.Fprintf(env.Stdout, "Database: %s\nModels:   %s\n", srv.Store.Path(), srv.Config.ModelsDir)
	for _, s := range srv.Session.Sources() {
		fmt.Fprintf(env.Stdout, "Power:    %s (%s) for %v\n", s.Name, s.Kind, s.Domains)
	}
	if *demoRun {
		if err := profileDemo(ctx, env, srv); err != nil {
			return err
		}
	}

	httpSrv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(env.Stdout, "Energy Profiler dashboard: http://%s/\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// profileDemo queues one run of the dense demo model and one of the
// mixture-of-experts demo through the same path as the dashboard's, and
// prints their summaries.
func profileDemo(ctx context.Context, env Env, srv *server.Server) error {
	for _, name := range []string{demoRunModel, demoRunMoE} {
		if err := profileDemoModel(ctx, env, srv, name); err != nil {
			return err
		}
	}
	return nil
}

func profileDemoModel(ctx context.Context, env Env, srv *server.Server, name string) error {
	path, err := modeldir.Resolve(srv.Config.ModelsDir, name)
	if err != nil {
		fmt.Fprintf(env.Stdout, "No %s model in %s; skipping its demo run.\n", name, srv.Config.ModelsDir)
		return nil
	}
	fmt.Fprintf(env.Stdout, "Profiling a demo run of %s (random weights: the text is meaningless; the energy is real)…\n", name)
	req := api.GenerateRequest{ModelName: name, ModelPath: path, Prompt: demoRunPrompt,
		ProfilingDepth: "module", MaxLength: 64, Tags: []string{"demo", "make-run"}}
	id := uuid.NewString()
	if _, err := srv.Queue.Submit(id, req); err != nil {
		return err
	}
	res, err := srv.Queue.Wait(ctx, id)
	if err != nil {
		return fmt.Errorf("demo run: %w", err)
	}
	if s, ok := res.(*profiler.Summary); ok {
		printSummary(env.Stdout, s)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
