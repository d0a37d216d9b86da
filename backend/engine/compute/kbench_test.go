package compute

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkDotKernels(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := randF32(rng, 768)
	y := randF32(rng, 768)
	w := make([]uint16, 768)
	var s float32
	b.Run("dotBF16", func(b *testing.B) {
		for b.Loop() {
			s += dotBF16(w, x)
		}
		b.ReportMetric(768*2/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
	})
	b.Run("dotBF16Generic", func(b *testing.B) {
		for b.Loop() {
			s += dotBF16Generic(w, x)
		}
		b.ReportMetric(768*2/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
	})
	b.Run("dotF32", func(b *testing.B) {
		for b.Loop() {
			s += dotF32(y, x)
		}
		b.ReportMetric(768*2/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
	})
	var out [8]float32
	b.Run("dot4x2", func(b *testing.B) {
		for b.Loop() {
			dot4x2(&out, x, y, x, y, y, x)
		}
		b.ReportMetric(8*768*2/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
	})
	_ = s
}
