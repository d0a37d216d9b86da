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
		PowerSpec: "replay:" + tracePath, Threads: 1, NoDemo: true,
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

	var page api.RunPage
	call(t, "GET", url+"/api/profiling/runs?tag=t1&sort=energy", "", &page)
	if page.Total != 2 || page.Runs[0].TotalEnergyJ == nil {
		t.Fatalf("run list: %+v", page)
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
