package session

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/engine/metal/metaltest"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/queue"
)

type settingsRecorder struct {
	mu       sync.Mutex
	settings []profiler.Settings
}

func (r *settingsRecorder) RunStarted(info profiler.RunInfo) {
	r.mu.Lock()
	r.settings = append(r.settings, info.Settings)
	r.mu.Unlock()
}
func (r *settingsRecorder) RunFinished(*profiler.Record) {}

// TestRunStoresBackendAndDevice: a run records which backend ran on which
// device, and why auto fell back to the CPU; the same model on two
// backends is two loaded engines.
func TestRunStoresBackendAndDevice(t *testing.T) {
	rec := &settingsRecorder{}
	fakeOK := true
	chooser := &metal.Chooser{
		Open: func() (metal.Device, error) {
			if !fakeOK {
				return nil, metal.ErrNoDevice
			}
			return metaltest.New(), nil
		},
		CachePath: filepath.Join(t.TempDir(), "selftest.json"),
	}
	s, err := New(t.Context(), Options{PowerSpec: "replay:" + constantPower(t), SampleInterval: 10 * time.Millisecond, Threads: 1, Recorder: rec, Chooser: chooser})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := tinyModel(t)
	run := func(backend string) *Result {
		t.Helper()
		res, err := s.Profile(t.Context(), Request{ModelPath: path, Prompt: "hello", MaxTokens: 3, Depth: "deep", Idle: -1, IgnoreEOS: true, Backend: backend}, nil)
		if err != nil {
			t.Fatalf("backend %s: %v", backend, err)
		}
		return res
	}
	metalRun, cpuRun := run("metal"), run("cpu")
	// The live stream's run message names the backend and device.
	var runMsg map[string]any
	if _, err := s.Execute(t.Context(), "7a1c2f3e-0b4d-4e5f-8a6b-1c2d3e4f5a6b", Request{ModelPath: path, Prompt: "hi", MaxTokens: 1, Depth: "module", Idle: -1, Backend: "metal"},
		func(ev queue.Event) {
			if ev.Type == "run" {
				runMsg, _ = ev.Data.(map[string]any)
			}
		}); err != nil {
		t.Fatal(err)
	}
	if runMsg["backend"] != "metal" || runMsg["device"] != "Fake GPU (metaltest)" {
		t.Errorf("live run message %v, want backend metal on the fake GPU", runMsg)
	}
	fakeOK = false
	s.opts.MaxLoadedModels = 1 // unloads both, so auto is chosen afresh
	run("auto")
	if metalRun.Text != cpuRun.Text {
		t.Errorf("metal wrote %q, cpu %q", metalRun.Text, cpuRun.Text)
	}
	if _, err := s.Profile(t.Context(), Request{ModelPath: path, Prompt: "x", MaxTokens: 1, Backend: "cuda"}, nil); err == nil {
		t.Error("backend cuda was accepted")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.settings = append(rec.settings[:2], rec.settings[3:]...) // the live-stream run
	if len(rec.settings) != 3 {
		t.Fatalf("%d runs recorded", len(rec.settings))
	}
	m, c, a := rec.settings[0], rec.settings[1], rec.settings[2]
	if m.Backend != "metal (Fake GPU (metaltest))" || m.Device != "Fake GPU (metaltest)" || m.BackendNote != "" {
		t.Errorf("metal run settings %+v", m)
	}
	if !strings.HasPrefix(c.Backend, "cpu-") || c.Device != c.Backend {
		t.Errorf("cpu run settings %+v", c)
	}
	if !strings.HasPrefix(a.Backend, "cpu-") || a.BackendNote == "" {
		t.Errorf("auto without a GPU: %+v (want the CPU and the reason)", a)
	}
}
