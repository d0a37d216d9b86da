package store

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/profiler"
)

func TestExportJSON(t *testing.T) {
	rec := makeRecord(t, spec{model: "m", prompt: "p", tokens: 3, layers: 2, depth: "deep", watts: 10}, nil)
	var buf bytes.Buffer
	if err := Export(&buf, rec, "json"); err != nil {
		t.Fatal(err)
	}
	var back profiler.Record
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Run.ID != rec.Run.ID || len(back.Tokens) != 3 || len(back.Components) != len(rec.Components) || back.Summary == nil {
		t.Errorf("json export lost data: %d tokens, %d components", len(back.Tokens), len(back.Components))
	}
	if err := Export(&buf, rec, "xml"); err == nil {
		t.Error("unknown format: want an error")
	}
}

func TestExportCSVZip(t *testing.T) {
	rec := makeRecord(t, spec{model: "m", prompt: "p, with \"quotes\"", tags: []string{"a", "b"}, tokens: 4, layers: 2, depth: "deep", watts: 10}, nil)
	var buf bytes.Buffer
	if err := Export(&buf, rec, "csv"); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][][]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(rc).ReadAll()
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		rows[f.Name] = recs
	}
	deep := 0
	for _, c := range rec.Components {
		if c.Deep != nil {
			deep++
		}
	}
	want := map[string]int{"runs.csv": 1, "tags.csv": 2, "phases.csv": 4, "tokens.csv": 4, "components.csv": len(rec.Components),
		"deep_ops.csv": deep, "layer_metrics.csv": len(rec.Layers), "power_samples.csv": 2 * len(rec.Samples)}
	for name, n := range want {
		if got := len(rows[name]) - 1; got != n {
			t.Errorf("%s: %d data rows, want %d", name, got, n)
		}
	}
	if rows["runs.csv"][1][5] != rec.Run.Prompt {
		t.Errorf("prompt cell %q, want %q", rows["runs.csv"][1][5], rec.Run.Prompt)
	}
	if len(rows["domain_energy.csv"]) < 2 {
		t.Error("domain_energy.csv is empty")
	}
}

func TestExportPerfetto(t *testing.T) {
	rec := makeRecord(t, spec{model: "m", prompt: "p", tokens: 3, layers: 1, depth: "module", watts: 10}, nil)
	var buf bytes.Buffer
	if err := Export(&buf, rec, "perfetto"); err != nil {
		t.Fatal(err)
	}
	var trace struct {
		TraceEvents []struct {
			Name string         `json:"name"`
			Ph   string         `json:"ph"`
			Ts   float64        `json:"ts"`
			Dur  *float64       `json:"dur"`
			Pid  int            `json:"pid"`
			Tid  int            `json:"tid"`
			Args map[string]any `json:"args"`
		} `json:"traceEvents"`
		DisplayTimeUnit string `json:"displayTimeUnit"`
	}
	if err := json.Unmarshal(buf.Bytes(), &trace); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range trace.TraceEvents {
		counts[e.Ph]++
		switch e.Ph {
		case "X":
			if e.Dur == nil || *e.Dur < 0 {
				t.Errorf("slice %q without a duration", e.Name)
			}
		case "C":
			w, ok := e.Args["package_W"].(float64)
			if !ok || math.Abs(w-10) > 1e-9 {
				t.Errorf("power counter %v, want package_W = 10", e.Args)
			}
		}
	}
	if want := 4 + 3 + len(rec.Components); counts["X"] != want {
		t.Errorf("%d slices, want %d (phases + tokens + components)", counts["X"], want)
	}
	if counts["C"] != len(rec.Samples)+1 || counts["M"] < 4 {
		t.Errorf("counts %v, want %d counters", counts, len(rec.Samples)+1)
	}
}

func TestExportRunWithoutSummary(t *testing.T) { eachBackend(t, testExportRunWithoutSummary) }

func testExportRunWithoutSummary(t *testing.T, be backend) {
	st := be.open(t)
	ctx := context.Background()
	info := profiler.RunInfo{ID: "33333333-0000-4000-8000-000000000000", CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
		Status: profiler.StatusRunning, Meta: profiler.Meta{ModelName: "m", Prompt: "p", Tags: []string{"t"}}}
	st.RunStarted(info)
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Get(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Summary != nil || len(rec.Tokens) != 0 || rec.Run.Tags[0] != "t" {
		t.Fatalf("running run = %+v", rec)
	}
	for _, f := range Formats() {
		var buf bytes.Buffer
		if err := Export(&buf, rec, f); err != nil || buf.Len() == 0 {
			t.Errorf("export %s of a run without summary: %v", f, err)
		}
	}
	page, err := st.List(ctx, Query{Status: []profiler.Status{profiler.StatusRunning}})
	if err != nil || page.Total != 1 || page.Runs[0].TotalEnergyJ != nil || page.Runs[0].EnergyLabel != "unavailable" {
		t.Errorf("running run in the list: %+v %v", page, err)
	}
}

// Token counts nobody measured (a window stopped without counts, a server
// that reported no prompt tokens) are empty cells in runs.csv, never 0;
// a count that was given stays, however small.
func TestExportCSVUnmeasuredTokenCountsAreEmpty(t *testing.T) {
	cells := func(rec *profiler.Record) map[string]string {
		var buf bytes.Buffer
		if err := ExportCSVTable(&buf, rec, "runs"); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil || len(rows) != 2 {
			t.Fatalf("runs.csv: %v %v", rows, err)
		}
		out := map[string]string{}
		for i, h := range rows[0] {
			out[h] = rows[1][i]
		}
		return out
	}
	c := cells(windowRun(t, nil, true))
	if c["input_tokens"] != "" || c["output_tokens"] != "" || !strings.HasPrefix(c["output_tokens_source"], "unavailable") {
		t.Errorf("abandoned window: input %q, output %q (%q)", c["input_tokens"], c["output_tokens"], c["output_tokens_source"])
	}
	c = cells(windowRun(t, nil, false))
	if c["input_tokens"] != "" || c["output_tokens"] != "1000" {
		t.Errorf("window with 1000 output tokens given: input %q, output %q", c["input_tokens"], c["output_tokens"])
	}
	c = cells(makeRecord(t, spec{model: "m", prompt: "p", tokens: 4, layers: 2, depth: "module", watts: 10}, nil))
	if c["input_tokens"] == "" || c["output_tokens"] != "4" {
		t.Errorf("engine run: input %q, output %q", c["input_tokens"], c["output_tokens"])
	}
}
