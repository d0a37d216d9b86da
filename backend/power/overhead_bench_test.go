//go:build linux

package power

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// The overhead target: at 100 Hz a sampler costs < 1 % of one core, i.e.
// < 100 µs of CPU per sample. These benchmarks measure the process CPU time
// (user + system, from getrusage) of one sampler step: read the source and
// publish to the ring and one live subscriber. Run with
//
//	go test -run '^$' -bench Overhead -benchtime 2000x ./backend/power/
//
// The RAPL tree is a fake on tmpfs; real sysfs reads cost more per file
// (the kernel reads an MSR), so treat its number as a lower bound.

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchmarkSamplerStep(b *testing.B, src Source) {
	r, err := src.Open(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	s := NewSampler(src, SamplerOptions{})
	sub := s.Subscribe(16)
	go func() {
		for range sub.C() {
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		smp, err := r.Read()
		if err != nil {
			b.Fatal(err)
		}
		s.publish(s.filter(smp))
	}
	used := cpuTime() - start
	b.StopTimer()
	sub.Close()
	perSample := float64(used.Nanoseconds()) / float64(b.N)
	const period = float64(10 * time.Millisecond) // 100 Hz
	b.ReportMetric(perSample, "cpu-ns/sample")
	b.ReportMetric(perSample/period*100, "%core@100Hz")
}

func BenchmarkOverheadEstimate(b *testing.B) {
	// The real /proc/stat of this machine.
	benchmarkSamplerStep(b, NewEstimate(Options{}))
}

func BenchmarkOverheadRAPLFakeTree(b *testing.B) {
	root := fakeSysfs(b,
		fakeZone{"intel-rapl:0", "package-0", 1_000_000, maxRange},
		fakeZone{"intel-rapl:0:0", "core", 500_000, maxRange},
		fakeZone{"intel-rapl:0:1", "dram", 100_000, maxRange},
		fakeZone{"intel-rapl:1", "package-1", 2_000_000, maxRange},
		fakeZone{"intel-rapl:1:0", "core", 700_000, maxRange},
		fakeZone{"intel-rapl:1:1", "dram", 200_000, maxRange},
		fakeZone{"intel-rapl-mmio:0", "package-0", 1_000_000, maxRange},
	)
	benchmarkSamplerStep(b, NewRAPL(Options{SysfsRoot: root}))
}
