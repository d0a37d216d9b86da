package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/model"
)

func TestModelsDemoWritesLoadableModels(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~280 MB of demo models")
	}
	run := runCLI
	if raceDetector {
		// Writing the demo models is ~10 s of arithmetic (random weights,
		// Q4_K_M quantization) that the race detector made 300 s, and none
		// of it runs concurrently; so under -race this test runs the same
		// command built without the detector.
		run = uninstrumentedCLI(t)
	}
	dir := t.TempDir()
	code, out, errOut := run("models", "demo", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range demo.Specs() {
		if !strings.Contains(out, "writing "+s.Name) {
			t.Errorf("no progress line for %s in %q", s.Name, out)
		}
		path := filepath.Join(dir, s.Name)
		if _, err := os.Stat(filepath.Join(path, demo.MarkerFile)); err != nil {
			t.Errorf("%s: no demo marker: %v", s.Name, err)
		}
		m, err := model.Open(path)
		if err != nil {
			t.Fatalf("%s does not load: %v", s.Name, err)
		}
		if m.Config.NumKVHeads != s.KVHead || m.Config.NumLayers != s.Layers {
			t.Errorf("%s: loaded %d KV heads, %d layers", s.Name, m.Config.NumKVHeads, m.Config.NumLayers)
		}
		m.Close()
	}
	for _, q := range demo.QuantSpecs() {
		path := filepath.Join(dir, q.FileName())
		m, err := model.Open(path)
		if err != nil {
			t.Fatalf("%s does not load: %v", q.Name, err)
		}
		if f := m.Facts(); f.DType != q.Type || f.WeightBytesPerToken <= 0 {
			t.Errorf("%s: dtype %s, %d bytes per token", q.Name, f.DType, f.WeightBytesPerToken)
		}
		m.Close()
		if code, out, errOut := run("generate", "--model", path, "--prompt", "hello", "--max-tokens", "3", "--greedy"); code != 0 {
			t.Errorf("generate with %s: exit %d: %s %s", q.Name, code, out, errOut)
		}
		if code, out, _ := run("tokenize", "--model", path, "--json", "hello world"); code != 0 || !strings.Contains(out, `"count"`) {
			t.Errorf("tokenize with %s: exit %d: %s", q.Name, code, out)
		}
		if code, out, _ := run("inspect", path); code != 0 || !strings.Contains(out, "Bytes per token") || !strings.Contains(out, q.Type) {
			t.Errorf("inspect %s: exit %d:\n%s", q.Name, code, out)
		}
	}
	if !strings.Contains(out, "meaningless") {
		t.Error("output does not say demo text is meaningless")
	}
}

// uninstrumentedCLI builds the energyprofiler command without the race
// detector and returns a runCLI that runs it.
func uninstrumentedCLI(t *testing.T) func(args ...string) (int, string, string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "energyprofiler")
	build := exec.Command(goTool, "build", "-o", bin, "energyprofiler/backend/cmd/energyprofiler")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0, out.String(), errb.String()
		case errors.As(err, &exit):
			return exit.ExitCode(), out.String(), errb.String()
		default:
			t.Fatalf("%s: %v", bin, err)
			return -1, "", ""
		}
	}
}

func TestModelsUsage(t *testing.T) {
	if code, _, _ := runCLI("models", "extra"); code != 2 {
		t.Errorf("models extra: exit %d, want 2", code)
	}
	if code, _, _ := runCLI("models", "demo", "extra"); code != 2 {
		t.Errorf("models demo extra: exit %d, want 2", code)
	}
}
