package engine

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"energyprofiler/backend/model"
)

// nanNormModel writes a tiny model whose final norm is all NaN, so every
// logit is NaN: what a corrupt or badly converted checkpoint produces.
func nanNormModel(t *testing.T) *tinyModel {
	t.Helper()
	tm := writeTiny(t, tinySpec{modelType: "llama", dim: 16, hidden: 24, layers: 1, heads: 4, kvHeads: 2, vocab: 40, seed: 3})
	w := model.NewWriter()
	for _, spec := range tm.cfg.ExpectedTensors() {
		vals := make([]float32, spec.Elements())
		for i, v := range tm.weights[spec.Name] {
			vals[i] = float32(v)
			if spec.Name == model.FinalNormName {
				vals[i] = float32(math.NaN())
			}
		}
		if err := w.AddFloat32(spec.Name, model.F32, spec.Shape, vals); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(filepath.Join(tm.dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	return tm
}

// Issue 12 item 3: NaN logits made top-p/top-k sampling loop forever (its
// threshold became NaN), and nothing could stop it. Now every sampling mode
// fails at once with an error that names the model and the step.
func TestNonFiniteLogitsFailTheGeneration(t *testing.T) {
	tm := nanNormModel(t)
	e := tm.open(t, Options{Threads: 1, Context: 64})
	for _, s := range []Sampling{
		{Temperature: 0.8, TopP: 0.9, TopK: 40, Seed: 1},
		{Temperature: 0.7, TopP: 0.5},
		{Temperature: 1, TopK: 5},
		{Temperature: 1},
		{Greedy: true},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := e.Generate(context.Background(), Request{PromptIDs: []int{1, 2, 3}, MaxTokens: 4, Sampling: s}, nil, nil)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("sampling %+v: NaN logits generated tokens without an error", s)
			}
			for _, want := range []string{"non-finite", tm.dir, "prefill"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("sampling %+v: error %q does not mention %q", s, err, want)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("sampling %+v: NaN logits hung the generation", s)
		}
	}
}

// The sampler on its own must end whatever the logits hold.
func TestSamplerEndsOnNonFiniteLogits(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		logits := []float32{0.1, bad, 0.3, 0.2}
		s := newSampler(len(logits))
		done := make(chan int, 1)
		go func() { done <- s.sample(logits, Sampling{Temperature: 0.8, TopP: 0.9, TopK: 2}) }()
		select {
		case id := <-done:
			if id < 0 || id >= len(logits) {
				t.Errorf("logit %v: sampled id %d out of range", bad, id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("logit %v: the sampler never ended", bad)
		}
	}
}
