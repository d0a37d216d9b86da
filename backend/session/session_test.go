package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/queue"
)

// tinyModel writes a small demo-format model, through the same generator as
// the built-in demo models, so the real load path is exercised.
func tinyModel(t *testing.T) string {
	t.Helper()
	path, err := demo.WriteSpec(t.TempDir(), demo.Spec{Name: "tiny", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHead: 2, Vocab: 1100})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// constantPower writes a replay trace of a steady 10 W CPU.
func constantPower(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"kind":"measured_sampling","description":"test trace"}` + "\n")
	for ms := 0; ms <= 600_000; ms += 50 {
		fmt.Fprintf(&b, `{"offset_ms":%d,"domains_mw":{"cpu":10000}}`+"\n", ms)
	}
	path := filepath.Join(t.TempDir(), "trace.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func newService(t *testing.T) *Service {
	t.Helper()
	s, err := New(t.Context(), Options{PowerSpec: "replay:" + constantPower(t), SampleInterval: 10 * time.Millisecond, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestProfileEndToEnd(t *testing.T) {
	s := newService(t)
	path := tinyModel(t)
	var mu sync.Mutex
	types := map[string]int{}
	var events []queue.Event
	summary, err := s.Execute(t.Context(), "5f0c7c1e-2f4a-4d33-9a55-2e7b3b8f0a01", Request{
		ModelPath: path, Prompt: "hello energy", MaxTokens: 8, Depth: "module",
		Sampling: profiler.Sampling{Greedy: true}, Idle: -1, IgnoreEOS: true,
	}, func(ev queue.Event) {
		mu.Lock()
		defer mu.Unlock()
		types[ev.Type]++
		events = append(events, ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := summary.(*profiler.Summary)
	if sum.RunID != "5f0c7c1e-2f4a-4d33-9a55-2e7b3b8f0a01" || sum.OutputTokens != 8 || sum.ModelName != "tiny" {
		t.Fatalf("summary: id %s, %d output tokens, model %s", sum.RunID, sum.OutputTokens, sum.ModelName)
	}
	// 10 W for the run's duration, within the attribution's tolerance.
	e, ok := sum.TotalEnergyJ.Get()
	d, _ := sum.DurationS.Get()
	if !ok || e <= 0 || d <= 0 {
		t.Fatalf("energy %v over %v s", sum.TotalEnergyJ, sum.DurationS)
	}
	if ratio := e / (10 * d); ratio < 0.95 || ratio > 1.05 {
		t.Errorf("energy %.4f J over %.4f s is %.3f × 10 W", e, d, ratio)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"run", "phase", "token", "heatmap"} {
		if types[want] == 0 {
			t.Errorf("no %q live events (saw %v)", want, types)
		}
	}
	for _, ev := range events {
		if ev.JobID != "5f0c7c1e-2f4a-4d33-9a55-2e7b3b8f0a01" {
			t.Fatalf("event for %q", ev.JobID)
		}
		if d, _ := ev.Data.(map[string]any); ev.Type == "token" && d["piece"] == nil {
			t.Errorf("token event without its text: %v", ev.Data)
		}
	}
}

func TestCancelMidRunIsStoredAsCancelled(t *testing.T) {
	s := newService(t)
	path := tinyModel(t)
	ctx, cancel := context.WithCancel(t.Context())
	tokens := 0
	res, err := s.Profile(ctx, Request{ModelPath: path, Prompt: "x", MaxTokens: 4000, Depth: "module", Idle: -1, IgnoreEOS: true},
		func(ev profiler.Event) {
			if ev.Type == "token" {
				tokens++
				if tokens == 3 {
					cancel()
				}
			}
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res == nil || res.Summary == nil || res.Summary.Status != profiler.StatusCancelled {
		t.Fatalf("cancelled run summary: %+v", res)
	}
	if res.Summary.OutputTokens >= 4000 {
		t.Errorf("generation ran to the end despite cancel")
	}
}

func TestModelsStayLoadedUntilAnotherIsNeeded(t *testing.T) {
	s := newService(t)
	a, b := tinyModel(t), tinyModel(t)
	first, err := s.load(a, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.load(a, "cpu")
	if again != first {
		t.Error("the same model was loaded twice")
	}
	if _, err := s.load(b, "cpu"); err != nil {
		t.Fatal(err)
	}
	if len(s.loaded) != 1 || s.loaded[0].path != b {
		t.Errorf("after loading another model: %d loaded", len(s.loaded))
	}
	if _, err := s.load(filepath.Join(t.TempDir(), "missing"), "cpu"); err == nil {
		t.Error("loading a missing folder succeeded")
	}
}

// copyOver rewrites dst in place with src's bytes, as cp does: the same
// inode, truncated and written again.
func copyOver(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sampledIDs(t *testing.T, s *Service, path string) ([]int, error) {
	t.Helper()
	var ids []int
	_, err := s.Profile(t.Context(), Request{ModelPath: path, Prompt: "hello energy", MaxTokens: 6, Depth: "module",
		Sampling: profiler.Sampling{Temperature: 1, Seed: 7}, Idle: -1, IgnoreEOS: true,
		OnToken: func(ev engine.TokenEvent) { ids = append(ids, ev.ID) }}, nil)
	return ids, err
}

// Issue 12 item 2: the model cache keeps weights memory-mapped. A weight
// file truncated under the mapping used to kill the process with SIGBUS on
// the next run; now the next run sees the change and fails with a clear
// error (the file no longer holds a model).
func TestTruncatedWeightsUnderTheCacheFailTheRunClearly(t *testing.T) {
	s := newService(t)
	path := tinyModel(t)
	if _, err := sampledIDs(t, s, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(path, "model.safetensors"), 4096); err != nil {
		t.Fatal(err)
	}
	_, err := sampledIDs(t, s, path)
	if err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("run on truncated weights: err = %v, want an error naming the file", err)
	}
}

// A different model copied over a cached one (a larger file, the same inode)
// used to be run as the old model; now the cache reloads it.
func TestReplacedWeightsAreReloaded(t *testing.T) {
	s := newService(t)
	path := tinyModel(t)
	other, err := demo.WriteSpec(t.TempDir(), demo.Spec{Name: "other", Hidden: 64, Intermediate: 128, Layers: 2, Heads: 4, KVHead: 2, Vocab: 1200})
	if err != nil {
		t.Fatal(err)
	}
	want, err := sampledIDs(t, newService(t), other)
	if err != nil {
		t.Fatal(err)
	}
	before, err := sampledIDs(t, s, path)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(before, want) {
		t.Fatalf("the two models generate the same tokens %v; the test cannot tell them apart", want)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		copyOver(t, filepath.Join(other, f), filepath.Join(path, f))
	}
	got, err := sampledIDs(t, s, path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("after copying another model over the cached one, generated %v, want the new model's %v", got, want)
	}
}
