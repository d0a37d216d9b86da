package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/model"
)

// configDir makes a model folder holding only the named shared config (see
// backend/model/testdata/configs/README.md for origins).
func configDir(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "model", "testdata", "configs", file))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInspectPublishedCounts(t *testing.T) {
	tests := []struct {
		file   string
		params int64
		text   string
	}{
		{"qwen2.5-0.5b.json", 494_032_768, "494,032,768"},
		{"tinyllama-1.1b-chat-v1.0-resave.json", 1_100_048_384, "1,100,048,384"},
		{"qwen3-4b.json", 4_022_468_096, "4,022,468,096"},
		{"gemma-3-1b-it.json", 999_885_952, "999,885,952"},
		{"mixtral-8x7b-v0.1-handwritten.json", 46_702_792_704, "46,702,792,704"},
		{"qwen1.5-moe-a2.7b-handwritten.json", 14_315_784_192, "14,315,784,192"},
		{"qwen3-30b-a3b.json", 30_532_122_624, "30,532,122,624"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dir := configDir(t, tt.file)

			code, out, errs := runCLI("inspect", dir)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			for _, want := range []string{tt.text + " total", "not present: facts from config.json alone", "Attention"} {
				if !strings.Contains(out, want) {
					t.Errorf("text output lacks %q:\n%s", want, out)
				}
			}

			// The flag may follow the folder.
			code, out, errs = runCLI("inspect", dir, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if p, ok := got["params_total"].(float64); !ok || int64(p) != tt.params {
				t.Errorf("params_total = %v, want %d", got["params_total"], tt.params)
			}
			if got["weights_present"] != false || got["dir"] != dir {
				t.Errorf("weights_present %v dir %v", got["weights_present"], got["dir"])
			}
		})
	}
}

// An MoE model's experts, top-k and active parameters are in the report.
func TestInspectMoE(t *testing.T) {
	code, out, errs := runCLI("inspect", configDir(t, "mixtral-8x7b-v0.1-handwritten.json"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"8 experts, top-2, no shared expert, on 32 of 32 layers", "active per token  12,879,925,248"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI("inspect", "--json", configDir(t, "qwen1.5-moe-a2.7b-handwritten.json"))
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	if got["moe"] != true || got["experts"] != 60.0 || got["top_k"] != 4.0 || got["shared_experts"] != 1.0 || got["params_active"] != 2_689_173_504.0 {
		t.Errorf("moe facts: %v %v %v %v %v", got["moe"], got["experts"], got["top_k"], got["shared_experts"], got["params_active"])
	}
}

// A folder with weights is opened and cross-checked.
func TestInspectWithWeights(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"model_type": "qwen2", "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 1,
		"num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 10, "tie_word_embeddings": true, "torch_dtype": "bfloat16"}`
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644)
	c, err := model.ParseConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	w := model.NewWriter()
	var total int64
	for _, s := range c.ExpectedTensors() {
		w.AddFloat32(s.Name, model.BF16, s.Shape, make([]float32, s.Elements()))
		total += s.Elements()
	}
	if err := w.WriteFile(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("inspect", "--json", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		ParamsTotal    int64    `json:"params_total"`
		WeightsPresent bool     `json:"weights_present"`
		Files          []string `json:"weight_files"`
		DTypeSource    string   `json:"dtype_source"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	// 10×8 embedding + q 8×8 + k,v 4×8 + biases 8+4+4 + o 8×8 + mlp 3×8×12 + norms 2×8, + final norm 8
	const want = 80 + 64 + 32 + 32 + 16 + 64 + 288 + 16 + 8
	if got.ParamsTotal != want || total != want || !got.WeightsPresent || len(got.Files) != 1 || got.DTypeSource != "safetensors" {
		t.Errorf("got %+v, want params %d from 1 file", got, want)
	}

	// Corrupt the weights: inspect must fail with the file named, not fall
	// back to config-only facts.
	os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("garbage!garbage!"), 0o644)
	code, _, errs = runCLI("inspect", dir)
	if code != 1 || !strings.Contains(errs, "model.safetensors") {
		t.Errorf("corrupt weights: exit %d, stderr %q", code, errs)
	}
}

func TestInspectErrors(t *testing.T) {
	unsupported := t.TempDir()
	os.WriteFile(filepath.Join(unsupported, "config.json"), []byte(`{"model_type": "gpt2"}`), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect"}, 2, "want exactly one model folder"},
		{[]string{"inspect", "a", "b"}, 2, "want exactly one model folder"},
		{[]string{"inspect", "--nope", "a"}, 2, "flag provided but not defined"},
		{[]string{"inspect", t.TempDir()}, 1, "no config.json"},
		{[]string{"inspect", unsupported}, 1, `model_type "gpt2" is not supported (supported: llama, mistral`},
	}
	for _, tt := range tests {
		code, _, errs := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d stderr %q, want exit %d and %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
}

func TestGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 494032768: "494,032,768", -1234567: "-1,234,567"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}
