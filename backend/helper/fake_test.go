package helper

import (
	_ "embed"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

//go:embed testdata/m1-plist-1.plist
var fixturePlist []byte

// TestMain lets the test binary double as a fake /usr/bin/powermetrics: the
// server execs it with powermetrics' argv (first argument "-f"), and it
// replays a real captured plist the way the tool does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-f" {
		os.Exit(fakePowermetrics(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakePowermetrics refuses anything but the exact argv and an empty
// environment (so the tests fail if the server passes either), then writes a
// NUL-separated plist every interval. With interval 9999 it writes two
// samples at once and exits, to test a child that stops on its own.
func fakePowermetrics(args []string) int {
	if env := os.Environ(); len(env) != 0 {
		fmt.Fprintf(os.Stderr, "fake powermetrics: environment not empty: %q\n", env)
		return 65
	}
	i := slices.Index(args, "-i")
	if i < 0 || i+1 >= len(args) {
		fmt.Fprintf(os.Stderr, "fake powermetrics: argv %q\n", args)
		return 64
	}
	ms, err := strconv.Atoi(args[i+1])
	if err != nil || !slices.Equal(args, Argv(uint32(ms))) {
		fmt.Fprintf(os.Stderr, "fake powermetrics: argv %q is not Argv(%d)\n", args, ms)
		return 64
	}
	for n := 0; ; n++ {
		if n > 0 {
			os.Stdout.Write([]byte{0})
		}
		// Two writes per document, split mid-tag, like a pipe may deliver.
		os.Stdout.Write(fixturePlist[:100])
		os.Stdout.Write(fixturePlist[100:])
		if ms == 9999 && n == 1 {
			fmt.Fprintln(os.Stderr, "fake powermetrics: done")
			return 3
		}
		if ms != 9999 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
	}
}
