package metal_test

import (
	"strings"
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
		requireEveryKernel(t, rep)
		if !dev.Closed() {
			t.Error("the self-test left the device open")
		}
	}
}

// requireEveryKernel: the self-test checks every kernel the backend has,
// each GGUF block type included (its mat-vec at one and eleven tokens and
// its embedding rows), so doctor --selftest covers them on a Mac.
func requireEveryKernel(t *testing.T, rep metal.Report) {
	t.Helper()
	ops := map[string]bool{}
	for _, c := range rep.Checks {
		ops[c.Op] = true
	}
	var want []string
	for _, dt := range []string{"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"} {
		want = append(want, "matmul "+dt+" n=1", "matmul "+dt+" n=11", "embed "+dt)
	}
	want = append(want, "rmsnorm", "rope", "attention window=0", "attention window=7", "swiglu", "geglu",
		"scale, add, add_scaled", "gather", "scatter_add", "probe")
	for _, op := range want {
		if !ops[op] {
			t.Errorf("the self-test has no check %q (it has %s)", op, strings.Join(keys(ops), ", "))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
