package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/power"
)

// runPower dispatches `power sample` and `power parse`.
func runPower(ctx context.Context, env Env) error {
	usage := func() {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler power sample [--source S] [--interval 100ms] [--duration 5s] [--json]")
		fmt.Fprintln(env.Stderr, "       energyprofiler power parse --format powermetrics-plist|powermetrics-text FILE [--json]")
	}
	if len(env.Args) == 0 {
		usage()
		return fmt.Errorf("%w: power needs a subcommand (sample or parse)", ErrUsage)
	}
	sub := env
	sub.Args = env.Args[1:]
	switch env.Args[0] {
	case "sample":
		return runPowerSample(ctx, sub)
	case "parse":
		return runPowerParse(ctx, sub)
	case "-h", "--help", "help":
		usage()
		return nil
	}
	usage()
	return fmt.Errorf("%w: unknown power subcommand %q (want sample or parse)", ErrUsage, env.Args[0])
}

// jsonReading is one domain in the JSON forms: watts and joules.
type jsonReading struct {
	PowerW  float64 `json:"power_w"`
	EnergyJ float64 `json:"energy_j"`
}

// jsonSample is one sample in the JSON forms; absent domains are left out.
type jsonSample struct {
	T0      int64                        `json:"t0_ns"`
	T1      int64                        `json:"t1_ns"`
	Source  string                       `json:"source,omitempty"`
	Kind    power.Kind                   `json:"kind,omitempty"`
	Domains map[power.Domain]jsonReading `json:"domains"`
}

func toJSONSample(s power.Sample, withSource bool) jsonSample {
	out := jsonSample{T0: s.T0, T1: s.T1, Domains: map[power.Domain]jsonReading{}}
	if withSource {
		out.Source, out.Kind = s.Source, s.Kind
	}
	dur := s.T1 - s.T0
	for d, r := range s.Domains {
		w := r.PowerMW / 1000
		if !r.HasPower && dur > 0 {
			w = r.EnergyMJ / (float64(dur) / 1e9) / 1000
		}
		out.Domains[d] = jsonReading{PowerW: w, EnergyJ: r.Energy(dur) / 1000}
	}
	return out
}

// runPowerSample prints live watts per domain from the chosen sources.
func runPowerSample(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("power sample", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	source := fs.String("source", "auto", "power source(s): auto, or a comma list of rapl, nvml, ioreport, powermetrics, cpu-load, replay:FILE")
	interval := fs.Duration("interval", power.DefaultInterval, "sampling interval (paced sources such as powermetrics keep their own)")
	duration := fs.Duration("duration", 5*time.Second, "how long to sample (0: until interrupted)")
	asJSON := fs.Bool("json", false, "print one JSON object per sample (JSON lines)")
	var pf powerFlags
	pf.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler power sample [--source S] [--interval 100ms] [--duration 5s] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(env.Args); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	if *interval <= 0 || *duration < 0 {
		return fmt.Errorf("%w: --interval must be positive and --duration not negative", ErrUsage)
	}

	set, err := power.Select(*source, pf.options())
	if err != nil {
		return fmt.Errorf("choose power source: %w", err)
	}
	if !*asJSON {
		fmt.Fprintln(env.Stdout, "Sampling (Ctrl-C stops):")
		for _, c := range set.Choices {
			fmt.Fprintf(env.Stdout, "  %s [%s] for %s: %s\n", c.Source.Name(), c.Source.Kind(), joinDomains(c.Domains), c.Source.Description())
		}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	g, err := set.Start(ctx, power.SamplerOptions{Interval: *interval})
	if err != nil {
		return fmt.Errorf("start sampling: %w", err)
	}
	sub := g.Subscribe(256)
	start := clock.Now()
	totals := map[power.Domain]float64{} // mJ
	var first, last int64
	enc := json.NewEncoder(env.Stdout)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case smp, ok := <-sub.C():
			if !ok {
				break loop // every sampler ended: Stop reports why
			}
			if first == 0 || smp.T0 < first {
				first = smp.T0
			}
			last = max(last, smp.T1)
			for d, r := range smp.Domains {
				totals[d] += r.Energy(smp.T1 - smp.T0)
			}
			if *asJSON {
				if err := enc.Encode(toJSONSample(smp, true)); err != nil {
					return err
				}
				continue
			}
			printLiveSample(env.Stdout, smp, start)
		}
	}
	sub.Close()
	stopErr := g.Stop()
	if !*asJSON && len(totals) > 0 {
		fmt.Fprintf(env.Stdout, "Energy over %.2f s:", float64(last-first)/1e9)
		for _, d := range sortedDomains(totals) {
			fmt.Fprintf(env.Stdout, "  %s %.3f J", d, totals[d]/1000)
		}
		fmt.Fprintln(env.Stdout)
	}
	if stopErr != nil {
		return fmt.Errorf("sampling stopped: %w", stopErr)
	}
	return nil
}

func printLiveSample(w io.Writer, smp power.Sample, start int64) {
	var b strings.Builder
	fmt.Fprintf(&b, "%8.3f s  %-12s %-17s", float64(smp.T1-start)/1e9, smp.Source, smp.Kind)
	if len(smp.Domains) == 0 {
		b.WriteString("  (nothing measured in this interval)")
	}
	for _, d := range sortedDomains(smp.Domains) {
		r := smp.Domains[d]
		fmt.Fprintf(&b, "  %s %.2f W", d, toJSONSample(power.Sample{T0: smp.T0, T1: smp.T1, Domains: map[power.Domain]power.Reading{d: r}}, false).Domains[d].PowerW)
	}
	fmt.Fprintln(w, b.String())
}

func sortedDomains[V any](m map[power.Domain]V) []power.Domain {
	var out []power.Domain
	for d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// parseOutput is the JSON form of `power parse`.
type parseOutput struct {
	Samples []jsonSample `json:"samples"`
}

// runPowerParse prints the samples of a captured powermetrics output.
func runPowerParse(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("power parse", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	format := fs.String("format", "", "powermetrics-plist or powermetrics-text")
	asJSON := fs.Bool("json", false, `print {"samples": [{"t0_ns", "t1_ns", "domains": {"cpu": {"power_w", "energy_j"}, …}}]}`)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler power parse --format powermetrics-plist|powermetrics-text FILE [--json]")
		fmt.Fprintln(env.Stderr, "Samples are placed end to end from t=0 using each sample's own elapsed time.")
		fs.PrintDefaults()
	}
	args, err := parseInterspersed(fs, env.Args)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if len(args) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want exactly one FILE, got %d arguments", ErrUsage, len(args))
	}
	var p interface {
		Write([]byte) ([]power.PowermetricsRecord, error)
	}
	var flush func() ([]power.PowermetricsRecord, error)
	switch *format {
	case "powermetrics-plist":
		pp := &power.PlistParser{}
		p = pp
		flush = func() ([]power.PowermetricsRecord, error) {
			if pp.Pending() {
				return nil, errors.New("the file ends inside a document; that partial sample is dropped")
			}
			return nil, nil
		}
	case "powermetrics-text":
		tp := &power.TextParser{}
		p, flush = tp, tp.Flush
	default:
		fs.Usage()
		return fmt.Errorf("%w: --format must be powermetrics-plist or powermetrics-text, got %q", ErrUsage, *format)
	}

	f, err := os.Open(args[0])
	if err != nil {
		return fmt.Errorf("power parse: %w", err)
	}
	defer f.Close()
	var recs []power.PowermetricsRecord
	warn := func(err error) {
		if err != nil {
			fmt.Fprintf(env.Stderr, "warning: %s: %v\n", args[0], err)
		}
	}
	buf := make([]byte, 64*1024)
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			got, err := p.Write(buf[:n])
			warn(err)
			recs = append(recs, got...)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read %s: %w", args[0], rerr)
		}
	}
	got, err := flush()
	warn(err)
	recs = append(recs, got...)
	if len(recs) == 0 {
		return fmt.Errorf("%s: no %s samples found; check --format", args[0], *format)
	}

	out := parseOutput{Samples: []jsonSample{}}
	var t int64
	for _, r := range recs {
		out.Samples = append(out.Samples, toJSONSample(r.Sample(t+r.ElapsedNs, "powermetrics"), false))
		t += r.ElapsedNs
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	cols := []power.Domain{power.DomainCPU, power.DomainGPU, power.DomainANE, power.DomainDRAM, power.DomainPackage}
	fmt.Fprintf(env.Stdout, "%d samples from %s (measured: powermetrics; '-' = not reported)\n", len(out.Samples), args[0])
	fmt.Fprintf(env.Stdout, "%10s %10s", "t0 s", "t1 s")
	for _, d := range cols {
		fmt.Fprintf(env.Stdout, " %10s", string(d)+" W")
	}
	fmt.Fprintln(env.Stdout)
	for _, s := range out.Samples {
		fmt.Fprintf(env.Stdout, "%10.3f %10.3f", float64(s.T0)/1e9, float64(s.T1)/1e9)
		for _, d := range cols {
			if r, ok := s.Domains[d]; ok {
				fmt.Fprintf(env.Stdout, " %10.3f", r.PowerW)
			} else {
				fmt.Fprintf(env.Stdout, " %10s", "-")
			}
		}
		fmt.Fprintln(env.Stdout)
	}
	return nil
}
