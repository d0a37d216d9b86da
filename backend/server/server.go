// Package server assembles a running Energy Profiler: the store, the power
// samplers, the profiling session service, the run queue and the API
// handler. The headless `serve` command and the desktop app both start one,
// so they behave the same.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"energyprofiler/backend/api"
	"energyprofiler/backend/chat"
	"energyprofiler/backend/demo"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/external"
	"energyprofiler/backend/modeldir"
	"energyprofiler/backend/modelstore"
	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/queue"
	"energyprofiler/backend/session"
	"energyprofiler/backend/store"
	"energyprofiler/backend/windows"
)

// Config says where things live. Zero values mean the defaults.
type Config struct {
	Version   string
	DBPath    string // a file or a postgres:// URL; default $ENERGYPROFILER_DB, else store.DefaultPath()
	ModelsDir string // default ~/EnergyProfiler/models
	PowerSpec string // default "auto"
	Power     power.Options
	Threads   int
	// Backend is the compute backend of runs that name none (auto, cpu, metal).
	Backend string
	// NoDemo skips writing the demo models into an empty models folder.
	NoDemo bool
	// QuantizedDemos also writes the quantized demo GGUF files (Q8_0,
	// Q4_K_M of demo-110m-gqa) into a demo-only models folder, so the
	// dashboard can compare quantized and BF16 runs out of the box. The
	// quantizer takes about ten seconds of CPU once; it runs before the
	// server accepts runs, so it never loads the machine during a profile.
	QuantizedDemos bool
	// Stores are the other tools' model stores listed beside the models
	// folder; nil means where those tools keep them for this user.
	Stores *modelstore.Roots
	Logger *slog.Logger
	// Progress receives human-readable start-up progress (demo model
	// generation); nil discards it.
	Progress io.Writer
	// EndpointsPath is the saved endpoints file (default
	// external.DefaultPath()).
	EndpointsPath string
}

// Server is the assembled backend.
type Server struct {
	Config  Config
	Store   *store.Store
	Session *session.Service
	Queue   *queue.Queue
	// Windows holds the open energy windows.
	Windows *windows.Registry
	http    *http.Client
	cancel  context.CancelFunc
	host    profiler.Host // this machine, for runs queued before they start
	watts   atomic.Pointer[Watts]
	// last is the most recent request run, for Quick Profile and drops.
	last atomic.Pointer[api.GenerateRequest]
}

// Start opens the database, prepares the models folder, starts the power
// samplers and the run queue. Close releases everything.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	cfg.Power = session.PowerOptions(cfg.Power)
	var err error
	if cfg.DBPath, err = store.Location(cfg.DBPath); err != nil {
		return nil, err
	}
	if cfg.ModelsDir == "" {
		if cfg.ModelsDir, err = modeldir.Default(); err != nil {
			return nil, err
		}
	}
	if !cfg.NoDemo {
		if err := EnsureDemoModels(cfg.ModelsDir, cfg.Progress); err != nil {
			return nil, err
		}
		if cfg.QuantizedDemos {
			if err := EnsureQuantizedDemos(cfg.ModelsDir, cfg.Progress); err != nil {
				return nil, err
			}
		}
	}

	st, err := store.Open(cfg.DBPath)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	svc, err := session.New(ctx, session.Options{
		PowerSpec: cfg.PowerSpec, Power: cfg.Power, Recorder: st, Threads: cfg.Threads, Backend: cfg.Backend, Logger: cfg.Logger,
	})
	if err != nil {
		cancel()
		st.Close()
		return nil, err
	}
	if cfg.EndpointsPath == "" {
		if cfg.EndpointsPath, err = external.DefaultPath(); err != nil {
			cancel()
			svc.Close()
			st.Close()
			return nil, err
		}
	}
	s := &Server{Config: cfg, Store: st, Session: svc, cancel: cancel, http: &http.Client{}, host: profiler.DetectHost()}
	s.Windows = windows.New(svc.StartWindow)
	s.Windows.Flush = func() error { return st.Flush(context.Background()) }
	if err := st.Problem(); err != nil {
		cfg.Logger.Warn("runs cannot be stored; new runs are refused until this is fixed", "err", err)
	}
	s.Queue = queue.New(ctx, s.execute, queue.Options{Accept: s.accept, Ended: s.ended})
	go s.relayPower(ctx)
	if st.Shared() {
		go s.reap(ctx)
	}
	return s, nil
}

// reap marks the runs of stores that died elsewhere as interrupted, now and
// then: in a shared database, other machines' stores may die at any time,
// and nothing else would notice while this server runs.
func (s *Server) reap(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Store.Reap(ctx); err != nil && ctx.Err() == nil {
				s.Config.Logger.Warn("could not mark interrupted runs", "err", err)
			}
		}
	}
}

// relayPower sends every power sample to the live stream, runs or not, so
// the dashboard's power timeline and the menu-bar watts are always current.
func (s *Server) relayPower(ctx context.Context) {
	sub := s.Session.Power().Subscribe(256)
	defer sub.Close()
	latest := map[string]float64{}
	for {
		select {
		case smp, ok := <-sub.C():
			if !ok {
				return
			}
			data := session.PowerData(smp, latest)
			s.Queue.Broadcast("power", data)
			if w, ok := data["total_w"].(float64); ok {
				s.watts.Store(&Watts{Total: w, Kind: smp.Kind, Source: smp.Source})
			}
		case <-ctx.Done():
			return
		}
	}
}

// Watts is the machine's latest total power and where it came from.
type Watts struct {
	Total  float64
	Kind   power.Kind
	Source string
}

// LatestWatts returns the latest total power, or ok=false before the first
// sample (or when no source reports power).
func (s *Server) LatestWatts() (w Watts, ok bool) {
	p := s.watts.Load()
	if p == nil {
		return Watts{}, false
	}
	return *p, true
}

// Close stops the queue (cancelling queued runs), the samplers and the
// store, in that order, so the last run is stored before the database closes.
func (s *Server) Close() error {
	s.cancel()
	<-s.Queue.Stopped()
	s.Windows.Close()
	errs := []error{s.Session.Close(), s.Store.Close()}
	return errors.Join(errs...)
}

// accept stores a run as queued the moment it is accepted, so every run_id
// handed out can be found later, whatever happens to the run. A database
// that cannot be written refuses the run before any inference.
func (s *Server) accept(job *queue.Job) error {
	req, ok := job.Request.(api.GenerateRequest)
	if !ok {
		return fmt.Errorf("job %s: unexpected request type %T", job.ID, job.Request)
	}
	if err := s.Store.Problem(); err != nil {
		return fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	sr := SessionRequest(req)
	info := profiler.RunInfo{ID: job.ID, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Sources: []profiler.SourceUse{}, Host: s.host,
		Meta: profiler.Meta{ModelName: req.ModelName, ModelPath: req.ModelPath, Prompt: req.Prompt, Tags: nonNilTags(req.Tags),
			Settings: profiler.Settings{Depth: sr.Depth, MaxTokens: sr.MaxTokens, Sampling: sr.Sampling, Power: s.Config.PowerSpec,
				PriceUSDPerKWh: sr.PriceUSDPerKWh, CO2GPerKWh: sr.CO2GPerKWh, CO2Preset: sr.CO2Preset, RepeatGroup: sr.RepeatGroup}}}
	if t, ok := req.Target.(*ServerTarget); ok {
		x := serverRequest(req, t, nil)
		info.Kind, info.External, info.Settings.Depth = profiler.KindServer, external.Describe(x.Server, t.Remote), "off"
	}
	if err := s.Store.Queued(context.Background(), info); err != nil {
		if errors.Is(err, store.ErrNotWritable) {
			return fmt.Errorf("%w: %v", api.ErrUnavailable, err)
		}
		return err
	}
	return nil
}

// ended gives a run that ended without the profiler recording it (cancelled
// while queued, a model that failed to load, a server shutting down) its
// terminal state and reason; a run the profiler recorded is left alone.
func (s *Server) ended(job *queue.Job, state queue.State, err error) {
	var status profiler.Status
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	switch state {
	case queue.StateDone:
		return
	case queue.StateCancelled:
		status = profiler.StatusCancelled
		if errors.Is(err, context.Canceled) && !errors.Is(err, queue.ErrShutdown) {
			reason = "cancelled before it started"
		}
	default:
		status = profiler.StatusFailed
		s.Config.Logger.Error("run failed", "run_id", job.ID, "err", err)
	}
	if err := s.Store.EndQueued(context.Background(), job.ID, status, reason); err != nil {
		s.Config.Logger.Error("could not store the end of a run", "run_id", job.ID, "status", status, "err", err)
	}
}

func nonNilTags(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}

// execute runs one queued API request.
func (s *Server) execute(ctx context.Context, job *queue.Job, emit func(queue.Event)) (any, error) {
	req, ok := job.Request.(api.GenerateRequest)
	if !ok {
		return nil, fmt.Errorf("job %s: unexpected request type %T", job.ID, job.Request)
	}
	if req.Target == nil {
		s.last.Store(&req)
	}
	if req.Cooldown > 0 {
		// A repeat after the first waits for the machine to cool back
		// toward where the group started.
		emit(queue.Event{JobID: job.ID, Type: "cooldown", Data: map[string]any{
			"seconds": req.Cooldown.Seconds(), "repeat_index": req.RepeatIndex, "repeat_count": req.RepeatCount, "repeat_group": req.RepeatGroup}})
		select {
		case <-time.After(req.Cooldown):
		case <-ctx.Done():
			return nil, fmt.Errorf("cancelled while cooling down before repeat %d of %d: %w", req.RepeatIndex, req.RepeatCount, ctx.Err())
		}
	}
	var result any
	var err error
	if t, ok := req.Target.(*ServerTarget); ok {
		result, err = s.Session.ExecuteServer(ctx, job.ID, serverRequest(req, t, s.http), emit)
	} else {
		result, err = s.Session.Execute(ctx, job.ID, SessionRequest(req), emit)
	}
	// Inference never waits on disk, but once a run is reported done it must
	// be readable, so wait for the writer here, after generation.
	if ferr := s.Store.Flush(context.WithoutCancel(ctx)); ferr != nil {
		return result, errors.Join(err, fmt.Errorf("store run %s: %w", job.ID, ferr))
	}
	return result, err
}

// SessionRequest converts an API request into a session request.
func SessionRequest(r api.GenerateRequest) session.Request {
	out := session.Request{
		ModelPath: r.ModelPath,
		ModelName: r.ModelName,
		Prompt:    r.Prompt,
		MaxTokens: r.MaxLength,
		Depth:     r.ProfilingDepth,
		Tags:      r.Tags,
		Sampling:  profiler.Sampling{Greedy: true},
		CO2Preset: r.CO2Preset,

		RepeatGroup: r.RepeatGroup,
		Backend:     r.Backend,
		Chat:        r.Chat != nil && *r.Chat,
		Messages:    r.Messages,
	}
	if r.OnToken != nil {
		out.OnToken = func(ev engine.TokenEvent) { r.OnToken(ev.Piece) }
	}
	if r.PriceUSDPerKWh != nil {
		out.PriceUSDPerKWh = *r.PriceUSDPerKWh
	}
	if r.CO2GPerKWh != nil {
		out.CO2GPerKWh = *r.CO2GPerKWh
	} else if g, err := profiler.CO2Preset(r.CO2Preset); err == nil {
		out.CO2GPerKWh = g
	}
	if r.Temperature != nil && *r.Temperature > 0 && (r.Greedy == nil || !*r.Greedy) {
		out.Sampling = profiler.Sampling{Temperature: *r.Temperature}
		if r.TopP != nil {
			out.Sampling.TopP = *r.TopP
		}
		if r.TopK != nil {
			out.Sampling.TopK = *r.TopK
		}
		if r.Seed != nil {
			out.Sampling.Seed = *r.Seed
		}
	}
	if r.IdleS != nil {
		out.Idle = time.Duration(*r.IdleS * float64(time.Second))
		if *r.IdleS == 0 {
			out.Idle = -1 // explicitly skipped
		}
	}
	return out
}

// EnsureDemoModels writes the demo models into dir when it holds no model
// folder yet, so a fresh install has something to profile. A folder that
// holds only demo models gets the demo models it lacks (a newer version
// adds one); a folder with any other model is left alone.
func EnsureDemoModels(dir string, progress io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create models folder %s: %w", dir, err)
	}
	entries, err := modeldir.List(dir)
	if err != nil {
		return err
	}
	missing := demosToWrite(entries)
	if len(missing) == 0 {
		return nil
	}
	if len(entries) == 0 {
		fmt.Fprintf(progress, "The models folder %s is empty: writing the built-in demo models (random weights, meaningless text).\n", dir)
	}
	for _, s := range missing {
		fmt.Fprintf(progress, "  writing %s (%s)\n", s.Name, s.Description)
		if _, err := demo.WriteSpec(dir, s); err != nil {
			return fmt.Errorf("write demo models into %s: %w", dir, err)
		}
	}
	return nil
}

// EnsureQuantizedDemos writes the quantized demo GGUF files that a
// demo-only models folder lacks (a folder with any other model is left
// alone, as in EnsureDemoModels).
func EnsureQuantizedDemos(dir string, progress io.Writer) error {
	entries, err := modeldir.List(dir)
	if err != nil {
		return err
	}
	for _, q := range quantDemosToWrite(entries) {
		fmt.Fprintf(progress, "  writing %s (%s; quantizing takes a few seconds, once)\n", q.Name, q.Description)
		if _, err := demo.WriteQuantized(dir, q); err != nil {
			return fmt.Errorf("write quantized demo models into %s: %w", dir, err)
		}
	}
	return nil
}

// quantDemosToWrite is the quantized demos a models folder holding entries
// lacks, or none when it holds any model that is not a demo.
func quantDemosToWrite(entries []modeldir.Entry) []demo.QuantSpec {
	have, onlyDemos := demoNames(entries)
	if !onlyDemos {
		return nil
	}
	var missing []demo.QuantSpec
	for _, q := range demo.QuantSpecs() {
		if !have[q.FileName()] {
			missing = append(missing, q)
		}
	}
	return missing
}

// demoNames is the set of entry names, and whether every entry is a demo
// (a folder with a model of the user's gets no demo written into it).
func demoNames(entries []modeldir.Entry) (names map[string]bool, onlyDemos bool) {
	names = map[string]bool{}
	for _, e := range entries {
		if !e.Demo {
			return nil, false
		}
		names[e.Name] = true
	}
	return names, true
}

// demosToWrite is the demo models a models folder holding entries lacks,
// or none when it holds any model that is not a demo.
func demosToWrite(entries []modeldir.Entry) []demo.Spec {
	have, onlyDemos := demoNames(entries)
	if !onlyDemos {
		return nil
	}
	var missing []demo.Spec
	for _, s := range demo.Specs() {
		if !have[s.Name] {
			missing = append(missing, s)
		}
	}
	return missing
}

// Handler returns the API handler for this server: opts carries what differs
// per transport (port, token, frontend, Trusted for the desktop window's
// private asset server); the server fills in its store, models and queue.
func (s *Server) Handler(opts api.Options) *api.Handler {
	opts.Version = s.Config.Version
	opts.DBPath = s.Store.Path()
	opts.ModelsDir = s.Config.ModelsDir
	opts.Store = runStore{s.Store}
	opts.Push = runStore{s.Store}
	opts.Tokens = func(ctx context.Context, secret string) (api.Principal, bool, error) {
		t, ok, err := s.Store.CheckToken(ctx, secret)
		return api.Principal{Name: t.Name, Role: t.Role}, ok, err
	}
	opts.Models = models{s.catalog}
	opts.Queue = s.Queue
	opts.Windows = s.Windows
	opts.StoreProblem = s.Store.Problem
	opts.CheckPrompt = func(_ context.Context, path, prompt string, chat bool) error {
		err := s.Session.CheckPrompt(path, prompt, chat)
		if errors.Is(err, session.ErrPromptTooLong) || errors.Is(err, session.ErrChat) {
			return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
		return err
	}
	opts.CheckMessages = func(_ context.Context, path string, msgs []chat.Message) error {
		err := s.Session.CheckMessages(path, msgs)
		if errors.Is(err, session.ErrPromptTooLong) || errors.Is(err, session.ErrChat) {
			return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
		}
		return err
	}
	if opts.PowerSpec == "" {
		opts.PowerSpec = s.Config.PowerSpec
	}
	opts.Servers = servers{path: s.Config.EndpointsPath, powerSpec: opts.PowerSpec, http: s.http, selfPort: opts.Port, onDisk: s.onDisk}
	powerOpts := s.Config.Power
	opts.PowerSources = func() []api.SourceHealth { return Health(powerOpts) }
	if opts.Logger == nil {
		opts.Logger = s.Config.Logger
	}
	return api.New(opts)
}

// Health describes every power source for /api/health.
func Health(opts power.Options) []api.SourceHealth {
	out := []api.SourceHealth{}
	for _, info := range power.Health(opts) {
		h := api.SourceHealth{Name: info.Name, Kind: string(info.Kind), Available: info.Available, Reason: info.Reason, Fix: info.Fix, Domains: []string{}}
		for _, d := range info.Domains {
			h.Domains = append(h.Domains, string(d))
		}
		out = append(out, h)
	}
	return out
}

// runStore adapts the store to the API.
type runStore struct{ st *store.Store }

func (r runStore) ListRuns(ctx context.Context, q api.RunQuery) (api.RunPage, error) {
	sq := store.Query{Search: q.Search, Model: q.Model, Machine: q.Machine, Tags: q.Tags, Since: q.From, Until: q.To,
		Sort: q.Sort, Asc: !q.Desc, Limit: q.Limit, Offset: q.Offset, Kinds: q.Kinds}
	if sq.Sort == "created_at" {
		sq.Sort = "date"
	}
	if q.Status != "" {
		sq.Status = []profiler.Status{profiler.Status(q.Status)}
	}
	page, err := r.st.List(ctx, sq)
	if err != nil {
		return api.RunPage{}, err
	}
	out := api.RunPage{Total: page.Total, Runs: make([]api.RunListItem, 0, len(page.Runs))}
	for _, row := range page.Runs {
		item := api.RunListItem{
			ID: row.ID, Created: row.CreatedAt, ModelName: row.ModelName, Prompt: row.Prompt,
			DurationS: row.DurationS, TotalEnergyJ: row.TotalEnergyJ, JoulesPerToken: row.JoulesPerToken,
			TokensPerSecond: row.TokensPerSecond, InputTokens: row.InputTokens, OutputTokens: row.OutputTokens,
			EnergyLabel: row.EnergyLabel, Tags: row.Tags, Status: string(row.Status),
			Depth: row.Depth, Backend: row.Backend, Dtype: row.Dtype, RepeatGroup: row.RepeatGroup, Kind: row.Kind,
			MachineID: row.MachineID, MachineName: row.MachineName, PowerSources: row.PowerSources,
		}
		// The summary's own definitions: tokens per joule is output tokens
		// over the run's energy, J/token is that energy over output tokens.
		if row.JoulesPerToken != nil && *row.JoulesPerToken > 0 {
			tpj := 1 / *row.JoulesPerToken
			item.TokensPerJoule = &tpj
			if row.TokensPerSecond != nil && *row.TokensPerSecond > 0 {
				edp := *row.JoulesPerToken / *row.TokensPerSecond
				item.EDPPerTokenJS = &edp
			}
		}
		out.Runs = append(out.Runs, item)
	}
	return out, nil
}

func (r runStore) get(ctx context.Context, id string) (*profiler.Record, error) {
	rec, err := r.st.Get(ctx, id)
	return rec, apiError(err, id)
}

// apiError tells the API which status a store error deserves.
func apiError(err error, id string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: run %q", api.ErrNotFound, id)
	case errors.Is(err, store.ErrNotWritable):
		return fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	case errors.Is(err, store.ErrCannotCompare), errors.Is(err, store.ErrInvalidRun):
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return err
}

func (r runStore) GetRun(ctx context.Context, id string) (any, error) { return r.get(ctx, id) }

// GetRunOmitting loads a run without the parts named (components, layers,
// routing).
func (r runStore) GetRunOmitting(ctx context.Context, id string, omit []string) (any, error) {
	var o store.Omit
	for _, part := range omit {
		switch part {
		case "components":
			o.Components = true
		case "layers":
			o.Layers = true
		case "routing":
			o.Routing = true
		}
	}
	rec, err := r.st.GetOmitting(ctx, id, o)
	return rec, apiError(err, id)
}

func (r runStore) DeleteRun(ctx context.Context, id string) error {
	return apiError(r.st.Delete(ctx, id), id)
}

func (r runStore) ExportRun(ctx context.Context, id, format, table string) (api.Export, error) {
	contentType, ext, err := store.FormatInfo(format)
	if err != nil {
		return api.Export{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if table != "" {
		if !slices.Contains(store.CSVTables(), table) {
			return api.Export{}, fmt.Errorf("%w: table %q: use one of %s", api.ErrBadRequest, table, strings.Join(store.CSVTables(), ", "))
		}
		contentType, ext = "text/csv; charset=utf-8", "-"+table+".csv"
	}
	rec, err := r.get(ctx, id)
	if err != nil {
		return api.Export{}, err
	}
	var b strings.Builder
	if table != "" {
		err = store.ExportCSVTable(&b, rec, table)
	} else {
		err = store.Export(&b, rec, format)
	}
	if err != nil {
		return api.Export{}, fmt.Errorf("export run %s as %s: %w", id, format, err)
	}
	return api.Export{ContentType: contentType, Filename: "energyprofiler-" + id + ext, Data: []byte(b.String())}, nil
}

// CompareRuns compares runs. An argument "a+b+c" is one group of runs, and
// "group:ID" is every run of one repeat group (a unique prefix will do).
// Groups whose recorded thermal and power conditions differ get warnings.
func (r runStore) CompareRuns(ctx context.Context, ids []string) (any, error) {
	return r.compare(ctx, ids, false)
}

// CompareByMachine pools the runs and groups them by machine.
func (r runStore) CompareByMachine(ctx context.Context, ids []string) (any, error) {
	return r.compare(ctx, ids, true)
}

func (r runStore) compare(ctx context.Context, ids []string, byMachine bool) (any, error) {
	var groups []store.CompareGroup
	for _, arg := range ids {
		if repeat, ok := strings.CutPrefix(arg, "group:"); ok {
			members, err := r.st.RepeatGroup(ctx, repeat)
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return nil, fmt.Errorf("%w: %v", api.ErrNotFound, err)
				}
				return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
			}
			groups = append(groups, store.CompareGroup{IDs: members, Repeat: repeat})
			continue
		}
		groups = append(groups, store.CompareGroup{IDs: strings.Split(arg, "+")})
	}
	c, err := r.st.Compare(ctx, groups, byMachine)
	if err != nil {
		var id string
		if len(ids) > 0 {
			id = ids[0]
		}
		return nil, apiError(err, id)
	}
	return c, nil
}

// ListMachines lists the machines with stored runs.
func (r runStore) ListMachines(ctx context.Context) (any, error) { return r.st.Machines(ctx) }

// HaveRuns says which pushed runs are stored already.
func (r runStore) HaveRuns(ctx context.Context, ids []string) ([]string, error) {
	return r.st.Have(ctx, ids)
}

// ImportRun stores a pushed run's JSON record unless it is stored already.
func (r runStore) ImportRun(ctx context.Context, body io.Reader, pushedBy string) (string, bool, error) {
	var rec profiler.Record
	if err := json.NewDecoder(body).Decode(&rec); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, new(*json.SyntaxError)) || errors.As(err, new(*json.UnmarshalTypeError)) {
			return "", false, fmt.Errorf("%w: the body is not a run record: %v", api.ErrBadRequest, err)
		}
		return "", false, err // a read error (too large, the sender went away)
	}
	created, err := r.st.Import(ctx, &rec, pushedBy)
	return rec.Run.ID, created, apiError(err, rec.Run.ID)
}

// catalog is every model this server can run.
func (s *Server) catalog() modelstore.Catalog {
	c := modelstore.NewCatalog(s.Config.ModelsDir)
	if s.Config.Stores != nil {
		c.Roots = *s.Config.Stores
	}
	return c
}

// onDisk reports whether name is a store model on this machine (found,
// usable or not).
func (s *Server) onDisk(name string) bool {
	if !modelstore.IsStoreName(name) {
		return false
	}
	_, err := s.catalog().Roots.Resolve(name)
	return err == nil || errors.Is(err, modelstore.ErrUnusable)
}

// models adapts the catalog (the models folder and the stores) to the API.
type models struct{ catalog func() modelstore.Catalog }

func (m models) ListModels(context.Context) ([]api.ModelInfo, error) {
	entries, err := m.catalog().List()
	if err != nil {
		return nil, err
	}
	out := make([]api.ModelInfo, 0, len(entries))
	for _, e := range entries {
		info := api.ModelInfo{Name: e.Name, Demo: e.Demo, Source: e.Source, Format: e.Format, Quantization: e.Quantization,
			SizeBytes: e.SizeBytes, Complete: e.Complete, Note: e.Note}
		if e.Facts != nil {
			info.Facts = e.Facts
		}
		if e.Err != nil {
			info.Error = e.Err.Error()
		}
		out = append(out, info)
	}
	return out, nil
}

func (m models) Resolve(name string) (string, error) {
	path, err := m.catalog().Resolve(name)
	switch {
	case errors.Is(err, modelstore.ErrBadName), errors.Is(err, modelstore.ErrUnusable):
		return "", fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	case errors.Is(err, modelstore.ErrNotFound):
		return "", fmt.Errorf("%w: %v", api.ErrNotFound, err)
	}
	return path, err
}
