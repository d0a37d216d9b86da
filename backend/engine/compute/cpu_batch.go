package compute

import "energyprofiler/backend/clock"

// The CPU backend runs every operation when it is called, so the batching
// part of Backend costs it nothing: there is nothing to flush, any Go
// memory will do, and a mark is simply the time it was taken.

// Alloc implements Backend.
func (c *CPU) Alloc(n int) []float32 { return make([]float32, n) }

// Flush implements Backend.
func (c *CPU) Flush() error { return nil }

// Mark implements Backend: the mark is the time itself.
func (c *CPU) Mark() Mark { return Mark(clock.Now()) }

// Time implements Backend.
func (c *CPU) Time(m Mark) int64 { return int64(m) }

// Probe implements Backend.
func (c *CPU) Probe(p *Probe, x []float32) {
	p.N = len(x)
	p.Sum, p.SumSq, p.MaxAbs, p.Below = moments(x, p.Small)
	p.Negative = 0
	if p.CountNegative {
		for _, v := range x {
			if v < 0 {
				p.Negative++
			}
		}
	}
}

// Gather implements Backend.
func (c *CPU) Gather(dst, src []float32, rows []int, width int) {
	for j, r := range rows {
		copy(dst[j*width:(j+1)*width], src[r*width:(r+1)*width])
	}
}

// ScatterAdd implements Backend.
func (c *CPU) ScatterAdd(dst, src []float32, rows []int, weights []float32, width int) {
	for j, r := range rows {
		axpy(dst[r*width:(r+1)*width], weights[j], src[j*width:(j+1)*width])
	}
}
