// Command energyprofiler is the headless Energy Profiler: the CLI and the
// local server (dashboard + API). It is pure Go with no cgo and no GUI
// libraries, so it runs on a server as well as on a laptop.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"energyprofiler/backend/cli"
)

// stopGrace is how long a command may take to stop cleanly after SIGINT or
// SIGTERM (cancel its run, store it as cancelled, close the database)
// before the process exits anyway: a command must stop within a second of
// being told to. A run cut short this way keeps the status it stored when
// it stopped (profiler's RunEnding), without the measurements that were
// still being written; one that stored nothing is marked interrupted when
// the database is next opened.
const stopGrace = 800 * time.Millisecond

func main() {
	grace := stopGrace
	if cli.HandlesSignals(os.Args[1:]) {
		grace = 0 // measure waits for the command it measures
	}
	os.Exit(runWithSignals(grace, func(ctx context.Context) int {
		return cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}))
}

// runWithSignals runs cmd with a context that SIGINT and SIGTERM cancel,
// and exits the process if cmd has not returned grace after the signal
// (or at once on a second signal). A zero grace waits for cmd, or for a
// second signal.
func runWithSignals(grace time.Duration, cmd func(ctx context.Context) int) int {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		sig, ok := <-signals
		if !ok {
			return
		}
		cancel()
		code := 130 // 128 + SIGINT
		if sig == syscall.SIGTERM {
			code = 143
		}
		var timeout <-chan time.Time
		if grace > 0 {
			timeout = time.After(grace)
		}
		select {
		case <-timeout:
			fmt.Fprintf(os.Stderr, "energyprofiler: still busy %v after %v; exiting now (a stopped run keeps its status; measurements not yet stored are lost)\n", grace, sig)
		case <-signals:
		}
		os.Exit(code)
	}()
	return cmd(ctx)
}
