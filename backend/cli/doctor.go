package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"

	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/external"
	"energyprofiler/backend/power"
	"energyprofiler/backend/session"
)

// doctorReport is what `doctor --json` prints.
type doctorReport struct {
	OS        string                  `json:"os"`
	Sources   []power.Info            `json:"sources"`
	Selection map[power.Domain]string `json:"auto_selection"`
	// SelectionError says why auto selection found nothing, if it did not.
	SelectionError string `json:"auto_selection_error,omitempty"`
	// Compute is what --backend auto would run on, and why.
	Compute metal.Choice `json:"compute"`
	// SelfTest is the Metal kernels' check against the CPU (--selftest).
	SelfTest *metal.Report `json:"selftest,omitempty"`
	// Servers are the saved inference-server endpoints (and an ollama on
	// its default port), probed.
	Servers      []external.Probe `json:"servers"`
	ServersFile  string           `json:"servers_file,omitempty"`
	ServersError string           `json:"servers_error,omitempty"`
}

// powerFlags are the location overrides shared by doctor and power; they
// exist so a fake sysfs tree or another NVML can be pointed at.
type powerFlags struct {
	sysfsRoot, procRoot, nvmlLib string
}

func (p *powerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.sysfsRoot, "sysfs-root", "/sys", "where sysfs is mounted (RAPL reads SYSFS/class/powercap)")
	fs.StringVar(&p.procRoot, "proc-root", "/proc", "where procfs is mounted (the CPU estimate reads PROC/stat)")
	fs.StringVar(&p.nvmlLib, "nvml-lib", "libnvidia-ml.so.1", "the NVML library to load")
}

func (p *powerFlags) options() power.Options {
	return session.PowerOptions(power.Options{SysfsRoot: p.sysfsRoot, ProcRoot: p.procRoot, NVMLLibrary: p.nvmlLib})
}

// runDoctor lists every power source, available or not, with the reason
// and the fix, and what auto selection would use per domain.
func runDoctor(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	selfTest := fs.Bool("selftest", false, "run every Metal kernel on random inputs against the CPU and report the largest error per kernel (macOS); auto uses Metal only after this passed")
	var pf powerFlags
	pf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler doctor [--json] [--selftest]")
		fmt.Fprintln(env.Stderr, "Lists every power source, available or not, with the reason and the fix, and what --power auto would use.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(env.Args); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: doctor takes no arguments, got %q", ErrUsage, fs.Args())
	}

	srcs := power.All(pf.options())
	report := doctorReport{OS: runtime.GOOS + "/" + runtime.GOARCH, Selection: map[power.Domain]string{}}
	for _, s := range srcs {
		report.Sources = append(report.Sources, power.Describe(s))
	}
	if set, err := power.SelectAuto(srcs); err != nil {
		report.SelectionError = err.Error()
	} else {
		report.Selection = set.Domains()
	}

	var selfTestErr error
	if *selfTest {
		report.SelfTest, selfTestErr = runSelfTest(metal.Chooser{})
	}
	if be, choice, err := (metal.Chooser{Threads: 1}).Choose(metal.KindAuto); err == nil {
		be.Close()
		report.Compute = choice
	}

	report.Servers = []external.Probe{}
	if path, err := external.DefaultPath(); err != nil {
		report.ServersError = err.Error()
	} else if cfg, err := external.Load(path); err != nil {
		report.ServersFile, report.ServersError = path, err.Error()
	} else {
		report.ServersFile = path
		report.Servers = external.ProbeAll(ctx, nil, cfg.WithDefaultOllama(), 2*time.Second)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
		return selfTestErr
	}
	if err := printDoctor(env.Stdout, report); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout)
	if report.ServersError != "" {
		fmt.Fprintf(env.Stdout, "Inference servers: %s\n", report.ServersError)
	} else {
		printProbes(env.Stdout, report.ServersFile, report.Servers)
	}
	return selfTestErr
}

// runSelfTest runs the Metal self-test and caches its result for auto.
func runSelfTest(c metal.Chooser) (*metal.Report, error) {
	open := c.Open
	if open == nil {
		open = metal.Open
	}
	dev, err := open()
	if err != nil {
		return nil, fmt.Errorf("the Metal self-test cannot run: %w", err)
	}
	rep, err := metal.SelfTest(dev, uint64(time.Now().UnixNano()))
	if err != nil {
		return nil, fmt.Errorf("Metal self-test: %w", err)
	}
	osb := metal.OSBuild()
	if c.OSBuild != nil {
		osb = c.OSBuild()
	}
	if _, err := c.Store(osb, rep); err != nil {
		return &rep, fmt.Errorf("the self-test ran but its result was not cached: %w", err)
	}
	if !rep.Passed() {
		return &rep, fmt.Errorf("the Metal self-test failed (%s); --backend auto will use the CPU", rep.Failed())
	}
	return &rep, nil
}

func printDoctor(w io.Writer, r doctorReport) error {
	if rep := r.SelfTest; rep != nil {
		fmt.Fprintf(w, "Metal self-test on %s (largest error relative to the CPU's largest value):\n\n", rep.Device)
		for _, c := range rep.Checks {
			status := "ok"
			if !c.Passed() {
				status = "FAILED"
			}
			if c.Err != "" {
				fmt.Fprintf(w, "  %-34s %-6s %s\n", c.Op, status, c.Err)
				continue
			}
			fmt.Fprintf(w, "  %-34s %-6s max error %.2g (tolerance %.2g)\n", c.Op, status, c.MaxErr, c.Tol)
		}
		fmt.Fprintln(w)
	}
	switch {
	case r.Compute.Kind == metal.KindMetal:
		fmt.Fprintf(w, "Compute (--backend auto): Metal on %s\n\n", r.Compute.Device)
	case r.Compute.Kind != "":
		fmt.Fprintf(w, "Compute (--backend auto): CPU (%s): %s\n\n", r.Compute.Device, r.Compute.Reason)
	}
	fmt.Fprintf(w, "Power sources on this machine (%s):\n\n", r.OS)
	kinds := map[string]power.Kind{}
	for _, s := range r.Sources {
		kinds[s.Name] = s.Kind
		status := "unavailable"
		if s.Available {
			status = "available"
		}
		fmt.Fprintf(w, "  %-13s %-12s %-18s %s\n", s.Name, status, s.Kind, joinDomains(s.Domains))
		fmt.Fprintf(w, "      what: %s\n", s.Description)
		if !s.Available {
			fmt.Fprintf(w, "      why:  %s\n", s.Reason)
			fmt.Fprintf(w, "      fix:  %s\n", s.Fix)
		}
		fmt.Fprintln(w)
	}
	if r.SelectionError != "" {
		fmt.Fprintf(w, "Auto selection: nothing can be measured or estimated here: %s\n", r.SelectionError)
		return nil
	}
	fmt.Fprintln(w, "Auto selection (--power auto: counter, then sampling, then estimate, per domain):")
	var doms []string
	for d := range r.Selection {
		doms = append(doms, string(d))
	}
	sort.Strings(doms)
	for _, d := range doms {
		src := r.Selection[power.Domain(d)]
		fmt.Fprintf(w, "  %-8s <- %s (%s)\n", d, src, kinds[src])
	}
	return nil
}

func joinDomains(ds []power.Domain) string {
	var s []string
	for _, d := range ds {
		s = append(s, string(d))
	}
	return strings.Join(s, ",")
}
