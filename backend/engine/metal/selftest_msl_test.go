package metal_test

import (
	"errors"
	"os"
	"testing"

	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/engine/metal/metaltest"
)

// newMSLDevice is metaltest's device that runs kernels.metal itself,
// compiled for this CPU; it needs clang++ (CI installs it).
func newMSLDevice(t *testing.T) *metaltest.Fake {
	t.Helper()
	dev, err := metaltest.NewMSL()
	if errors.Is(err, metaltest.ErrNoCompiler) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

// TestSelfTestRunsTheMSL runs doctor --selftest's checks with the MSL
// source itself executing every kernel (metaltest.NewMSL): the kernels'
// own indexing, block decoding, reductions and barriers against the CPU
// backend, within the self-test's tolerances. The errors it logs are what
// a GPU should come close to (the GPU's rounding differs a little).
func TestSelfTestRunsTheMSL(t *testing.T) {
	rep, err := metal.SelfTest(newMSLDevice(t), 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		t.Logf("%-36s max error %.2g (tolerance %.2g) %s", c.Op, c.MaxErr, c.Tol, c.Err)
	}
	if !rep.Passed() {
		t.Errorf("self-test on the MSL runner failed: %s", rep.Failed())
	}
	requireEveryKernel(t, rep)
}
