// Command energyprofiler is the headless Energy Profiler: the CLI and the
// local server (dashboard + API). It is pure Go with no cgo and no GUI
// libraries, so it runs on a server as well as on a laptop.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"energyprofiler/backend/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
