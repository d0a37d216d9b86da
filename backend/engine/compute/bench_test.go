package compute

import (
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkMatMul measures the kernels alone on a 2048x768 BF16 matrix:
// mat-vec (decode) in GB/s of weights, and mat-mat over 128 tokens
// (prefill) in GFLOP/s through each prefill path this CPU has (dot: the
// 4×2 dot-product kernel; gemm256/gemm512: the AVX2/AVX-512 GEMM; amx).
// BenchmarkGEMMKernel and BenchmarkAMXKernel time single kernels against
// the measured peak.
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
	gemm, gemm2, amx := cpu.useGEMM, cpu.useGEMM2, cpu.useAMX
	x1 := randF32(rng, cols)
	out1 := make([]float32, rows)
	b.Run("matvec", func(b *testing.B) {
		for b.Loop() {
			cpu.MatMul(out1, x1, 1, w, nil)
		}
		sec := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(float64(2*rows*cols)/sec/1e9, "GFLOP/s")
		b.ReportMetric(float64(len(data))/sec/1e9, "weight-GB/s")
	})
	n := 128
	x := randF32(rng, n*cols)
	out := make([]float32, n*rows)
	paths := []struct {
		name                    string
		ok, gemm, gemm2, useAMX bool
	}{
		{"matmat128-dot", true, false, false, false},
		{"matmat128-gemm256", gemm2 || gemm && gemmAVX2Available(), false, true, false},
		{"matmat128-gemm512", gemm, true, false, false},
		{"matmat128-amx", amx, true, false, true},
	}
	for _, p := range paths {
		if !p.ok {
			continue
		}
		b.Run(p.name, func(b *testing.B) {
			cpu.useGEMM, cpu.useGEMM2, cpu.useAMX = p.gemm, p.gemm2, p.useAMX
			defer func() { cpu.useGEMM, cpu.useGEMM2, cpu.useAMX = gemm, gemm2, amx }()
			for b.Loop() {
				cpu.MatMul(out, x, n, w, nil)
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(2*rows*cols*n)/sec/1e9, "GFLOP/s")
		})
	}
}
