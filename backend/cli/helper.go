package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"energyprofiler/backend/helper"
	"energyprofiler/backend/helper/installer"
)

// runHelper manages the macOS powermetrics helper: a root daemon that runs
// /usr/bin/powermetrics with a fixed argv and relays its output over a unix
// socket (backend/helper).
func runHelper(ctx context.Context, env Env) error {
	usage := func() {
		fmt.Fprintln(env.Stderr, `usage: energyprofiler helper COMMAND [flags]

Commands:
  install    install the powermetrics helper (macOS; SMAppService on 13+, else an admin prompt)
  uninstall  remove it (macOS)
  status     is the helper's socket there and does it answer?
  run        be the helper daemon (launchd runs this; --socket PATH)
  sudoers    print a sudoers rule pinned to the exact powermetrics argv (the no-helper fallback)

Run 'energyprofiler helper COMMAND -h' for a command's flags.`)
	}
	if len(env.Args) == 0 {
		usage()
		return fmt.Errorf("%w: helper needs a command", ErrUsage)
	}
	sub, rest := env.Args[0], Env{Args: env.Args[1:], Stdout: env.Stdout, Stderr: env.Stderr}
	switch sub {
	case "install":
		return helperInstall(ctx, rest)
	case "uninstall":
		return helperUninstall(ctx, rest)
	case "status":
		return helperStatus(ctx, rest)
	case "run":
		return helperRun(ctx, rest)
	case "sudoers":
		return helperSudoers(rest)
	case "-h", "--help", "help":
		usage()
		return nil
	}
	usage()
	return fmt.Errorf("%w: unknown helper command %q", ErrUsage, sub)
}

func helperFlags(name string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet("helper "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

func parseHelperFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	return nil
}

// helpOK turns -h into a clean exit.
func helpOK(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

const macOnly = "the powermetrics helper is macOS-only (powermetrics is a macOS tool); on %s, power comes from RAPL, NVML or the labelled CPU-load estimate: run 'energyprofiler doctor'"

func helperInstall(ctx context.Context, env Env) error {
	fs := helperFlags("install", env)
	method := fs.String("method", "auto", "auto (SMAppService, else admin prompt), smappservice, or launchdaemon (admin prompt; macOS 12)")
	socket := fs.String("socket", helper.DefaultSocketPath, "socket the launchdaemon method's helper serves")
	bin := fs.String("helper-binary", "", "helper binary the launchdaemon method copies (default: "+helper.BundleHelperName+" next to this program)")
	if err := parseHelperFlags(fs, env.Args); err != nil {
		return helpOK(err)
	}
	if err := checkMethod(*method); err != nil {
		return err
	}
	if runtime.GOOS != "darwin" {
		return fmt.Errorf(macOnly, runtime.GOOS)
	}

	if *method == "auto" || *method == "smappservice" {
		st, err := installer.RegisterDaemon()
		if err == nil {
			fmt.Fprintf(env.Stdout, "SMAppService: %s\n", st)
			if st == installer.ServiceRequiresApproval {
				fmt.Fprintln(env.Stdout, "Opening System Settings › General › Login Items: switch on Energy Profiler's helper there, then run 'energyprofiler helper status'.")
				if err := installer.OpenLoginItemsSettings(); err != nil {
					fmt.Fprintf(env.Stderr, "could not open System Settings: %v\n", err)
				}
				return nil
			}
			return waitAnswer(ctx, env, helper.DefaultSocketPath)
		}
		if *method == "smappservice" {
			return fmt.Errorf("%w (SMAppService needs the app bundle signed with a Developer ID and this command run from Energy Profiler.app/Contents/MacOS; or use --method launchdaemon)", err)
		}
		fmt.Fprintf(env.Stderr, "SMAppService: %v\nfalling back to an administrator prompt (LaunchDaemon install)\n", err)
	}

	src := *bin
	if src == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the helper binary: %w; pass --helper-binary", err)
		}
		src = filepath.Join(filepath.Dir(exe), helper.BundleHelperName)
	}
	if abs, err := filepath.Abs(src); err == nil {
		src = abs
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("helper binary %s: %w (build it with 'go build ./backend/helper/cmd/energyprofiler-helper' or pass --helper-binary)", src, err)
	}
	if err := installer.InstallLaunchDaemon(ctx, src, *socket); err != nil {
		return fmt.Errorf("install the LaunchDaemon: %w", err)
	}
	fmt.Fprintf(env.Stdout, "installed %s as %s (LaunchDaemon %s)\n", src, installer.InstalledHelperPath, installer.LaunchDaemonPlistPath)
	return waitAnswer(ctx, env, *socket)
}

// waitAnswer gives launchd a few seconds to start the helper, then reports.
func waitAnswer(ctx context.Context, env Env, socket string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := probeHelper(ctx, socket)
		if err == nil {
			fmt.Fprintf(env.Stdout, "the helper answers at %s (pid %d, uid %d)\n", socket, st.HelperPID, st.HelperUID)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("installed, but the helper does not answer at %s yet: %w (see %s; run 'energyprofiler helper status')", socket, err, installer.HelperLogPath)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func helperUninstall(ctx context.Context, env Env) error {
	fs := helperFlags("uninstall", env)
	method := fs.String("method", "auto", "auto (both), smappservice, or launchdaemon")
	socket := fs.String("socket", helper.DefaultSocketPath, "socket the launchdaemon method's helper served")
	if err := parseHelperFlags(fs, env.Args); err != nil {
		return helpOK(err)
	}
	if err := checkMethod(*method); err != nil {
		return err
	}
	if runtime.GOOS != "darwin" {
		return fmt.Errorf(macOnly, runtime.GOOS)
	}
	var errs []error
	removed := false
	if *method == "auto" || *method == "smappservice" {
		st, err := installer.DaemonStatus()
		if err == nil && (st == installer.ServiceEnabled || st == installer.ServiceRequiresApproval) {
			if err := installer.UnregisterDaemon(); err != nil {
				errs = append(errs, err)
			} else {
				fmt.Fprintln(env.Stdout, "unregistered the SMAppService daemon")
				removed = true
			}
		} else if *method == "smappservice" && err != nil {
			errs = append(errs, err)
		}
	}
	if *method == "launchdaemon" || (*method == "auto" && fileExists(installer.LaunchDaemonPlistPath)) {
		if err := installer.UninstallLaunchDaemon(ctx, *socket); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(env.Stdout, "removed %s and %s\n", installer.LaunchDaemonPlistPath, installer.InstalledHelperPath)
			removed = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !removed {
		fmt.Fprintln(env.Stdout, "the helper was not installed; nothing to remove")
	}
	return nil
}

func checkMethod(m string) error {
	switch m {
	case "auto", "smappservice", "launchdaemon":
		return nil
	}
	return fmt.Errorf("%w: --method %q: want auto, smappservice or launchdaemon", ErrUsage, m)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// helperStatusReport is what `helper status --json` prints.
type helperStatusReport struct {
	Socket        string         `json:"socket"`
	SocketPresent bool           `json:"socket_present"`
	Answering     bool           `json:"answering"`
	Error         string         `json:"error,omitempty"`
	Helper        *helper.Status `json:"helper,omitempty"`
	SMAppService  string         `json:"smappservice,omitempty"` // macOS only
	LaunchDaemon  *bool          `json:"launchdaemon_plist,omitempty"`
}

func helperStatus(ctx context.Context, env Env) error {
	fs := helperFlags("status", env)
	socket := fs.String("socket", helper.DefaultSocketPath, "helper socket")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := parseHelperFlags(fs, env.Args); err != nil {
		return helpOK(err)
	}
	// Probe before looking for the socket file: a helper that is starting
	// creates the socket between the two, and an answering helper with a
	// "missing" socket would be a contradiction.
	st, err := probeHelper(ctx, *socket)
	rep := helperStatusReport{Socket: *socket, SocketPresent: fileExists(*socket)}
	if err == nil {
		rep.Answering, rep.Helper = true, &st
	} else {
		rep.Error = err.Error()
	}
	if runtime.GOOS == "darwin" {
		if s, err := installer.DaemonStatus(); err == nil {
			rep.SMAppService = s.String()
		} else {
			rep.SMAppService = err.Error()
		}
		present := fileExists(installer.LaunchDaemonPlistPath)
		rep.LaunchDaemon = &present
	}

	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printHelperStatus(env.Stdout, rep)
	}
	if !rep.Answering {
		return fmt.Errorf("the powermetrics helper does not answer at %s; install it with 'energyprofiler helper install' (macOS)", *socket)
	}
	return nil
}

func printHelperStatus(w io.Writer, rep helperStatusReport) {
	present := "missing"
	if rep.SocketPresent {
		present = "present"
	}
	fmt.Fprintf(w, "socket:        %s (%s)\n", rep.Socket, present)
	if rep.Answering {
		st := rep.Helper
		fmt.Fprintf(w, "answering:     yes (protocol %d, helper pid %d, uid %d)\n", st.Protocol, st.HelperPID, st.HelperUID)
		fmt.Fprintf(w, "powermetrics:  %s %s\n", st.Powermetrics, strings.Join(helper.Argv(helper.DefaultIntervalMS), " "))
		fmt.Fprintf(w, "your uid:      %d (allowed)\n", st.PeerUID)
		if st.HelperUID != 0 {
			fmt.Fprintln(w, "warning:       the helper is not root; powermetrics will refuse to run (reinstall it)")
		}
	} else {
		fmt.Fprintf(w, "answering:     no: %s\n", rep.Error)
	}
	if rep.SMAppService != "" {
		fmt.Fprintf(w, "SMAppService:  %s\n", rep.SMAppService)
	}
	if rep.LaunchDaemon != nil {
		fmt.Fprintf(w, "LaunchDaemon:  %s present: %v\n", installer.LaunchDaemonPlistPath, *rep.LaunchDaemon)
	}
}

func probeHelper(ctx context.Context, socket string) (helper.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := helper.Dial(ctx, socket)
	if err != nil {
		return helper.Status{}, err
	}
	defer c.Close()
	return c.Status(ctx)
}

// uidList is a repeatable --allow-uid flag.
type uidList []uint32

func (u *uidList) String() string { return fmt.Sprint(*u) }
func (u *uidList) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("uid %q: %w", s, err)
	}
	*u = append(*u, uint32(n))
	return nil
}

func helperRun(ctx context.Context, env Env) error {
	fs := helperFlags("run", env)
	socket := fs.String("socket", helper.DefaultSocketPath, "unix socket to serve")
	idle := fs.Duration("idle", helper.DefaultIdleTimeout, "close a connection with no request and no running powermetrics after this long")
	var allow uidList
	fs.Var(&allow, "allow-uid", "also admit this uid (repeatable); root and the console user are always admitted")
	if err := parseHelperFlags(fs, env.Args); err != nil {
		return helpOK(err)
	}
	// Connections log from their own goroutines; one line at a time.
	var mu sync.Mutex
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(env.Stderr, time.Now().Format(time.DateTime)+" energyprofiler helper: "+format+"\n", args...)
	}
	return helper.RunDaemon(ctx, helper.DaemonConfig{Socket: *socket, IdleTimeout: *idle, AllowUIDs: allow, Logf: logf})
}

func helperSudoers(env Env) error {
	fs := helperFlags("sudoers", env)
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	userName := fs.String("user", name, "the user allowed to run powermetrics")
	interval := fs.Int("interval", helper.DefaultIntervalMS, "powermetrics -i in ms (100–10000); the app must use the same value")
	if err := parseHelperFlags(fs, env.Args); err != nil {
		return helpOK(err)
	}
	if *interval < helper.MinIntervalMS || *interval > helper.MaxIntervalMS {
		return fmt.Errorf("%w: --interval %d: want %d–%d ms", ErrUsage, *interval, helper.MinIntervalMS, helper.MaxIntervalMS)
	}
	rule, err := helper.SudoersRule(*userName, uint32(*interval))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	fmt.Fprintln(env.Stdout, "# /etc/sudoers.d/energyprofiler: edit with 'sudo visudo -f /etc/sudoers.d/energyprofiler'.")
	fmt.Fprintln(env.Stdout, "# It allows exactly this powermetrics command line, nothing else (no -o).")
	fmt.Fprintln(env.Stdout, rule)
	return nil
}
