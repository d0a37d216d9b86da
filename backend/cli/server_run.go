package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"energyprofiler/backend/external"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/session"
)

// serverFlags are profile's flags for a server run.
type serverFlags struct {
	endpoint string
	api      string
	chat     bool
	stall    time.Duration
}

func (f *serverFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoint, "endpoint", "", "profile a request to an inference server: its URL (http://127.0.0.1:8080/v1, http://127.0.0.1:11434) or a saved endpoint's name (see 'energyprofiler endpoints')")
	fs.StringVar(&f.api, "api", "", "with --endpoint: openai or ollama (default: ollama on port 11434, else openai)")
	fs.BoolVar(&f.chat, "chat", false, "send the prompt as one user message: formatted by the model's own chat template (stopping at its end-of-turn tokens), or with --endpoint through the server's chat API (/chat/completions, /api/chat)")
	fs.DurationVar(&f.stall, "stall-timeout", external.DefaultStallTimeout, "with --endpoint: fail when the server sends nothing for this long")
}

type serverRun struct {
	model, prompt, tags, powerSpec string
	maxTokens                      int
	interval, idle                 time.Duration
	temperature                    float64
	seed                           uint64
	asJSON                         bool
	db                             string
}

// resolveEndpoint finds a saved endpoint by name (or the default ollama),
// or reads a URL.
func resolveEndpoint(nameOrURL, api string) (external.Endpoint, error) {
	if !strings.Contains(nameOrURL, "://") {
		path, err := external.DefaultPath()
		if err != nil {
			return external.Endpoint{}, err
		}
		cfg, err := external.Load(path)
		if err != nil {
			return external.Endpoint{}, err
		}
		if e, ok := cfg.Find(nameOrURL); ok {
			return e, nil
		}
		if nameOrURL == "ollama" {
			return external.DefaultOllama(), nil
		}
		return external.Endpoint{}, fmt.Errorf("%w: --endpoint %q is neither a URL nor a saved endpoint (see 'energyprofiler endpoints list')", ErrUsage, nameOrURL)
	}
	e := external.Endpoint{URL: nameOrURL, API: api}
	if err := e.Check(false); err != nil {
		return e, fmt.Errorf("%w: --endpoint: %v", ErrUsage, err)
	}
	return e, nil
}

// profileServer profiles one request to an inference server and stores it.
func profileServer(ctx context.Context, env Env, fs *flag.FlagSet, f serverFlags, r serverRun) error {
	switch {
	case r.model == "":
		return fmt.Errorf("%w: --model NAME is required: the model as the server names it (list them with 'energyprofiler endpoints models %s')", ErrUsage, f.endpoint)
	case r.prompt == "":
		return fmt.Errorf("%w: --prompt TEXT is required", ErrUsage)
	case r.maxTokens <= 0:
		return fmt.Errorf("%w: --max-tokens must be positive, got %d", ErrUsage, r.maxTokens)
	case f.api != "" && f.api != external.APIOpenAI && f.api != external.APIOllama:
		return fmt.Errorf("%w: --api %q: use openai or ollama", ErrUsage, f.api)
	case r.idle < 0:
		return fmt.Errorf("%w: --idle cannot be negative", ErrUsage)
	}
	unsupported := map[string]bool{"depth": true, "repeat": true, "ignore-eos": true, "top-k": true, "threads": true}
	var bad []string
	powerGiven := false
	fs.Visit(func(fl *flag.Flag) {
		if unsupported[fl.Name] {
			bad = append(bad, "--"+fl.Name)
		}
		if fl.Name == "power" {
			powerGiven = true
		}
	})
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s do not apply to a server run (the server chooses how it runs)", ErrUsage, strings.Join(bad, ", "))
	}
	ep, err := resolveEndpoint(f.endpoint, f.api)
	if err != nil {
		return err
	}
	if f.api != "" && ep.Name != "" && f.api != ep.API {
		return fmt.Errorf("%w: --api %s: the saved endpoint %s speaks %s", ErrUsage, f.api, ep.Name, ep.API)
	}
	remote := !external.IsLocal(ctx, ep.URL)
	if remote && !powerGiven {
		host := ep.URL
		if u, err := url.Parse(ep.URL); err == nil {
			host = u.Host
		}
		return fmt.Errorf("%w: %s is another machine: this machine's power sources do not see its power. To record this machine's energy while it waits anyway, pass --power explicitly (e.g. --power auto); the run says so", ErrUsage, host)
	}
	req := external.Request{Endpoint: ep, Model: r.model, Prompt: r.prompt, Chat: f.chat, MaxTokens: r.maxTokens, StallTimeout: f.stall}
	if r.temperature > 0 || fsSet(fs, "temperature") {
		t := r.temperature
		req.Temperature = &t
	}
	if fsSet(fs, "seed") {
		seed := int64(r.seed)
		req.Seed = &seed
	}
	st, err := openRunStore(r.db)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := session.New(ctx, session.Options{PowerSpec: r.powerSpec, SampleInterval: r.interval, Recorder: st,
		Logger: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer svc.Close()
	idle := r.idle
	if idle == 0 {
		idle = -1
	}
	name := r.model
	if ep.Name != "" {
		name = ep.Name + ":" + r.model
	}
	if remote {
		fmt.Fprintf(env.Stderr, "note: %s\n", external.RemotePowerNote(ep.URL))
	}
	fmt.Fprintf(env.Stderr, "profiling %s at %s (%s %s)…\n", r.model, external.Redact(ep.URL), ep.API, req.Route())
	sum, stream, perr := svc.ProfileServer(ctx, session.ServerRequest{Server: req, ModelName: name, Tags: splitList(r.tags), Idle: idle, Remote: remote}, nil)
	if ferr := st.Flush(context.WithoutCancel(ctx)); ferr != nil {
		return errors.Join(perr, fmt.Errorf("the run could not be stored: %w", ferr))
	}
	if sum == nil {
		return perr
	}
	if perr != nil {
		return fmt.Errorf("run %s stopped (stored as %s): %w", sum.RunID, sum.Status, perr)
	}
	if r.asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Fprintf(env.Stdout, "Output: %s\n\n", oneLine(stream.Text(), 300))
	printSummary(env.Stdout, sum)
	rec, err := st.Get(ctx, sum.RunID)
	if err == nil && rec.Run.External != nil {
		printExternal(env.Stdout, rec.Run.External)
	}
	return nil
}

func fsSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// countText shows a token count, or "unavailable" when it was not measured.
func countText(n int, source string) string {
	if strings.HasPrefix(source, "unavailable") {
		return "unavailable"
	}
	return strconv.Itoa(n)
}

// printExternal describes a server run's server side.
func printExternal(w io.Writer, x *profiler.External) {
	fmt.Fprintf(w, "Server: %s%s (%s), model %s as the server names it\n", x.Endpoint, x.Route, x.API, x.ServerModel)
	fmt.Fprintf(w, "  %d chunks with text, %d split evenly between several tokens; finish reason %q\n", x.Chunks, x.SplitChunks, x.FinishReason)
	if x.PowerNote != "" {
		fmt.Fprintf(w, "  energy: %s\n", x.PowerNote)
	}
	for _, k := range sortedStrings(x.ServerTimings) {
		fmt.Fprintf(w, "  server timing %s = %s\n", k, fmtNum(x.ServerTimings[k]))
	}
	for _, n := range x.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	fmt.Fprintf(w, "  layers and components: %s\n", profiler.UnavailableExternal)
}

func sortedStrings[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ---- endpoints ----------------------------------------------------------

func runEndpoints(ctx context.Context, env Env) error {
	usage := func() {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler endpoints list [--json]")
		fmt.Fprintln(env.Stderr, "       energyprofiler endpoints add NAME URL [--api openai|ollama] [--key-env VAR]")
		fmt.Fprintln(env.Stderr, "       energyprofiler endpoints remove NAME")
		fmt.Fprintln(env.Stderr, "       energyprofiler endpoints models NAME|URL [--api openai|ollama]")
		fmt.Fprintln(env.Stderr, "Saved endpoints live in "+endpointsPathHint()+"; their models show in the dashboard as NAME:MODEL.")
		fmt.Fprintln(env.Stderr, "A key is read from the environment variable --key-env names when a request is made; it is never stored.")
	}
	if len(env.Args) == 0 {
		usage()
		return fmt.Errorf("%w: want list, add, remove or models", ErrUsage)
	}
	fs := flag.NewFlagSet("endpoints "+env.Args[0], flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = usage
	api := fs.String("api", "", "openai or ollama (default: ollama on port 11434, else openai)")
	keyEnv := fs.String("key-env", "", "environment variable holding the API key")
	asJSON := fs.Bool("json", false, "print JSON")
	args, err := parseInterspersed(fs, env.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	path, err := external.DefaultPath()
	if err != nil {
		return err
	}
	cfg, err := external.Load(path)
	if err != nil {
		return err
	}
	switch env.Args[0] {
	case "list":
		probes := external.ProbeAll(ctx, nil, cfg.WithDefaultOllama(), 2*time.Second)
		if *asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"file": path, "endpoints": probes})
		}
		printProbes(env.Stdout, path, probes)
		return nil
	case "add":
		if len(args) != 2 {
			usage()
			return fmt.Errorf("%w: endpoints add NAME URL", ErrUsage)
		}
		e := external.Endpoint{Name: args[0], URL: args[1], API: *api, KeyEnv: *keyEnv}
		if err := e.Check(true); err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		kept := cfg.Endpoints[:0]
		for _, old := range cfg.Endpoints {
			if old.Name != e.Name {
				kept = append(kept, old)
			}
		}
		cfg.Endpoints = append(kept, e)
		if err := external.Save(path, cfg); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "saved endpoint %s: %s (%s)%s in %s\n", e.Name, e.URL, e.API, keyNote(e), path)
		return nil
	case "remove":
		if len(args) != 1 {
			usage()
			return fmt.Errorf("%w: endpoints remove NAME", ErrUsage)
		}
		if _, ok := cfg.Find(args[0]); !ok {
			return fmt.Errorf("no saved endpoint %q (see 'energyprofiler endpoints list')", args[0])
		}
		kept := cfg.Endpoints[:0]
		for _, old := range cfg.Endpoints {
			if old.Name != args[0] {
				kept = append(kept, old)
			}
		}
		cfg.Endpoints = kept
		if err := external.Save(path, cfg); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "removed endpoint %s\n", args[0])
		return nil
	case "models":
		if len(args) != 1 {
			usage()
			return fmt.Errorf("%w: endpoints models NAME|URL", ErrUsage)
		}
		e, err := resolveEndpoint(args[0], *api)
		if err != nil {
			return err
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		models, err := external.ListModels(lctx, nil, e)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(models)
		}
		for _, m := range models {
			fmt.Fprintln(env.Stdout, m.Name)
		}
		return nil
	}
	usage()
	return fmt.Errorf("%w: unknown subcommand %q", ErrUsage, env.Args[0])
}

func endpointsPathHint() string {
	if p, err := external.DefaultPath(); err == nil {
		return p
	}
	return "endpoints.json in the configuration folder"
}

func keyNote(e external.Endpoint) string {
	if e.KeyEnv == "" {
		return ""
	}
	return ", key from $" + e.KeyEnv
}

func printProbes(w io.Writer, path string, probes []external.Probe) {
	fmt.Fprintf(w, "Inference servers (saved in %s; an ollama on its default port is found without saving):\n", path)
	if len(probes) == 0 {
		fmt.Fprintln(w, "  none: save one with 'energyprofiler endpoints add NAME URL', or start ollama")
		return
	}
	for _, p := range probes {
		state := "reachable"
		if !p.Reachable {
			state = "unreachable"
		}
		where := "this machine"
		if !p.Local {
			where = "another machine (its energy is not measured here)"
		}
		fmt.Fprintf(w, "  %-12s %-11s %s (%s) on %s%s\n", p.Endpoint.Name, state, external.Redact(p.Endpoint.URL), p.Endpoint.API, where, keyNote(p.Endpoint))
		if p.Endpoint.KeyEnv != "" && !p.KeySet {
			fmt.Fprintf(w, "      key:  $%s is not set\n", p.Endpoint.KeyEnv)
		}
		if p.Error != "" {
			fmt.Fprintf(w, "      why:  %s\n", p.Error)
		}
		if len(p.Models) > 0 {
			var names []string
			for _, m := range p.Models {
				names = append(names, p.Endpoint.Name+":"+m.Name)
			}
			fmt.Fprintf(w, "      models: %s\n", strings.Join(names, ", "))
		}
	}
}
