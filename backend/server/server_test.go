package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"energyprofiler/backend/api"
	"energyprofiler/backend/demo"
	"energyprofiler/backend/modeldir"
	"energyprofiler/backend/modelstore"
)

// start assembles a real server on a random port with a tiny model and a
// replayed 12 W trace, so energies are known.
func start(t *testing.T) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	if _, err := demo.WriteSpec(models, demo.Spec{Name: "tiny", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHead: 2, Vocab: 1100}); err != nil {
		t.Fatal(err)
	}
	var trace strings.Builder
	for ms := 0; ms <= 600_000; ms += 50 {
		fmt.Fprintf(&trace, `{"offset_ms":%d,"domains_mw":{"cpu":12000}}`+"\n", ms)
	}
	tracePath := filepath.Join(dir, "trace.jsonl")
	if err := os.WriteFile(tracePath, []byte(trace.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := Start(t.Context(), Config{
		Version: "test", DBPath: filepath.Join(dir, "db", "p.db"), ModelsDir: models,
		PowerSpec: "replay:" + tracePath, Threads: 1, NoDemo: true, EndpointsPath: filepath.Join(dir, "endpoints.json"),
		Stores: &modelstore.Roots{HFHub: filepath.Join(dir, "hub")},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(hs.Listener.Addr().String())
	hs.Config.Handler = srv.Handler(api.Options{Port: port})
	hs.Start()
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv, hs.URL
}

func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, raw)
		}
	}
	return res.StatusCode
}

func TestRealServerProfilesStoresAndServesRuns(t *testing.T) {
	srv, url := start(t)

	var models struct {
		Models []map[string]any `json:"models"`
	}
	call(t, "GET", url+"/api/profiling/models", "", &models)
	if len(models.Models) != 1 || models.Models[0]["name"] != "tiny" || models.Models[0]["attention"] != "GQA" {
		t.Fatalf("models: %+v", models)
	}

	// Watch the live stream while two runs go through.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/api/profiling/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	seen := make(chan map[string]int, 1)
	go func() {
		types := map[string]int{}
		for types["finished"] < 2 {
			_, data, err := ws.Read(ctx)
			if err != nil {
				break
			}
			var ev struct{ Type string }
			json.Unmarshal(data, &ev)
			types[ev.Type]++
		}
		seen <- types
	}()

	var ids []string
	for _, depth := range []string{"module", "deep"} {
		var sum map[string]any
		body := fmt.Sprintf(`{"model_name":"tiny","prompt":"energy per token","profiling_depth":%q,"max_length":6,"tags":["t1"],"idle_s":0.2,"wait":true}`, depth)
		if code := call(t, "POST", url+"/api/profiling/generate", body, &sum); code != 200 {
			t.Fatalf("generate %s: %d %v", depth, code, sum)
		}
		ids = append(ids, sum["run_id"].(string))
		total := sum["total_energy_j"].(map[string]any)
		if total["value"] == nil || !strings.Contains(total["label"].(string), "replay") {
			t.Errorf("energy not measured from the trace: %v", total)
		}
	}
	types := <-seen
	for _, want := range []string{"run", "phase", "token", "heatmap", "power", "finished"} {
		if types[want] == 0 {
			t.Errorf("live stream had no %q events: %v", want, types)
		}
	}

	var runs []api.RunListItem
	call(t, "GET", url+"/api/profiling/runs?tag=t1&sort=energy", "", &runs)
	if len(runs) != 2 || runs[0].TotalEnergyJ == nil || runs[0].TokensPerJoule == nil || runs[0].Backend == "" || runs[0].Depth == "" {
		t.Fatalf("run list: %+v", runs)
	}
	if want := 1 / *runs[0].JoulesPerToken; *runs[0].TokensPerJoule != want {
		t.Errorf("tokens per joule %v, want 1/(J per token) = %v", *runs[0].TokensPerJoule, want)
	}

	var detail map[string]any
	if code := call(t, "GET", url+"/api/profiling/run/"+ids[1], "", &detail); code != 200 {
		t.Fatalf("detail: %d", code)
	}
	comps, _ := detail["components"].([]any)
	if len(comps) == 0 {
		t.Error("the deep run stored no component records")
	}

	res, err := http.Get(url + "/api/profiling/export/" + ids[0] + "?format=perfetto")
	if err != nil {
		t.Fatal(err)
	}
	trace, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(trace, []byte(`"ph":"C"`)) {
		t.Errorf("perfetto export: %d, %d bytes, no counter track", res.StatusCode, len(trace))
	}

	var cmp map[string]any
	if code := call(t, "GET", url+"/api/profiling/compare?ids="+ids[0]+","+ids[1], "", &cmp); code != 200 || cmp["groups"] == nil {
		t.Errorf("compare: %d %v", code, cmp)
	}

	if code := call(t, "DELETE", url+"/api/profiling/run/"+ids[0], "", nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code := call(t, "GET", url+"/api/profiling/run/"+ids[0], "", nil); code != 404 {
		t.Errorf("deleted run: %d", code)
	}

	if w, ok := srv.LatestWatts(); !ok || w.Total < 11.9 || w.Total > 12.1 || w.Source == "" {
		t.Errorf("latest watts %+v, %v; want the trace's 12 W", w, ok)
	}
}

func TestCancelMidRunOverTheAPI(t *testing.T) {
	srv, url := start(t)
	var out map[string]any
	call(t, "POST", url+"/api/profiling/generate", `{"model_name":"tiny","prompt":"x","max_length":4000,"idle_s":0}`, &out)
	id := out["run_id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for srv.Queue.Active() != id && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // into decode
	if code := call(t, "POST", url+"/api/profiling/run/"+id+"/cancel", "", nil); code != 202 {
		t.Fatalf("cancel: %d", code)
	}
	if _, err := srv.Queue.Wait(t.Context(), id); err == nil {
		t.Fatal("cancelled run reported success")
	}
	if err := srv.Store.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var detail struct {
		Run struct{ Status string } `json:"run"`
	}
	call(t, "GET", url+"/api/profiling/run/"+id, "", &detail)
	if detail.Run.Status != "cancelled" {
		t.Errorf("stored status %q, want cancelled", detail.Run.Status)
	}
}

// A folder of older demo models gets the demo models it lacks; a folder
// with a model of the user's is left alone.
func TestDemosToWrite(t *testing.T) {
	names := func(specs []demo.Spec) []string {
		var out []string
		for _, s := range specs {
			out = append(out, s.Name)
		}
		return out
	}
	all := names(demo.Specs())
	if got := names(demosToWrite(nil)); strings.Join(got, ",") != strings.Join(all, ",") {
		t.Errorf("empty folder: %v, want all %v", got, all)
	}
	old := []modeldir.Entry{{Name: "demo-15m-mha", Demo: true}, {Name: "demo-15m-gqa", Demo: true}, {Name: "demo-110m-gqa", Demo: true}}
	if got := names(demosToWrite(old)); strings.Join(got, ",") != "demo-100m-moe" {
		t.Errorf("older demo folder: %v, want the MoE demo only", got)
	}
	if got := demosToWrite(append(old, modeldir.Entry{Name: "my-llama"})); got != nil {
		t.Errorf("a folder with the user's model: %v, want nothing written", names(got))
	}
}

// The quantized demos (GGUF files, listed by file name) are written into a
// demo-only folder that lacks them, and never beside the user's models.
func TestQuantDemosToWrite(t *testing.T) {
	names := func(specs []demo.QuantSpec) string {
		var out []string
		for _, s := range specs {
			out = append(out, s.Name)
		}
		return strings.Join(out, ",")
	}
	floats := []modeldir.Entry{{Name: "demo-15m-mha", Demo: true}, {Name: "demo-110m-gqa", Demo: true}}
	if got := names(quantDemosToWrite(floats)); got != "demo-110m-gqa-q8_0,demo-110m-gqa-q4_0,demo-110m-gqa-q4_k_m" {
		t.Errorf("float demos only: %q, want every quantized demo", got)
	}
	withQ8 := append(floats, modeldir.Entry{Name: "demo-110m-gqa-q8_0.gguf", Demo: true})
	if got := names(quantDemosToWrite(withQ8)); got != "demo-110m-gqa-q4_0,demo-110m-gqa-q4_k_m" {
		t.Errorf("Q8_0 present: %q, want the Q4_0 and Q4_K_M demos only", got)
	}
	if got := quantDemosToWrite(append(floats, modeldir.Entry{Name: "llama-3.2-1b-q4_k_m.gguf"})); got != nil {
		t.Errorf("a folder with the user's GGUF: %q, want nothing written", names(got))
	}
}

// Repeats from the API form a group: Compare takes "group:ID" as one arm,
// each run keeps the thermal and power conditions the OS reported, and a
// repeat after the first waits out its cooldown.
func TestRepeatGroupsCompareAndRecordConditions(t *testing.T) {
	_, url := start(t)
	var groups []string
	var firstIDs []string
	for _, preset := range []string{"eu", "texas"} {
		var out struct {
			RunIDs      []string         `json:"run_ids"`
			RepeatGroup string           `json:"repeat_group"`
			Runs        []map[string]any `json:"runs"`
		}
		body := fmt.Sprintf(`{"model_name":"tiny","prompt":"repeat me","max_length":3,"idle_s":0,"repeat":2,"cooldown_s":0.3,"co2_preset":%q,"price_usd_per_kwh":0.3,"wait":true}`, preset)
		if code := call(t, "POST", url+"/api/profiling/generate", body, &out); code != 200 || len(out.RunIDs) != 2 || out.RepeatGroup == "" {
			t.Fatalf("repeat: %d %+v", code, out)
		}
		if out.Runs[0]["co2_preset"] != preset || out.Runs[0]["price_usd_per_kwh"] != 0.3 {
			t.Errorf("settings not applied: preset %v, price %v", out.Runs[0]["co2_preset"], out.Runs[0]["price_usd_per_kwh"])
		}
		groups = append(groups, out.RepeatGroup)
		firstIDs = append(firstIDs, out.RunIDs[0])

		var a, b struct {
			Run struct {
				FinishedAt *time.Time `json:"finished_at"`
				Settings   struct {
					RepeatGroup string `json:"repeat_group"`
				} `json:"settings"`
				Host struct {
					Conditions *struct {
						Start map[string]any `json:"start"`
						End   map[string]any `json:"end"`
					} `json:"conditions"`
				} `json:"host"`
			} `json:"run"`
		}
		call(t, "GET", url+"/api/profiling/run/"+out.RunIDs[0], "", &a)
		call(t, "GET", url+"/api/profiling/run/"+out.RunIDs[1], "", &b)
		if a.Run.Settings.RepeatGroup != out.RepeatGroup || b.Run.Settings.RepeatGroup != out.RepeatGroup {
			t.Errorf("stored repeat groups %q %q, want %q", a.Run.Settings.RepeatGroup, b.Run.Settings.RepeatGroup, out.RepeatGroup)
		}
		// Both are stored as queued at once; the second one's run starts
		// after the first ends and the cooldown passes, so it ends at
		// least cooldown + its own duration after the first.
		dur := out.Runs[1]["duration_s"].(map[string]any)["value"].(float64)
		if gap := b.Run.FinishedAt.Sub(*a.Run.FinishedAt) - time.Duration(dur*float64(time.Second)); gap < 300*time.Millisecond {
			t.Errorf("the second repeat ran %v after the first ended; want at least the 0.3 s cooldown", gap)
		}
		// Whatever this machine reports (a VM reports little), a run says
		// what was read at its start and end, or why not.
		if c := a.Run.Host.Conditions; c == nil || c.Start == nil || c.End == nil {
			t.Errorf("conditions not recorded: %+v", a.Run.Host.Conditions)
		}
	}

	var cmp struct {
		Groups []struct {
			Label  string   `json:"label"`
			RunIDs []string `json:"run_ids"`
		} `json:"groups"`
		Tests []struct {
			P *float64 `json:"p"`
		} `json:"tests"`
		Warnings []string `json:"warnings"`
	}
	if code := call(t, "GET", url+"/api/profiling/compare?ids=group:"+groups[0]+",group:"+groups[1][:8], "", &cmp); code != 200 {
		t.Fatalf("compare groups: %d", code)
	}
	if len(cmp.Groups) != 2 || len(cmp.Groups[0].RunIDs) != 2 || !strings.Contains(cmp.Groups[0].Label, "×2") {
		t.Fatalf("groups: %+v", cmp.Groups)
	}
	if len(cmp.Tests) == 0 || cmp.Tests[0].P == nil {
		t.Errorf("two runs per group should give Welch p-values: %+v", cmp.Tests)
	}
	if cmp.Warnings == nil {
		t.Error("warnings must be a list (empty when conditions match)")
	}
	if code := call(t, "GET", url+"/api/profiling/compare?ids=group:ffffffff,"+firstIDs[0], "", nil); code != 404 {
		t.Errorf("unknown group: %d", code)
	}

	// One table of the CSV export as a plain CSV file.
	res, err := http.Get(url + "/api/profiling/export/" + firstIDs[0] + "?format=csv&table=tokens")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "-tokens.csv") || !bytes.HasPrefix(body, []byte("run_id,")) {
		t.Errorf("csv table: %d %v %.80q", res.StatusCode, res.Header, body)
	}
	res, err = http.Get(url + "/api/profiling/export/" + firstIDs[0] + "?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.Contains(res.Header.Get("Content-Disposition"), ".csv.zip") {
		t.Errorf("the zip of CSV tables should say so in its name: %q", res.Header.Get("Content-Disposition"))
	}
	if code := call(t, "GET", url+"/api/profiling/export/"+firstIDs[0]+"?format=csv&table=nope", "", nil); code != 400 {
		t.Errorf("unknown table: %d", code)
	}
}
