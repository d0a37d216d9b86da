package metaltest

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"energyprofiler/backend/engine/metal"
)

func newMSL(t *testing.T) *Fake {
	t.Helper()
	f, err := NewMSL()
	if errors.Is(err, ErrNoCompiler) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	if err := f.Compile(metal.Source, metal.Kernels[:]); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestMSLRunner: a mat-vec run by the compiled MSL gives the products, a
// dispatch that reads past its weights faults in the runner and comes
// back as an error, and the device refuses work after that.
func TestMSLRunner(t *testing.T) {
	f := newMSL(t)
	const rows, cols = 5, 40
	w := make([]byte, 4*rows*cols)
	for i := range rows * cols {
		binary.LittleEndian.PutUint32(w[4*i:], math.Float32bits(float32(i%7-3)))
	}
	wb, woff, err := f.WrapBuffer(w)
	if err != nil {
		t.Fatal(err)
	}
	xb, xmem, _ := f.NewBuffer(4 * cols)
	for c := range cols {
		binary.LittleEndian.PutUint32(xmem[4*c:], math.Float32bits(float32(c%5)))
	}
	ob, omem, _ := f.NewBuffer(4 * rows)
	mulmv := func(r int) metal.Dispatch {
		a, _ := binaryAppend(metal.MulMVArgs{Rows: uint32(r), Cols: cols, N: 1})
		return metal.Dispatch{Kernel: int(metal.KMulMVF32), Args: a,
			Buffers: []metal.Binding{{Buf: wb, Off: woff}, {Buf: xb}, {Buf: ob}, {Buf: ob}},
			Groups:  [3]int{(r + 3) / 4, 1, 1}, Threads: [3]int{128, 1, 1}}
	}
	if _, err := f.Run(&metal.Batch{Passes: []metal.Pass{{Dispatches: []metal.Dispatch{mulmv(rows)}}}}); err != nil {
		t.Fatal(err)
	}
	for r := range rows {
		var want float32
		for c := range cols {
			want += float32((r*cols+c)%7-3) * float32(c%5)
		}
		if got := math.Float32frombits(binary.LittleEndian.Uint32(omem[4*r:])); got != want {
			t.Errorf("row %d: %g, want %g", r, got, want)
		}
	}
	// 300 rows of a 5-row matrix: the runner reads past the weights.
	_, err = f.Run(&metal.Batch{Passes: []metal.Pass{{Dispatches: []metal.Dispatch{mulmv(300)}}}})
	if err == nil || !strings.Contains(err.Error(), "died") {
		t.Fatalf("a read past the weights: %v", err)
	}
	if _, err := f.Run(&metal.Batch{Passes: []metal.Pass{{Dispatches: []metal.Dispatch{mulmv(rows)}}}}); err == nil {
		t.Error("the runner died, but the next dispatch succeeded")
	}
}
