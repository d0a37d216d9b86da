package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/profiler"
)

// A server run keeps its kind, its server description and the chunk each
// streamed token came in; a window keeps its note and caller's counts; the
// run list filters by kind.
func TestKindsRoundTripAndFilter(t *testing.T) {
	st := openTemp(t)
	ctx := context.Background()
	engineRec := makeRecord(t, spec{model: "demo", prompt: "engine run", tokens: 3, layers: 1, watts: 10}, st)

	reported := 7
	p := profiler.New(profiler.Options{Idle: -1, Host: &profiler.Host{OS: "test"}, Recorder: st})
	run, err := p.Start(ctx, profiler.Meta{ModelName: "ollama:llama3.2:1b", Prompt: "server run", Kind: profiler.KindServer,
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
	serverRec := run.Record()

	win, err := p.Start(ctx, profiler.Meta{ModelName: "epoch 3", Kind: profiler.KindWindow, Note: "fine-tune", Tags: []string{"train"}})
	if err != nil {
		t.Fatal(err)
	}
	feed(win, 5)
	win.PhaseStart("window", clock.Now())
	win.SetTokenCounts(-1, 1000, "unavailable (not given)", "given by the caller")
	if _, err := win.Finish(); err != nil {
		t.Fatal(err)
	}
	windowRec := win.Record()
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
		var ids []string
		for _, r := range page.Runs {
			ids = append(ids, r.ID)
		}
		if len(ids) != len(c.want) {
			t.Fatalf("kinds %v: got %v, want %v", c.kinds, ids, c.want)
		}
		for i := range ids {
			if ids[i] != c.want[i] {
				t.Fatalf("kinds %v: got %v, want %v", c.kinds, ids, c.want)
			}
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
