package engine

import "testing"

func BenchmarkZZHooks(b *testing.B) {
	e := openDemo(b, "demo-110m-gqa", 2)
	b.ResetTimer()
	for b.Loop() {
		hookTime(e, DepthModule, 20)
	}
}
