package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/tokenizer"
)

// profTestModel writes a tiny genuine model folder with the demo generator.
func profTestModel(t *testing.T) string {
	t.Helper()
	dir, err := demo.WriteSpec(t.TempDir(), demo.Spec{Name: "tiny-prof", Hidden: 32, Intermediate: 64, Layers: 2, Heads: 4, KVHead: 2,
		Vocab: tokenizer.DemoVocabSize(demo.TokenizerMerges) + 8, Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// profReplay writes a constant-power replay trace: cpu at watts.
func profReplay(t *testing.T, watts float64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trace.jsonl")
	body := `{"kind": "measured_counter", "description": "test trace"}` + "\n" +
		`{"offset_ms": 0, "domains_mw": {"cpu": ` + jsonNum(watts*1000) + `}}` + "\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func jsonNum(v float64) string { b, _ := json.Marshal(v); return string(b) }

func profCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

type metricJSON struct {
	Value *float64 `json:"value"`
	Label string   `json:"label"`
}

type summaryJSON struct {
	RunID          string     `json:"run_id"`
	Status         string     `json:"status"`
	OutputTokens   int        `json:"output_tokens"`
	InputTokens    int        `json:"input_tokens"`
	DurationS      metricJSON `json:"duration_s"`
	TotalEnergyJ   metricJSON `json:"total_energy_j"`
	NetEnergyJ     metricJSON `json:"net_energy_j"`
	JoulesPerToken metricJSON `json:"joules_per_token"`
	DecodeTPS      metricJSON `json:"decode_tokens_per_second"`
	JPerOut        metricJSON `json:"joules_per_output_token"`
}

func TestProfileStoresQueriesExportsDeletes(t *testing.T) {
	modelDir := profTestModel(t)
	db := filepath.Join(t.TempDir(), "p.db")
	trace := profReplay(t, 10)
	code, out, errOut := profCLI(t, "profile", "--model", modelDir, "--prompt", "Hello world", "--max-tokens", "6", "--ignore-eos",
		"--depth", "deep", "--tags", "unit,cli", "--power", "replay:"+trace, "--interval", "10ms", "--idle", "50ms", "--db", db, "--json")
	if code != 0 {
		t.Fatalf("profile exit %d: %s", code, errOut)
	}
	var s summaryJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("profile --json is not one JSON object: %v\n%s", err, out)
	}
	if s.RunID == "" || s.Status != "completed" || s.OutputTokens != 6 || s.InputTokens == 0 {
		t.Fatalf("summary = %+v", s)
	}
	if s.TotalEnergyJ.Value == nil || s.DurationS.Value == nil || !strings.Contains(s.TotalEnergyJ.Label, "replay") {
		t.Fatalf("energy %+v duration %+v", s.TotalEnergyJ, s.DurationS)
	}
	// A constant 10 W trace: energy = P × duration, net of a 10 W idle ≈ 0.
	if w := *s.TotalEnergyJ.Value / *s.DurationS.Value; math.Abs(w-10) > 0.05 {
		t.Errorf("average power %v W, want 10 (energy %v J over %v s)", w, *s.TotalEnergyJ.Value, *s.DurationS.Value)
	}
	if s.NetEnergyJ.Value == nil || math.Abs(*s.NetEnergyJ.Value) > 0.01**s.TotalEnergyJ.Value {
		t.Errorf("net energy %+v, want ≈ 0 with idle at the same power", s.NetEnergyJ)
	}

	code, out, errOut = profCLI(t, "runs", "--db", db, "--json", "--tag", "cli")
	if code != 0 {
		t.Fatalf("runs exit %d: %s", code, errOut)
	}
	var page struct {
		Runs  []map[string]any `json:"runs"`
		Total int              `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil || page.Total != 1 {
		t.Fatalf("runs --json: %v %s", err, out)
	}
	for _, k := range []string{"id", "created_at", "model_name", "prompt", "duration_s", "total_energy_j", "joules_per_token", "tokens_per_second", "tags", "status"} {
		if _, ok := page.Runs[0][k]; !ok {
			t.Errorf("run list lacks %q", k)
		}
	}
	if code, out, _ = profCLI(t, "runs", "--db", db, "--search", "nothing like this"); code != 0 || !strings.Contains(out, "no runs") {
		t.Errorf("runs with no match: %d %q", code, out)
	}
	code, out, _ = profCLI(t, "runs", "--db", db)
	if code != 0 || !strings.Contains(out, s.RunID[:8]) || !strings.Contains(out, "tiny-prof") {
		t.Errorf("runs table: %q", out)
	}

	code, out, errOut = profCLI(t, "show", s.RunID[:8], "--db", db, "--tokens")
	if code != 0 || !strings.Contains(out, "completed") || !strings.Contains(out, "decode") || !strings.Contains(out, "replay") {
		t.Errorf("show: %d %s %s", code, out, errOut)
	}
	if !strings.Contains(out, "TOKEN") || strings.Count(out, "apportioned replay") < 6 {
		t.Errorf("show --tokens should list 6 tokens with apportioned energy:\n%s", out)
	}

	dir := t.TempDir()
	perf := filepath.Join(dir, "run.trace.json")
	if code, _, errOut = profCLI(t, "export", s.RunID, "--format", "perfetto", "-o", perf, "--db", db); code != 0 {
		t.Fatalf("export perfetto: %s", errOut)
	}
	var perfTrace struct {
		TraceEvents []struct {
			Ph string `json:"ph"`
		} `json:"traceEvents"`
	}
	b, _ := os.ReadFile(perf)
	if err := json.Unmarshal(b, &perfTrace); err != nil {
		t.Fatalf("perfetto export is not JSON: %v", err)
	}
	kinds := map[string]int{}
	for _, e := range perfTrace.TraceEvents {
		kinds[e.Ph]++
	}
	if kinds["X"] == 0 || kinds["C"] == 0 {
		t.Errorf("perfetto events %v, want slices and counters", kinds)
	}
	zipPath := filepath.Join(dir, "run.zip")
	if code, _, errOut = profCLI(t, "export", s.RunID, "--format", "csv", "-o", zipPath, "--db", db); code != 0 {
		t.Fatalf("export csv: %s", errOut)
	}
	if zr, err := zip.OpenReader(zipPath); err != nil || len(zr.File) < 5 {
		t.Errorf("csv zip: %v", err)
	} else {
		zr.Close()
	}
	if code, out, _ = profCLI(t, "export", s.RunID, "--format", "csv", "--table", "tokens", "--db", db); code != 0 || strings.Count(out, "\n") != 7 {
		t.Errorf("csv tokens table: %d %q", code, out)
	}

	if code, _, errOut = profCLI(t, "delete", s.RunID[:8], "--db", db); code != 0 {
		t.Fatalf("delete: %s", errOut)
	}
	if code, _, errOut = profCLI(t, "show", s.RunID, "--db", db); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("show after delete: %d %s", code, errOut)
	}
}

func TestProfileRepeatAndCompare(t *testing.T) {
	modelDir := profTestModel(t)
	db := filepath.Join(t.TempDir(), "p.db")
	trace := profReplay(t, 20)
	profile := func(extra ...string) []string {
		t.Helper()
		args := append([]string{"profile", "--model", modelDir, "--prompt", "Hi", "--max-tokens", "4", "--ignore-eos", "--power", "replay:" + trace,
			"--interval", "10ms", "--idle", "0", "--cooldown", "0", "--db", db, "--json"}, extra...)
		code, out, errOut := profCLI(t, args...)
		if code != 0 {
			t.Fatalf("profile exit %d: %s", code, errOut)
		}
		var rep struct {
			RunIDs []string `json:"run_ids"`
			RunID  string   `json:"run_id"`
			Stats  struct {
				Metrics map[string]struct {
					N int `json:"n"`
				} `json:"metrics"`
			} `json:"stats"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if rep.RunID != "" {
			return []string{rep.RunID}
		}
		if rep.Stats.Metrics["joules_per_output_token"].N != len(rep.RunIDs) {
			t.Errorf("repeat stats over %d runs, want %d", rep.Stats.Metrics["joules_per_output_token"].N, len(rep.RunIDs))
		}
		return rep.RunIDs
	}
	a := profile("--repeat", "2")
	b := profile("--repeat", "2", "--depth", "deep")
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("repeat ids: %v %v", a, b)
	}
	code, out, errOut := profCLI(t, "compare", strings.Join(a, ","), strings.Join(b, ","), "--db", db)
	if code != 0 {
		t.Fatalf("compare: %s", errOut)
	}
	if !strings.Contains(out, "joules_per_output_token") || !strings.Contains(out, "p = ") {
		t.Errorf("compare output lacks the metric table or p-values:\n%s", out)
	}
	var rg struct {
		RepeatGroup string `json:"repeat_group"`
	}
	_, last, _ := profCLI(t, "profile", "--model", modelDir, "--prompt", "Hi", "--max-tokens", "4", "--power", "replay:"+trace,
		"--interval", "10ms", "--idle", "0", "--cooldown", "0", "--repeat", "3", "--db", db, "--json")
	if err := json.Unmarshal([]byte(last), &rg); err != nil || rg.RepeatGroup == "" {
		t.Fatalf("repeat group: %v %s", err, last)
	}
	code, out, errOut = profCLI(t, "compare", "group:"+rg.RepeatGroup[:8], strings.Join(a, ","), "--db", db)
	if code != 0 || !strings.Contains(out, "(n=3)") || !strings.Contains(out, "(n=2)") {
		t.Errorf("compare group:ID: %d %s %s", code, out, errOut)
	}
	code, out, _ = profCLI(t, "compare", a[0], b[0], "--db", db, "--json")
	var c struct {
		Tests []struct {
			P    *float64 `json:"p"`
			Note string   `json:"note"`
		} `json:"tests"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil || len(c.Tests) == 0 || c.Tests[0].P != nil || c.Tests[0].Note == "" {
		t.Errorf("single-run compare should explain why there is no p-value: %s", out)
	}
	if code, _, _ = profCLI(t, "compare", a[0], "--db", db); code != 2 {
		t.Errorf("compare with one run: exit %d, want 2", code)
	}
}

func TestProfileUsageErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	for _, args := range [][]string{
		{"profile", "--prompt", "x", "--db", db},
		{"profile", "--model", "m", "--db", db},
		{"profile", "--model", "m", "--prompt", "x", "--depth", "weird", "--db", db},
		{"profile", "--model", "m", "--prompt", "x", "--co2", "mars", "--db", db},
		{"runs", "--sort", "bogus", "--db", db},
		{"export", "abcd1234", "--format", "xml", "--db", db},
		{"show", "--db", db},
	} {
		if code, _, errOut := profCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
	if code, _, errOut := profCLI(t, "profile", "--model", filepath.Join(t.TempDir(), "missing"), "--prompt", "x", "--db", db); code != 1 || errOut == "" {
		t.Errorf("missing model: exit %d %q", code, errOut)
	}
}

func TestProfileCancelledIsStored(t *testing.T) {
	modelDir := profTestModel(t)
	db := filepath.Join(t.TempDir(), "p.db")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	code := Main(ctx, []string{"profile", "--model", modelDir, "--prompt", "Hi", "--max-tokens", "4", "--power", "replay:" + profReplay(t, 5),
		"--idle", "10s", "--db", db}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "cancel") {
		t.Fatalf("cancelled profile: exit %d, %q", code, errb.String())
	}
	code, list, errOut := profCLI(t, "runs", "--status", "cancelled", "--json", "--db", db)
	if code != 0 || !strings.Contains(list, `"total": 1`) {
		t.Errorf("the cancelled run must be stored as cancelled: %d %s %s", code, list, errOut)
	}
}
