package engine

import (
	"math"
	"math/rand/v2"
	"slices"

	"energyprofiler/backend/engine/compute"
)

// Sampling chooses the next token from the logits. Greedy (or a zero
// Temperature) takes the most likely token; otherwise logits are divided by
// Temperature, cut to the TopK most likely (0: no cut) and to the smallest
// set whose probability reaches TopP (0 or 1: no cut), and one token is
// drawn with a PCG generator seeded by Seed, so equal seeds repeat a run.
type Sampling struct {
	Greedy      bool
	Temperature float64
	TopK        int
	TopP        float64
	Seed        uint64
}

// sampler owns the buffers sampling needs, so a step allocates nothing.
type sampler struct {
	cand  []int     // candidate token ids
	prob  []float32 // probabilities, by id
	rng   *rand.Rand
	pcg   *rand.PCG
	cmpFn func(a, b int) int
}

func newSampler(vocab int) sampler {
	s := sampler{cand: make([]int, 0, vocab), prob: make([]float32, vocab)}
	s.pcg = rand.NewPCG(0, 0)
	s.rng = rand.New(s.pcg)
	s.cmpFn = func(a, b int) int { // by probability, descending; ties by id
		pa, pb := s.prob[a], s.prob[b]
		switch {
		case pa > pb:
			return -1
		case pa < pb:
			return 1
		}
		return a - b
	}
	return s
}

func (s *sampler) seed(seed uint64) { s.pcg.Seed(seed, seed^0x9e3779b97f4a7c15) }

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// sample picks a token id from logits (which it does not modify).
func (s *sampler) sample(logits []float32, p Sampling) int {
	if p.Greedy || p.Temperature <= 0 {
		return argmax(logits)
	}
	// Softmax at the temperature, with the SIMD exp (math.Exp can be very
	// slow under GOEXPERIMENT=simd; see compute.CleanUpper).
	m := logits[argmax(logits)]
	inv := float32(1 / p.Temperature)
	prob := s.prob[:len(logits)]
	for i, v := range logits {
		prob[i] = (v - m) * inv
	}
	sum := float64(compute.ExpShift(prob, 0))
	if !(sum > 0 && sum <= math.MaxFloat64) {
		// Non-finite logits (Generate refuses them before sampling): no
		// distribution to draw from, and the threshold search below would
		// never end on a NaN mass.
		return argmax(logits)
	}
	// Candidates: all tokens, or only those that can be in the top-k /
	// top-p set. Sorting the full vocabulary per token is slow, so first keep
	// the tokens above a threshold that still covers the needed mass.
	need := p.TopP
	if need <= 0 || need >= 1 {
		need = 1
	}
	s.cand = s.cand[:0]
	threshold := float32(0)
	if need < 1 || p.TopK > 0 {
		threshold = float32(sum * 1e-3)
		for {
			s.cand = s.cand[:0]
			var mass float64
			for i, v := range s.prob[:len(logits)] {
				if v >= threshold {
					s.cand = append(s.cand, i)
					mass += float64(v)
				}
			}
			enoughK := p.TopK <= 0 || len(s.cand) >= p.TopK
			enoughP := need >= 1 || mass >= need*sum
			if (enoughK && enoughP) || threshold == 0 {
				break
			}
			threshold /= 16
			if threshold < float32(sum*1e-12) {
				threshold = 0
			}
		}
	} else {
		for i := range logits {
			s.cand = append(s.cand, i)
		}
	}
	slices.SortFunc(s.cand, s.cmpFn)
	if p.TopK > 0 && len(s.cand) > p.TopK {
		s.cand = s.cand[:p.TopK]
	}
	var kept float64
	for _, id := range s.cand {
		kept += float64(s.prob[id])
	}
	if need < 1 {
		var acc float64
		for i, id := range s.cand {
			acc += float64(s.prob[id])
			if acc >= need*kept {
				s.cand = s.cand[:i+1]
				kept = acc
				break
			}
		}
	}
	r := s.rng.Float64() * kept
	for _, id := range s.cand {
		r -= float64(s.prob[id])
		if r <= 0 {
			return id
		}
	}
	return s.cand[len(s.cand)-1]
}
