// Package engine owns transformer inference for Hugging Face model folders
// and GGUF files (Llama, Mistral, Qwen2, Qwen3, Phi-3, Gemma 3, and the
// mixtures of experts Mixtral, Qwen2-MoE and Qwen3-MoE; GGUF weights may be
// block-quantized) on top of the kernels in package compute, and the
// profiling hooks the profiler listens to (see Tracer in trace.go).
//
// The forward pass reads like llama2.c's run.c: embed, then per layer
// pre-norm attention and a SwiGLU (Gemma: GeGLU) MLP with residual adds,
// then the final norm and lm_head. A mixture-of-experts layer swaps the MLP
// for a router and the experts it picks (moe.go). Prefill pushes the whole prompt (in chunks of PrefillChunk
// positions) through matrix-matrix products; decode uses matrix-vector
// products. Weights stay in their stored precision (quantized blocks
// included); activations and the
// preallocated KV cache are float32.
package engine

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"energyprofiler/backend/engine/compute"
	"energyprofiler/backend/model"
	"energyprofiler/backend/tokenizer"
)

// Tokenizer is what the engine needs from a tokenizer; package tokenizer's
// *Tokenizer implements it.
type Tokenizer interface {
	Encode(text string, addSpecial bool) []int
	Decode(ids []int) string
	IsSpecial(id int) bool
	VocabSize() int
	NewStreamDecoder() *tokenizer.StreamDecoder
}

// Options configure an Engine. The zero value is usable.
type Options struct {
	// Threads is the number of CPU workers; < 1 means GOMAXPROCS.
	Threads int
	// Context is the KV-cache length in positions (prompt + generated);
	// 0 means min(max_position_embeddings, 4096).
	Context int
	// PrefillChunk is how many prompt positions go through one batched
	// forward pass; 0 means 512 (the GEMM packs each weight panel once
	// per chunk, so longer chunks amortise that better).
	PrefillChunk int
	// Tokenizer encodes Request.Prompt and decodes generated text. Without
	// one, requests must give PromptIDs and results carry no text.
	Tokenizer Tokenizer
	// Backend overrides the compute backend (default: compute.NewCPU(Threads)).
	// The engine closes it on Close.
	Backend compute.Backend
}

// layer holds one decoder layer's weights as the backend sees them.
type layer struct {
	inputNorm []float32 // before attention (input_layernorm)
	// mlpNorm is the norm before the MLP: post_attention_layernorm in the
	// Llama block, pre_feedforward_layernorm in Gemma's (named mlpNormName).
	mlpNorm     []float32
	mlpNormName Component
	// Gemma's sandwich norms on the attention output (its
	// post_attention_layernorm) and the MLP output; nil elsewhere.
	attnOutNorm, mlpOutNorm []float32
	q, k, v, o              compute.Matrix
	qBias, kBias, vBias     []float32
	oBias                   []float32
	qNorm, kNorm            []float32 // per-head norms before RoPE (qwen3); nil when absent
	gate, up, down          compute.Matrix
	gateBias, upBias        []float32
	downBias                []float32
	window                  int
	// RoPE tables of this layer: Gemma's sliding layers use their own base.
	ropeCos, ropeSin []float32
	// moe replaces gate/up/down in a mixture-of-experts layer (moe.go).
	moe *moeLayer
}

// Engine runs one model. It serves one generation at a time; concurrent
// Generate calls wait for each other.
type Engine struct {
	mu sync.Mutex

	cfg       model.Config
	name      string       // the model folder, for errors
	files     func() error // the model's CheckFiles, to name a file changed under a run
	be        compute.Backend
	fused     fusedBackend // be's fused decode products (fused.go), nil if it has none
	tok       Tokenizer
	layers    []layer
	embed     compute.Matrix
	lmHead    compute.Matrix
	finalNorm []float32
	eps       float32
	geglu     bool    // the MLP is GeGLU with tanh GELU (Gemma), else SwiGLU
	embScale  float32 // embeddings are multiplied by this (Gemma: sqrt(hidden)); 1 elsewhere
	attnScale float32 // attention score scale: 1/sqrt(head_dim), Gemma 1/sqrt(query_pre_attn_scalar)

	dim, kvDim, qDim int
	headDim, rotDim  int
	ctxLen, chunk    int

	// RoPE tables: cos/sin of position p and frequency i at p*rotDim/2+i,
	// for the global (full-attention) layers and, in Gemma, the local ones.
	ropeCos, ropeSin           []float32
	localRopeCos, localRopeSin []float32

	// KV cache per layer: ctxLen rows of kvDim floats.
	kCache, vCache [][]float32
	pos            int // positions filled in the cache

	// Activations for up to chunk positions.
	x, xb, xb2, q, att []float32
	hb, hb2            []float32
	logits             []float32
	one                [1]int             // the decode step's input, kept here so it does not escape
	qkv                [3]compute.Product // a fused q/k/v call's products, kept here so they do not escape

	sampleVocab int // logits[:sampleVocab] are sampled from
	trace       traceState
	samp        sampler
	route       routing // the router's choices for the current chunk (moe.go)
}

// New prepares an engine for m: it maps m's weights into the backend's
// layout (no copy for aligned BF16/F16/F32 data), precomputes the RoPE
// tables and allocates the KV cache and activation buffers. m must stay open
// while the engine is used.
func New(m *model.Model, opts Options) (*Engine, error) {
	if m == nil {
		return nil, errors.New("engine: no model")
	}
	c := m.Config
	if c.HiddenAct != "" && c.HiddenAct != "silu" && c.HiddenAct != "gelu_pytorch_tanh" {
		return nil, fmt.Errorf("engine: hidden activation %q is not supported (silu, gelu_pytorch_tanh)", c.HiddenAct)
	}
	if t, ok := opts.Tokenizer.(*tokenizer.Tokenizer); ok && t == nil {
		opts.Tokenizer = nil // a nil *Tokenizer means no tokenizer
	}
	e := &Engine{
		cfg:     c,
		name:    m.Dir,
		files:   m.CheckFiles,
		tok:     opts.Tokenizer,
		dim:     c.HiddenSize,
		headDim: c.HeadDim,
		qDim:    c.NumHeads * c.HeadDim,
		kvDim:   c.NumKVHeads * c.HeadDim,
		rotDim:  c.RotaryDim(),
		eps:     float32(c.RMSNormEps),
		geglu:   c.HiddenAct == "gelu_pytorch_tanh",
	}
	e.attnScale = float32(1 / math.Sqrt(float64(c.HeadDim)))
	if c.Gemma.On {
		e.attnScale = float32(1 / math.Sqrt(c.Gemma.QueryPreAttnScalar))
	}
	if e.rotDim <= 0 || e.rotDim > e.headDim || e.rotDim%2 != 0 {
		return nil, fmt.Errorf("engine: rotary dim %d does not fit head_dim %d", e.rotDim, e.headDim)
	}
	if c.NumKVHeads <= 0 || c.NumHeads%c.NumKVHeads != 0 {
		return nil, fmt.Errorf("engine: %d attention heads cannot share %d KV heads", c.NumHeads, c.NumKVHeads)
	}
	e.ctxLen = opts.Context
	if e.ctxLen <= 0 {
		e.ctxLen = DefaultContext(c)
	}
	e.chunk = opts.PrefillChunk
	if e.chunk <= 0 {
		e.chunk = 512
	}
	e.chunk = min(e.chunk, e.ctxLen)

	var err error
	if e.embed, err = matrix(m.Embedding()); err != nil {
		return nil, err
	}
	if e.lmHead, err = matrix(m.LMHead()); err != nil {
		return nil, err
	}
	if e.finalNorm, err = vector(m.FinalNorm()); err != nil {
		return nil, err
	}
	e.embScale = 1
	if c.Gemma.On {
		// Gemma3TextScaledWordEmbedding: sqrt(hidden) cast to the weight dtype.
		e.embScale = roundToDType(float32(math.Sqrt(float64(c.HiddenSize))), e.embed.DType)
		gemmaNorm(e.finalNorm)
	}
	e.ropeCos, e.ropeSin = ropeTables(c.RopeTheta, c.RopeScaling, c.RopeFreqFactors, e.rotDim, e.ctxLen)
	if c.Gemma.On {
		e.localRopeCos, e.localRopeSin = ropeTables(c.Gemma.LocalRopeTheta, nil, nil, e.rotDim, e.ctxLen)
	}
	for i := range c.NumLayers {
		l, err := loadLayer(m.Layer(i))
		if err != nil {
			return nil, fmt.Errorf("engine: layer %d: %w", i, err)
		}
		l.window = c.LayerWindow(i)
		l.ropeCos, l.ropeSin = e.ropeCos, e.ropeSin
		if c.Gemma.On {
			for _, w := range [][]float32{l.inputNorm, l.mlpNorm, l.attnOutNorm, l.mlpOutNorm, l.qNorm, l.kNorm} {
				gemmaNorm(w)
			}
			if l.window > 0 {
				l.ropeCos, l.ropeSin = e.localRopeCos, e.localRopeSin
			}
		}
		e.layers = append(e.layers, l)
	}
	if err := e.checkShapes(); err != nil {
		return nil, err
	}
	if c.MoE != nil && c.Gemma.On {
		return nil, errors.New("engine: a Gemma-style model with mixture-of-experts layers is not supported")
	}

	// The KV cache and the activations live in the backend's memory (on
	// Metal: GPU buffers, shared with the CPU on Apple Silicon).
	e.be = opts.Backend
	if e.be == nil {
		e.be = compute.NewCPU(opts.Threads)
	}
	be := e.be
	if err := e.checkBackend(); err != nil {
		return nil, err
	}
	e.fused, _ = be.(fusedBackend)
	// A backend with its own weight layouts (the CPU's repacked quantized
	// decode panels, quantx16.go) builds them now, in the load phase, not
	// in the first decode step; its Name then says so. The mapped pages of
	// what it copied are let go, so the model is not resident twice.
	if p, ok := be.(interface {
		PackWeights([]*compute.Matrix) int64
	}); ok {
		ws := e.productWeights()
		p.PackWeights(ws)
		for _, w := range ws {
			if w.Repacked() {
				m.ReleasePages(w.Data) // advice: an error changes nothing
			}
		}
	}
	e.kCache = make([][]float32, c.NumLayers)
	e.vCache = make([][]float32, c.NumLayers)
	for i := range e.kCache {
		e.kCache[i] = be.Alloc(e.ctxLen * e.kvDim)
		e.vCache[i] = be.Alloc(e.ctxLen * e.kvDim)
	}
	n := e.chunk
	e.x = be.Alloc(n * e.dim)
	e.xb = be.Alloc(n * max(e.dim, e.qDim))
	e.xb2 = be.Alloc(n * e.dim)
	e.q = be.Alloc(n * e.qDim)
	e.att = be.Alloc(n * e.qDim)
	inter := c.IntermediateSize
	if m := c.MoE; m != nil {
		inter = max(inter, m.Intermediate, m.SharedIntermediate)
		e.route = newRouting(be, m.Experts, m.TopK, m.NormTopKProb, n, e.dim)
	}
	e.hb = be.Alloc(n * inter)
	e.hb2 = be.Alloc(n * inter)
	e.logits = be.Alloc(e.lmHead.Rows)
	// Never sample an id the tokenizer cannot decode: configs pad vocab_size
	// above the tokenizer's size (Qwen2, Phi-3, the demo models), and those
	// rows were never trained.
	e.sampleVocab = e.lmHead.Rows
	if e.tok != nil {
		e.sampleVocab = min(e.sampleVocab, e.tok.VocabSize())
	}
	e.samp = newSampler(e.lmHead.Rows)
	return e, nil
}

// DefaultContext is the KV-cache length an engine for c gets when
// Options.Context is 0: min(max_position_embeddings, 4096). A prompt must
// be shorter than it.
func DefaultContext(c model.Config) int {
	n := 4096
	if c.MaxPositionEmbeddings > 0 {
		n = min(n, c.MaxPositionEmbeddings)
	}
	return n
}

// ErrUnsupportedWeights is returned (wrapped) by New when the backend has
// no kernels for a weight type of the model (Metal and quantized weights).
var ErrUnsupportedWeights = errors.New("the backend has no kernels for these weights")

// checkBackend refuses, up front, weights the backend cannot multiply,
// rather than failing at the first forward pass. A backend that can say so
// implements Supports (the CPU runs everything).
func (e *Engine) checkBackend() error {
	s, ok := e.be.(interface{ Supports(compute.DType) bool })
	if !ok {
		return nil
	}
	for _, m := range append(e.productWeights(), &e.embed) {
		if !s.Supports(m.DType) {
			return fmt.Errorf("engine: %w: %s has none for %s weights (use --backend cpu)", ErrUnsupportedWeights, e.be.Name(), m.DType)
		}
	}
	return nil
}

// productWeights lists every matrix the forward pass multiplies by: lm_head
// and each layer's projections, routers and experts (not the embedding
// table, which is only read by rows).
func (e *Engine) productWeights() []*compute.Matrix {
	mats := []*compute.Matrix{&e.lmHead}
	for i := range e.layers {
		l := &e.layers[i]
		mats = append(mats, &l.q, &l.k, &l.v, &l.o)
		if m := l.moe; m != nil {
			mats = append(mats, &m.router)
			for j := range m.experts {
				x := &m.experts[j]
				mats = append(mats, &x.gate, &x.up, &x.down)
			}
			if sh := m.shared; sh != nil {
				mats = append(mats, &sh.gate, &sh.up, &sh.down, &m.sharedGate)
			}
		} else {
			mats = append(mats, &l.gate, &l.up, &l.down)
		}
	}
	return mats
}

// Close stops the engine's workers. The model is not closed.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.be != nil {
		e.be.Close()
		e.be = nil
	}
}

// Config is the model configuration the engine runs.
func (e *Engine) Config() model.Config { return e.cfg }

// ContextLength is the KV-cache length in positions.
func (e *Engine) ContextLength() int { return e.ctxLen }

// BackendName describes the compute backend, e.g. "cpu-avx512 x2".
func (e *Engine) BackendName() string { return e.be.Name() }

// LayerComponents lists, in execution order, the components traced in
// layer i of this model: LayerComponents' Llama-family list with the
// architecture's additions (q_norm and k_norm for Qwen3).
func (e *Engine) LayerComponents(i int) []Component {
	l := &e.layers[i]
	out := []Component{CompInputNorm, CompQProj, CompKProj, CompVProj}
	if l.qNorm != nil {
		out = append(out, CompQNorm, CompKNorm)
	}
	out = append(out, CompRoPE, CompAttention, CompOProj)
	if l.attnOutNorm != nil {
		out = append(out, CompPostAttnNorm)
	}
	out = append(out, l.mlpNormName)
	if l.moe != nil {
		out = append(out, CompRouter, CompExperts)
		if l.moe.shared != nil {
			out = append(out, CompSharedExpert)
		}
		return out
	}
	out = append(out, CompGateProj, CompUpProj, CompActivation, CompDownProj)
	if l.mlpOutNorm != nil {
		out = append(out, CompPostFFNorm)
	}
	return out
}

// WeightBytesPerToken is how many weight bytes one decode step reads: every
// layer matrix plus lm_head (the embedding row is negligible). In an MoE
// layer that is the router, the shared expert and top-k of the experts
// (they are all the same size): the active bytes, not the stored ones.
func (e *Engine) WeightBytesPerToken() int64 {
	var b int64
	for _, l := range e.layers {
		for _, w := range []compute.Matrix{l.q, l.k, l.v, l.o, l.gate, l.up, l.down} {
			b += int64(len(w.Data))
		}
		if m := l.moe; m != nil {
			b += int64(len(m.router.Data)) + int64(e.route.topK)*m.experts[0].bytes()
			if m.shared != nil {
				b += m.shared.bytes() + int64(len(m.sharedGate.Data))
			}
		}
	}
	return b + int64(len(e.lmHead.Data))
}

func (e *Engine) checkShapes() error {
	c := e.cfg
	want := func(name string, m compute.Matrix, rows, cols int) error {
		if m.Rows != rows || m.Cols != cols {
			return fmt.Errorf("engine: %s is %dx%d, want %dx%d from config.json", name, m.Rows, m.Cols, rows, cols)
		}
		return nil
	}
	if err := want("embedding", e.embed, c.VocabSize, e.dim); err != nil {
		return err
	}
	if err := want("lm_head", e.lmHead, e.embed.Rows, e.dim); err != nil {
		return err
	}
	for i, l := range e.layers {
		type check struct {
			name       string
			m          compute.Matrix
			rows, cols int
		}
		checks := []check{
			{"q_proj", l.q, e.qDim, e.dim}, {"k_proj", l.k, e.kvDim, e.dim}, {"v_proj", l.v, e.kvDim, e.dim},
			{"o_proj", l.o, e.dim, e.qDim},
		}
		if m := l.moe; m != nil {
			checks = append(checks, check{"router", m.router, c.MoE.Experts, e.dim})
			for x, ex := range m.experts {
				I := c.MoE.Intermediate
				checks = append(checks, check{fmt.Sprintf("expert %d gate", x), ex.gate, I, e.dim},
					check{fmt.Sprintf("expert %d up", x), ex.up, I, e.dim}, check{fmt.Sprintf("expert %d down", x), ex.down, e.dim, I})
			}
			if m.shared != nil {
				I := c.MoE.SharedIntermediate
				checks = append(checks, check{"shared_expert gate", m.shared.gate, I, e.dim}, check{"shared_expert up", m.shared.up, I, e.dim},
					check{"shared_expert down", m.shared.down, e.dim, I}, check{"shared_expert_gate", m.sharedGate, 1, e.dim})
			}
			if len(m.experts) != c.MoE.Experts {
				return fmt.Errorf("engine: layer %d has %d experts, want %d", i, len(m.experts), c.MoE.Experts)
			}
		} else {
			checks = append(checks, check{"gate_proj", l.gate, c.IntermediateSize, e.dim},
				check{"up_proj", l.up, c.IntermediateSize, e.dim}, check{"down_proj", l.down, e.dim, c.IntermediateSize})
		}
		for _, chk := range checks {
			if err := want(fmt.Sprintf("layer %d %s", i, chk.name), chk.m, chk.rows, chk.cols); err != nil {
				return err
			}
		}
		for _, norm := range [][]float32{l.inputNorm, l.mlpNorm, l.attnOutNorm, l.mlpOutNorm} {
			if norm != nil && len(norm) != e.dim {
				return fmt.Errorf("engine: layer %d norm weights have %d elements, want %d", i, len(norm), e.dim)
			}
		}
		if (l.qNorm != nil || l.kNorm != nil) && (len(l.qNorm) != e.headDim || len(l.kNorm) != e.headDim) {
			return fmt.Errorf("engine: layer %d q_norm/k_norm have %d/%d elements, want head_dim %d", i, len(l.qNorm), len(l.kNorm), e.headDim)
		}
	}
	return nil
}

func loadLayer(w model.LayerWeights) (layer, error) {
	var l layer
	var err error
	mats := []struct {
		dst *compute.Matrix
		t   *model.Tensor
	}{{&l.q, w.Q}, {&l.k, w.K}, {&l.v, w.V}, {&l.o, w.O}}
	if w.Router != nil {
		if l.moe, err = loadMoE(w); err != nil {
			return l, err
		}
	} else {
		mats = append(mats, []struct {
			dst *compute.Matrix
			t   *model.Tensor
		}{{&l.gate, w.Gate}, {&l.up, w.Up}, {&l.down, w.Down}}...)
	}
	for _, m := range mats {
		if *m.dst, err = matrix(m.t); err != nil {
			return l, err
		}
	}
	// Gemma normalises the attention output with post_attention_layernorm
	// and the MLP input with pre_feedforward_layernorm.
	mlpNorm, attnOutNorm := w.PostAttnNorm, (*model.Tensor)(nil)
	l.mlpNormName = CompPostAttnNorm
	if w.PreFFNorm != nil {
		mlpNorm, attnOutNorm = w.PreFFNorm, w.PostAttnNorm
		l.mlpNormName = CompPreFFNorm
	}
	vecs := []struct {
		dst      *[]float32
		t        *model.Tensor
		optional bool
	}{
		{&l.inputNorm, w.InputNorm, false}, {&l.mlpNorm, mlpNorm, false},
		{&l.attnOutNorm, attnOutNorm, true}, {&l.mlpOutNorm, w.PostFFNorm, true},
		{&l.qBias, w.QBias, true}, {&l.kBias, w.KBias, true}, {&l.vBias, w.VBias, true}, {&l.oBias, w.OBias, true},
		{&l.gateBias, w.GateBias, true}, {&l.upBias, w.UpBias, true}, {&l.downBias, w.DownBias, true},
		{&l.qNorm, w.QNorm, true}, {&l.kNorm, w.KNorm, true},
	}
	for _, v := range vecs {
		if v.t == nil && v.optional {
			continue
		}
		if *v.dst, err = vector(v.t); err != nil {
			return l, err
		}
	}
	return l, nil
}

// matrix presents a 2-D model tensor to the backend without copying it
// (unless its data is misaligned for its element type).
func matrix(t *model.Tensor) (compute.Matrix, error) {
	if t == nil {
		return compute.Matrix{}, errors.New("engine: a required weight tensor is missing")
	}
	var dt compute.DType
	switch t.DType {
	case model.F32:
		dt = compute.F32
	case model.F16:
		dt = compute.F16
	case model.BF16:
		dt = compute.BF16
	case model.Q8_0:
		dt = compute.Q8_0
	case model.Q4_0:
		dt = compute.Q4_0
	case model.Q4_K:
		dt = compute.Q4_K
	case model.Q5_K:
		dt = compute.Q5_K
	case model.Q6_K:
		dt = compute.Q6_K
	default:
		return compute.Matrix{}, fmt.Errorf("engine: tensor %s has dtype %s; supported: F32, F16, BF16 and the GGUF types Q8_0, Q4_0, Q4_K, Q5_K, Q6_K (convert the model)", t.Name, t.DType)
	}
	if len(t.Shape) != 2 {
		return compute.Matrix{}, fmt.Errorf("engine: tensor %s has shape %v, want a matrix", t.Name, t.Shape)
	}
	m := compute.Matrix{DType: dt, Rows: t.Shape[0], Cols: t.Shape[1], Data: t.Data}
	if err := m.Check(); err != nil {
		return m, fmt.Errorf("engine: tensor %s: %w", t.Name, err)
	}
	return compute.Realign(m), nil
}

// vector widens a small tensor (norm weight, bias) to float32.
func vector(t *model.Tensor) ([]float32, error) {
	if t == nil {
		return nil, errors.New("engine: a required norm weight is missing")
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return v, nil
}

// gemmaNorm turns a Gemma norm weight w into the 1+w its RMSNorm scales by
// (computed in float32, as Gemma3RMSNorm does).
func gemmaNorm(w []float32) {
	for i := range w {
		w[i]++
	}
}

// roundToDType rounds v to a weight dtype, as torch's .to(weight.dtype).
func roundToDType(v float32, dt compute.DType) float32 {
	switch dt {
	case compute.BF16:
		return model.BF16ToFloat32(model.Float32ToBF16(v))
	case compute.F16:
		return model.F16ToFloat32(model.Float32ToF16(v))
	}
	return v
}

// ropeTables computes cos and sin of position·inv_freq for every position
// and rotary frequency, in float32 like Hugging Face, with base theta and
// scaling (nil: none) applied to inv_freq.
func ropeTables(theta float64, scaling *model.RopeScaling, freqFactors []float64, rotDim, positions int) (cos, sin []float32) {
	half := rotDim / 2
	inv := make([]float64, half)
	for i := range inv {
		inv[i] = 1 / math.Pow(theta, float64(2*i)/float64(rotDim))
	}
	for i, f := range freqFactors { // GGUF rope_freqs: llama.cpp divides θ_i by it
		if i < half {
			inv[i] /= f
		}
	}
	if s := scaling; s != nil && len(freqFactors) == 0 {
		switch s.Type {
		case "linear":
			for i := range inv {
				inv[i] /= s.Factor
			}
		case "llama3":
			old := float64(s.OriginalMaxPositionEmbeddings)
			lowWave, highWave := old/s.LowFreqFactor, old/s.HighFreqFactor
			for i, f := range inv {
				wave := 2 * math.Pi / f
				switch {
				case wave < highWave:
				case wave > lowWave:
					inv[i] = f / s.Factor
				default:
					sm := (old/wave - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
					inv[i] = (1-sm)*f/s.Factor + sm*f
				}
			}
		}
	}
	cos = make([]float32, positions*half)
	sin = make([]float32, positions*half)
	for p := range positions {
		for i, f := range inv {
			angle := float32(p) * float32(f)
			cos[p*half+i] = float32(math.Cos(float64(angle)))
			sin[p*half+i] = float32(math.Sin(float64(angle)))
		}
	}
	return cos, sin
}
