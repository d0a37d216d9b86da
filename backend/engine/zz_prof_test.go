package engine

import (
	"testing"
)

func BenchmarkZZPrefill(b *testing.B) {
	e := openDemo(b, "demo-110m-gqa", 1)
	prefillRate(b, e, 16)
	b.ResetTimer()
	var r []float64
	for b.Loop() {
		r = append(r, prefillRate(b, e, 512))
	}
	b.ReportMetric(median(r), "tok/s")
}
