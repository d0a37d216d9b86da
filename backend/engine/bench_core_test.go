//go:build linux

package engine

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"energyprofiler/backend/engine/compute"
)

// threadTime is the calling thread's CPU time: it stops while other
// processes have the core, so single-thread figures timed with it hold still
// on this shared host where wall-clock figures swing by 2-5x.
func threadTime() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// BenchmarkPrefillCore runs a 512-token prefill on one thread (the caller's,
// locked) and reports it per core of CPU time, with the float32 FMA peak of
// the same thread in the same units: the kernels' efficiency without the
// noise of other tenants. Multiply by the thread count for an idle-machine
// estimate (prefill splits into independent panels and heads).
func BenchmarkPrefillCore(b *testing.B) {
	for _, bm := range benchModels() {
		if bm.spec != "demo-110m-gqa" {
			continue
		}
		b.Run(bm.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			e := openBenchModel(b, bm, 1)
			flops := prefillFLOPs(e.cfg.Facts(), benchPromptTokens)
			prefillRate(b, e, 16) // warm up
			var rate, ratio []float64
			for b.Loop() {
				for range 3 {
					t0 := threadTime()
					prefillRate(b, e, benchPromptTokens)
					t1 := threadTime()
					pf := compute.PeakFLOPs(1<<17, false)
					t2 := threadTime()
					tok := benchPromptTokens / (t1 - t0).Seconds()
					rate = append(rate, tok)
					if pf > 0 {
						ratio = append(ratio, (flops/(t1-t0).Seconds())/(pf/(t2-t1).Seconds()))
					}
				}
			}
			b.ReportMetric(median(rate), "prefill-tok/core-s")
			b.ReportMetric(median(rate)*flops/benchPromptTokens/1e9, "GFLOP/core-s")
			b.ReportMetric(median(ratio), "of-fma-peak")
			b.ReportMetric(0, "ns/op")
			b.Logf("%s prefill %d tokens, 1 thread, per CPU-second: %v", bm.name, benchPromptTokens, rounded(rate))
		})
	}
}
