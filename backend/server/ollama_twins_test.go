package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/modelstore/storetest"
)

// TestOllamaFileAndServerAreTwoEntries: a model that is both a GGUF blob in
// ollama's store (ollama:tiny:chat) and served by the ollama running on its
// default port (found without configuration, so its endpoint is called
// "ollama" too) is listed twice, with distinct names and labels, and each
// entry runs where it says: the file on our engine, the server's as a
// server run.
func TestOllamaFileAndServerAreTwoEntries(t *testing.T) {
	var served []string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/tags":
			w.Write([]byte(`{"models":[{"name":"tiny:chat","details":{"family":"llama"}},{"name":"qwen3:8b"}]}`))
		case "/api/generate":
			var req map[string]any
			json.NewDecoder(r.Body).Decode(&req)
			served = append(served, fmt.Sprint(req["model"]))
			fmt.Fprintln(w, `{"model":"tiny:chat","response":"Hi","done":false}`)
			fmt.Fprintln(w, `{"model":"tiny:chat","response":"","done":true,"prompt_eval_count":3,"eval_count":1,"eval_duration":1000000}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer fake.Close()
	t.Setenv("OLLAMA_HOST", strings.TrimPrefix(fake.URL, "http://"))
	srv, url := start(t)
	srv.Config.Stores.Ollama = t.TempDir()
	gguf := filepath.Join(t.TempDir(), "m.gguf")
	storetest.GGUF(t, gguf, "")
	data, err := os.ReadFile(gguf)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Ollama(t, srv.Config.Stores.Ollama, []string{"registry.ollama.ai", "library", "tiny", "chat"}, "BF16", data, true)

	var list struct {
		Models []map[string]any `json:"models"`
	}
	call(t, "GET", url+"/api/profiling/models", "", &list)
	byName := map[string]map[string]any{}
	for _, m := range list.Models {
		name := m["name"].(string)
		if byName[name] != nil {
			t.Errorf("two entries named %s: %v", name, list.Models)
		}
		byName[name] = m
	}
	file, server, other := byName["ollama:tiny:chat"], byName["server:ollama:tiny:chat"], byName["ollama:qwen3:8b"]
	if file == nil || server == nil || other == nil {
		t.Fatalf("want the file, the server's twin and the server-only model, got %v", list.Models)
	}
	if file["source"] != "ollama" || file["format"] != "gguf" || file["kind"] == "server" || !strings.HasPrefix(fmt.Sprint(file["label"]), "file:") {
		t.Errorf("the file entry: %v", file)
	}
	if server["kind"] != "server" || server["endpoint"] != "ollama" || server["server_model"] != "tiny:chat" || server["file_model"] != "ollama:tiny:chat" ||
		!strings.HasPrefix(fmt.Sprint(server["label"]), "server: ollama") {
		t.Errorf("the server entry: %v", server)
	}
	if other["kind"] != "server" || other["file_model"] != nil {
		t.Errorf("a model only the server has keeps its plain name: %v", other)
	}

	// Both run, each where its entry says.
	for _, c := range []struct{ name, kind string }{{"ollama:tiny:chat", "engine"}, {"server:ollama:tiny:chat", "server"}, {"ollama:qwen3:8b", "server"}} {
		var sum map[string]any
		body := fmt.Sprintf(`{"model_name":%q,"prompt":"hi","max_length":2,"idle_s":0,"wait":true}`, c.name)
		if code := call(t, "POST", url+"/api/profiling/generate", body, &sum); code != 200 {
			t.Fatalf("%s: %d %v", c.name, code, sum)
		}
		rec := getRun(t, url, sum["run_id"].(string))
		if rec.Run.Status != "completed" || rec.Summary.Kind != c.kind {
			t.Errorf("%s ran as %q (%s), want %s", c.name, rec.Summary.Kind, rec.Run.Status, c.kind)
		}
	}
	if len(served) != 2 || served[0] != "tiny:chat" || served[1] != "qwen3:8b" {
		t.Errorf("the server was asked for %v, want tiny:chat then qwen3:8b (the file ran on our engine)", served)
	}
}
