//go:build unix

package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/engine/compute/faulttest"

	"energyprofiler/backend/model"
)

// Issue 12 item 2: a weight file truncated while a run reads it through the
// memory map killed the process with SIGBUS (the per-run stamp check cannot
// see a change in the middle of a run). Now the fault ends that generation
// with an error naming the file, on the caller's goroutine and on the
// compute pool's workers alike, and the process lives on.
func TestWeightsTruncatedDuringGenerationFailTheRun(t *testing.T) {
	faulttest.SkipWithoutFaultAddresses(t)
	for _, threads := range []int{1, 2} {
		for _, dt := range []model.DType{model.F32, model.BF16} {
			t.Run(string(dt)+"/threads="+string(rune('0'+threads)), func(t *testing.T) {
				tm := writeTiny(t, tinySpec{modelType: "llama", dim: 128, hidden: 512, layers: 2, heads: 4, kvHeads: 2, vocab: 1024, seed: 5, dtype: dt})
				e := tm.open(t, Options{Threads: threads, Context: 64})
				weights := filepath.Join(tm.dir, "model.safetensors")
				onToken := func(ev TokenEvent) {
					if err := os.Truncate(weights, 0); err != nil {
						t.Error(err)
					}
				}
				_, err := e.Generate(context.Background(), Request{PromptIDs: []int{1, 2, 3}, MaxTokens: 8, Sampling: Sampling{Greedy: true}}, nil, onToken)
				if err == nil || !strings.Contains(err.Error(), "model.safetensors") || !strings.Contains(err.Error(), "changed on disk") {
					t.Fatalf("generation over a truncated weight file: err %v, want one naming model.safetensors as changed on disk", err)
				}
			})
		}
	}
}
