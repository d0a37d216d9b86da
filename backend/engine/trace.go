package engine

import (
	"strconv"
	"strings"
)

// Phase names one stage of a generation, in the order they happen.
type Phase string

const (
	PhasePreInference  Phase = "pre_inference"  // tokenization and setup
	PhasePrefill       Phase = "prefill"        // the prompt, batched
	PhaseDecode        Phase = "decode"         // one token at a time
	PhasePostInference Phase = "post_inference" // detokenization and cleanup
)

// Component names one traced step of the forward pass.
type Component string

const (
	CompEmbedding    Component = "embedding"
	CompInputNorm    Component = "input_layernorm"
	CompQProj        Component = "q_proj"
	CompKProj        Component = "k_proj"
	CompVProj        Component = "v_proj"
	CompQNorm        Component = "q_norm" // per-head RMSNorm of the queries (qwen3)
	CompKNorm        Component = "k_norm" // per-head RMSNorm of the keys (qwen3)
	CompRoPE         Component = "rope"
	CompAttention    Component = "attention" // scores + softmax + weighted sum
	CompOProj        Component = "o_proj"
	CompPostAttnNorm Component = "post_attention_layernorm"   // Gemma: on the attention output
	CompPreFFNorm    Component = "pre_feedforward_layernorm"  // Gemma: before the MLP
	CompPostFFNorm   Component = "post_feedforward_layernorm" // Gemma: on the MLP output
	CompGateProj     Component = "gate_proj"
	CompUpProj       Component = "up_proj"
	CompActivation   Component = "activation"
	CompDownProj     Component = "down_proj"
	CompFinalNorm    Component = "final_norm"
	CompLMHead       Component = "lm_head"

	// Mixture-of-experts layers trace these instead of gate_proj … down_proj.
	CompRouter       Component = "router"        // transformers' mlp.gate (block_sparse_moe.gate): logits, softmax, top-k
	CompSharedExpert Component = "shared_expert" // Qwen2-MoE's shared expert with its sigmoid shared_expert_gate
	// CompExperts names the routed experts as a group; each expert call is
	// traced as ExpertComponent(e), "experts.<e>" like transformers'
	// mlp.experts.<e>.
	CompExperts Component = "experts"
)

// ExpertComponent is the traced name of routed expert e: "experts.<e>".
func ExpertComponent(e int) Component { return Component("experts." + strconv.Itoa(e)) }

// ExpertOf returns the expert index of an "experts.<e>" component.
func ExpertOf(c Component) (int, bool) {
	rest, ok := strings.CutPrefix(string(c), "experts.")
	if !ok {
		return 0, false
	}
	e, err := strconv.Atoi(rest)
	return e, err == nil && e >= 0
}

// LayerComponents lists, in execution order, the components traced inside
// every decoder layer of a Llama-family model. Engine.LayerComponents gives
// a given model's list.
func LayerComponents() []Component {
	return []Component{CompInputNorm, CompQProj, CompKProj, CompVProj, CompRoPE,
		CompAttention, CompOProj, CompPostAttnNorm, CompGateProj, CompUpProj,
		CompActivation, CompDownProj}
}

// Depth says how much the engine measures while it runs.
type Depth int

const (
	DepthOff    Depth = iota // no tracing: the hot path does no extra work
	DepthModule              // component timings and activation statistics
	DepthDeep                // module, plus attention and MLP internals
)

// ActivationStats describe one component's output tensor (module depth).
// Sparsity is the fraction of elements with |x| < SparsityThreshold.
type ActivationStats struct {
	Mean, Std, MaxAbs, Sparsity float64
}

// SparsityThreshold is the |x| below which an activation counts as zero.
const SparsityThreshold = 1e-3

// DeepStats are the extra measurements of deep depth. A field that does not
// apply to the component (entropy of an MLP, say) is left nil.
type DeepStats struct {
	AttentionEntropy  *float64 // mean over heads of the softmax row entropy (nats)
	AttentionSparsity *float64 // fraction of attention weights < 1e-3
	SoftmaxNs         *int64   // time spent in softmax inside attention
	MLPKillRatio      *float64 // fraction of gate pre-activations < 0
	NormVarianceRatio *float64 // input variance / output variance of a norm
	// Router (deep depth): the mean over positions of the entropy of the
	// softmax over all experts (nats), and the load-balance figure of
	// transformers' load_balancing_loss_func (Switch Transformer eq. 4–6)
	// divided by top-k: E·Σ_e f_e·P_e / k, with f_e the share of the call's
	// top-k choices that went to e and P_e e's mean router probability.
	// It is 1 for perfectly even routing and grows as the router piles
	// tokens onto the experts it favours.
	RouterEntropy     *float64
	RouterLoadBalance *float64
}

// Routing is what a router call decided (module depth): for each of its
// positions Pos0 … Pos0+n−1, the TopK experts chosen, best first, and their
// routing weights (after renormalisation where the model renormalises), at
// Experts[p*TopK+r] and Weights[p*TopK+r].
type Routing struct {
	Pos0    int
	TopK    int
	Experts []int
	Weights []float32
}

// ComponentEvent is one component call. Layer is -1 for the components
// outside the decoder stack (embedding, final norm, lm_head).
type ComponentEvent struct {
	Phase      Phase
	Layer      int
	Component  Component
	Start, End int64 // clock.Now() nanoseconds
	Positions  int   // sequence positions processed (the prompt length in prefill, 1 in decode)
	Stats      *ActivationStats
	Deep       *DeepStats
	Routing    *Routing // router calls only
}

// TokenEvent is one generated token. Start and End bracket the forward pass
// and sampling that produced it; Index counts generated tokens from 0.
type TokenEvent struct {
	Index      int
	ID         int
	Piece      string
	Start, End int64
}

// Tracer receives the engine's profiling events. Every timestamp comes from
// clock.Now(). Calls happen on the generating goroutine, in order, so a tracer
// must return quickly and must not block on I/O.
type Tracer interface {
	// Depth is asked once per generation; DepthOff turns all hooks off.
	Depth() Depth
	PhaseStart(p Phase, t int64)
	PhaseEnd(p Phase, t int64)
	Token(ev TokenEvent)
	Component(ev ComponentEvent)
}
