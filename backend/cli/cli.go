// Package cli owns the energyprofiler command line: it parses arguments,
// calls the backend packages and prints their results for people (text) and
// for scripts (--json). Each command lives in its own file.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// Env is what a command may touch: its arguments and output streams. Commands
// never read os.Args or write os.Stdout directly, so tests can run them.
type Env struct {
	Args   []string
	Stdout io.Writer
	Stderr io.Writer
	// Stdin is what a measured command reads (nil: the process's own).
	Stdin io.Reader
}

// ExitCode, returned by a command, is the process's exit code with nothing
// printed: measure passes the measured command's own code through.
type ExitCode int

func (e ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// HandlesSignals reports whether the command that args name forwards
// SIGINT and SIGTERM itself and must not be cut short after them (measure
// waits for the command it measures to stop).
func HandlesSignals(args []string) bool {
	return len(args) > 0 && args[0] == "measure"
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env Env) error
}

// commands is the full command table, in the order `help` lists them.
func commands() []command {
	return []command{
		{"serve", "serve the dashboard and API on 127.0.0.1:8000", runServe},
		{"profile", "profile a generation (our engine, or --endpoint a server) and store the run", runProfile},
		{"measure", "measure a command's energy as a window: measure [--tags a,b] -- CMD ARGS…", runMeasure},
		{"endpoints", "inference servers to profile (endpoints list | add | remove | models)", runEndpoints},
		{"runs", "list stored runs", runRuns},
		{"show", "show one stored run", runShow},
		{"export", "export a run as json, csv or perfetto", runExport},
		{"compare", "compare 2-4 runs with statistics", runCompare},
		{"delete", "delete a stored run", runDelete},
		{"push", "copy finished runs to a team server (push --all --to URL)", runPush},
		{"token", "a team server's tokens (token add NAME | list | revoke NAME)", runToken},
		{"generate", "generate text with a model (no storage)", runGenerate},
		{"inspect", "print a model folder's architecture facts", runInspect},
		{"tokenize", "tokenize text with a model's tokenizer.json", runTokenize},
		{"models", "manage models (models demo: write the demo models)", runModels},
		{"doctor", "list every power source, available or not, with the fix", runDoctor},
		{"power", "sample or parse power (power sample | power parse)", runPower},
		{"db", "database maintenance (db check)", runDB},
		{"helper", "macOS powermetrics helper (install | uninstall | status | run | sudoers)", runHelper},
		{"version", "print the version", runVersion},
	}
}

// Version is set at link time with -ldflags "-X energyprofiler/backend/cli.Version=…".
var Version = "dev"

// ErrUsage marks an error caused by how the command was called; main exits 2.
var ErrUsage = errors.New("usage")

// Main runs the command named by args[0] and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, Env{Args: args[1:], Stdout: stdout, Stderr: stderr})
			if err == nil {
				return 0
			}
			var exit ExitCode
			if errors.As(err, &exit) {
				return int(exit) // a measured command's own exit code
			}
			fmt.Fprintf(stderr, "energyprofiler %s: %v\n", c.name, err)
			if errors.Is(err, ErrUsage) {
				return 2
			}
			return 1
		}
	}
	fmt.Fprintf(stderr, "energyprofiler: unknown command %q (run 'energyprofiler help')\n", args[0])
	return 2
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "energyprofiler: measure the energy a transformer model spends generating text")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cs := commands()
	width := 0
	for _, c := range cs {
		width = max(width, len(c.name))
	}
	for _, c := range cs {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'energyprofiler COMMAND -h' for a command's flags.")
}

func runVersion(ctx context.Context, env Env) error {
	fmt.Fprintln(env.Stdout, Version)
	return nil
}

// notBuilt is returned by commands whose backing package has not landed yet.
func notBuilt(name string) error {
	return fmt.Errorf("%s is not available in this build yet", name)
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments (`inspect DIR --json` as well as `inspect --json
// DIR`), which the flag package alone does not allow. Everything after "--"
// is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
