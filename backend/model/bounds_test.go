package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 12 item 1: a config.json declaring absurd sizes made the loader
// allocate without bound (a slice of num_hidden_layers entries), killing
// the server. Every size is now bounded before anything is allocated.
func TestParseConfigRefusesAbsurdSizes(t *testing.T) {
	base := map[string]string{
		"hidden_size": "16", "intermediate_size": "24", "num_hidden_layers": "2",
		"num_attention_heads": "4", "num_key_value_heads": "2", "vocab_size": "40",
	}
	config := func(key, value string) []byte {
		var parts []string
		for _, k := range []string{"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size"} {
			v := base[k]
			if k == key {
				v = value
			}
			parts = append(parts, fmt.Sprintf("%q: %s", k, v))
		}
		if key != "" && base[key] == "" {
			parts = append(parts, fmt.Sprintf("%q: %s", key, value))
		}
		return []byte(`{"model_type": "mistral", ` + strings.Join(parts, ", ") + `}`)
	}
	tests := []struct{ key, value string }{
		{"num_hidden_layers", "1099511627776"},
		{"num_hidden_layers", "100000000"},
		{"hidden_size", "4000000000"},
		{"intermediate_size", "4000000000"},
		{"vocab_size", "4000000000"},
		{"num_attention_heads", "2000000000"},
		{"head_dim", "1000000000"},
		{"max_position_embeddings", "1000000000000"},
		{"sliding_window", "1000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			start := time.Now()
			_, err := ParseConfig(config(tt.key, tt.value))
			if err == nil {
				t.Fatalf("ParseConfig accepted %s = %s", tt.key, tt.value)
			}
			if !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), "at most") {
				t.Errorf("error %q does not name %s and its limit", err, tt.key)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("rejecting took %v", d)
			}
		})
	}
}

// The product of two in-range sizes can still be absurd: the parameter
// count is bounded too.
func TestParseConfigRefusesAbsurdParameterCount(t *testing.T) {
	cfg := fmt.Sprintf(`{"model_type": "llama", "hidden_size": %d, "intermediate_size": %d, "num_hidden_layers": %d,
		"num_attention_heads": 64, "vocab_size": %d}`, MaxHiddenSize, MaxIntermediateSize, MaxLayers, MaxVocabSize)
	_, err := ParseConfig([]byte(cfg))
	wantErr(t, err, "parameters", "at most")
}

// A config may not declare more parameters than its weights can hold: the
// check needs only the files' sizes, so listing a folder never reads them.
func TestCheckWeightBytes(t *testing.T) {
	c, err := ParseConfig([]byte(tinyConfigs()["llama"]))
	if err != nil {
		t.Fatal(err)
	}
	params := c.Facts().ParamsTotal
	if err := c.CheckWeightBytes(params*2, 2); err != nil {
		t.Errorf("weights of exactly the declared size refused: %v", err)
	}
	err = c.CheckWeightBytes(params*2-1, 2)
	wantErr(t, err, "config.json declares", "parameters", "weights")
	if err := c.CheckWeightBytes(params/4, 0.25); err != nil {
		t.Errorf("a 2-bit quantized size refused: %v", err)
	}
}

func TestWeightFileBytes(t *testing.T) {
	dir := writeSynth(t, synth{config: tinyConfigs()["llama"], shards: 3})
	n, err := WeightFileBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for i := range 3 {
		st, err := os.Stat(filepath.Join(dir, shardName(i, 3)))
		if err != nil {
			t.Fatal(err)
		}
		want += st.Size()
	}
	if n != want {
		t.Errorf("WeightFileBytes = %d, want the shards' %d", n, want)
	}
	_, err = WeightFileBytes(t.TempDir())
	wantErr(t, err, "no safetensors weights")
}

// Open refuses a config that declares more than its weights hold before it
// lists the tensors it expects.
func TestOpenRefusesConfigLargerThanWeights(t *testing.T) {
	dir := writeSynth(t, synth{config: tinyConfigs()["llama"]})
	big := strings.Replace(tinyConfigs()["llama"], `"num_hidden_layers": 2`, `"num_hidden_layers": 1000`, 1)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	wantErr(t, err, "config.json declares", "weights")
}

func TestLoadConfigRefusesHugeFile(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxConfigBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = LoadConfig(dir)
	wantErr(t, err, "config.json", "bytes")
}

// The cheap parameter count that bounds checks use must not undercount a
// mixture-of-experts model (it would let a config overstate its experts past
// CheckWeightBytes) and must stay within a few percent of the exact count
// from the tensor list (q/k norms and Gemma's extra norms are left out).
func TestParamCountCoversEveryFamily(t *testing.T) {
	files, err := filepath.Glob("testdata/configs/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseConfig(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		exact := c.Facts().ParamsTotal
		got := c.paramCount()
		if rel := float64(got-exact) / float64(exact); rel > 0.001 || rel < -0.01 {
			t.Errorf("%s: paramCount %d, exact %d (%.3f%%)", filepath.Base(f), got, exact, 100*rel)
		}
	}
}

func TestParseConfigRefusesAbsurdExperts(t *testing.T) {
	base := `{"model_type": "qwen3_moe", "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 40, "head_dim": 4, "moe_intermediate_size": 8`
	for _, extra := range []string{
		`, "num_experts": 1099511627776, "num_experts_per_tok": 2}`,
		`, "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 4000000000}`,
	} {
		if _, err := ParseConfig([]byte(base + extra)); err == nil || !strings.Contains(err.Error(), "at most") {
			t.Errorf("%s: err = %v, want a bound", extra, err)
		}
	}
}
