package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"energyprofiler/backend/store"
)

// storeDBFlag adds --db to fs; an empty value means $ENERGYPROFILER_DB,
// else store.DefaultPath().
func storeDBFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "", "database: a file, or a team's postgres://USER@HOST/DB URL (default: $"+store.EnvDB+", else the user's data dir, e.g. ~/.local/share/energyprofiler/profiling.db)")
}

// openRunStore opens the database at path (the default path when empty)
// for profiling: it is created if needed, and a database that cannot be
// written is refused, since the runs could not be stored.
func openRunStore(path string) (*store.Store, error) {
	path, err := dbPath(path)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open the run database: %w", err)
	}
	if err := st.Problem(); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// readRunStore opens an existing database for commands that only read:
// nothing is created or written.
func readRunStore(path string) (*store.Store, error) {
	path, err := dbPath(path)
	if err != nil {
		return nil, err
	}
	return store.OpenReadOnly(path)
}

// editRunStore opens an existing database for commands that change stored
// runs (delete): a missing database is an error, not created empty.
func editRunStore(path string) (*store.Store, error) {
	path, err := dbPath(path)
	if err != nil {
		return nil, err
	}
	if store.IsPostgres(path) {
		ro, err := store.OpenReadOnly(path) // ErrNoDatabase where nothing is stored
		if err != nil {
			return nil, err
		}
		ro.Close()
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w at %s: %v", store.ErrNoDatabase, path, err)
	}
	return store.Open(path)
}

func dbPath(path string) (string, error) { return store.Location(path) }

// parseRunArgs parses flags that may come before, between or after positional
// arguments ("show RUN --json"), returning the positionals.
func parseRunArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := parseInterspersed(fs, args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return pos, err
}

func runsFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: energyprofiler %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// runsHelpOK turns -h into success: the usage was printed.
func runsHelpOK(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func runDB(ctx context.Context, env Env) error {
	fs := runsFlagSet("db", env.Stderr, "db check [--db PATH]")
	db := storeDBFlag(fs)
	args, err := parseRunArgs(fs, env.Args)
	if err != nil {
		return runsHelpOK(err)
	}
	if len(args) != 1 || args[0] != "check" {
		fs.Usage()
		return fmt.Errorf("%w: want 'db check'", ErrUsage)
	}
	st, err := readRunStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	problems, err := st.Check(ctx)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(env.Stdout, p)
		}
		return fmt.Errorf("database %s failed its integrity check (%d problems): copy it aside, then export what you can with 'energyprofiler export'", st.Path(), len(problems))
	}
	fmt.Fprintf(env.Stdout, "ok: %s passed %s\n", st.Path(), st.CheckName())
	return nil
}
