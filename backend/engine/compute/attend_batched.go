package compute

import (
	"math"
	"unsafe"

	"energyprofiler/backend/clock"
)

// Prefill attention as two GEMMs per (head, block of queries) on the same
// micro-kernel as MatMul, instead of one dot product and one axpy per
// (query, key): scores S = Q·Kᵀ for the block against every key it can see,
// a causal softmax per row (entries a query must not see are zeroed), then
// Out = S·V, reading V in place (its rows are already the k-major panel the
// kernel wants). Keys past a query's position cost a little wasted
// arithmetic on the block's diagonal, never a wrong result.

// attnQueryBlock is the queries per work item: a multiple of the kernel's
// tile, small enough that heads × blocks keeps every worker busy.
const attnQueryBlock = 4 * gemmTokens

type attendBatchedTask struct {
	cpu *CPU
	a   *Attention
	nb  int // query blocks per head
}

// scratchForBatched is the per-worker scratch a batched call needs: one
// score block and one packed key panel.
func scratchForBatched(a *Attention) int {
	return attnQueryBlock*(a.Pos0+a.N) + gemmRows*a.HeadDim + 16
}

// Run computes items [lo, hi), item k being head k/nb and query block k%nb.
func (t *attendBatchedTask) Run(worker, lo, hi int) {
	a := t.a
	hd, kvDim, qDim := a.HeadDim, a.KVHeads*a.HeadDim, a.Heads*a.HeadDim
	group := a.Heads / a.KVHeads
	zero := &t.cpu.zeroBias[0]
	var st *AttentionStats
	if a.Stats != nil {
		st = &t.cpu.workers[worker].AttentionStats
	}
	for item := lo; item < hi; item++ {
		h, b := item/t.nb, item%t.nb
		t0 := b * attnQueryBlock
		nq := min(attnQueryBlock, a.N-t0)
		koff := (h / group) * hd
		// Keys [kfirst, kend) cover every query of the block.
		kend := a.Pos0 + t0 + nq
		kfirst := 0
		if a.Window > 0 {
			kfirst = max(0, a.Pos0+t0-a.Window+1)
		}
		ld := kend - kfirst
		scratch := t.cpu.scratch[worker]
		scores := scratch[:nq*ld]
		panel := scratch[nq*ld : nq*ld+gemmRows*hd]

		// Scores, 32 keys at a time; query tiles that end before the
		// panel's first key see none of it and are skipped (their entries
		// are cleared by the softmax pass).
		for j0 := kfirst; j0 < kend; j0 += gemmRows {
			nk := min(gemmRows, kend-j0)
			keys := unsafe.Slice((*byte)(unsafe.Pointer(&a.K[j0*kvDim+koff])), ((nk-1)*kvDim+hd)*4)
			packRows(panel, F32, keys, kvDim, nk, hd)
			for tq := 0; tq < nq; tq += gemmTokens {
				m := min(gemmTokens, nq-tq)
				if a.Pos0+t0+tq+m-1 < j0 {
					continue
				}
				gemmTile(m, &a.Q[(t0+tq)*qDim+h*hd], 4*qDim, &panel[0], 4*gemmRows, hd,
					&scores[tq*ld+j0-kfirst], 4*ld, zero, uint32(1<<nk-1))
			}
		}

		// Causal softmax per query; everything outside its window becomes 0.
		for q := range nq {
			pos := a.Pos0 + t0 + q
			first := 0
			if a.Window > 0 {
				first = max(0, pos-a.Window+1)
			}
			row := scores[q*ld : (q+1)*ld]
			s := row[first-kfirst : pos+1-kfirst]
			var t0ns int64
			if st != nil {
				t0ns = clock.Now()
			}
			softmaxScaled(s, a.Scale)
			if st != nil {
				st.SoftmaxNs += clock.Now() - t0ns
				rowStats(st, s)
			}
			clear(row[:first-kfirst])
			clear(row[pos+1-kfirst:])
		}

		// Out = P·V, each tile stopping at the last key its queries see.
		for d0 := 0; d0 < hd; d0 += gemmRows {
			nd := min(gemmRows, hd-d0)
			for tq := 0; tq < nq; tq += gemmTokens {
				m := min(gemmTokens, nq-tq)
				k := a.Pos0 + t0 + tq + m - kfirst
				gemmTile(m, &scores[tq*ld], 4*ld, &a.V[kfirst*kvDim+koff+d0], 4*kvDim, k,
					&a.Out[(t0+tq)*qDim+h*hd+d0], 4*qDim, zero, uint32(1<<nd-1))
			}
		}
	}
}

// rowStats adds one softmax row's entropy and sparsity to st.
func rowStats(st *AttentionStats, p []float32) {
	cleanUpper() // scalar math.Log loop follows; see CleanUpper
	st.Rows++
	st.Weights += len(p)
	var ent float64
	for _, v := range p {
		if v < SmallWeight {
			st.Small++
		}
		if v > 0 {
			ent -= float64(v) * math.Log(float64(v))
		}
	}
	st.EntropySum += ent
}

// softmaxScaled sets x to softmax(scale·x) (scale > 0), subtracting the
// max first for stability.
func softmaxScaled(x []float32, scale float32) {
	m := maxF32(x)
	scaleF32(x, 1/expScaleSub(x, scale, m))
}
