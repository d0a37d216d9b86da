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

	"energyprofiler/backend/api"
	"energyprofiler/frontend"
)

func runServe(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	addr := fs.String("addr", "127.0.0.1:8000", "address to listen on")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback --addr (requires a bearer token)")
	token := fs.String("token", "", "bearer token required on /api (generated when --allow-remote is set without one)")
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

	app, ok := frontend.App()
	if !ok {
		fmt.Fprintln(env.Stderr, "note: this binary has no built dashboard; run 'make run' to build it")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another energyprofiler running? pick another port with --addr)", *addr, err)
	}
	defer ln.Close()
	// With --addr :0 the kernel picks the port; the Host check needs the real one.
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	opts := api.Options{
		Version:      Version,
		Port:         port,
		AllowedHosts: allowed,
		Token:        *token,
		Logger:       slog.New(slog.NewTextHandler(env.Stderr, nil)),
	}
	if ok {
		opts.Frontend = app
	}

	srv := &http.Server{Handler: api.New(opts), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(env.Stdout, "Energy Profiler dashboard: http://%s/\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
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
