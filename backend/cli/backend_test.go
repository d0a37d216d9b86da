package cli

import (
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/engine/metal/metaltest"
)

// TestDoctorSelfTestWithoutMetal: off macOS the self-test cannot run; doctor
// says so, exits non-zero, and still reports that auto computes on the CPU
// and why.
func TestDoctorSelfTestWithoutMetal(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("this machine may have a Metal GPU")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out, stderr, code := runPowerCLI(t, "doctor", "--json", "--selftest", "--sysfs-root", t.TempDir(), "--nvml-lib", "libnvidia-ml-missing.so.1")
	if code == 0 || !strings.Contains(stderr, "no Metal device") {
		t.Fatalf("exit %d, stderr %q: want a failure naming the missing device", code, stderr)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --json is not JSON: %v\n%s", err, out)
	}
	if rep.Compute.Kind != "cpu" || !strings.Contains(rep.Compute.Reason, "only on macOS") {
		t.Errorf("compute %+v, want the CPU with the reason", rep.Compute)
	}
}

// TestSelfTestIsCached: doctor's self-test result is what auto reads.
func TestSelfTestIsCached(t *testing.T) {
	c := metal.Chooser{
		Open:      func() (metal.Device, error) { return metaltest.New(), nil },
		CachePath: filepath.Join(t.TempDir(), "st.json"),
		OSBuild:   func() string { return "test" },
	}
	rep, err := runSelfTest(c)
	if err != nil || !rep.Passed() {
		t.Fatalf("self-test on the fake device: %v", err)
	}
	opens := 0
	c.Open = func() (metal.Device, error) { opens++; return metaltest.New(), nil }
	be, ch, err := c.Choose("auto")
	if err != nil {
		t.Fatal(err)
	}
	be.Close()
	if ch.Kind != "metal" || opens != 1 {
		t.Errorf("auto after doctor --selftest: %+v with %d opens (the cached result should be used)", ch, opens)
	}
}

func TestBackendFlagValidated(t *testing.T) {
	for _, cmd := range []string{"generate", "profile"} {
		code, _, stderr := runCLI(cmd, "--model", t.TempDir(), "--prompt", "x", "--backend", "cuda")
		if code == 0 || !strings.Contains(stderr, "cuda") {
			t.Errorf("%s --backend cuda: exit %d, %q", cmd, code, stderr)
		}
	}
}
