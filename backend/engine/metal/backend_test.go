package metal_test

import (
	"errors"
	"strings"
	"testing"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine/compute"
	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/engine/metal/metaltest"
)

func newBackend(t *testing.T) (*metal.Backend, *metaltest.Fake) {
	t.Helper()
	dev := metaltest.New()
	be, err := metal.New(dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.Close)
	return be, dev
}

func f32Matrix(rows, cols int) compute.Matrix {
	m := compute.Matrix{DType: compute.F32, Rows: rows, Cols: cols, Data: make([]byte, 4*rows*cols)}
	return m
}

// TestBatchAndMarks: operations wait for Flush, marks split passes, and
// their times fall inside the Flush on the monotonic clock, in order.
func TestBatchAndMarks(t *testing.T) {
	be, dev := newBackend(t)
	x, y := be.Alloc(64), be.Alloc(64)
	x[0] = 1
	be.Scale(x, 3)
	be.Add(y, x)
	if dev.Runs != 0 || y[0] != 0 {
		t.Fatal("an operation ran before Flush")
	}
	if err := be.Flush(); err != nil {
		t.Fatal(err)
	}
	if dev.Runs != 1 || y[0] != 3 || len(dev.Batches[0].Passes) != 1 || dev.Batches[0].Timed {
		t.Fatalf("untimed batch: runs %d, y[0] %g, %d passes, timed %v", dev.Runs, y[0], len(dev.Batches[0].Passes), dev.Batches[0].Timed)
	}

	// Three components with marks between them: three timed passes.
	m0 := be.Mark()
	be.Scale(x, 2)
	m1 := be.Mark()
	m2 := be.Mark() // two marks in a row stand at the same boundary
	be.Add(y, x)
	be.Add(y, x)
	m3 := be.Mark()
	var p compute.Probe
	be.Probe(&p, y)
	m4 := be.Mark()
	before := clock.Now()
	if err := be.Flush(); err != nil {
		t.Fatal(err)
	}
	after := clock.Now()
	b := dev.Batches[1]
	if !b.Timed || len(b.Passes) != 3 || len(b.Passes[1].Dispatches) != 2 {
		t.Fatalf("timed batch: %v, %d passes", b.Timed, len(b.Passes))
	}
	times := []int64{be.Time(m0), be.Time(m1), be.Time(m2), be.Time(m3), be.Time(m4)}
	for i, tm := range times {
		if tm < before || tm > after {
			t.Errorf("mark %d at %d, outside the flush [%d, %d]", i, tm, before, after)
		}
		if i > 0 && tm < times[i-1] {
			t.Errorf("mark %d at %d before mark %d at %d", i, tm, i-1, times[i-1])
		}
	}
	if times[1] != times[2] {
		t.Error("two marks at one boundary got different times")
	}
	if p.N != 64 || p.Sum != float64(y[0]) || p.MaxAbs != y[0] {
		t.Errorf("probe %+v, y[0] %g", p, y[0])
	}
}

func TestFailuresReachFlush(t *testing.T) {
	be, dev := newBackend(t)
	out := be.Alloc(8)
	goMem := make([]float32, 8) // not from Alloc
	w := f32Matrix(8, 8)

	be.MatMul(out, goMem, 1, w, nil)
	if err := be.Flush(); err == nil || !strings.Contains(err.Error(), "Backend.Alloc") {
		t.Errorf("an activation outside Alloc: %v", err)
	}
	// The next batch works again.
	in := be.Alloc(8)
	be.MatMul(out, in, 1, w, nil)
	if err := be.Flush(); err != nil {
		t.Errorf("after a failed batch: %v", err)
	}

	be.MatMul(out, in, 1, compute.Matrix{DType: compute.DType(200), Rows: 8, Cols: 8, Data: make([]byte, 64)}, nil)
	if err := be.Flush(); err == nil {
		t.Error("an unknown weight type was accepted")
	}
	be.Embed(out, w, []int{9})
	if err := be.Flush(); err == nil || !strings.Contains(err.Error(), "token id 9") {
		t.Errorf("an id outside the table: %v", err)
	}
	be.Attend(&compute.Attention{Q: out, K: out, V: out, Out: out, N: 1, Heads: 1, KVHeads: 1, HeadDim: 300})
	if err := be.Flush(); err == nil || !strings.Contains(err.Error(), "head_dim") {
		t.Errorf("head_dim 300: %v", err)
	}
	boom := errors.New("GPU hang")
	dev.FailRun = boom
	be.Scale(out, 2)
	if err := be.Flush(); !errors.Is(err, boom) {
		t.Errorf("a failed command buffer: %v", err)
	}
}

// TestWeightsWrappedOnce: a matrix is wrapped in place (a page span around
// its bytes) the first time it is used, and reused after.
func TestWeightsWrappedOnce(t *testing.T) {
	be, dev := newBackend(t)
	w := f32Matrix(16, 32)
	x, out := be.Alloc(32), be.Alloc(16)
	for range 3 {
		be.MatMul(out, x, 1, w, nil)
	}
	if err := be.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(dev.Wraps) != 1 || be.Weights().Wrapped != 1 || be.Weights().WrappedBytes != int64(len(w.Data)) {
		t.Errorf("wraps %v, stats %+v", dev.Wraps, be.Weights())
	}
	// Dispatch sizes: 16 rows in threadgroups of 4 rows, one token group.
	d := dev.Batches[0].Passes[0].Dispatches[0]
	if d.Groups != [3]int{4, 1, 1} || d.Threads != [3]int{128, 1, 1} {
		t.Errorf("mat-vec grid %v × %v", d.Groups, d.Threads)
	}
}
