//go:build linux

package engine

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"energyprofiler/backend/engine/compute"
	"energyprofiler/backend/model"
)

// threadTime is the calling thread's CPU time: it stops while other
// processes have the core, so single-thread figures timed with it hold still
// on this shared host where wall-clock figures swing by 2-5x.
func threadTime() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// BenchmarkPerCore runs a 512-token prefill on one thread (the caller's,
// locked) and reports it per core of CPU time, against the float32 FMA peak
// of the same thread in the same units (and, for BF16 weights on a CPU with
// AMX, a third of the AMX tile peak: the AMX GEMM runs three tile products
// per product): the kernels' efficiency without the noise of other
// tenants. Multiply by the thread count for an idle-machine estimate
// (prefill splits into independent panels and heads). Decode is reported
// the same way, though it is bound by memory bandwidth, which other
// tenants share: its CPU time still includes their contention.
func BenchmarkPerCore(b *testing.B) {
	for _, bm := range benchModels() {
		if !strings.HasPrefix(bm.spec, "demo-110m-gqa") {
			continue
		}
		b.Run(bm.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			e := openBenchModel(b, bm, 1)
			flops := prefillFLOPs(e.cfg.Facts(), benchPromptTokens)
			prefillRate(b, e, 16) // warm up
			var rate, ratio, amxRatio, dec []float64
			for b.Loop() {
				for range 3 {
					t0 := threadTime()
					prefillRate(b, e, benchPromptTokens)
					t1 := threadTime()
					pf := compute.PeakFLOPs(1<<17, compute.PeakFMA)
					t2 := threadTime()
					pa := compute.PeakFLOPs(1<<11, compute.PeakAMX)
					t3 := threadTime()
					achieved := flops / (t1 - t0).Seconds()
					rate = append(rate, benchPromptTokens/(t1-t0).Seconds())
					if pf > 0 {
						ratio = append(ratio, achieved/(pf/(t2-t1).Seconds()))
					}
					if pa > 0 && bm.dtype == model.BF16 {
						amxRatio = append(amxRatio, achieved/(pa/(t3-t2).Seconds()/3))
					}
					t4 := threadTime()
					decodeRate(b, e, benchDecodeTokens)
					dec = append(dec, benchDecodeTokens/(threadTime()-t4).Seconds())
				}
			}
			b.ReportMetric(median(rate), "prefill-tok/core-s")
			b.ReportMetric(median(rate)*flops/benchPromptTokens/1e9, "GFLOP/core-s")
			b.ReportMetric(median(ratio), "of-fma-peak")
			if len(amxRatio) > 0 {
				b.ReportMetric(median(amxRatio), "of-amx-peak/3")
			}
			b.ReportMetric(median(dec), "decode-tok/core-s")
			b.ReportMetric(0, "ns/op")
			b.Logf("%s, 1 thread, per CPU-second: prefill %d tokens %v; decode %v", bm.name, benchPromptTokens, rounded(rate), rounded(dec))
		})
	}
}
