package compute

import (
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkMatMul measures the kernels alone: mat-vec (decode) in GB/s of
// weights and mat-mat (prefill) in GFLOP/s, on a 2048x768 BF16 matrix.
func BenchmarkMatMul(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	rows, cols := 2048, 768
	vals := randF32(rng, rows*cols)
	data := make([]byte, 2*len(vals))
	for i, v := range vals {
		u := uint16(math.Float32bits(v) >> 16)
		data[2*i], data[2*i+1] = byte(u), byte(u>>8)
	}
	w := Matrix{DType: BF16, Rows: rows, Cols: cols, Data: data}
	cpu := NewCPU(0)
	defer cpu.Close()
	for _, n := range []int{1, 128} {
		x := randF32(rng, n*cols)
		out := make([]float32, n*rows)
		name := "matvec"
		if n > 1 {
			name = "matmat128"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				cpu.MatMul(out, x, n, w, nil)
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(2*rows*cols*n)/sec/1e9, "GFLOP/s")
			b.ReportMetric(float64(len(data))/sec/1e9, "weight-GB/s")
		})
	}
}
