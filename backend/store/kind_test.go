package store

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/power"
	"energyprofiler/backend/profiler"
)

// A server run keeps its kind, its server description and the chunk each
// streamed token came in; a window keeps its note and caller's counts; the
// run list filters by kind. On both back ends.
func TestKindsRoundTripAndFilter(t *testing.T) { eachBackend(t, testKindsRoundTripAndFilter) }

func testKindsRoundTripAndFilter(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	engineRec := makeRecord(t, spec{model: "demo", prompt: "engine run", tokens: 3, layers: 1, watts: 10}, st)
	serverRec := serverRun(t, st)
	windowRec := windowRun(t, st, false)
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	for _, want := range []*profiler.Record{serverRec, windowRec} {
		got, err := st.Get(ctx, want.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(want)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Fatalf("round trip differs:\nwant %s\ngot  %s", firstDiff(string(a), string(b)), firstDiff(string(b), string(a)))
		}
	}
	got, _ := st.Get(ctx, serverRec.Run.ID)
	if c := got.Tokens[1].Chunk; c == nil || *c != 0 || got.Tokens[1].ChunkTokens != 2 || got.Tokens[2].ChunkTokens != 1 {
		t.Errorf("chunks not kept: %+v", got.Tokens)
	}
	if got.Summary.Kind != profiler.KindServer || got.Summary.OutputTokensSource != "reported by the server (ollama eval_count)" {
		t.Errorf("summary kind %q, source %q", got.Summary.Kind, got.Summary.OutputTokensSource)
	}
	w, _ := st.Get(ctx, windowRec.Run.ID)
	if w.Summary.OutputTokens != 1000 || w.Summary.InputTokens != 0 || w.Summary.InputTokensSource != "unavailable (not given)" {
		t.Errorf("window counts %d/%d (%q)", w.Summary.InputTokens, w.Summary.OutputTokens, w.Summary.InputTokensSource)
	}
	if v, ok := w.Summary.JoulesPerToken.Get(); !ok || v <= 0 {
		t.Errorf("window J/token %v", w.Summary.JoulesPerToken)
	}

	for _, c := range []struct {
		kinds []string
		want  []string
	}{
		{nil, []string{windowRec.Run.ID, serverRec.Run.ID, engineRec.Run.ID}},
		{[]string{"engine"}, []string{engineRec.Run.ID}},
		{[]string{"server", "window"}, []string{windowRec.Run.ID, serverRec.Run.ID}},
	} {
		page, err := st.List(ctx, Query{Kinds: c.kinds})
		if err != nil {
			t.Fatal(err)
		}
		if ids := rowIDs(page); !slices.Equal(ids, c.want) || page.Total != len(c.want) {
			t.Fatalf("kinds %v: got %v (total %d), want %v", c.kinds, ids, page.Total, c.want)
		}
		if c.kinds == nil && (page.Runs[0].Kind != "window" || page.Runs[1].Kind != "server" || page.Runs[2].Kind != "engine") {
			t.Errorf("row kinds %s %s %s", page.Runs[0].Kind, page.Runs[1].Kind, page.Runs[2].Kind)
		}
	}
	// The CSV export says what kind of run it is and where its counts came from.
	var csvRuns, csvTokens strings.Builder
	if err := ExportCSVTable(&csvRuns, got, "runs"); err != nil {
		t.Fatal(err)
	}
	if err := ExportCSVTable(&csvTokens, got, "tokens"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csvRuns.String(), ",server,http://127.0.0.1:11434/api/generate,ollama,llama3.2:1b,") ||
		!strings.HasSuffix(strings.Split(csvTokens.String(), "\n")[2], ",0,2") {
		t.Errorf("csv:\n%s\n%s", csvRuns.String(), csvTokens.String())
	}
	if _, err := ParseKinds("engine,gpu"); err == nil {
		t.Error("unknown kind accepted")
	}
}

// The kind filter combines with the machine filter and the sorts, and a
// window is listed as one while it is still open.
func TestKindFilterWithMachinesAndSorts(t *testing.T) {
	eachBackend(t, testKindFilterWithMachinesAndSorts)
}

func testKindFilterWithMachinesAndSorts(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	var want []string // the windows of machine "mac", newest first
	for i, m := range []string{"mac", "linux", "mac", "mac"} {
		rec := makeRecord(t, spec{model: "m", prompt: "engine", tokens: 2, layers: 1, watts: 5}, nil)
		onMachine(rec, "id-"+m, m+"-box", "rapl", power.KindCounter)
		if err := st.Save(ctx, rec); err != nil {
			t.Fatal(err)
		}
		win := windowRun(t, nil, i == 3)
		onMachine(win, "id-"+m, m+"-box", "rapl", power.KindCounter)
		if err := st.Save(ctx, win); err != nil {
			t.Fatal(err)
		}
		if m == "mac" {
			want = append([]string{win.Run.ID}, want...)
		}
	}
	page, err := st.List(ctx, Query{Kinds: []string{"window"}, Machine: "id-mac"})
	if err != nil {
		t.Fatal(err)
	}
	if ids := rowIDs(page); !slices.Equal(ids, want) || page.Total != 3 {
		t.Fatalf("mac's windows: got %v (total %d), want %v", ids, page.Total, want)
	}
	for _, r := range page.Runs {
		if r.Kind != "window" || r.MachineName != "mac-box" {
			t.Errorf("row %s: kind %q machine %q", r.ID, r.Kind, r.MachineName)
		}
	}
	// The abandoned window has no J/token (no counts given): last when
	// sorting by it either way; the status filter finds it.
	for _, asc := range []bool{false, true} {
		page, err = st.List(ctx, Query{Kinds: []string{"window"}, Machine: "id-mac", Sort: "joules_per_token", Asc: asc})
		if err != nil {
			t.Fatal(err)
		}
		if last := page.Runs[len(page.Runs)-1]; last.ID != want[0] || last.Status != profiler.StatusAbandoned || last.JoulesPerToken != nil {
			t.Errorf("asc %v: last is %s (%s, J/token %v), want the abandoned window %s", asc, last.ID, last.Status, last.JoulesPerToken, want[0])
		}
	}
	page, err = st.List(ctx, Query{Kinds: []string{"window"}, Status: []profiler.Status{profiler.StatusAbandoned}})
	if err != nil || page.Total != 1 || page.Runs[0].ID != want[0] {
		t.Errorf("abandoned windows: %v (total %d), %v", rowIDs(page), page.Total, err)
	}

	// An open window is stored as running, of kind window, before it ends.
	p := profiler.New(profiler.Options{Idle: -1, Host: &profiler.Host{OS: "test", ID: "id-open", Hostname: "open-box"}, Recorder: st})
	open, err := p.Start(ctx, profiler.Meta{ModelName: "epoch 4", Kind: profiler.KindWindow})
	if err != nil {
		t.Fatal(err)
	}
	feed(open, 5)
	open.PhaseStart("window", clock.Now())
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	page, err = st.List(ctx, Query{Kinds: []string{"window"}, Status: []profiler.Status{profiler.StatusRunning}})
	if err != nil || page.Total != 1 || page.Runs[0].ID != open.ID() || page.Runs[0].MachineName != "open-box" {
		t.Fatalf("open window: %+v, %v", page.Runs, err)
	}
	open.PhaseEnd("window", clock.Now())
	if _, err := open.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, err := st.Get(ctx, open.ID()); err != nil || rec.Run.Status != profiler.StatusCompleted || rec.Run.Kind != profiler.KindWindow {
		t.Errorf("closed window: %v", err)
	}
}

// A server run accepted by the queue is stored as queued with its kind and
// server description (the history shows what is waiting), and a run that
// never started ends as the queue says.
func TestQueuedServerRun(t *testing.T) { eachBackend(t, testQueuedServerRun) }

func testQueuedServerRun(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	x := &profiler.External{Endpoint: "http://10.0.0.2:8000", API: "openai", Route: "/v1/chat/completions", ServerModel: "qwen", Remote: true}
	info := profiler.RunInfo{ID: "2c9f9f5e-3c1e-4a5b-9d7e-0a1b2c3d4e5f", CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
		Sources: []profiler.SourceUse{}, Host: profiler.Host{ID: "id-q", Hostname: "queue-box"},
		Meta: profiler.Meta{ModelName: "remote:qwen", Prompt: "queued", Tags: []string{}, Kind: profiler.KindServer, External: x,
			Settings: profiler.Settings{Depth: "off"}}}
	if err := st.Queued(ctx, info); err != nil {
		t.Fatal(err)
	}
	page, err := st.List(ctx, Query{Kinds: []string{"server"}})
	if err != nil || page.Total != 1 || page.Runs[0].Status != profiler.StatusQueued || page.Runs[0].Kind != "server" || page.Runs[0].MachineName != "queue-box" {
		t.Fatalf("queued server run: %+v, %v", page.Runs, err)
	}
	if err := st.EndQueued(ctx, info.ID, profiler.StatusCancelled, "cancelled while queued"); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Get(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Run.Status != profiler.StatusCancelled || rec.Run.Kind != profiler.KindServer || !reflect.DeepEqual(rec.Run.External, x) {
		t.Errorf("ended queued run: status %s kind %q external %+v", rec.Run.Status, rec.Run.Kind, rec.Run.External)
	}
}

// Server runs and windows (an abandoned one too) pushed to a team database
// arrive whole: kind, server description, chunks, note and counts.
func TestImportKeepsKinds(t *testing.T) { eachBackend(t, testImportKeepsKinds) }

func testImportKeepsKinds(t *testing.T, be backend) {
	ctx := context.Background()
	local := openTemp(t)
	team := be.open(t)
	for _, rec := range []*profiler.Record{serverRun(t, local), windowRun(t, local, false), windowRun(t, local, true)} {
		if err := local.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		want, err := local.Get(ctx, rec.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		var sent profiler.Record
		js, _ := json.Marshal(want)
		if err := json.Unmarshal(js, &sent); err != nil {
			t.Fatal(err)
		}
		if created, err := team.Import(ctx, &sent, "pusher"); err != nil || !created {
			t.Fatalf("import %s run (%s): created %v, %v", profiler.KindOf(want.Run.Meta), want.Run.Status, created, err)
		}
		got, err := team.Get(ctx, rec.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(want)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Fatalf("pushed %s run differs:\nwant %s\ngot  %s", profiler.KindOf(want.Run.Meta), firstDiff(string(a), string(b)), firstDiff(string(b), string(a)))
		}
	}
	page, err := team.List(ctx, Query{Kinds: []string{"window"}})
	if err != nil || page.Total != 2 {
		t.Errorf("pushed windows: %d, %v", page.Total, err)
	}
}

// serverRun profiles a streamed request to an ollama server: three tokens
// in two chunks, the server's own counts and timings.
func serverRun(t *testing.T, rec profiler.Recorder) *profiler.Record {
	t.Helper()
	reported := 7
	p := profiler.New(profiler.Options{Idle: -1, Host: &profiler.Host{OS: "test"}, Recorder: rec})
	run, err := p.Start(context.Background(), profiler.Meta{ModelName: "ollama:llama3.2:1b", Prompt: "server run", Kind: profiler.KindServer,
		External: &profiler.External{Endpoint: "http://127.0.0.1:11434", API: "ollama", Route: "/api/generate", ServerModel: "llama3.2:1b",
			Request: map[string]any{"num_predict": 8.0}, InputTokensSource: "reported by the server (ollama prompt_eval_count)",
			OutputTokensSource: "reported by the server (ollama eval_count)", ReportedOutputTokens: &reported,
			ServerTimings: map[string]float64{"eval_duration_ns": 1.5e9}, Chunks: 2, SplitChunks: 1}})
	if err != nil {
		t.Fatal(err)
	}
	feed(run, 10)
	t0 := clock.Now()
	run.PhaseStart(engine.PhasePreInference, t0)
	run.PhaseStart(engine.PhasePrefill, t0+ms)
	run.StreamToken(engine.TokenEvent{Index: 0, ID: -1, Piece: "Hel", Start: t0 + ms, End: t0 + 2*ms}, 0, 2)
	run.StreamToken(engine.TokenEvent{Index: 1, ID: -1, Piece: "lo", Start: t0 + 2*ms, End: t0 + 3*ms}, 0, 2)
	run.PhaseStart(engine.PhaseDecode, t0+3*ms)
	run.StreamToken(engine.TokenEvent{Index: 2, ID: -1, Piece: "!", Start: t0 + 3*ms, End: t0 + 4*ms}, 1, 1)
	run.PhaseStart(engine.PhasePostInference, t0+4*ms)
	run.PhaseEnd(engine.PhasePostInference, t0+5*ms)
	if _, err := run.Finish(); err != nil {
		t.Fatal(err)
	}
	return run.Record()
}

// windowRun measures an energy window with a note and the caller's output
// count, or, abandoned, one its caller never stopped (no counts).
func windowRun(t *testing.T, rec profiler.Recorder, abandoned bool) *profiler.Record {
	t.Helper()
	p := profiler.New(profiler.Options{Idle: -1, Host: &profiler.Host{OS: "test"}, Recorder: rec})
	win, err := p.Start(context.Background(), profiler.Meta{ModelName: "epoch 3", Kind: profiler.KindWindow, Note: "fine-tune", Tags: []string{"train"}})
	if err != nil {
		t.Fatal(err)
	}
	feed(win, 5)
	win.PhaseStart("window", clock.Now())
	if abandoned {
		win.PhaseEnd("window", clock.Now())
		win.SetTokenCounts(-1, -1, "unavailable (not given)", "unavailable (not given)")
		_, err = win.End(profiler.StatusAbandoned, "the window was not stopped within 1h0m0s, so it was closed as abandoned")
	} else {
		win.SetTokenCounts(-1, 1000, "unavailable (not given)", "given by the caller")
		_, err = win.Finish()
	}
	if err != nil {
		t.Fatal(err)
	}
	return win.Record()
}

func rowIDs(p Page) []string {
	var ids []string
	for _, r := range p.Runs {
		ids = append(ids, r.ID)
	}
	return ids
}
