package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/modelstore/storetest"
)

// TestModelsListsStoresAndProfilesByName: `models` shows a hub-cache model
// with its source, and profile --model takes its name, reading it in place.
func TestModelsListsStoresAndProfilesByName(t *testing.T) {
	home := t.TempDir()
	hub := filepath.Join(home, "hub")
	t.Setenv("HOME", home)
	t.Setenv("HF_HUB_CACHE", hub)
	t.Setenv("OLLAMA_MODELS", filepath.Join(home, "no-ollama"))
	src := tinyDemo(t)
	storetest.HubRepo(t, hub, "org/tiny-chat", "feed", storetest.ReadFolder(t, src, "config.json", "generation_config.json", "tokenizer.json", "model.safetensors"), true)
	storetest.HubRepo(t, hub, "org/half", "beef", storetest.ReadFolder(t, src, "config.json", "tokenizer.json"), true)
	modelsDir := t.TempDir()

	code, out, errOut := runCLI("models", "--models-dir", modelsDir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var list []modelJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(list) != 2 || list[1].Name != "hf:org/tiny-chat" || list[1].Source != "huggingface" || !list[1].Complete ||
		list[1].Quantization == nil || *list[1].Quantization != "BF16" || list[1].SizeBytes == nil ||
		list[0].Name != "hf:org/half" || list[0].Complete || !strings.Contains(list[0].Note, "model.safetensors") {
		t.Fatalf("models --json: %s", out)
	}
	code, out, _ = runCLI("models", "--models-dir", modelsDir)
	if code != 0 || !strings.Contains(out, "hf:org/tiny-chat") || !strings.Contains(out, "incomplete: missing model.safetensors") {
		t.Errorf("models table:\n%s", out)
	}

	db := filepath.Join(t.TempDir(), "p.db")
	trace := profReplay(t, 10)
	code, out, errOut = profCLI(t, "profile", "--model", "hf:org/tiny-chat", "--prompt", "Hi", "--max-tokens", "2", "--power", "replay:"+trace,
		"--interval", "10ms", "--idle", "0", "--db", db, "--json")
	if code != 0 {
		t.Fatalf("profile by store name: exit %d: %s", code, errOut)
	}
	code, out, _ = profCLI(t, "runs", "--db", db, "--json")
	if code != 0 || !strings.Contains(out, `"model_name": "hf:org/tiny-chat"`) {
		t.Errorf("the run is not listed under its store name: %s", out)
	}
	for _, bad := range []string{"hf:org/half", "hf:../../etc", "ollama:llama3.2:1b", "not-a-model"} {
		if code, _, errOut := runCLI("generate", "--model", bad, "--prompt", "x"); code == 0 || errOut == "" {
			t.Errorf("generate --model %s: exit %d %s", bad, code, errOut)
		}
	}
}
