//go:build arm64

package compute

import (
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkNEON runs each NEON kernel beside its generic version on the
// same data, so one run on a Mac gives the speed-up (docs/macos.md):
//
//	go test -run '^$' -bench NEON ./backend/engine/compute
func BenchmarkNEON(b *testing.B) {
	const n = 4096 // a 7B model's hidden size: rows stay in L1/L2
	rng := rand.New(rand.NewPCG(1, 2))
	w := [4][]float32{randF32(rng, n), randF32(rng, n), randF32(rng, n), randF32(rng, n)}
	x, y := randF32(rng, n), randF32(rng, n)
	var h [4][]uint16
	for r := range h {
		h[r] = make([]uint16, n)
		for i, v := range w[r] {
			h[r][i] = uint16(math.Float32bits(v) >> 16)
		}
	}
	var o4 [4]float32
	var o8 [8]float32
	scratch := make([]float32, n)
	flops := func(b *testing.B, f float64) {
		b.ReportMetric(f/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
	}
	pairs := []struct {
		name       string
		neon, gen  func()
		flopsPerOp float64
	}{
		{"dotF32x4", func() { dotF32x4(o4[:], w[0], w[1], w[2], w[3], x) },
			func() {
				for r := range 4 {
					o4[r] = dotF32Generic(w[r], x)
				}
			}, 8 * n},
		{"dotBF16x4", func() { dotBF16x4(o4[:], h[0], h[1], h[2], h[3], x) },
			func() {
				for r := range 4 {
					o4[r] = dotBF16Generic(h[r], x)
				}
			}, 8 * n},
		{"dot4x2", func() { dot4x2(&o8, w[0], w[1], w[2], w[3], x, y) },
			func() { dot4x2Generic(&o8, w[0], w[1], w[2], w[3], x, y) }, 16 * n},
		{"expSub", func() { copy(scratch, x); expSub(scratch, 4) },
			func() { copy(scratch, x); expSubGeneric(scratch, 4) }, n},
		{"swiglu", func() { copy(scratch, x); swiglu(scratch, y) },
			func() { copy(scratch, x); swigluGeneric(scratch, y) }, n},
		{"widenF16", func() { widenF16(scratch, h[0]) }, func() { widenF16Generic(scratch, h[0]) }, n},
	}
	for _, p := range pairs {
		b.Run(p.name+"/neon", func(b *testing.B) {
			for b.Loop() {
				p.neon()
			}
			flops(b, p.flopsPerOp)
		})
		b.Run(p.name+"/generic", func(b *testing.B) {
			for b.Loop() {
				p.gen()
			}
			flops(b, p.flopsPerOp)
		})
	}
}

// BenchmarkSDOT runs each quantized SDOT kernel beside the portable one on
// the same 4096-column row (its bytes stay in L1/L2), in weight GB/s:
//
//	go test -run '^$' -bench SDOT ./backend/engine/compute
func BenchmarkSDOT(b *testing.B) {
	if !hasDotProd() {
		b.Skip("no dotprod on this CPU")
	}
	const cols = 4096
	rng := rand.New(rand.NewPCG(3, 4))
	for _, dt := range sdotTypes {
		w, err := Quantize(dt, randF32(rng, cols), cols)
		if err != nil {
			b.Fatal(err)
		}
		var a qact
		a.quantize(randF32(rng, cols), 1, cols, actBlock(dt))
		row := a.row(0)
		var sink float32
		for _, k := range []struct {
			name string
			dot  func() float32
		}{
			{"sdot", func() float32 { return sdotKernel(dt, w, row) }},
			{"generic", func() float32 { return dotQuantGeneric(dt, w, row) }},
		} {
			b.Run(dt.String()+"/"+k.name, func(b *testing.B) {
				for b.Loop() {
					sink += k.dot()
				}
				b.ReportMetric(float64(len(w))/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GB/s")
			})
		}
		_ = sink
	}
}
