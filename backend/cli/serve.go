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
	"os"
	"slices"
	"strconv"
	"strings"
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

// tokenEnv names the environment variable that may hold the server's token.
const tokenEnv = "ENERGYPROFILER_TOKEN"

func runServe(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	addr := fs.String("addr", "127.0.0.1:8000", "address to listen on")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback --addr (a token is then required)")
	var allowHosts stringList
	fs.Var(&allowHosts, "allow-host", "with --allow-remote: another host name or address the dashboard may be reached by (repeatable; '*' turns the Host check off)")
	tokenFile := fs.String("token-file", "", "file holding the token that /api requests must carry (or set "+tokenEnv+"); generated when --allow-remote has none")
	tokenArg := fs.String("token", "", "refused: a token on the command line shows in ps; use --token-file or "+tokenEnv)
	db := storeDBFlag(fs)
	modelsDir := fs.String("models-dir", "", "models folder (default ~/EnergyProfiler/models)")
	powerSpec := fs.String("power", "auto", "power source(s): auto, or a list such as rapl,nvml, cpu-load, replay:FILE")
	threads := fs.Int("threads", 0, "CPU threads for inference (0: all)")
	backend := fs.String("backend", "auto", "compute backend of runs that name none: auto, cpu or metal")
	demoRun := fs.Bool("demo-run", false, "profile one run of the demo model before serving")
	quantizedDemos := fs.Bool("quantized-demos", true, "also write the quantized demo models (Q8_0 and Q4_K_M GGUF) into a demo-only models folder (about ten seconds of CPU, once)")
	if err := fs.Parse(env.Args); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if *tokenArg != "" {
		return fmt.Errorf("%w: --token: a token on the command line is visible to every user in ps; put it in a file (--token-file FILE) or in %s", ErrUsage, tokenEnv)
	}

	// Check everything about the address before doing any work (such as
	// writing the demo models).
	host, portText, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("%w: --addr %q: %v", ErrUsage, *addr, err)
	}
	if p, err := strconv.Atoi(portText); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%w: --addr %q: the port must be a number from 0 to 65535", ErrUsage, *addr)
	}
	remote := !isLoopback(host)
	if remote && !*allowRemote {
		return fmt.Errorf("%w: --addr %s is reachable from other machines; pass --allow-remote to confirm (a token is then required)", ErrUsage, *addr)
	}
	if len(allowHosts) > 0 && !remote {
		return fmt.Errorf("%w: --allow-host goes with a non-loopback --addr and --allow-remote", ErrUsage)
	}
	token, err := loadToken(*tokenFile, os.Getenv(tokenEnv))
	if err != nil {
		return err
	}
	generated := false
	if remote && token == "" {
		token, generated = newToken(), true
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another energyprofiler running? pick another port with --addr)", *addr, err)
	}
	defer ln.Close()
	// With --addr :0 the kernel picks the port; the Host check needs the real one.
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	var allowed []string
	if remote {
		allowed = append(machineNames(host), allowHosts...)
		fmt.Fprintf(env.Stderr, "WARNING: serving on %s, reachable from other machines. Every API request needs the token; browsers log in once on the dashboard.\n", *addr)
		fmt.Fprintf(env.Stderr, "Accepted host names: %s (add others with --allow-host).\n", strings.Join(allowed, ", "))
		if generated {
			fmt.Fprintf(env.Stderr, "Token (generated for this run; keep one across restarts with --token-file or %s): %s\n", tokenEnv, token)
		}
	}

	logger := slog.New(slog.NewTextHandler(env.Stderr, nil))
	srv, err := server.Start(ctx, server.Config{
		Version: Version, DBPath: *db, ModelsDir: *modelsDir, PowerSpec: *powerSpec,
		Threads: *threads, Backend: *backend, Logger: logger, Progress: env.Stdout,
		QuantizedDemos: *quantizedDemos,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Store.Problem(); err != nil {
		fmt.Fprintf(env.Stderr, "WARNING: %v\nThe dashboard still shows stored runs, but new runs are refused until this is fixed.\n", err)
	}

	opts := api.Options{Port: port, AllowedHosts: allowed, Token: token, Logger: logger}
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

	lim := server.DefaultHTTPLimits()
	httpSrv := server.NewHTTPServer(ctx, handler, lim)
	fmt.Fprintf(env.Stdout, "Energy Profiler dashboard: %s\n", dashboardURL(ln.Addr().String()))
	if remote {
		var urls []string
		for _, name := range allowed {
			if name != "*" {
				urls = append(urls, "http://"+net.JoinHostPort(name, port)+"/")
			}
		}
		fmt.Fprintf(env.Stdout, "From other machines: %s\n", strings.Join(urls, "  "))
	}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(server.LimitListener(ln, lim.MaxConns)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		httpSrv.Close() // streams that did not notice the shutdown
	}
	return nil
}

// dashboardURL is the address to open on this machine: a wildcard listen
// address (0.0.0.0, ::) is reached through 127.0.0.1.
func dashboardURL(listen string) string {
	host, port, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// loadToken reads the token from file (when given) or takes it from the
// environment. A token file must not be readable by others.
func loadToken(file, fromEnv string) (string, error) {
	if file == "" {
		return strings.TrimSpace(fromEnv), nil
	}
	st, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("--token-file %s is readable by other users (mode %v): chmod 600 it", file, st.Mode().Perm())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if len(token) < 16 {
		return "", fmt.Errorf("--token-file %s holds %d characters; use a token of at least 16 (e.g. openssl rand -hex 16)", file, len(token))
	}
	return token, nil
}

// machineNames are the names a browser on another machine may use for this
// one: its host name, its .local name, and the addresses of its interfaces
// (the bind address itself when it is a specific one).
func machineNames(bindHost string) []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if ip := net.ParseIP(bindHost); ip == nil || !ip.IsUnspecified() {
		add(bindHost)
	}
	if h, err := os.Hostname(); err == nil {
		add(h)
		if !strings.Contains(h, ".") {
			add(h + ".local")
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				add(ipn.IP.String())
			}
		}
	}
	return names
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
