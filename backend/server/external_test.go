package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"energyprofiler/backend/api"
	"energyprofiler/backend/external"
	"energyprofiler/backend/profiler"
)

type runRecord struct {
	Run struct {
		ID       string             `json:"id"`
		Status   string             `json:"status"`
		Error    string             `json:"error"`
		Kind     string             `json:"kind"`
		Tags     []string           `json:"tags"`
		External *profiler.External `json:"external"`
	} `json:"run"`
	Summary *profiler.Summary `json:"summary"`
	Tokens  []struct {
		Piece string `json:"piece"`
	} `json:"tokens"`
	Layers []any `json:"layers"`
}

func getRun(t *testing.T, url, id string) runRecord {
	t.Helper()
	var rec runRecord
	if code := call(t, "GET", url+"/api/profiling/run/"+id, "", &rec); code != 200 {
		t.Fatalf("run %s: %d", id, code)
	}
	return rec
}

// sseEvents reads a stream of server-sent events: the JSON of every data
// line, and whether [DONE] came last.
func sseEvents(t *testing.T, body io.Reader) (events []map[string]any, done bool) {
	t.Helper()
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		if done {
			t.Fatalf("data after [DONE]: %q", line)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		events = append(events, ev)
	}
	return events, done
}

func TestOpenAIEndpointStreamsAndProfiles(t *testing.T) {
	_, url := start(t)
	body := `{"model":"tiny","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there"}],
		"max_tokens":6,"stream":true,"stream_options":{"include_usage":true},"idle_s":0.05,"user":"ignored-field"}`
	res, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	id := res.Header.Get(api.RunIDHeader)
	if res.StatusCode != 200 || id == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d, run id %q, %s", res.StatusCode, id, res.Header.Get("Content-Type"))
	}
	events, done := sseEvents(t, res.Body)
	if !done || len(events) < 4 {
		t.Fatalf("done %v, %d events", done, len(events))
	}
	first := events[0]["choices"].([]any)[0].(map[string]any)["delta"].(map[string]any)
	if first["role"] != "assistant" || events[0]["object"] != "chat.completion.chunk" || events[0]["id"] != "chatcmpl-"+id {
		t.Errorf("first chunk %v", events[0])
	}
	var text strings.Builder
	contentChunks := 0
	for _, ev := range events[1 : len(events)-2] {
		d := ev["choices"].([]any)[0].(map[string]any)["delta"].(map[string]any)
		text.WriteString(d["content"].(string))
		contentChunks++
	}
	final := events[len(events)-2]["choices"].([]any)[0].(map[string]any)
	if final["finish_reason"] != "length" && final["finish_reason"] != "stop" {
		t.Errorf("finish %v", final)
	}
	last := events[len(events)-1]
	usage := last["usage"].(map[string]any)
	if len(last["choices"].([]any)) != 0 || usage["completion_tokens"].(float64) < 1 || usage["prompt_tokens"].(float64) < 5 {
		t.Fatalf("usage chunk %v", last)
	}
	if ep := last["energyprofiler"].(map[string]any); ep["run_id"] != id {
		t.Errorf("energy %v", ep)
	}

	rec := getRun(t, url, id)
	if rec.Run.Status != "completed" || rec.Run.Kind != "" || rec.Summary.Kind != "engine" || !contains(rec.Run.Tags, api.OpenAITag) {
		t.Fatalf("run %+v", rec.Run)
	}
	if int(usage["completion_tokens"].(float64)) != rec.Summary.OutputTokens || int(usage["prompt_tokens"].(float64)) != rec.Summary.InputTokens {
		t.Errorf("usage %v, run %d/%d", usage, rec.Summary.InputTokens, rec.Summary.OutputTokens)
	}
	var stored strings.Builder
	for _, tk := range rec.Tokens {
		stored.WriteString(tk.Piece)
	}
	if stored.String() != text.String() || contentChunks > rec.Summary.OutputTokens {
		t.Errorf("streamed %q (%d chunks), stored %q", text.String(), contentChunks, stored.String())
	}
	if (final["finish_reason"] == "length") != (rec.Summary.OutputTokens == 6) {
		t.Errorf("finish %v with %d tokens of 6", final["finish_reason"], rec.Summary.OutputTokens)
	}

	// Not streamed, completions, no usage option.
	var out map[string]any
	req, _ := http.NewRequest("POST", url+"/v1/completions", strings.NewReader(`{"model":"tiny","prompt":"Once","max_tokens":3,"idle_s":0}`))
	req.Header.Set("Content-Type", "application/json")
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res2.Body).Decode(&out)
	res2.Body.Close()
	choice := out["choices"].([]any)[0].(map[string]any)
	if res2.StatusCode != 200 || out["object"] != "text_completion" || choice["text"] == nil || out["usage"].(map[string]any)["completion_tokens"].(float64) < 1 {
		t.Fatalf("%d %v", res2.StatusCode, out)
	}
	if id2 := res2.Header.Get(api.RunIDHeader); getRun(t, url, id2).Run.Status != "completed" {
		t.Errorf("run %s", id2)
	}

	// Models, and requests it refuses in OpenAI's error shape.
	call(t, "GET", url+"/v1/models", "", &out)
	if data := out["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != "tiny" {
		t.Errorf("models %v", out)
	}
	for _, c := range []struct{ path, body, want string }{
		{"/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, "see GET /v1/models"},
		{"/v1/chat/completions", `{"model":"tiny","messages":[]}`, "at least one message"},
		{"/v1/chat/completions", `{"model":"tiny","messages":[{"role":"user","content":"x"}],"n":3}`, "only 1"},
		{"/v1/chat/completions", `{"model":"tiny","messages":[{"role":"user","content":"x"}],"stop":["\n"]}`, "stop sequences"},
		{"/v1/completions", `{"model":"tiny","prompt":"x","max_tokens":100000}`, "max_length"},
		{"/v1/completions", `not json`, "not a JSON request"},
		{"/v1/embeddings", `{}`, "offers GET /v1/models"},
	} {
		code := call(t, "POST", url+c.path, c.body, &out)
		e, _ := out["error"].(map[string]any)
		if code < 400 || e == nil || !strings.Contains(fmt.Sprint(e["message"]), c.want) {
			t.Errorf("%s %s: %d %v, want %q", c.path, c.body, code, out, c.want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The external client against our own /v1: one real server profiles a
// request to another's OpenAI endpoint, both store their run.
func TestServerRunAgainstOurOwnV1(t *testing.T) {
	_, engineURL := start(t)
	_, url := start(t)
	body := fmt.Sprintf(`{"model_name":"tiny","endpoint":%q,"chat":true,"prompt":"Tell me about energy","max_length":5,"idle_s":0.05,"tags":["e2e"],"wait":true}`, engineURL+"/v1")
	var sum profiler.Summary
	if code := call(t, "POST", url+"/api/profiling/generate", body, &sum); code != 200 {
		t.Fatalf("generate: %d %+v", code, sum)
	}
	rec := getRun(t, url, sum.RunID)
	x := rec.Run.External
	if rec.Run.Status != "completed" || rec.Run.Kind != "server" || x == nil || x.API != "openai" || x.Route != "/chat/completions" || x.ServerModel != "tiny" {
		t.Fatalf("run %+v external %+v", rec.Run, x)
	}
	if x.OutputTokensSource != "reported by the server (usage.completion_tokens)" || rec.Summary.OutputTokens != *x.ReportedOutputTokens || x.Remote {
		t.Errorf("tokens %d from %q", rec.Summary.OutputTokens, x.OutputTokensSource)
	}
	if len(rec.Layers) != 0 || rec.Summary.Kind != "server" {
		t.Errorf("layers %d kind %s", len(rec.Layers), rec.Summary.Kind)
	}
	// 12 W replayed: the run's energy is 12 W × its duration.
	e, _ := rec.Summary.TotalEnergyJ.Get()
	d, _ := rec.Summary.DurationS.Get()
	if d <= 0 || e < 11*d || e > 13*d || !strings.Contains(rec.Summary.TotalEnergyJ.Label, "replay") {
		t.Errorf("energy %v J over %v s (%s)", e, d, rec.Summary.TotalEnergyJ.Label)
	}
	for _, p := range []string{"pre_inference", "prefill", "decode", "post_inference"} {
		if _, ok := rec.Summary.PhaseEnergy[p]; !ok {
			t.Errorf("no %s phase", p)
		}
	}
	// The engine server stored its side, tagged.
	var page []api.RunListItem
	call(t, "GET", engineURL+"/api/profiling/runs?tag=openai-api", "", &page)
	if len(page) != 1 || page[0].Kind != "engine" {
		t.Errorf("engine side: %+v", page)
	}
	call(t, "GET", url+"/api/profiling/runs?kind=server", "", &page)
	if len(page) != 1 || page[0].ID != sum.RunID || page[0].Kind != "server" {
		t.Errorf("kind filter: %+v", page)
	}

	// A server cannot profile its own /v1 (it would wait behind itself),
	// and a remote server needs "power" given.
	for _, c := range []struct{ body, want string }{
		{fmt.Sprintf(`{"model_name":"tiny","endpoint":%q,"prompt":"x"}`, url+"/v1"), "is this server"},
		{`{"model_name":"m","endpoint":"http://192.0.2.7:8000/v1","prompt":"x"}`, "another machine"},
		{`{"model_name":"m","endpoint":"nosuch","prompt":"x"}`, "no saved endpoint"},
		{`{"model_name":"m","endpoint":"http://u:p@127.0.0.1:1/v1","prompt":"x"}`, "holds credentials"},
	} {
		var e map[string]any
		code := call(t, "POST", url+"/api/profiling/generate", c.body, &e)
		if code < 400 || !strings.Contains(fmt.Sprint(e["detail"]), c.want) {
			t.Errorf("%s: %d %v, want %q", c.body, code, e, c.want)
		}
	}
}

// A failed server request is stored as failed with its error; a saved
// endpoint's models are listed as ENDPOINT:MODEL and can be profiled.
func TestServerRunFailureAndSavedEndpoint(t *testing.T) {
	srv, url := start(t)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/tags":
			w.Write([]byte(`{"models":[{"name":"llama3.2:1b","details":{"family":"llama","parameter_size":"1.2B","quantization_level":"Q8_0"}},{"name":"broken:latest"}]}`))
		case "/api/generate":
			var req map[string]any
			json.NewDecoder(r.Body).Decode(&req)
			if req["model"] == "broken:latest" {
				w.WriteHeader(500)
				w.Write([]byte(`{"error":"llama runner process has terminated"}`))
				return
			}
			for _, p := range []string{"Energy", " is", " work"} {
				fmt.Fprintf(w, `{"model":"llama3.2:1b","response":%q,"done":false}`+"\n", p)
				w.(http.Flusher).Flush()
			}
			fmt.Fprintln(w, `{"model":"llama3.2:1b","response":"","done":true,"done_reason":"stop","prompt_eval_count":9,"eval_count":3,"eval_duration":1000000}`)
		}
	}))
	defer fake.Close()
	cfg := external.Config{Endpoints: []external.Endpoint{{Name: "lab", URL: fake.URL, API: external.APIOllama}}}
	if err := external.Save(srv.Config.EndpointsPath, cfg); err != nil {
		t.Fatal(err)
	}
	var models struct {
		Models []map[string]any `json:"models"`
	}
	call(t, "GET", url+"/api/profiling/models", "", &models)
	var names []string
	for _, m := range models.Models {
		names = append(names, fmt.Sprint(m["name"]))
	}
	if strings.Join(names, ",") != "tiny,lab:broken:latest,lab:llama3.2:1b" {
		t.Fatalf("models %v", names)
	}
	if models.Models[2]["kind"] != "server" || models.Models[2]["quantization"] != "Q8_0" {
		t.Errorf("%v", models.Models[2])
	}
	var sum profiler.Summary
	if code := call(t, "POST", url+"/api/profiling/generate", `{"model_name":"lab:llama3.2:1b","prompt":"Why?","max_length":8,"idle_s":0,"wait":true}`, &sum); code != 200 {
		t.Fatalf("%d", code)
	}
	rec := getRun(t, url, sum.RunID)
	if rec.Summary.OutputTokens != 3 || rec.Summary.InputTokens != 9 || rec.Run.External.EndpointName != "lab" || rec.Run.External.ServerTimings["ollama eval_duration_ns"] != 1e6 {
		t.Errorf("%+v %+v", rec.Summary, rec.Run.External)
	}

	var e map[string]any
	code := call(t, "POST", url+"/api/profiling/generate", `{"model_name":"lab:broken:latest","prompt":"Why?","idle_s":0,"wait":true}`, &e)
	if code != 500 || !strings.Contains(fmt.Sprint(e["detail"]), "llama runner process has terminated") {
		t.Fatalf("%d %v", code, e)
	}
	var page []api.RunListItem
	call(t, "GET", url+"/api/profiling/runs?status=failed", "", &page)
	if len(page) != 1 {
		t.Fatalf("failed runs %+v", page)
	}
	failed := getRun(t, url, page[0].ID)
	if failed.Run.Kind != "server" || !strings.Contains(failed.Run.Error, "500") || failed.Summary == nil {
		t.Errorf("failed run %+v", failed.Run)
	}
}

func TestWindowsOverTheAPI(t *testing.T) {
	_, url := start(t)
	var opened map[string]any
	if code := call(t, "POST", url+"/api/profiling/windows", `{"name":"fine-tune epoch 3","tags":["train"],"idle_s":0.05}`, &opened); code != 201 {
		t.Fatalf("%d %v", code, opened)
	}
	id := fmt.Sprint(opened["window_id"])
	var list map[string][]map[string]any
	call(t, "GET", url+"/api/profiling/windows", "", &list)
	if len(list["windows"]) != 1 || list["windows"][0]["window_id"] != id {
		t.Errorf("open windows %v", list)
	}
	var sum profiler.Summary
	if code := call(t, "POST", url+"/api/profiling/windows/"+id+"/stop", `{"tokens_out":1200,"tags":["epoch-3"],"note":"lr 3e-4"}`, &sum); code != 200 {
		t.Fatalf("%d", code)
	}
	rec := getRun(t, url, id)
	if rec.Run.Kind != "window" || rec.Run.Status != "completed" || rec.Summary.OutputTokens != 1200 || !contains(rec.Run.Tags, "epoch-3") {
		t.Errorf("%+v %+v", rec.Run, rec.Summary)
	}
	if _, ok := rec.Summary.JoulesPerToken.Get(); !ok {
		t.Error("no J per token with tokens given")
	}
	var e map[string]any
	for _, c := range []struct {
		path, body string
		code       int
	}{
		{"/api/profiling/windows/" + id + "/stop", `{}`, 404},
		{"/api/profiling/windows", `{"name":"x","timeout_s":0}`, 400},
		{"/api/profiling/windows", `{"name":"x","idle_s":-1}`, 400},
		{"/api/profiling/windows", `{"name":"x","bogus":1}`, 400},
	} {
		if code := call(t, "POST", url+c.path, c.body, &e); code != c.code {
			t.Errorf("%s %s: %d %v, want %d", c.path, c.body, code, e, c.code)
		}
	}
	var page []api.RunListItem
	call(t, "GET", url+"/api/profiling/runs?kind=window", "", &page)
	if len(page) != 1 || page[0].Kind != "window" || page[0].Depth != "off" {
		t.Errorf("%+v", page)
	}
	if code := call(t, "GET", url+"/api/profiling/runs?kind=gpu", "", &e); code != 400 {
		t.Errorf("bad kind: %d", code)
	}
}

// In remote mode /v1 needs the token like /api.
func TestOpenAIEndpointNeedsTheToken(t *testing.T) {
	srv, _ := start(t)
	token := strings.Repeat("k", 32)
	hs := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(hs.Listener.Addr().String())
	hs.Config.Handler = srv.Handler(api.Options{Port: port, Token: token})
	hs.Start()
	defer hs.Close()
	for _, auth := range []string{"", "Bearer wrong"} {
		req, _ := http.NewRequest("GET", hs.URL+"/v1/models", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("%q: %d", auth, res.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", hs.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("with the token: %d", res.StatusCode)
	}
}

// An ollama on its port (OLLAMA_HOST here, to point at a fake) is found and
// listed without any saved endpoint.
func TestOllamaFoundWithoutConfiguration(t *testing.T) {
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/tags" {
			w.Write([]byte(`{"models":[{"name":"llama3.2:1b","details":{"family":"llama"}}]}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer fake.Close()
	t.Setenv("OLLAMA_HOST", strings.TrimPrefix(fake.URL, "http://"))
	_, url := start(t)
	var models struct {
		Models []map[string]any `json:"models"`
	}
	call(t, "GET", url+"/api/profiling/models", "", &models)
	if len(models.Models) != 2 || models.Models[1]["name"] != "ollama:llama3.2:1b" || models.Models[1]["endpoint"] != "ollama" {
		t.Fatalf("models %v", models.Models)
	}
	var eps struct {
		Endpoints []external.Probe `json:"endpoints"`
	}
	call(t, "GET", url+"/api/profiling/endpoints", "", &eps)
	if len(eps.Endpoints) != 1 || !eps.Endpoints[0].Endpoint.Discovered || !eps.Endpoints[0].Reachable {
		t.Errorf("endpoints %+v", eps)
	}
}
