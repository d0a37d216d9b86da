package server

import (
	"os"
	"path/filepath"
	"testing"

	"energyprofiler/backend/api"
	"energyprofiler/backend/demo"
	"energyprofiler/backend/external"
	"energyprofiler/backend/modelstore/storetest"
	"energyprofiler/backend/tokenizer"
)

// hubRepo puts a small demo model into the hub cache hub as repo.
func hubRepo(t *testing.T, hub, repo string) {
	t.Helper()
	src, err := demo.WriteSpec(t.TempDir(), demo.Spec{Name: "m", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHead: 2, Vocab: 1100})
	if err != nil {
		t.Fatal(err)
	}
	storetest.HubRepo(t, hub, repo, "0123abcd", storetest.ReadFolder(t, src, "config.json", "generation_config.json", "tokenizer.json", "model.safetensors"), true)
}

// TestStoreModelsOverTheAPI: a model in the hub cache is listed with its
// source and profiled by its store name, read in place.
func TestStoreModelsOverTheAPI(t *testing.T) {
	srv, url := start(t)
	hubRepo(t, srv.Config.Stores.HFHub, "org/tiny-instruct")

	var list struct {
		Models []map[string]any `json:"models"`
	}
	call(t, "GET", url+"/api/profiling/models", "", &list)
	var hf map[string]any
	for _, m := range list.Models {
		if m["name"] == "hf:org/tiny-instruct" {
			hf = m
		}
	}
	if hf == nil || hf["source"] != "huggingface" || hf["format"] != "safetensors" || hf["complete"] != true || hf["quantization"] != "BF16" ||
		hf["size_bytes"] == nil || hf["layers"] != float64(2) {
		t.Fatalf("hub model in the list: %v (all: %v)", hf, list.Models)
	}
	var sum map[string]any
	if code := call(t, "POST", url+"/api/profiling/generate", `{"model_name":"hf:org/tiny-instruct","prompt":"hi","max_length":2,"idle_s":0,"wait":true}`, &sum); code != 200 {
		t.Fatalf("profile a hub model: %d %v", code, sum)
	}
	if sum["model_name"] != "hf:org/tiny-instruct" {
		t.Errorf("run model name %v", sum["model_name"])
	}
	for body, want := range map[string]int{
		`{"model_name":"hf:../../etc","prompt":"hi"}`:  400,
		`{"model_name":"hf:org/absent","prompt":"hi"}`: 404,
	} {
		var out map[string]any
		if code := call(t, "POST", url+"/api/profiling/generate", body, &out); code != want {
			t.Errorf("%s: %d %v, want %d", body, code, out, want)
		}
	}
}

// An endpoint called "ollama" and ollama's folder both answer to
// ollama:NAME:TAG: a model on disk is run by our engine, read in place;
// others still go to the server.
func TestOllamaNameOnDiskIsTheEngines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "endpoints.json")
	if err := external.Save(path, external.Config{Endpoints: []external.Endpoint{{Name: "ollama", URL: "http://127.0.0.1:11434", API: "ollama"}}}); err != nil {
		t.Fatal(err)
	}
	a := servers{path: path, onDisk: func(name string) bool { return name == "ollama:llama3.2:1b" }}
	req := api.GenerateRequest{ModelName: "ollama:llama3.2:1b", Prompt: "x"}
	if server, err := a.Target(t.Context(), &req); server || err != nil {
		t.Errorf("a model on disk went to the server: %v %v", server, err)
	}
	req = api.GenerateRequest{ModelName: "ollama:qwen3:8b", Prompt: "x"}
	if server, err := a.Target(t.Context(), &req); !server || err != nil {
		t.Errorf("a model only the server has: %v %v", server, err)
	}
	req = api.GenerateRequest{ModelName: "llama3.2:1b", Endpoint: "ollama", Prompt: "x"}
	if server, err := a.Target(t.Context(), &req); !server || err != nil {
		t.Errorf("an explicit endpoint: %v %v", server, err)
	}
}

// An ollama model (its GGUF blob, no extension) is profiled by its store
// name with its own chat template (tokenizer.chat_template).
func TestOllamaGGUFChatRun(t *testing.T) {
	srv, url := start(t)
	srv.Config.Stores.Ollama = t.TempDir()
	gguf := filepath.Join(t.TempDir(), "m.gguf")
	storetest.GGUF(t, gguf, "{{ bos_token }}[user] {{ messages[0].content }}{% if add_generation_prompt %} [assistant]{% endif %}")
	data, err := os.ReadFile(gguf)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Ollama(t, srv.Config.Stores.Ollama, []string{"registry.ollama.ai", "library", "tiny", "chat"}, "BF16", data, true)
	var sum map[string]any
	if code := call(t, "POST", url+"/api/profiling/generate", `{"model_name":"ollama:tiny:chat","prompt":"energy?","max_length":3,"idle_s":0,"chat":true,"wait":true}`, &sum); code != 200 {
		t.Fatalf("chat run of an ollama model: %d %v", code, sum)
	}
	var detail struct {
		Run struct {
			ModelName string `json:"model_name"`
			Settings  struct {
				Chat struct {
					Template       string `json:"template"`
					RenderedPrompt string `json:"rendered_prompt"`
				} `json:"chat"`
			} `json:"settings"`
		} `json:"run"`
	}
	call(t, "GET", url+"/api/profiling/run/"+sum["run_id"].(string), "", &detail)
	if c := detail.Run.Settings.Chat; detail.Run.ModelName != "ollama:tiny:chat" || c.Template != "GGUF tokenizer.chat_template" || c.RenderedPrompt != tokenizer.DemoBOS+"[user] energy? [assistant]" {
		t.Errorf("run %+v", detail.Run)
	}
}
