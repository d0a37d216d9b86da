package compute

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// BenchmarkQuantDecode measures one decode step's mat-vecs on the
// demo-110m-gqa shapes (12 layers of q, k, v, o, gate, up, down and the
// 32000-row lm_head) for each weight type, against the machine's read
// bandwidth measured in the same round (the roofline: bandwidth ÷ weight
// bytes per token, read between slices of the steps). It reports decode-tok/s (mat-vecs only: attention and
// norms excluded) and of-roofline, medians over rounds. Run with
//
//	GOEXPERIMENT=simd go test -run '^$' -bench QuantDecode ./backend/engine/compute/
func BenchmarkQuantDecode(b *testing.B) {
	shapes := [][2]int{{768, 768}, {256, 768}, {256, 768}, {768, 768}, {2048, 768}, {2048, 768}, {768, 2048}}
	cpu := NewCPU(0)
	defer cpu.Close()
	buf := NewBandwidthBuffer(256 << 20)
	type variant struct {
		dt   DType
		pack bool // repacked for the x16 kernels (quantx16.go), as the engine loads them
	}
	variants := []variant{{BF16, false}, {Q8_0, false}, {Q4_0, false}, {Q4_K, false}, {Q5_K, false}, {Q6_K, false}}
	if hasX16Kernels() {
		variants = append(variants, variant{Q8_0, true}, variant{Q4_0, true}, variant{Q4_K, true}, variant{Q5_K, true}, variant{Q6_K, true})
	}
	for _, v := range variants {
		dt, name := v.dt, v.dt.String()
		if v.pack {
			name += "-x16"
		}
		b.Run(name, func(b *testing.B) {
			var mats []Matrix
			for range 12 {
				for _, s := range shapes {
					mats = append(mats, benchMatrix(dt, s[0], s[1]))
				}
			}
			mats = append(mats, benchMatrix(dt, 32000, 768))
			if v.pack {
				ptrs := make([]*Matrix, len(mats))
				for i := range mats {
					ptrs[i] = &mats[i]
				}
				cpu.PackWeights(ptrs)
			}
			var bytes float64
			for _, m := range mats {
				bytes += float64(len(m.Data))
			}
			rng := rand.New(rand.NewPCG(1, 2))
			x := randF32(rng, 2048)
			out := make([]float32, 32000)
			step := func() {
				for _, m := range mats {
					cpu.MatMul(out[:m.Rows], x[:m.Cols], 1, m, nil)
				}
			}
			step() // page in
			var rates, ratios, cpuRatios []float64
			for b.Loop() {
				for range 3 {
					// Slices of 5 steps with a bandwidth read before each, so
					// the roofline is measured over the same stretch of time
					// as the steps (see the engine's decodeAgainstBandwidth).
					const slices, perSlice = 4, 5
					var took time.Duration
					var readBytes, readSum, readCPU, stepCPU float64
					for range slices {
						c0 := processCPU()
						readSum += cpu.ReadBandwidth(buf)
						readCPU += processCPU() - c0
						readBytes += float64(len(buf) * 4)
						start, c1 := time.Now(), processCPU()
						for range perSlice {
							step()
						}
						took += time.Since(start)
						stepCPU += processCPU() - c1
					}
					bw, bwCPU := readSum/slices, readBytes/readCPU
					rate := slices * perSlice / took.Seconds()
					rateCPU := slices * perSlice * bytes / stepCPU
					rates = append(rates, rate)
					ratios = append(ratios, rate/(bw/bytes))
					cpuRatios = append(cpuRatios, rateCPU/bwCPU)
				}
			}
			b.ReportMetric(benchMedian(rates), "decode-tok/s")
			b.ReportMetric(bytes/1e6, "MB/token")
			b.ReportMetric(benchMedian(ratios), "of-roofline")
			// The same ratio in CPU time (bytes per CPU-second of the decode
			// against those of the bandwidth read): on a shared, loaded host
			// wall-clock rates swing with other processes, CPU time much less.
			b.ReportMetric(benchMedian(cpuRatios), "of-roofline-cpu")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// benchMatrix is a rows×cols matrix of type dt with realistic blocks: one
// quantized row repeated (the kernels' speed does not depend on the values).
func benchMatrix(dt DType, rows, cols int) Matrix {
	rng := rand.New(rand.NewPCG(uint64(rows), uint64(cols)))
	row := randF32(rng, cols)
	var enc []byte
	if dt.Quantized() {
		enc, _ = Quantize(dt, row, cols)
	} else {
		enc = make([]byte, cols*dt.Size())
		for i, v := range row {
			u := f16Bits(v)
			if dt == BF16 {
				u = uint16(math.Float32bits(v) >> 16)
			}
			enc[2*i], enc[2*i+1] = byte(u), byte(u>>8)
		}
	}
	data := make([]byte, 0, rows*len(enc))
	for range rows {
		data = append(data, enc...)
	}
	return Matrix{DType: dt, Rows: rows, Cols: cols, Data: data}
}

func benchMedian(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}
