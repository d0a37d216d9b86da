package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRAPLTree writes a one-package powercap tree under a temporary sysfs
// root.
func powerTestRAPLTree(t *testing.T, energy string) string {
	t.Helper()
	root := t.TempDir()
	zone := filepath.Join(root, "class", "powercap", "intel-rapl:0")
	if err := os.MkdirAll(zone, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"name": "package-0\n", "energy_uj": energy + "\n", "max_energy_range_uj": "262143328850\n"} {
		if err := os.WriteFile(filepath.Join(zone, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func runPowerCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestDoctorJSONSaysWhatIsAvailable(t *testing.T) {
	out, stderr, code := runPowerCLI(t, "doctor", "--json", "--sysfs-root", t.TempDir(), "--nvml-lib", "libnvidia-ml-missing.so.1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --json is not JSON: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, s := range rep.Sources {
		got[s.Name] = s.Available
		if !s.Available && (s.Reason == "" || s.Fix == "") {
			t.Errorf("%s is unavailable without a reason and a fix: %+v", s.Name, s)
		}
	}
	// On this Linux box: no RAPL (empty sysfs), no NVML, no macOS sources,
	// and the estimate reads the real /proc/stat.
	want := map[string]bool{"ioreport": false, "rapl": false, "nvml": false, "powermetrics": false, "cpu-load": true}
	for name, avail := range want {
		if a, ok := got[name]; !ok || a != avail {
			t.Errorf("%s: listed %v, available %v; want available %v", name, ok, a, avail)
		}
	}
	if rep.Selection["cpu"] != "cpu-load" || len(rep.Selection) != 1 {
		t.Errorf("auto selection = %v, want cpu from the estimate only", rep.Selection)
	}
}

func TestDoctorPicksRAPLOverEstimate(t *testing.T) {
	root := powerTestRAPLTree(t, "123456")
	out, stderr, code := runPowerCLI(t, "doctor", "--sysfs-root", root)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"rapl          available", "cpu-load      available", "cpu      <- rapl (measured_counter)", "package  <- rapl", "why:  IOReport is a macOS"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
}

func TestDoctorUsage(t *testing.T) {
	if _, _, code := runPowerCLI(t, "doctor", "extra"); code != 2 {
		t.Fatalf("doctor with an argument: exit %d, want 2", code)
	}
	if _, _, code := runPowerCLI(t, "doctor", "--bogus"); code != 2 {
		t.Fatalf("doctor with an unknown flag: exit %d, want 2", code)
	}
}
