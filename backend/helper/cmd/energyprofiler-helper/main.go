// Command energyprofiler-helper is the root daemon that runs
// /usr/bin/powermetrics for Energy Profiler and relays its output over a
// unix socket. launchd starts it (from the app bundle through SMAppService,
// or from /Library/PrivilegedHelperTools in the fallback install). It links
// only the helper package: the smallest possible program runs as root.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"energyprofiler/backend/helper"
)

func main() {
	fs := flag.NewFlagSet("energyprofiler-helper", flag.ContinueOnError)
	socket := fs.String("socket", helper.DefaultSocketPath, "unix socket to serve")
	idle := fs.Duration("idle", helper.DefaultIdleTimeout, "close a connection with no request and no running powermetrics after this long")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "energyprofiler-helper: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	logger := log.New(os.Stderr, "energyprofiler-helper: ", log.LstdFlags)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := helper.RunDaemon(ctx, helper.DaemonConfig{Socket: *socket, IdleTimeout: *idle, Logf: logger.Printf})
	if err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}
