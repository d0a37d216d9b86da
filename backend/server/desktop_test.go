package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/demo"
)

func TestProfileFolderValidatesAndQueues(t *testing.T) {
	srv, _ := start(t)
	outside := t.TempDir() // a folder outside the models folder, as a drop gives
	good, err := demo.WriteSpec(outside, demo.Spec{Name: "dropped", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHead: 2, Vocab: 1100})
	if err != nil {
		t.Fatal(err)
	}
	id, err := srv.ProfileFolder(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Queue.Wait(t.Context(), id); err != nil {
		t.Fatalf("dropped folder's run: %v", err)
	}
	rec, err := srv.Store.Get(t.Context(), id)
	if err != nil || rec.Run.ModelName != "dropped" || rec.Run.ModelPath != good {
		t.Fatalf("stored run: %v %+v", err, rec)
	}

	noTok := filepath.Join(outside, "no-tokenizer")
	os.MkdirAll(noTok, 0o755)
	os.WriteFile(filepath.Join(noTok, "config.json"), []byte(`{}`), 0o644)
	corrupt := filepath.Join(outside, "corrupt")
	os.CopyFS(corrupt, os.DirFS(good))
	os.WriteFile(filepath.Join(corrupt, "model.safetensors"), []byte("\x10\x00\x00\x00\x00\x00\x00\x00{not json"), 0o644)
	for name, c := range map[string]struct{ path, want string }{
		"missing":   {filepath.Join(outside, "nope"), "no such file"},
		"a file":    {filepath.Join(good, "config.json"), "drop the model's folder"},
		"no tokens": {noTok, "no tokenizer.json"},
		"corrupt":   {corrupt, "model.safetensors"},
	} {
		if _, err := srv.ProfileFolder(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
}

func TestQuickProfileReportsProgressAndReusesTheLastRequest(t *testing.T) {
	srv, url := start(t)
	// A dashboard run sets what Quick Profile repeats.
	var out map[string]any
	call(t, "POST", url+"/api/profiling/generate", `{"model_name":"tiny","prompt":"again","max_length":5,"idle_s":0,"wait":true}`, &out)
	if got := srv.QuickProfileLabel(); !strings.Contains(got, "tiny") || !strings.Contains(got, "again") {
		t.Errorf("label %q", got)
	}
	var tokens, lastTotal int
	id, err := srv.QuickProfile(t.Context(), func(phase string, done, total int) {
		if phase == "decode" {
			tokens = done
		}
		lastTotal = total
	})
	if err != nil {
		t.Fatal(err)
	}
	if tokens == 0 || lastTotal != 5 {
		t.Errorf("progress: %d tokens of %d", tokens, lastTotal)
	}
	runs, err := srv.RecentRuns(t.Context(), 5)
	if err != nil || len(runs) != 2 || runs[0].ID != id {
		t.Errorf("recent runs: %v %+v", err, runs)
	}
	if s := srv.PowerStatus(); !strings.Contains(s, "replay") {
		t.Errorf("power status %q", s)
	}
}
