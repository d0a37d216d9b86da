package cli

import (
	"context"
	"encoding/json"
	"energyprofiler/backend/model"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/session"
	"energyprofiler/backend/store"
)

// ---- profile ----------------------------------------------------------------

func runProfile(ctx context.Context, env Env) error {
	fs := runsFlagSet("profile", env.Stderr, "profile --model DIR --prompt TEXT [--chat] [--max-tokens N] [--depth module|deep] [--tags a,b] [--power SOURCE] [--idle 1s] [--repeat N] [--cooldown 5s] [--json]\n       energyprofiler profile --endpoint URL|NAME --model NAME --prompt TEXT [--max-tokens N] [--api openai|ollama] [--chat] [--tags a,b] [--json]")
	modelDir := fs.String("model", "", "model folder (config.json, *.safetensors, tokenizer.json) or .gguf file, or a name from 'energyprofiler models' (hf:ORG/NAME, ollama:NAME:TAG, ...); with --endpoint, the server's model name")
	var srv serverFlags
	srv.register(fs)
	prompt := fs.String("prompt", "", "prompt text")
	maxTokens := fs.Int("max-tokens", 64, "tokens to generate at most")
	depth := fs.String("depth", "module", "tracing depth: module or deep")
	tags := fs.String("tags", "", "comma-separated tags stored with the run")
	powerSpec := fs.String("power", "auto", "power source(s): auto, or a list such as rapl,nvml, cpu-load, replay:FILE")
	interval := fs.Duration("interval", 100*time.Millisecond, "power sampling interval")
	idle := fs.Duration("idle", profiler.DefaultIdle, "idle baseline measured before inference (0 skips it)")
	repeat := fs.Int("repeat", 1, "profile the same configuration N times")
	cooldown := fs.Duration("cooldown", 5*time.Second, "pause between repeated runs")
	ignoreEOS := fs.Bool("ignore-eos", false, "generate exactly --max-tokens tokens")
	temperature := fs.Float64("temperature", 0, "sampling temperature (0: greedy)")
	topP := fs.Float64("top-p", 1, "nucleus sampling threshold")
	topK := fs.Int("top-k", 0, "sample among the K most likely tokens (0: all)")
	seed := fs.Uint64("seed", 0, "sampling seed")
	threads := fs.Int("threads", 0, "CPU threads (0: all)")
	backend := fs.String("backend", "auto", "compute backend: auto (Metal where its self-test passed, else the CPU), cpu or metal")
	price := fs.Float64("price", profiler.DefaultPriceUSDPerKWh, "electricity price in USD per kWh")
	co2 := fs.String("co2", profiler.DefaultCO2Preset, "grid carbon intensity: us (400), california (200), texas (500), eu (300) or g/kWh")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object")
	db := storeDBFlag(fs)
	args, err := parseRunArgs(fs, env.Args)
	if err != nil {
		return runsHelpOK(err)
	}
	if srv.endpoint != "" {
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q (give the prompt with --prompt)", ErrUsage, args[0])
		}
		return profileServer(ctx, env, fs, srv, serverRun{model: *modelDir, prompt: *prompt, maxTokens: *maxTokens, tags: *tags,
			powerSpec: *powerSpec, interval: *interval, idle: *idle, temperature: *temperature, seed: *seed, asJSON: *asJSON, db: *db})
	}
	switch {
	case len(args) > 0:
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q (give the prompt with --prompt)", ErrUsage, args[0])
	case *modelDir == "":
		fs.Usage()
		return fmt.Errorf("%w: --model DIR is required (run 'energyprofiler models demo' for demo models)", ErrUsage)
	case *prompt == "":
		return fmt.Errorf("%w: --prompt TEXT is required", ErrUsage)
	case *maxTokens <= 0:
		return fmt.Errorf("%w: --max-tokens must be positive, got %d", ErrUsage, *maxTokens)
	case *depth != "module" && *depth != "deep":
		return fmt.Errorf("%w: --depth must be module or deep, got %q", ErrUsage, *depth)
	case *repeat < 1:
		return fmt.Errorf("%w: --repeat must be at least 1", ErrUsage)
	case *idle < 0 || *cooldown < 0:
		return fmt.Errorf("%w: --idle and --cooldown cannot be negative", ErrUsage)
	}
	sampling := profiler.Sampling{Greedy: *temperature == 0, Temperature: *temperature, TopP: *topP, TopK: *topK, Seed: int64(*seed)}
	if err := checkSamplingFlags(sampling); err != nil {
		return err
	}
	if err := profiler.CheckPrice(*price); err != nil {
		return fmt.Errorf("%w: --%v", ErrUsage, err)
	}
	if _, err := metal.ParseKind(*backend); err != nil {
		return fmt.Errorf("%w: --backend: %v", ErrUsage, err)
	}
	co2g, co2preset, err := parseCO2(*co2)
	if err != nil {
		return fmt.Errorf("%w: --co2: %v", ErrUsage, err)
	}

	modelPath, modelName, err := resolveModel(*modelDir)
	if err != nil {
		return err
	}
	st, err := openRunStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := session.New(ctx, session.Options{
		PowerSpec: *powerSpec, SampleInterval: *interval, Recorder: st, Threads: *threads,
		Logger: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer svc.Close()

	idleOpt := *idle
	if idleOpt == 0 {
		idleOpt = -1 // the session's "skip"
	}
	req := session.Request{
		ModelPath: absPath(modelPath), ModelName: modelName,
		Prompt: *prompt, MaxTokens: *maxTokens, Depth: *depth, Tags: splitList(*tags),
		Sampling:  sampling,
		Idle:      idleOpt,
		IgnoreEOS: *ignoreEOS, PriceUSDPerKWh: *price, CO2GPerKWh: co2g, CO2Preset: co2preset,
		Backend: *backend, Chat: srv.chat,
	}
	if *repeat > 1 {
		req.RepeatGroup = uuid.NewString()
	}

	var summaries []*profiler.Summary
	for i := 0; i < *repeat; i++ {
		if i > 0 && *cooldown > 0 {
			fmt.Fprintf(env.Stderr, "cooling down for %s…\n", *cooldown)
			select {
			case <-time.After(*cooldown):
			case <-ctx.Done():
				return fmt.Errorf("cancelled during cooldown: %w", ctx.Err())
			}
		}
		sum, text, err := profileOnce(ctx, env, svc, st, req)
		if err != nil {
			return err
		}
		summaries = append(summaries, sum)
		if !*asJSON {
			if *repeat > 1 {
				fmt.Fprintf(env.Stdout, "── run %d of %d ──\n", i+1, *repeat)
			}
			fmt.Fprintf(env.Stdout, "Output: %s\n\n", oneLine(text, 300))
			printSummary(env.Stdout, sum)
			fmt.Fprintln(env.Stdout)
		}
	}

	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if *repeat == 1 {
			return enc.Encode(summaries[0])
		}
		g := profiler.Describe(profiler.Group{Label: req.RepeatGroup, Summaries: summaries})
		return enc.Encode(repeatReport{req.RepeatGroup, g.RunIDs, summaries, g})
	}
	if *repeat > 1 {
		g := profiler.Describe(profiler.Group{Label: "repeat group " + req.RepeatGroup[:8], Summaries: summaries})
		fmt.Fprintf(env.Stdout, "Across %d runs (mean ± 95%% CI); compare them with 'energyprofiler compare group:%s …':\n", len(summaries), req.RepeatGroup[:8])
		printGroupStats(env.Stdout, g)
	}
	return nil
}

// profileOnce measures one generation and stores it.
func profileOnce(ctx context.Context, env Env, svc *session.Service, st *store.Store, req session.Request) (*profiler.Summary, string, error) {
	bar := newProgressBar(env.Stderr, req.MaxTokens)
	bar.status("loading the model…")
	req.Prepared = func() { bar.status("measuring idle baseline…") }
	req.OnToken = bar.token
	res, err := svc.Profile(ctx, req, nil)
	bar.done()
	if ferr := st.Flush(context.WithoutCancel(ctx)); ferr != nil {
		// Never report a run as done when it is not in the database.
		id := "the run"
		if res != nil && res.Summary != nil {
			id = "run " + res.Summary.RunID
		}
		return nil, "", errors.Join(err, fmt.Errorf("%s could not be stored: %w", id, ferr))
	}
	if err != nil {
		if res != nil && res.Summary != nil {
			return nil, "", fmt.Errorf("run %s stopped (stored as %s): %w", res.Summary.RunID, res.Summary.Status, err)
		}
		return nil, "", err
	}
	return res.Summary, res.Text, nil
}

// checkSamplingFlags refuses sampling flags no run can use (NaN, infinite,
// out of range), naming the flag.
func checkSamplingFlags(s profiler.Sampling) error {
	if err := s.Check(); err != nil {
		return fmt.Errorf("%w: --%v", ErrUsage, err)
	}
	if s.TopP == 0 {
		return fmt.Errorf("%w: --top-p 0: use a number in (0, 1]", ErrUsage)
	}
	return nil
}

func parseCO2(s string) (float64, string, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err := profiler.CheckCO2(v); err != nil {
			return 0, "", err
		}
		return v, "custom", nil
	}
	v, err := profiler.CO2Preset(s)
	return v, strings.ToLower(s), err
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func splitList(s string) []string {
	out := []string{}
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// progressBar draws "[=====>    ] 12/64 tokens  38.1 tok/s" on a terminal.
// It stays silent when the writer is not a terminal (pipes, tests).
type progressBar struct {
	w     io.Writer
	on    bool
	total int
	start int64
	last  int64
	n     int
}

func newProgressBar(w io.Writer, total int) *progressBar {
	on := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	return &progressBar{w: w, on: on, total: total}
}

func (b *progressBar) status(msg string) {
	if b.on {
		fmt.Fprintf(b.w, "\r\033[K%s", msg)
	}
}

// token is the engine's onToken callback: it must stay cheap.
func (b *progressBar) token(ev engine.TokenEvent) {
	b.n++
	if !b.on {
		return
	}
	now := clock.Now()
	if b.start == 0 {
		b.start = now
	}
	if now-b.last < 50_000_000 && b.n < b.total {
		return
	}
	b.last = now
	const width = 30
	filled := min(width, b.n*width/max(1, b.total))
	rate := ""
	if dt := float64(now-b.start) / 1e9; dt > 0 && b.n > 1 {
		rate = fmt.Sprintf("  %.1f tok/s", float64(b.n-1)/dt)
	}
	fmt.Fprintf(b.w, "\r\033[K[%s%s] %d/%d tokens%s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), b.n, b.total, rate)
}

func (b *progressBar) done() {
	if b.on {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

// repeatReport is what `profile --repeat N --json` prints.
type repeatReport struct {
	RepeatGroup string              `json:"repeat_group"`
	RunIDs      []string            `json:"run_ids"`
	Runs        []*profiler.Summary `json:"runs"`
	Stats       profiler.GroupStats `json:"stats"`
}

// approxZero is how a net energy within the idle noise is shown: the run
// did not draw measurably more than the machine at rest, so neither a
// negative nor a tiny positive number would be a finding.
const (
	approxZero     = "≈0 (within idle noise)"
	withinNoiseWhy = "net = gross − idle power × time is no larger than its error bound: the run did not draw measurably more than the machine at rest"
)

// netNegligible reports whether a net energy v of run s is shown as ≈0:
// it is at most 0, or the run's net energy is within its noise bound.
func netNegligible(s *profiler.Summary, v float64) bool {
	return v <= 0 || (s != nil && s.NetWithinNoise)
}

// netText renders a net energy (with unit), or ≈0 where it is negligible.
func netText(s *profiler.Summary, v float64, unit string) string {
	if netNegligible(s, v) {
		return approxZero
	}
	return fmtNum(v) + unit
}

// printSummary prints a run summary, every number with its provenance.
func printSummary(w io.Writer, s *profiler.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, m profiler.Metric) {
		if v, ok := m.Get(); ok {
			fmt.Fprintf(tw, "  %s\t%s %s\t(%s)\n", name, fmtNum(v), m.Unit, m.Label)
		} else {
			fmt.Fprintf(tw, "  %s\tunavailable\t\n", name)
		}
	}
	fmt.Fprintf(w, "Run %s (%s), model %s\n", s.RunID, s.Status, s.ModelName)
	if a := s.Architecture; a != nil {
		source := "config.json"
		if model.IsGGUFPath(s.ModelName) {
			source = "GGUF metadata"
		}
		params := fmtCount(a.ParamsTotal) + " params"
		if a.Experts > 0 {
			// As the dashboard says it: MoE · 8 experts, top-2 · 27M of 98M active.
			params = fmt.Sprintf("MoE %d experts, top-%d", a.Experts, a.TopK)
			if a.SharedExperts > 0 {
				params += fmt.Sprintf(" + %d shared", a.SharedExperts)
			}
			params += fmt.Sprintf(", %s of %s params active", fmtCount(a.ParamsActive), fmtCount(a.ParamsTotal))
		}
		fmt.Fprintf(tw, "  architecture\t%s, %d layers, hidden %d, %s\t(%s)\n", a.AttentionKind, a.Layers, a.Hidden, params, source)
	}
	if s.InputTokensSource == "" && s.OutputTokensSource == "" {
		fmt.Fprintf(tw, "  tokens\t%d in, %d out\t(measured clock)\n", s.InputTokens, s.OutputTokens)
	} else {
		fmt.Fprintf(tw, "  input tokens\t%s\t(%s)\n", countText(s.InputTokens, s.InputTokensSource), s.InputTokensSource)
		fmt.Fprintf(tw, "  output tokens\t%s\t(%s)\n", countText(s.OutputTokens, s.OutputTokensSource), s.OutputTokensSource)
	}
	row("duration", s.DurationS)
	row("prefill", s.PrefillTokensPerSecond)
	row("decode", s.DecodeTokensPerSecond)
	row("energy (gross)", s.TotalEnergyJ)
	if t := s.Energy.Total; t != nil && t.Coverage < 0.999 {
		fmt.Fprintf(tw, "  warning\tpower samples cover only %.1f%% of the run\t(energy counts the covered part)\n", 100*t.Coverage)
	}
	if v, ok := s.NetEnergyJ.Get(); ok && netNegligible(s, v) {
		noise := ""
		if n, ok := s.NetNoiseJ.Get(); ok {
			noise = fmt.Sprintf(", ±%s J", fmtNum(n))
		}
		fmt.Fprintf(tw, "  energy (net of idle)\t%s\t(%s%s: %s)\n", approxZero, s.NetEnergyJ.Label, noise, withinNoiseWhy)
	} else {
		row("energy (net of idle)", s.NetEnergyJ)
	}
	for _, d := range sortedKeys(s.Energy.Domains) {
		de := s.Energy.Domains[d]
		net := ""
		if de.NetJ != nil {
			net = fmt.Sprintf(", net %s", netText(s, *de.NetJ, " J"))
		}
		fmt.Fprintf(tw, "    %s\t%s J ± %s%s\t(%s)\n", d, fmtNum(de.GrossJ), fmtNum(de.UncertaintyJ), net, de.Label)
	}
	for _, d := range sortedKeys(s.AvgPowerW) {
		avg := s.AvgPowerW[d]
		peak := ""
		if p, ok := s.PeakPowerW[d]; ok && p.Value != nil {
			peak = fmt.Sprintf(", peak %s W", fmtNum(*p.Value))
		}
		idle := ""
		if p, ok := s.IdlePowerW[d]; ok && p.Value != nil {
			idle = fmt.Sprintf(", idle %s W", fmtNum(*p.Value))
		}
		fmt.Fprintf(tw, "  power %s\tavg %s W%s%s\t(%s)\n", d, fmtNum(*avg.Value), peak, idle, avg.Label)
	}
	row("J per token", s.JoulesPerToken)
	row("J per output token", s.JoulesPerOutputToken)
	row("J per input token", s.JoulesPerInputToken)
	row("output/input cost", s.OutputInputRatio)
	row("tokens per joule", s.TokensPerJoule)
	row("energy-delay product", s.EnergyDelayProduct)
	row("energy per M params", s.EnergyPerMParams)
	if a := s.Architecture; a != nil && a.ParamsActive > 0 && a.ParamsActive != a.ParamsTotal {
		row("energy per active M params", s.EnergyPerActiveMParams)
	}
	money := func(name string, perRun, perM profiler.Metric, run, million func(float64) string) {
		v, ok := perRun.Get()
		if !ok {
			fmt.Fprintf(tw, "  %s\tunavailable\t\n", name)
			return
		}
		text := run(v)
		if m, ok := perM.Get(); ok {
			text += ", " + million(m) + " per million output tokens"
		}
		fmt.Fprintf(tw, "  %s\t%s\t(%s)\n", name, text, perRun.Label)
	}
	money(fmt.Sprintf("cost at $%g/kWh", s.PriceUSDPerKWh), s.CostUSD, s.CostUSDPerMTokens, costPerRun, usd)
	money(fmt.Sprintf("CO₂ at %g g/kWh (%s)", s.CO2GPerKWh, s.CO2Preset), s.CO2Grams, s.CO2GPerMTokens,
		func(g float64) string { return grams(g) + " per run" }, grams)
	tw.Flush()
}

func sortedKeys[V any](m map[power.Domain]V) []power.Domain {
	out := make([]power.Domain, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// usd reads an amount of money as people write it: "$1.45", "$0.017",
// "0.35 ¢" below a cent, with three significant digits.
func usd(v float64) string {
	switch {
	case v >= 0.01 || v == 0:
		return "$" + trimZeros(strconv.FormatFloat(v, 'f', max(2, sigDecimals(v, 3)), 64), 2)
	case v >= 1e-4:
		return trimZeros(strconv.FormatFloat(v*100, 'f', sigDecimals(v*100, 2), 64), 0) + " ¢"
	}
	return "$" + strconv.FormatFloat(v, 'e', 1, 64)
}

// costPerRun reads a run's cost; a run too cheap to read in cents is given
// per million runs, the scale at which it adds up.
func costPerRun(v float64) string {
	if v >= 1e-4 || v == 0 {
		return usd(v) + " per run"
	}
	return usd(v*1e6) + " per million runs"
}

// grams reads a mass of CO₂ in µg, mg, g, kg or t.
func grams(g float64) string {
	for _, u := range []struct {
		f    float64
		name string
	}{{1e6, "t"}, {1e3, "kg"}, {1, "g"}, {1e-3, "mg"}, {1e-6, "µg"}} {
		if g >= u.f {
			return trimZeros(strconv.FormatFloat(g/u.f, 'f', sigDecimals(g/u.f, 3), 64), 0) + " " + u.name
		}
	}
	return strconv.FormatFloat(g, 'g', 3, 64) + " g"
}

// trimZeros drops trailing zero decimals, keeping at least keep of them.
func trimZeros(s string, keep int) string {
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return s
	}
	end := len(s)
	for end > dot+1+keep && s[end-1] == '0' {
		end--
	}
	if end == dot+1 {
		end = dot
	}
	return s[:end]
}

// sigDecimals is how many decimals show n significant digits of v (≥ 0).
func sigDecimals(v float64, n int) int {
	if v <= 0 {
		return 0
	}
	return max(0, n-1-int(math.Floor(math.Log10(v))))
}

func fmtCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	}
	return strconv.FormatInt(n, 10)
}

// ---- runs -------------------------------------------------------------------

func runRuns(ctx context.Context, env Env) error {
	fs := runsFlagSet("runs", env.Stderr, "runs [--search TEXT] [--model NAME] [--machine NAME|ID] [--tag T] [--status S] [--kind K] [--since DATE] [--until DATE] [--sort KEY] [--asc] [--limit N] [--offset N] [--json]")
	search := fs.String("search", "", "only runs whose prompt contains TEXT")
	modelName := fs.String("model", "", "only runs of this model")
	machine := fs.String("machine", "", "only runs made on this machine (its name or id; see --json's machine fields)")
	tags := fs.String("tag", "", "only runs with all these comma-separated tags")
	status := fs.String("status", "", "only runs with one of these comma-separated statuses (running, completed, failed, cancelled, interrupted, abandoned)")
	kind := fs.String("kind", "", "only runs of these comma-separated kinds (engine, server, window)")
	since := fs.String("since", "", "only runs created at or after DATE (2006-01-02 or RFC 3339)")
	until := fs.String("until", "", "only runs created before DATE")
	sortKey := fs.String("sort", "date", "sort by "+strings.Join(store.SortKeys(), ", "))
	asc := fs.Bool("asc", false, "sort ascending (default: descending)")
	limit := fs.Int("limit", 50, "runs per page (at most 1000)")
	offset := fs.Int("offset", 0, "runs to skip")
	asJSON := fs.Bool("json", false, "print the page as JSON")
	db := storeDBFlag(fs)
	args, err := parseRunArgs(fs, env.Args)
	if err != nil {
		return runsHelpOK(err)
	}
	if len(args) > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, args[0])
	}
	q := store.Query{Search: *search, Model: *modelName, Tags: splitList(*tags), Sort: *sortKey, Asc: *asc, Limit: *limit, Offset: *offset}
	if q.Kinds, err = store.ParseKinds(*kind); err != nil {
		return fmt.Errorf("%w: --kind: %v", ErrUsage, err)
	}
	for _, s := range splitList(*status) {
		q.Status = append(q.Status, profiler.Status(s))
	}
	if q.Since, err = store.ParseDate(*since); err != nil {
		return fmt.Errorf("%w: --since: %v", ErrUsage, err)
	}
	if q.Until, err = store.ParseDate(*until); err != nil {
		return fmt.Errorf("%w: --until: %v", ErrUsage, err)
	}
	if err := store.ValidSort(q.Sort); err != nil {
		return fmt.Errorf("%w: --sort: %v", ErrUsage, err)
	}
	st, err := readRunStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	if *machine != "" {
		if q.Machine, err = resolveMachine(ctx, st, *machine); err != nil {
			return err
		}
	}
	page, err := st.List(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(page)
	}
	if page.Total == 0 {
		fmt.Fprintln(env.Stdout, "no runs match (profile one with 'energyprofiler profile --model DIR --prompt TEXT')")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED (UTC)\tKIND\tMACHINE\tMODEL\tSTATUS\tDURATION s\tENERGY J\tJ/TOKEN\tTOK/S\tENERGY FROM\tTAGS\tPROMPT")
	for _, r := range page.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID[:8], r.CreatedAt.Format("2006-01-02 15:04:05"), r.Kind, orDash(r.MachineName), r.ModelName, r.Status,
			fmtOpt(r.DurationS), fmtOpt(r.TotalEnergyJ), fmtOpt(r.JoulesPerToken), fmtOpt(r.TokensPerSecond), r.EnergyLabel,
			strings.Join(r.Tags, ","), oneLine(r.Prompt, 40))
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "%d–%d of %d runs\n", page.Offset+1, page.Offset+len(page.Runs), page.Total)
	return nil
}

// resolveMachine finds a machine by its name or id (or a prefix of its id).
func resolveMachine(ctx context.Context, st *store.Store, nameOrID string) (string, error) {
	ms, err := st.Machines(ctx)
	if err != nil {
		return "", err
	}
	var found []store.Machine
	for _, m := range ms {
		if m.ID == nameOrID || m.Name == nameOrID {
			return m.ID, nil
		}
		if len(nameOrID) >= 4 && strings.HasPrefix(m.ID, nameOrID) {
			found = append(found, m)
		}
	}
	if len(found) == 1 {
		return found[0].ID, nil
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	return "", fmt.Errorf("%w: no single machine %q (machines with runs: %s)", ErrUsage, nameOrID, strings.Join(names, ", "))
}

func fmtOpt(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmtNum(*v)
}

// loadRun resolves a run id or unique prefix and loads the run.
func loadRun(ctx context.Context, st *store.Store, idOrPrefix string) (*profiler.Record, error) {
	id, err := st.Resolve(ctx, idOrPrefix)
	if err != nil {
		return nil, err
	}
	return st.Get(ctx, id)
}

// ---- show -------------------------------------------------------------------

func runShow(ctx context.Context, env Env) error {
	fs := runsFlagSet("show", env.Stderr, "show RUN [--tokens] [--json]")
	asJSON := fs.Bool("json", false, "print the full record as JSON")
	tokens := fs.Bool("tokens", false, "also list every token with its time and energy")
	db := storeDBFlag(fs)
	args, err := parseRunArgs(fs, env.Args)
	if err != nil {
		return runsHelpOK(err)
	}
	if len(args) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want one run id (or a unique prefix of one)", ErrUsage)
	}
	st, err := readRunStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	rec, err := loadRun(ctx, st, args[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return store.Export(env.Stdout, rec, "json")
	}
	r := rec.Run
	w := env.Stdout
	fmt.Fprintf(w, "Run %s (%s), created %s\n", r.ID, r.Status, r.CreatedAt.Format(time.RFC3339))
	if r.Error != "" {
		fmt.Fprintf(w, "Error: %s\n", r.Error)
	}
	fmt.Fprintf(w, "Kind: %s\n", profiler.KindOf(r.Meta))
	fmt.Fprintf(w, "Model: %s %s\n", r.ModelName, r.ModelPath)
	if r.Note != "" {
		fmt.Fprintf(w, "Note: %s\n", r.Note)
	}
	fmt.Fprintf(w, "Prompt: %s\n", oneLine(r.Prompt, 200))
	s := r.Settings
	if s.Chat != nil {
		fmt.Fprintf(w, "Chat prompt (template from %s): %s\n", s.Chat.Template, oneLine(s.Chat.RenderedPrompt, 300))
	}
	fmt.Fprintf(w, "Settings: depth %s, max tokens %d, greedy %v, idle %gs, power %s, tags %s\n", s.Depth, s.MaxTokens, s.Sampling.Greedy, s.IdleS, s.Power, strings.Join(r.Tags, ","))
	fmt.Fprintf(w, "Host: %s, %s %s, %d CPUs%s\n", r.Host.OS, r.Host.Arch, r.Host.CPU, r.Host.CPUs, prefixed(", GPU ", r.Host.GPU))
	for _, src := range r.Sources {
		fmt.Fprintf(w, "Power source: %s (%s) for %s\n", src.Name, src.Kind, joinDomainList(src.Domains))
	}
	if len(r.Sources) == 0 {
		fmt.Fprintln(w, "Power source: none (every energy is unavailable)")
	}
	fmt.Fprintln(w)
	if rec.Summary != nil {
		printSummary(w, rec.Summary)
		fmt.Fprintln(w)
	}
	if r.External != nil {
		printExternal(w, r.External)
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tDURATION ms\tENERGY J\t± J\tNET J\tFROM")
	for _, p := range rec.Phases {
		g, u, n, l := "—", "—", "—", "unavailable"
		if t := p.Energy.Total; t != nil {
			g, u, l = fmtNum(t.GrossJ), fmtNum(t.UncertaintyJ), t.Label
			if t.NetJ != nil {
				n = netText(rec.Summary, *t.NetJ, "")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Phase, fmtNum(float64(p.EndNs-p.StartNs)/1e6), g, u, n, l)
	}
	tw.Flush()
	if *tokens {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TOKEN\tPHASE\tTEXT\tDURATION ms\tENERGY J\t± J\tFROM")
		for _, t := range rec.Tokens {
			g, u, l := "—", "—", "unavailable"
			if tot := t.Energy.Total; tot != nil {
				g, u, l = fmtNum(tot.GrossJ), fmtNum(tot.UncertaintyJ), tot.Label
			}
			fmt.Fprintf(tw, "%d\t%s\t%q\t%s\t%s\t%s\t%s\n", t.Index, t.Phase, t.Piece, fmtNum(float64(t.WindowEndNs-t.WindowStartNs)/1e6), g, u, l)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\n%d tokens, %d component calls, %d power samples (see 'energyprofiler export %s')\n", len(rec.Tokens), len(rec.Components), len(rec.Samples), r.ID[:8])
	return nil
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func joinDomainList(ds []power.Domain) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d)
	}
	return strings.Join(out, ", ")
}

// ---- export -----------------------------------------------------------------

func runExport(ctx context.Context, env Env) error {
	fs := runsFlagSet("export", env.Stderr, "export RUN --format json|csv|perfetto [-o FILE]")
	format := fs.String("format", "json", "json (full record), csv (zip of one CSV per table) or perfetto (trace-event JSON for ui.perfetto.dev)")
	out := fs.String("o", "", "output file (default: stdout)")
	table := fs.String("table", "", "with --format csv: write only this table as plain CSV ("+strings.Join(store.CSVTables(), ", ")+")")
	db := storeDBFlag(fs)
	args, err := parseRunArgs(fs, env.Args)
	if err != nil {
		return runsHelpOK(err)
	}
	if len(args) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want one run id (or a unique prefix of one)", ErrUsage)
	}
	if _, _, err := store.FormatInfo(*format); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if *table != "" && *format != "csv" {
		return fmt.Errorf("%w: --table goes with --format csv", ErrUsage)
	}
	st, err := readRunStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	rec, err := loadRun(ctx, st, args[0])
	if err != nil {
		return err
	}
	write := func(w io.Writer) error {
		if *table != "" {
			return store.ExportCSVTable(w, rec, *table)
		}
		return store.Export(w, rec, *format)
	}
	if *out == "" || *out == "-" {
		return write(env.Stdout)
	}
	// Write to a temporary file and rename, so a failed export leaves no half file.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".export-*")
	if err != nil {
		return fmt.Errorf("export to %s: %w", *out, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("export to %s: %w", *out, err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("export to %s: %w", *out, err)
	}
	fmt.Fprintf(env.Stderr, "wrote %s\n", *out)
	return nil
}

// ---- compare ----------------------------------------------------------------

func runCompare(ctx context.Context, env Env) error {
	fs := runsFlagSet("compare", env.Stderr, "compare RUN RUN… [--by-machine] [--json]   (2–4 arguments; a comma-separated list of runs, or group:ID for the runs of one 'profile --repeat', is one group)")
	asJSON := fs.Bool("json", false, "print the comparison as JSON")
	byMachine := fs.Bool("by-machine", false, "pool the runs and compare them grouped by the machine they ran on (2–4 machines)")
	db := storeDBFlag(fs)
	args, err := parseRunArgs(fs, env.Args)
	if err != nil {
		return runsHelpOK(err)
	}
	if (len(args) < 2 && !*byMachine) || len(args) < 1 || len(args) > 4 {
		fs.Usage()
		return fmt.Errorf("%w: compare takes 2 to 4 runs or comma-separated groups of runs, got %d", ErrUsage, len(args))
	}
	st, err := readRunStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	var groups []store.CompareGroup
	for _, arg := range args {
		members := splitList(arg)
		repeat, isRepeat := strings.CutPrefix(arg, "group:")
		if isRepeat {
			if members, err = st.RepeatGroup(ctx, repeat); err != nil {
				return err
			}
		}
		var ids []string
		for _, idp := range members {
			id, err := st.Resolve(ctx, idp)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return fmt.Errorf("%w: empty group %q", ErrUsage, arg)
		}
		groups = append(groups, store.CompareGroup{IDs: ids, Repeat: repeat})
	}
	c, err := st.Compare(ctx, groups, *byMachine)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "METRIC")
	for _, g := range c.Groups {
		fmt.Fprintf(tw, "\t%s (n=%d)", g.Label, len(g.RunIDs))
	}
	fmt.Fprintln(tw)
	for _, name := range c.Metrics {
		fmt.Fprint(tw, name)
		for _, g := range c.Groups {
			fmt.Fprintf(tw, "\t%s", fmtStat(g.Metrics[name]))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, w := range c.Warnings {
		fmt.Fprintf(env.Stdout, "\nWarning: %s\n", w)
	}
	fmt.Fprintln(env.Stdout, "\nWelch's t-test (two-sided):")
	for _, t := range c.Tests {
		if t.P == nil {
			fmt.Fprintf(env.Stdout, "  %s: %s vs %s: %s\n", t.Metric, t.A, t.B, t.Note)
			continue
		}
		fmt.Fprintf(env.Stdout, "  %s: %s vs %s: t = %.3f, df = %.1f, p = %.4g\n", t.Metric, t.A, t.B, *t.T, *t.DF, *t.P)
	}
	return nil
}

func fmtStat(s profiler.Stat) string {
	if s.Mean == nil {
		return "unavailable"
	}
	out := fmtNum(*s.Mean)
	if s.CI95Low != nil {
		out += " ± " + fmtNum(*s.CI95High-*s.Mean)
	}
	if s.Normalized != nil {
		out += fmt.Sprintf(" (×%.3g)", *s.Normalized)
	}
	return out
}

func printGroupStats(w io.Writer, g profiler.GroupStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	names := make([]string, 0, len(g.Metrics))
	for n := range g.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := g.Metrics[n]
		fmt.Fprintf(tw, "  %s\t%s %s\t%s\n", n, fmtStat(s), s.Unit, s.Label)
	}
	tw.Flush()
}

// ---- delete -----------------------------------------------------------------

func runDelete(ctx context.Context, env Env) error {
	fs := runsFlagSet("delete", env.Stderr, "delete RUN")
	db := storeDBFlag(fs)
	args, err := parseRunArgs(fs, env.Args)
	if err != nil {
		return runsHelpOK(err)
	}
	if len(args) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want one run id (or a unique prefix of one)", ErrUsage)
	}
	st, err := editRunStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	id, err := st.Resolve(ctx, args[0])
	if err != nil {
		return err
	}
	if err := st.Delete(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "deleted run %s and everything it owned\n", id)
	return nil
}
