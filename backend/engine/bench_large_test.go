package engine

import (
	"runtime"
	"testing"

	"energyprofiler/backend/demo"
	"energyprofiler/backend/engine/compute"
)

// largeSpec has the shape of TinyLlama-1.1B (hidden 2048, 22 layers, 32
// heads on 4 KV heads, SwiGLU 5632): 0.6–2.1 GB of weights a token in the
// types below, ten times any cache of the machines this runs on. The 110M
// demos' 62–200 MB partly fit in the last-level cache (their decode reads
// above 1 of the roofline in the host's usual state) and spend a fixed
// 20–25 µs a layer on hand-offs between cores against 70–100 µs of bytes
// (Q4_0); here a layer reads 0.5–2.5 ms of bytes for the same hand-offs, as
// in the models people run, so this shows how close decode streams to the
// memory roofline on one.
var largeSpec = demo.Spec{Name: "bench-1b-gqa", Hidden: 2048, Intermediate: 5632, Layers: 22, Heads: 32, KVHead: 4,
	Vocab: 32000, Description: "TinyLlama-1.1B shape, random weights (benchmark only)"}

// largeDecodeTokens is the timed decode of a round: two slices, about
// 0.5–2 s at this size.
const largeDecodeTokens = 16

// BenchmarkLargeDecode writes largeSpec (random BF16 weights, as the demos
// are made) and GGUF files of it in the quantized demos' types (Q8_0, Q4_0,
// Q4_K_M) as llama-quantize makes them, then reports each type's decode against the memory roofline
// as BenchmarkDemo does (decodeAgainstBandwidth, rounds of
// largeDecodeTokens timed steps). Writing the files takes 1–2 minutes and
// 4.3 GiB of the temporary directory; -short skips it.
func BenchmarkLargeDecode(b *testing.B) {
	if testing.Short() {
		b.Skip("writes 4.3 GiB of model files; run without -short")
	}
	dir := b.TempDir()
	folder, err := demo.WriteSpec(dir, largeSpec)
	if err != nil {
		b.Fatal(err)
	}
	paths := []struct{ name, path string }{{"BF16", folder}}
	for _, q := range demo.QuantSpecs() { // the quantized demos' types
		q.Name, q.Base = largeSpec.Name+"-"+q.Type, largeSpec.Name
		q.Description = largeSpec.Name + " quantized to " + q.Type + " (benchmark only)"
		p, err := demo.WriteQuantized(dir, q)
		if err != nil {
			b.Fatal(err)
		}
		paths = append(paths, struct{ name, path string }{q.Type, p})
	}
	threads := runtime.GOMAXPROCS(0)
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			e := openEngineAt(b, p.path, threads, 64) // one large model held at a time: each closes as its sub-benchmark ends
			cpu := e.be.(*compute.CPU)
			buf := compute.NewBandwidthBuffer(benchBandwidthMiB << 20)
			weightBytes := float64(e.WeightBytesPerToken())
			decodeRate(b, e, 2) // page in the weights
			var dec, bw, roofRatio []float64
			b.ResetTimer()
			for b.Loop() {
				for range benchRounds {
					d, r := decodeAgainstBandwidth(b, e, cpu, buf, largeDecodeTokens)
					dec, bw, roofRatio = append(dec, d), append(bw, r), append(roofRatio, d/(r/weightBytes))
				}
			}
			reportDecode(b, dec, bw, roofRatio, weightBytes)
			b.Logf("%s %s on %s: weights %.1f MB/token; decode %v (of roofline %v); bandwidth GB/s %v",
				largeSpec.Name, p.name, e.BackendName(), weightBytes/1e6, rounded(dec), rounded(roofRatio), rounded(scale(bw, 1e-9)))
		})
	}
}
