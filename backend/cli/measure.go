package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/session"
	"energyprofiler/backend/windows"
)

// forwardDelay is how long measure waits after SIGINT or SIGTERM before
// passing an interrupt on: Ctrl-C in a terminal reaches the command
// directly (it is in the terminal's process group), so it is forwarded
// only to a command still running a second later (a signal sent to
// energyprofiler alone, or a command slow to clean up, which then gets a
// second interrupt).
const forwardDelay = time.Second

// interruptSlack is how long after a command failed measure still takes
// an interrupt as its cause.
const interruptSlack = 250 * time.Millisecond

// killGrace is how long a command may take to stop after the forwarded
// signal before it is killed.
const killGrace = 10 * time.Second

// runMeasure runs a command and stores its energy as a window: the whole
// command, from start to exit, with this machine's power sources and an
// idle baseline before it starts. Its exit code is passed through; SIGINT
// and SIGTERM are forwarded to it.
func runMeasure(ctx context.Context, env Env) error {
	fs := runsFlagSet("measure", env.Stderr, "measure [--tags a,b] [--name NAME] [--note TEXT] [--idle 1s] [--power SOURCE] -- CMD ARGS…")
	tags := fs.String("tags", "", "comma-separated tags stored with the window")
	name := fs.String("name", "", "what the window is listed as (default: the command's name)")
	note := fs.String("note", "", "free text stored with the window")
	idle := fs.Duration("idle", profiler.DefaultIdle, "idle baseline measured before the command starts (0 skips it)")
	powerSpec := fs.String("power", "auto", "power source(s): auto, or a list such as rapl,nvml, cpu-load, replay:FILE")
	interval := fs.Duration("interval", 100*time.Millisecond, "power sampling interval")
	db := storeDBFlag(fs)
	// Flags stop at the command: everything from the first non-flag (or
	// after "--") is the command and its own arguments.
	if err := fs.Parse(env.Args); err != nil {
		return runsHelpOK(err)
	}
	argv := fs.Args()
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: give the command to measure after --, e.g. energyprofiler measure --tags train -- python3 train.py", ErrUsage)
	}
	if *idle < 0 {
		return fmt.Errorf("%w: --idle cannot be negative", ErrUsage)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if *name == "" {
		*name = filepath.Base(argv[0])
	}
	st, err := openRunStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := session.New(ctx, session.Options{PowerSpec: *powerSpec, SampleInterval: *interval, Recorder: st,
		Logger: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer svc.Close()
	idleOpt := *idle
	if idleOpt == 0 {
		idleOpt = -1
	}
	run, err := svc.StartWindow(ctx, profiler.Meta{ModelName: *name, Prompt: strings.Join(argv, " "), Tags: append(splitList(*tags), "measure"), Note: *note}, idleOpt)
	if err != nil {
		return err
	}

	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	if cmd.Stdin == nil {
		cmd.Stdin = os.Stdin
	}
	run.PhaseStart(windows.Phase, clock.Now())
	if err := cmd.Start(); err != nil {
		run.PhaseEnd(windows.Phase, clock.Now())
		run.End(profiler.StatusFailed, "the command could not start: "+err.Error())
		st.Flush(context.WithoutCancel(ctx))
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	interrupted := false
	select {
	case waitErr = <-exited:
		// Ctrl-C in a terminal reaches the command and energyprofiler at
		// once, and the command may be gone before the signal has
		// cancelled ctx: a command that failed is given a moment to be
		// told apart from one that was interrupted.
		if waitErr != nil {
			select {
			case <-ctx.Done():
				interrupted = true
			case <-time.After(interruptSlack):
			}
		}
	case <-ctx.Done():
		interrupted = true
		waitErr = stopCommand(cmd, exited)
	}
	run.PhaseEnd(windows.Phase, clock.Now())
	run.SetTokenCounts(-1, -1, windows.NotGiven, windows.NotGiven)

	code := 0
	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
		_, err = run.Finish()
	case errors.As(waitErr, &exitErr):
		code = exitErr.ExitCode()
		status, reason := profiler.StatusFailed, fmt.Sprintf("the command exited with status %d", code)
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
			status, reason = profiler.StatusCancelled, "the command was stopped by "+ws.Signal().String()
		}
		if interrupted && status == profiler.StatusFailed {
			status = profiler.StatusCancelled
			reason += " after it was interrupted"
		}
		_, err = run.End(status, reason)
	default:
		code = 1
		_, err = run.End(profiler.StatusFailed, waitErr.Error())
	}
	ferr := st.Flush(context.WithoutCancel(ctx))
	if err != nil || ferr != nil {
		return errors.Join(err, ferr)
	}
	rec, gerr := st.Get(context.WithoutCancel(ctx), run.ID())
	if gerr == nil && rec.Summary != nil {
		s := rec.Summary
		fmt.Fprintf(env.Stderr, "energyprofiler: window %s (%s): %s in %s", run.ID()[:8], rec.Run.Status, metricText(s.TotalEnergyJ), metricText(s.DurationS))
		if v, ok := s.NetEnergyJ.Get(); ok {
			fmt.Fprintf(env.Stderr, ", net of idle %s", netText(s, v, " J"))
		}
		fmt.Fprintf(env.Stderr, "; see 'energyprofiler show %s'\n", run.ID()[:8])
	}
	if code != 0 {
		return ExitCode(code)
	}
	return nil
}

func metricText(m profiler.Metric) string {
	if v, ok := m.Get(); ok {
		return fmt.Sprintf("%s %s (%s)", fmtNum(v), m.Unit, m.Label)
	}
	return "unavailable"
}

// stopCommand forwards an interrupt to a command still running after
// forwardDelay, kills it after killGrace, and returns how it ended.
func stopCommand(cmd *exec.Cmd, exited <-chan error) error {
	select {
	case err := <-exited:
		return err
	case <-time.After(forwardDelay):
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		return err
	case <-time.After(killGrace):
	}
	_ = cmd.Process.Kill()
	return <-exited
}
