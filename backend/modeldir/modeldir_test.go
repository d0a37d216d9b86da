package modeldir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/demo"
)

const tinyConfig = `{"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,
"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,"rms_norm_eps":1e-5,"max_position_embeddings":128,
"torch_dtype":"bfloat16","tie_word_embeddings":false}`

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestListFindsModelFoldersAndReportsBrokenOnes(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b-good", "config.json"), tinyConfig)
	write(t, filepath.Join(dir, "a-broken", "config.json"), `{"model_type":"gpt2"}`)
	write(t, filepath.Join(dir, "not-a-model", "README"), "x")
	write(t, filepath.Join(dir, "demo", "config.json"), tinyConfig)
	write(t, filepath.Join(dir, "demo", demo.MarkerFile), "random weights")

	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("found %d models, want 3: %+v", len(got), got)
	}
	if got[0].Name != "a-broken" || got[0].Err == nil || got[0].Facts != nil {
		t.Errorf("broken model: %+v", got[0])
	}
	if got[2].Name != "demo" || !got[2].Demo {
		t.Errorf("demo model not marked: %+v", got[2])
	}
	if got[1].Facts == nil || got[1].Facts.Layers != 2 || got[1].Facts.Attention != "GQA" {
		t.Errorf("good model facts: %+v", got[1].Facts)
	}
}

func TestResolveStaysInsideTheFolder(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "m", "config.json"), tinyConfig)
	if p, err := Resolve(dir, "m"); err != nil || p != filepath.Join(dir, "m") {
		t.Fatalf("Resolve(m) = %q, %v", p, err)
	}
	for _, bad := range []string{"", ".", "..", "../m", "m/../m", "/etc", `..\m`, "a/b", ".hidden", "m\x00"} {
		if _, err := Resolve(dir, bad); !errors.Is(err, ErrBadName) {
			t.Errorf("Resolve(%q) = %v, want ErrBadName", bad, err)
		}
	}
	if _, err := Resolve(dir, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(missing) = %v, want ErrNotFound", err)
	}
}

// Issue 12 item 1: one folder declaring absurd sizes used to take the whole
// server down (the listing allocated a slice of num_hidden_layers); now it
// is listed with its error beside the good ones.
func TestListSurvivesAbsurdConfigs(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "good", "config.json"), tinyConfig)
	write(t, filepath.Join(dir, "huge-layers", "config.json"),
		`{"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":1099511627776,"num_attention_heads":4,"vocab_size":100}`)
	// In range, but far more than its 1 KiB of weights can hold.
	write(t, filepath.Join(dir, "tiny-weights", "config.json"),
		`{"model_type":"llama","hidden_size":4096,"intermediate_size":11008,"num_hidden_layers":32,"num_attention_heads":32,"vocab_size":32000}`)
	write(t, filepath.Join(dir, "tiny-weights", "model.safetensors"), strings.Repeat("x", 1024))

	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Entry{}
	for _, e := range got {
		byName[e.Name] = e
	}
	if e := byName["good"]; e.Err != nil || e.Facts == nil {
		t.Errorf("good model: %+v", e)
	}
	if e := byName["huge-layers"]; e.Err == nil || !strings.Contains(e.Err.Error(), "num_hidden_layers") {
		t.Errorf("huge-layers listed without its error: %+v", e)
	}
	if e := byName["tiny-weights"]; e.Err == nil || !strings.Contains(e.Err.Error(), "weights") {
		t.Errorf("tiny-weights listed without its error: %+v", e)
	}
}
