//go:build amd64 && linux

package compute

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// threadTime is this thread's CPU time: unlike wall time it stops while
// another tenant's process has the core, the main noise on this host.
func threadTime() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// BenchmarkGEMMKernel times the prefill micro-kernel and the BF16 panel
// packer on one thread in thread CPU time, each iteration alternating with
// the FMA peak loop so that the reported fraction of peak compares
// neighbours in time (this host's speed drifts with other tenants' load).
func BenchmarkGEMMKernel(b *testing.B) {
	if !gemmAvailable() {
		b.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, k := range []int{768, 2048} {
		n := gemmBenchTokens
		x := randF32(rng, n*k)
		panel := randF32(rng, gemmRows*k)
		out := make([]float32, n*gemmRows)
		var zero [gemmRows]float32
		b.Run("tile12", func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var kernel, peak time.Duration
			var peakFlops float64
			for b.Loop() {
				t0 := threadTime()
				peakFlops += peakLoop(20000, PeakFMA)
				t1 := threadTime()
				for tok := 0; tok+gemmTokens <= n; tok += gemmTokens {
					gemmTile(gemmTokens, &x[tok*k], 4*k, &panel[0], 4*gemmRows, k, &out[tok*gemmRows], 4*gemmRows, &zero[0], ^uint32(0))
				}
				kernel += threadTime() - t1
				peak += t1 - t0
			}
			gflops := float64(2*gemmRows*k*n) * float64(b.N) / kernel.Seconds() / 1e9
			peakG := peakFlops / peak.Seconds() / 1e9
			b.ReportMetric(gflops, "GFLOP/s")
			b.ReportMetric(peakG, "peak-GFLOP/s")
			b.ReportMetric(gflops/peakG, "of-peak")
		})
		w := make([]byte, 2*gemmRows*k)
		for i := range w {
			w[i] = byte(rng.Uint32()&0x3f | 0x3c)
		}
		m := Matrix{DType: BF16, Rows: gemmRows, Cols: k, Data: w}
		b.Run("packBF16", func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := threadTime()
			for b.Loop() {
				packPanel(panel, m, 0)
			}
			b.ReportMetric(float64(gemmRows*k*b.N)/(threadTime()-t0).Seconds()/1e9, "Gelem/s")
		})
	}
}

var gemmBenchTokens = 120

// BenchmarkAMXKernel times the AMX tile kernel on one thread (thread CPU
// time) over 4 token tiles of tile-major planes and one packed panel, all in
// L2, against a third of the AMX peak (three bf16 planes per product).
func BenchmarkAMXKernel(b *testing.B) {
	if !amxAvailable() {
		b.Skip("no AMX-BF16")
	}
	for _, k := range []int{768, 2048} {
		b.Run(fmt.Sprintf("k%d", k), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tiles := 4
			planes := make([]uint16, tiles*(k/32)*amxTileElems)
			panel := make([]float32, gemmRows*k/2)
			out := make([]float32, tiles*amxTokens*gemmRows)
			cfg := amxConfig()
			var kernel, peak time.Duration
			var peakFlops float64
			for b.Loop() {
				t0 := threadTime()
				peakFlops += peakLoop(1000, PeakAMX)
				t1 := threadTime()
				for tt := range tiles {
					amxTile1(&cfg[0], unsafe.Pointer(&planes[tt*(k/32)*amxTileElems]), unsafe.Pointer(&panel[0]), 0, k/32, &out[tt*amxTokens*gemmRows], 4*gemmRows)
				}
				kernel += threadTime() - t1
				peak += t1 - t0
			}
			useful := float64(2*amxTokens*gemmRows*k*tiles) * float64(b.N) / kernel.Seconds() / 1e9
			peakG := peakFlops / peak.Seconds() / 1e9
			b.ReportMetric(useful, "GFLOP/s")
			b.ReportMetric(peakG, "amx-peak-GFLOP/s")
			b.ReportMetric(useful/(peakG/amxPlanes), "of-peak/3")
		})
	}
}
