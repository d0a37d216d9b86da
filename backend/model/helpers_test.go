package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Tiny configs, one per family, small enough to write in microseconds.
func tinyConfigs() map[string]string {
	return map[string]string{
		"llama": `{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 16, "intermediate_size": 24,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 40,
		"rms_norm_eps": 1e-5, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2}`,
		"llama-tied": `{"model_type": "llama", "hidden_size": 16, "intermediate_size": 24,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 40,
		"tie_word_embeddings": true, "torch_dtype": "bfloat16"}`,
		"mistral": `{"model_type": "mistral", "hidden_size": 16, "intermediate_size": 24, "sliding_window": 8,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 40, "torch_dtype": "float16"}`,
		"qwen2": `{"model_type": "qwen2", "hidden_size": 16, "intermediate_size": 24, "use_sliding_window": false,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 40,
		"tie_word_embeddings": true, "torch_dtype": "float32"}`,
		"phi3": `{"model_type": "phi3", "hidden_size": 16, "intermediate_size": 24, "sliding_window": 7,
		"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 40, "torch_dtype": "bfloat16"}`,
	}
}

// synth describes a synthetic model folder to write.
type synth struct {
	config string
	dtype  DType // F32 when empty
	shards int   // 0 or 1: model.safetensors; more: an index and that many shards
	// edit may change the tensors before they are written (name -> spec).
	edit func(tensors map[string]*synthTensor)
}

type synthTensor struct {
	dtype  DType
	shape  []int
	values []float32 // nil: raw holds the bytes
	raw    []byte
}

// synthValue is the deterministic value of element i of a tensor: exact in
// bf16 and f16, different between neighbours.
func synthValue(tensorIndex, i int) float32 { return float32((tensorIndex*7+i)%29-14) / 8 }

// writeSynth writes the model folder and returns its path.
func writeSynth(t testing.TB, s synth) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(s.config), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig([]byte(s.config))
	if err != nil {
		t.Fatal(err)
	}
	dt := s.dtype
	if dt == "" {
		dt = F32
	}
	tensors := map[string]*synthTensor{}
	for ti, spec := range cfg.ExpectedTensors() {
		vals := make([]float32, spec.Elements())
		for i := range vals {
			vals[i] = synthValue(ti, i)
		}
		tensors[spec.Name] = &synthTensor{dtype: dt, shape: spec.Shape, values: vals}
	}
	if s.edit != nil {
		s.edit(tensors)
	}
	shards := max(s.shards, 1)
	writers := make([]*Writer, shards)
	for i := range writers {
		writers[i] = NewWriter()
		writers[i].SetMetadata("format", "pt")
	}
	weightMap := map[string]string{}
	i := 0
	for _, name := range sortedKeys(tensors) {
		st := tensors[name]
		shard := i * shards / len(tensors)
		i++
		var err error
		if st.values != nil {
			err = writers[shard].AddFloat32(name, st.dtype, st.shape, st.values)
		} else {
			err = writers[shard].Add(name, st.dtype, st.shape, st.raw)
		}
		if err != nil {
			t.Fatal(err)
		}
		weightMap[name] = shardName(shard, shards)
	}
	for i, w := range writers {
		if err := w.WriteFile(filepath.Join(dir, shardName(i, shards))); err != nil {
			t.Fatal(err)
		}
	}
	if shards > 1 {
		writeIndex(t, dir, weightMap)
	}
	return dir
}

func shardName(i, n int) string {
	if n == 1 {
		return "model.safetensors"
	}
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
}

func writeIndex(t testing.TB, dir string, weightMap map[string]string) {
	t.Helper()
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": weightMap})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// rawSafetensors assembles a file from a literal header and data, padding
// nothing, so tests can write any (in)valid layout.
func rawSafetensors(header string, data []byte) []byte {
	out := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}
