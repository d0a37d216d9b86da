package metal_test

import (
	"testing"

	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/engine/metal/metaltest"
)

// TestSelfTestOnFake runs doctor --selftest's checks against the fake
// device: the Go side (buffers, offsets, argument bytes, grids) must
// reproduce the CPU backend through the kernels' Go semantics.
func TestSelfTestOnFake(t *testing.T) {
	for _, noWrap := range []bool{false, true} {
		dev := metaltest.New()
		dev.NoWrap = noWrap
		rep, err := metal.SelfTest(dev, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rep.Checks {
			t.Logf("noWrap=%v %-32s max error %.3g (tolerance %.3g) %s", noWrap, c.Op, c.MaxErr, c.Tol, c.Err)
		}
		if !rep.Passed() {
			t.Errorf("self-test failed on the fake device: %s", rep.Failed())
		}
		if len(rep.Checks) < 20 {
			t.Errorf("%d checks, want every kernel", len(rep.Checks))
		}
		if !dev.Closed() {
			t.Error("the self-test left the device open")
		}
	}
}
