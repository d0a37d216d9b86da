package engine

import (
	"context"
	"fmt"

	"energyprofiler/backend/engine/compute"
)

// forward runs ids through the model at positions e.pos … e.pos+len(ids)-1,
// appending their keys and values to the cache, in chunks of at most e.chunk
// positions. It leaves the next-token logits of the last position in
// e.logits. ctx is checked between layers, so a cancel lands mid-prefill.
func (e *Engine) forward(ctx context.Context, ids []int) error {
	if e.pos+len(ids) > e.ctxLen {
		return fmt.Errorf("engine: %d positions do not fit the %d-position context (%d used); raise the context length or shorten the prompt", len(ids), e.ctxLen, e.pos)
	}
	for len(ids) > 0 {
		n := min(len(ids), e.chunk)
		if err := e.forwardChunk(ctx, ids[:n], len(ids) == n); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// step is one decode forward pass for token id.
func (e *Engine) step(ctx context.Context, id int) error {
	e.one[0] = id
	return e.forward(ctx, e.one[:])
}

// forwardChunk is one batched pass over n ≤ e.chunk positions. The backend
// may only queue the operations (Metal encodes them into one command
// buffer), so the pass ends with a Flush, after which the logits and the
// trace events are there.
func (e *Engine) forwardChunk(ctx context.Context, ids []int, wantLogits bool) error {
	err := e.encodeChunk(ctx, ids, wantLogits)
	if ferr := e.flush(); err == nil {
		err = ferr
	}
	return err
}

// flush runs the queued operations and hands their trace events on.
func (e *Engine) flush() error {
	if err := e.be.Flush(); err != nil {
		e.trace.drop()
		return fmt.Errorf("engine: backend %s: %w", e.be.Name(), err)
	}
	e.trace.emit()
	return nil
}

// encodeChunk issues the operations of one pass over ids.
func (e *Engine) encodeChunk(ctx context.Context, ids []int, wantLogits bool) error {
	be, n, pos0 := e.be, len(ids), e.pos
	dim, inter := e.dim, e.cfg.IntermediateSize
	x, xb, xb2 := e.x[:n*dim], e.xb[:n*dim], e.xb2[:n*dim]
	q, att := e.q[:n*e.qDim], e.att[:n*e.qDim]
	hb, hb2 := e.hb[:n*inter], e.hb2[:n*inter]
	tr := &e.trace

	t := tr.begin()
	be.Embed(x, e.embed, ids)
	if e.embScale != 1 { // Gemma: embeddings × sqrt(hidden)
		be.Scale(x, e.embScale)
	}
	tr.end(-1, CompEmbedding, t, n, x)

	for li := range e.layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		l := &e.layers[li]
		kc := e.kCache[li][pos0*e.kvDim : (pos0+n)*e.kvDim]
		vc := e.vCache[li][pos0*e.kvDim : (pos0+n)*e.kvDim]

		// Attention block: x += o_proj(attention(rope(q), rope(k), v)).
		t = tr.begin()
		be.RMSNorm(xb, x, n, l.inputNorm, e.eps)
		tr.endNorm(li, CompInputNorm, t, n, x, xb)

		a := &tr.attn
		*a = compute.Attention{
			Q: q, K: e.kCache[li], V: e.vCache[li], Out: att,
			N: n, Pos0: pos0,
			Heads: e.cfg.NumHeads, KVHeads: e.cfg.NumKVHeads, HeadDim: e.headDim,
			Window: l.window,
			Scale:  e.attnScale,
		}
		e.qkv = [3]compute.Product{{Out: q, W: l.q, Bias: l.qBias}, {Out: kc, W: l.k, Bias: l.kBias}, {Out: vc, W: l.v, Bias: l.vBias}}
		// One untimed token: q, k, v, RoPE and attention as one parallel
		// operation where the backend takes it, else q, k and v as one.
		fused := e.fuses(n)
		if !(fused && e.attentionBlock(l, xb, a)) {
			if fused {
				e.fused.MatVecs(xb, e.qkv[:])
			} else {
				t = tr.begin()
				be.MatMul(q, xb, n, l.q, l.qBias)
				tr.end(li, CompQProj, t, n, q)
				t = tr.begin()
				be.MatMul(kc, xb, n, l.k, l.kBias)
				tr.end(li, CompKProj, t, n, kc)
				t = tr.begin()
				be.MatMul(vc, xb, n, l.v, l.vBias)
				tr.end(li, CompVProj, t, n, vc)
			}

			if l.qNorm != nil { // Qwen3, Gemma 3: RMSNorm over each head, before RoPE
				t = tr.beginNorm(q)
				be.RMSNorm(q, q, n*e.cfg.NumHeads, l.qNorm, e.eps)
				tr.endNormInPlace(li, CompQNorm, t, n, q)
				t = tr.beginNorm(kc)
				be.RMSNorm(kc, kc, n*e.cfg.NumKVHeads, l.kNorm, e.eps)
				tr.endNormInPlace(li, CompKNorm, t, n, kc)
			}

			t = tr.begin()
			be.RoPE(q, n, e.cfg.NumHeads, e.headDim, e.rotDim, pos0, l.ropeCos, l.ropeSin)
			be.RoPE(kc, n, e.cfg.NumKVHeads, e.headDim, e.rotDim, pos0, l.ropeCos, l.ropeSin)
			tr.end(li, CompRoPE, t, n, q)

			t = tr.begin()
			a.Stats = tr.attentionStats()
			be.Attend(a)
			tr.endAttention(li, t, n, att)
		}

		t = tr.begin()
		be.MatMul(xb2, att, n, l.o, l.oBias)
		if l.attnOutNorm == nil {
			be.Add(x, xb2)
		}
		tr.end(li, CompOProj, t, n, xb2)
		if l.attnOutNorm != nil { // Gemma normalises the attention output first
			t = tr.beginNorm(xb2)
			be.RMSNorm(xb2, xb2, n, l.attnOutNorm, e.eps)
			be.Add(x, xb2)
			tr.endNormInPlace(li, CompPostAttnNorm, t, n, xb2)
		}

		// MLP block: x += down(act(gate(h)) · up(h)), h = rmsnorm(x), with
		// act silu (SwiGLU) or tanh-approximated GELU (Gemma's GeGLU).
		t = tr.begin()
		be.RMSNorm(xb, x, n, l.mlpNorm, e.eps)
		tr.endNorm(li, l.mlpNormName, t, n, x, xb)

		if l.moe != nil { // mixture of experts: x += Σ weight·expert(h) over the router's top-k
			if err := e.mixture(li, l.moe, xb[:n*dim], n); err != nil {
				return err
			}
			continue
		}

		if e.fuses(n) { // gate, up and the activation as one parallel operation
			e.fused.GatedMatVec(xb, compute.Product{Out: hb, W: l.gate, Bias: l.gateBias}, compute.Product{Out: hb2, W: l.up, Bias: l.upBias}, e.activation())
		} else {
			t = tr.begin()
			be.MatMul(hb, xb, n, l.gate, l.gateBias)
			tr.endGate(li, t, n, hb)
			t = tr.begin()
			be.MatMul(hb2, xb, n, l.up, l.upBias)
			tr.end(li, CompUpProj, t, n, hb2)

			t = tr.begin()
			if e.geglu {
				be.GeGLU(hb, hb2)
			} else {
				be.SwiGLU(hb, hb2)
			}
			tr.endActivation(li, t, n, hb)
		}

		t = tr.begin()
		be.MatMul(xb2, hb, n, l.down, l.downBias)
		if l.mlpOutNorm == nil {
			be.Add(x, xb2)
		}
		tr.end(li, CompDownProj, t, n, xb2)
		if l.mlpOutNorm != nil { // Gemma normalises the MLP output too
			t = tr.beginNorm(xb2)
			be.RMSNorm(xb2, xb2, n, l.mlpOutNorm, e.eps)
			be.Add(x, xb2)
			tr.endNormInPlace(li, CompPostFFNorm, t, n, xb2)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.pos += n
	if !wantLogits {
		return nil
	}

	last := x[(n-1)*dim : n*dim]
	t = tr.begin()
	be.RMSNorm(xb[:dim], last, 1, e.finalNorm, e.eps)
	tr.endNorm(-1, CompFinalNorm, t, 1, last, xb[:dim])
	t = tr.begin()
	be.MatMul(e.logits, xb[:dim], 1, e.lmHead, nil)
	tr.end(-1, CompLMHead, t, 1, e.logits)
	return nil
}
