package helper

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"
)

// DaemonConfig configures RunDaemon. The zero value serves DefaultSocketPath.
type DaemonConfig struct {
	Socket      string
	IdleTimeout time.Duration
	// AllowUIDs are admitted besides root and the console user.
	AllowUIDs []uint32
	Logf      func(format string, args ...any)
}

// RunDaemon is the helper process: it listens on the socket and relays
// powermetrics until ctx ends (launchd sends SIGTERM). Both the dedicated
// energyprofiler-helper binary and `energyprofiler helper run` call it.
func RunDaemon(ctx context.Context, cfg DaemonConfig) error {
	socket := cfg.Socket
	if socket == "" {
		socket = DefaultSocketPath
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if os.Geteuid() != 0 {
		logf("warning: running as uid %d, not root; powermetrics will refuse to start", os.Geteuid())
	}
	ln, err := Listen(socket)
	if err != nil {
		return fmt.Errorf("powermetrics helper: %w", err)
	}
	allowed := slices.Clone(cfg.AllowUIDs)
	s := &Server{
		Allow:       func(uid uint32) bool { return DefaultAllow(uid) || slices.Contains(allowed, uid) },
		IdleTimeout: cfg.IdleTimeout,
		Logf:        logf,
	}
	logf("listening on %s, relaying %s %v", socket, PowermetricsPath, Argv(DefaultIntervalMS))
	if err := s.Serve(ctx, ln); err != nil {
		return fmt.Errorf("powermetrics helper: %w", err)
	}
	logf("stopped")
	return nil
}
