package engine

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"energyprofiler/backend/engine/compute"
	"energyprofiler/backend/tokenizer"
)

const testMerges = 40

// tinyWithTokenizer is a small llama with the demo tokenizer; its vocab is
// padded above the tokenizer's size like a real model's.
func tinyWithTokenizer(t *testing.T) (*Engine, *tokenizer.Tokenizer) {
	t.Helper()
	tm := writeTiny(t, tinySpec{modelType: "llama", dim: 64, hidden: 96, layers: 2, heads: 4, kvHeads: 2,
		vocab: tokenizer.DemoVocabSize(testMerges) + 20, tied: true, seed: 11, scale: 0.5})
	data, err := tokenizer.BuildDemoByteLevel(testMerges)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return tm.open(t, Options{Threads: 2, Tokenizer: tok, PrefillChunk: 4, Context: 128}), tok
}

func generate(t *testing.T, e *Engine, req Request, tr Tracer) (Result, string) {
	t.Helper()
	var pieces strings.Builder
	res, err := e.Generate(context.Background(), req, tr, func(ev TokenEvent) { pieces.WriteString(ev.Piece) })
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return res, pieces.String()
}

func TestGenerateGreedyTextAndPieces(t *testing.T) {
	e, tok := tinyWithTokenizer(t)
	req := Request{Prompt: "Hello there", MaxTokens: 24, IgnoreEOS: true, Sampling: Sampling{Greedy: true}}
	res, pieces := generate(t, e, req, nil)
	if want := tok.Encode("Hello there", true); !slices.Equal(res.PromptIDs, want) {
		t.Errorf("prompt ids %v, want %v", res.PromptIDs, want)
	}
	if len(res.GeneratedIDs) != 24 || res.StopReason != StopMaxTokens {
		t.Fatalf("%d tokens, stop %q; want 24 and max_tokens", len(res.GeneratedIDs), res.StopReason)
	}
	for _, id := range res.GeneratedIDs {
		if id >= tok.VocabSize() {
			t.Errorf("sampled padding id %d beyond the tokenizer's %d", id, tok.VocabSize())
		}
	}
	var textIDs []int
	for _, id := range res.GeneratedIDs {
		if !tok.IsSpecial(id) {
			textIDs = append(textIDs, id)
		}
	}
	if want := tok.Decode(textIDs); res.Text != want || pieces != want {
		t.Errorf("text %q, pieces %q; want %q", res.Text, pieces, want)
	}
	if res.PrefillTokensPerSecond <= 0 || res.DecodeTokensPerSecond <= 0 {
		t.Errorf("rates not measured: %+v", res)
	}
	// The same request gives the same tokens (the cache is reset).
	again, _ := generate(t, e, req, nil)
	if !slices.Equal(again.GeneratedIDs, res.GeneratedIDs) {
		t.Error("a repeated greedy generation differs")
	}
}

func TestGenerateStops(t *testing.T) {
	e, _ := tinyWithTokenizer(t)
	base := Request{PromptIDs: []int{5, 6, 7}, MaxTokens: 30, IgnoreEOS: true, Sampling: Sampling{Greedy: true}}
	full, _ := generate(t, e, base, nil)

	t.Run("eos", func(t *testing.T) {
		eosID := full.GeneratedIDs[5]
		first := slices.Index(full.GeneratedIDs, eosID)
		e.cfg.EOSTokenIDs = []int{eosID}
		defer func() { e.cfg.EOSTokenIDs = nil }()
		req := base
		req.IgnoreEOS = false
		res, _ := generate(t, e, req, nil)
		if res.StopReason != StopEOS || !slices.Equal(res.GeneratedIDs, full.GeneratedIDs[:first+1]) {
			t.Errorf("stop %q after %v, want eos after %v", res.StopReason, res.GeneratedIDs, full.GeneratedIDs[:first+1])
		}
	})
	t.Run("stop-ids", func(t *testing.T) {
		stopID := full.GeneratedIDs[7]
		first := slices.Index(full.GeneratedIDs, stopID)
		req := base
		req.IgnoreEOS, req.StopIDs = false, []int{stopID}
		res, _ := generate(t, e, req, nil)
		if res.StopReason != StopEOS || !slices.Equal(res.GeneratedIDs, full.GeneratedIDs[:first+1]) {
			t.Errorf("stop %q after %v, want eos after %v", res.StopReason, res.GeneratedIDs, full.GeneratedIDs[:first+1])
		}
		req.IgnoreEOS = true
		if res, _ := generate(t, e, req, nil); len(res.GeneratedIDs) != base.MaxTokens {
			t.Errorf("IgnoreEOS stopped at a stop id after %d tokens", len(res.GeneratedIDs))
		}
	})
	t.Run("templated", func(t *testing.T) {
		// A chat template writes BOS itself; encoding must not add another.
		prompt := tokenizer.DemoBOS + "user: hi\nassistant:"
		res, _ := generate(t, e, Request{Prompt: prompt, Templated: true, MaxTokens: 1, Sampling: Sampling{Greedy: true}}, nil)
		bos, _ := e.tok.(*tokenizer.Tokenizer).BOS()
		if len(res.PromptIDs) < 2 || res.PromptIDs[0] != bos || res.PromptIDs[1] == bos {
			t.Errorf("templated prompt ids %v: want one BOS (%d) first", res.PromptIDs, bos)
		}
		plain, _ := generate(t, e, Request{Prompt: prompt, MaxTokens: 1, Sampling: Sampling{Greedy: true}}, nil)
		if len(plain.PromptIDs) != len(res.PromptIDs)+1 {
			t.Errorf("untemplated encoding of the same text has %d ids, templated %d: want one more (the added BOS)", len(plain.PromptIDs), len(res.PromptIDs))
		}
	})
	t.Run("stop-string", func(t *testing.T) {
		if len(full.Text) < 12 {
			t.Skipf("generated text %q too short", full.Text)
		}
		stop := full.Text[8:11]
		cut := strings.Index(full.Text, stop)
		req := base
		req.StopStrings = []string{"never-appears-zz", stop}
		res, pieces := generate(t, e, req, nil)
		if res.StopReason != StopString || res.Text != full.Text[:cut] || pieces != res.Text {
			t.Errorf("stop %q text %q pieces %q; want stop_string and %q", res.StopReason, res.Text, pieces, full.Text[:cut])
		}
	})
	t.Run("sampling-seeded", func(t *testing.T) {
		req := base
		req.Sampling = Sampling{Temperature: 0.9, TopK: 20, TopP: 0.9, Seed: 42}
		a, _ := generate(t, e, req, nil)
		b, _ := generate(t, e, req, nil)
		if !slices.Equal(a.GeneratedIDs, b.GeneratedIDs) {
			t.Error("same seed gave different tokens")
		}
		req.Sampling.Seed = 43
		c, _ := generate(t, e, req, nil)
		if slices.Equal(a.GeneratedIDs, c.GeneratedIDs) {
			t.Error("different seeds gave identical 30-token samples")
		}
		req.Sampling = Sampling{Temperature: 1, TopK: 1, Seed: 1}
		k1, _ := generate(t, e, req, nil)
		if !slices.Equal(k1.GeneratedIDs, full.GeneratedIDs) {
			t.Error("top-k 1 differs from greedy")
		}
	})
	t.Run("bad-requests", func(t *testing.T) {
		for _, req := range []Request{{PromptIDs: []int{1}, MaxTokens: 0}, {PromptIDs: []int{100000}, MaxTokens: 1}, {PromptIDs: make([]int, 200), MaxTokens: 1}} {
			if _, err := e.Generate(context.Background(), req, nil, nil); err == nil {
				t.Errorf("request %v accepted", req.PromptIDs[:min(3, len(req.PromptIDs))])
			}
		}
	})
}

// cancelBackend cancels its context when layer 1's attention is issued in
// prefill (the second Attend call), so the cancel lands mid-pass whether
// the backend runs operations at once or queues them.
type cancelBackend struct {
	compute.Backend
	attends int
	cancel  func()
}

func (c *cancelBackend) Attend(a *compute.Attention) {
	c.Backend.Attend(a)
	if c.attends++; c.attends == 2 {
		c.cancel()
	}
}

func TestGenerateCancelMidPrefill(t *testing.T) {
	e, _ := tinyWithTokenizer(t)
	ctx, cancel := context.WithCancel(context.Background())
	e.be = &cancelBackend{Backend: e.be, cancel: cancel}
	tr := &collectTracer{depth: DepthModule}
	res, err := e.Generate(ctx, Request{PromptIDs: []int{1, 2, 3}, MaxTokens: 10}, tr, nil)
	if !errors.Is(err, context.Canceled) || res.StopReason != StopCancelled {
		t.Fatalf("err %v stop %q, want context.Canceled and cancelled", err, res.StopReason)
	}
	if len(res.GeneratedIDs) != 0 || len(tr.tokens) != 0 {
		t.Errorf("tokens generated after a cancel in prefill: %v", res.GeneratedIDs)
	}
	for _, ev := range tr.components {
		if ev.Layer > 1 {
			t.Fatalf("layer %d ran after the cancel", ev.Layer)
		}
	}
	// The engine is usable afterwards.
	if _, err := e.Generate(context.Background(), Request{PromptIDs: []int{1}, MaxTokens: 2}, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTracerEvents(t *testing.T) {
	e, _ := tinyWithTokenizer(t)
	req := Request{PromptIDs: []int{3, 1, 4, 1, 5, 9}, MaxTokens: 5, IgnoreEOS: true, Sampling: Sampling{Greedy: true}}
	plain, _ := generate(t, e, req, nil)
	layerComps := LayerComponents()
	for _, depth := range []Depth{DepthModule, DepthDeep} {
		tr := &collectTracer{depth: depth}
		res, _ := generate(t, e, req, tr)
		if !slices.Equal(res.GeneratedIDs, plain.GeneratedIDs) {
			t.Fatalf("depth %d changed the generated tokens", depth)
		}
		wantPhases := []string{"start pre_inference", "end pre_inference", "start prefill", "end prefill",
			"start decode", "end decode", "start post_inference", "end post_inference"}
		if !slices.Equal(tr.phases, wantPhases) {
			t.Errorf("phases %v", tr.phases)
		}
		if len(tr.tokens) != 5 {
			t.Fatalf("%d token events, want 5", len(tr.tokens))
		}
		for i, tk := range tr.tokens {
			if tk.Index != i || tk.ID != res.GeneratedIDs[i] || tk.End < tk.Start {
				t.Errorf("token event %d: %+v", i, tk)
			}
		}
		var prefillPositions int
		var last int64
		for _, ev := range tr.components {
			if ev.Start < last || ev.End < ev.Start {
				t.Fatalf("event %+v out of order", ev)
			}
			last = ev.End
			if ev.Stats == nil || math.IsNaN(ev.Stats.Std) || ev.Stats.Sparsity < 0 || ev.Stats.Sparsity > 1 || ev.Stats.MaxAbs < math.Abs(ev.Stats.Mean) {
				t.Fatalf("bad stats in %+v: %+v", ev, ev.Stats)
			}
			if ev.Phase == PhasePrefill && ev.Component == CompEmbedding {
				prefillPositions += ev.Positions
			}
			if ev.Phase == PhaseDecode && ev.Positions != 1 {
				t.Errorf("decode event with %d positions", ev.Positions)
			}
			if depth == DepthModule && ev.Deep != nil {
				t.Fatalf("module depth produced deep stats: %+v", ev)
			}
			if depth == DepthDeep {
				checkDeep(t, ev)
			}
		}
		if prefillPositions != 6 {
			t.Errorf("prefill embedded %d positions, want 6", prefillPositions)
		}
		// Prefill is 2 chunks (6 positions, chunk 4), then 4 decode passes.
		// Each pass: embedding and 12 components per layer (2 layers); final
		// norm and lm_head in every pass but the first prefill chunk.
		wantCount := 5*(1+len(layerComps)*2+2) + (1 + len(layerComps)*2)
		if len(tr.components) != wantCount {
			t.Errorf("%d component events, want %d", len(tr.components), wantCount)
		}
	}
}

func checkDeep(t *testing.T, ev ComponentEvent) {
	t.Helper()
	d := ev.Deep
	switch ev.Component {
	case CompAttention:
		if d == nil || d.AttentionEntropy == nil || d.AttentionSparsity == nil || d.SoftmaxNs == nil {
			t.Fatalf("attention without deep stats: %+v", ev)
		}
		if *d.AttentionEntropy < 0 || *d.AttentionEntropy > math.Log(128) || *d.AttentionSparsity < 0 || *d.AttentionSparsity > 1 || *d.SoftmaxNs < 0 {
			t.Errorf("attention deep stats out of range: entropy %g sparsity %g softmax %d", *d.AttentionEntropy, *d.AttentionSparsity, *d.SoftmaxNs)
		}
	case CompActivation:
		if d == nil || d.MLPKillRatio == nil || *d.MLPKillRatio <= 0 || *d.MLPKillRatio >= 1 {
			t.Errorf("activation kill ratio missing or degenerate: %+v", d)
		}
	case CompRouter:
		if d == nil || d.RouterEntropy == nil || d.RouterLoadBalance == nil {
			t.Fatalf("router without deep stats: %+v", ev)
		}
		experts := float64(64) // an upper bound for the tiny models
		if *d.RouterEntropy < 0 || *d.RouterEntropy > math.Log(experts) || !(*d.RouterLoadBalance > 0) {
			t.Errorf("router deep stats out of range: entropy %g balance %g", *d.RouterEntropy, *d.RouterLoadBalance)
		}
	case CompInputNorm, CompPostAttnNorm, CompFinalNorm, CompQNorm, CompKNorm, CompPreFFNorm, CompPostFFNorm:
		if d == nil || d.NormVarianceRatio == nil || !(*d.NormVarianceRatio > 0) {
			t.Errorf("%s without a variance ratio", ev.Component)
		}
	default:
		if d != nil {
			t.Errorf("%s has deep stats", ev.Component)
		}
	}
}

// TestTracerLayerComponents: each architecture traces its own components,
// named as transformers names the modules, in execution order, at both
// depths, and Engine.LayerComponents says which.
func TestTracerLayerComponents(t *testing.T) {
	// What each family's layer 0 must trace, from the module order of
	// transformers' decoder layers.
	want0 := map[string][]Component{
		"qwen3": {"input_layernorm", "q_proj", "k_proj", "v_proj", "q_norm", "k_norm", "rope", "attention", "o_proj",
			"post_attention_layernorm", "gate_proj", "up_proj", "activation", "down_proj"},
		"qwen2_moe": {"input_layernorm", "q_proj", "k_proj", "v_proj", "rope", "attention", "o_proj",
			"post_attention_layernorm", "router", "experts", "shared_expert"},
		"mixtral": {"input_layernorm", "q_proj", "k_proj", "v_proj", "rope", "attention", "o_proj",
			"post_attention_layernorm", "router", "experts"},
		"gemma3_text": {"input_layernorm", "q_proj", "k_proj", "v_proj", "q_norm", "k_norm", "rope", "attention", "o_proj",
			"post_attention_layernorm", "pre_feedforward_layernorm", "gate_proj", "up_proj", "activation", "down_proj", "post_feedforward_layernorm"},
	}
	for _, v := range variants() {
		if !v.hf {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			tm := writeTiny(t, v.spec)
			e := tm.open(t, Options{Threads: 2})
			for _, depth := range []Depth{DepthModule, DepthDeep} {
				tr := &collectTracer{depth: depth}
				if _, err := e.Generate(context.Background(), Request{PromptIDs: []int{1, 2, 3}, MaxTokens: 2, IgnoreEOS: true}, tr, nil); err != nil {
					t.Fatal(err)
				}
				perLayer := map[int][]Component{}
				for _, ev := range tr.components {
					if ev.Phase == PhaseDecode && ev.Layer >= 0 {
						c := ev.Component
						if _, ok := ExpertOf(c); ok { // the chosen experts, in expert order
							c = CompExperts
						}
						if got := perLayer[ev.Layer]; len(got) == 0 || got[len(got)-1] != c {
							perLayer[ev.Layer] = append(perLayer[ev.Layer], c)
						}
					}
					if depth == DepthDeep {
						checkDeep(t, ev)
					}
				}
				if w, ok := want0[v.spec.modelType]; ok && !slices.Equal(perLayer[0], w) {
					t.Errorf("layer 0 traced %v, want %v", perLayer[0], w)
				}
				for l := range v.spec.layers {
					if got, want := perLayer[l], e.LayerComponents(l); !slices.Equal(got, want) {
						t.Errorf("depth %d layer %d: traced %v, want %v", depth, l, got, want)
					}
				}
			}
		})
	}
}

// TestMoERoutingEvents: the router reports top-k choices per position with
// weights as the model defines them; each chosen expert runs once per layer
// and pass on exactly the positions routed to it (prefill batches them,
// decode runs only the chosen ones).
func TestMoERoutingEvents(t *testing.T) {
	for _, v := range variants() {
		if _, ok := v.spec.extra["num_experts_per_tok"]; !ok {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			tm := writeTiny(t, v.spec)
			e := tm.open(t, Options{Threads: 2, PrefillChunk: 16})
			tr := &collectTracer{depth: DepthModule}
			if _, err := e.Generate(context.Background(), Request{PromptIDs: []int{5, 1, 4, 1, 5, 9, 2}, MaxTokens: 4, IgnoreEOS: true}, tr, nil); err != nil {
				t.Fatal(err)
			}
			k := int(toFloat(v.spec.extra["num_experts_per_tok"]))
			norm := v.spec.modelType == "mixtral" || v.spec.extra["norm_topk_prob"] == true
			var routing *Routing
			routedTo := map[int]int{} // expert → positions routed to it in the current router call
			checkCall := func() {
				for ex, c := range routedTo {
					if c != 0 {
						t.Errorf("expert %d: %d routed positions left without a matching expert call", ex, c)
					}
				}
			}
			for _, ev := range tr.components {
				if ev.Component == CompRouter {
					checkCall()
					routing = ev.Routing
					if routing == nil || routing.TopK != k || len(routing.Experts) != ev.Positions*k || len(routing.Weights) != ev.Positions*k {
						t.Fatalf("router event without its top-%d choices: %+v", k, routing)
					}
					clear(routedTo)
					for p := range ev.Positions {
						var sum float32
						seen := map[int]bool{}
						for r := range k {
							ex, w := routing.Experts[p*k+r], routing.Weights[p*k+r]
							if seen[ex] || w <= 0 || w > 1 || (r > 0 && w > routing.Weights[p*k+r-1]) {
								t.Fatalf("position %d: experts %v weights %v", p, routing.Experts[p*k:(p+1)*k], routing.Weights[p*k:(p+1)*k])
							}
							seen[ex] = true
							routedTo[ex]++
							sum += w
						}
						if norm != (math.Abs(float64(sum)-1) < 1e-5) {
							t.Errorf("position %d: weights sum to %g; renormalised %v", p, sum, norm)
						}
					}
					if ev.Phase == PhaseDecode && routing.Pos0 < 7 {
						t.Errorf("decode router at position %d, inside the prompt", routing.Pos0)
					}
					continue
				}
				if ex, ok := ExpertOf(ev.Component); ok {
					if routedTo[ex] != ev.Positions || ev.Positions == 0 {
						t.Errorf("expert %d ran on %d positions, the router sent it %d", ex, ev.Positions, routedTo[ex])
					}
					routedTo[ex] = 0
				}
			}
			checkCall()
		})
	}
}

// The load-balance figure is 1 for even routing and grows with
// concentration (computed here from its definition on hand-made routings).
func TestRouterLoadBalance(t *testing.T) {
	tests := []struct {
		name   string
		probs  []float32 // 2 positions × 4 experts
		chosen []int     // top-1
		want   float64
	}{
		{"even", []float32{.25, .25, .25, .25, .25, .25, .25, .25}, []int{0, 1}, 1},
		// Both positions pick expert 0 with probability .7: 4·(1·.7 + 0·.1·3) = 2.8.
		{"concentrated", []float32{.7, .1, .1, .1, .7, .1, .1, .1}, []int{0, 0}, 2.8},
	}
	for _, tt := range tests {
		r := newRouting(compute.NewCPU(1), 4, 1, false, 2, 1)
		for p, ex := range tt.chosen {
			r.chosen[p] = ex
			r.rows[ex] = append(r.rows[ex], p)
		}
		tr := &collectTracer{depth: DepthDeep}
		s := traceState{tr: tr, be: compute.NewCPU(1), depth: DepthDeep}
		s.endRouter(0, 0, 0, 2, 0, &r, tt.probs)
		s.emit()
		d := tr.components[0].Deep
		if math.Abs(*d.RouterLoadBalance-tt.want) > 1e-6 {
			t.Errorf("%s: load balance %g, want %g", tt.name, *d.RouterLoadBalance, tt.want)
		}
		// Entropy of each row: even rows ln 4.
		if tt.name == "even" && math.Abs(*d.RouterEntropy-math.Log(4)) > 1e-6 {
			t.Errorf("entropy %g, want ln 4", *d.RouterEntropy)
		}
	}
}

// TestDecodeStepAllocatesNothing: with no tracer the hot path allocates nothing.
func TestDecodeStepAllocatesNothing(t *testing.T) {
	e, _ := tinyWithTokenizer(t)
	ctx := context.Background()
	e.pos = 0
	if err := e.forward(ctx, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	next := 4
	allocs := testing.AllocsPerRun(50, func() {
		if e.pos >= e.ctxLen-1 {
			e.pos = 3
		}
		if err := e.step(ctx, next); err != nil {
			t.Fatal(err)
		}
		next = e.samp.sample(e.logits[:e.sampleVocab], Sampling{Greedy: true})
	})
	if allocs != 0 {
		t.Errorf("a decode step allocates %.1f times", allocs)
	}
	allocs = testing.AllocsPerRun(20, func() {
		e.samp.sample(e.logits[:e.sampleVocab], Sampling{Temperature: 0.8, TopK: 40, TopP: 0.95})
	})
	if allocs != 0 {
		t.Errorf("sampling allocates %.1f times", allocs)
	}
	// The new architectures' decode steps allocate nothing either.
	for _, v := range variants() {
		if !v.hf {
			continue
		}
		e := writeTiny(t, v.spec).open(t, Options{Threads: 2})
		if err := e.forward(ctx, []int{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		next := 4
		allocs := testing.AllocsPerRun(20, func() {
			if err := e.step(ctx, next); err != nil {
				t.Fatal(err)
			}
			next = argmax(e.logits)
		})
		if allocs != 0 {
			t.Errorf("%s: a decode step allocates %.1f times", v.name, allocs)
		}
	}
}

func TestActivationStats(t *testing.T) {
	x := []float32{0, 0.0005, -2, 3, -0.002, 1}
	st := activationStats(x)
	var mean, sq float64
	for _, v := range x {
		mean += float64(v) / 6
	}
	for _, v := range x {
		sq += (float64(v) - mean) * (float64(v) - mean) / 6
	}
	if math.Abs(st.Mean-mean) > 1e-6 || math.Abs(st.Std-math.Sqrt(sq)) > 1e-6 || st.MaxAbs != 3 || st.Sparsity != 2.0/6 {
		t.Errorf("stats %+v, want mean %g std %g max 3 sparsity 1/3", st, mean, math.Sqrt(sq))
	}
	long := make([]float32, 3000)
	for i := range long {
		long[i] = float32(i%10) - 4.5
	}
	st = activationStats(long)
	if math.Abs(st.Mean) > 1e-6 || math.Abs(st.Std-math.Sqrt(8.25)) > 1e-5 || st.MaxAbs != 4.5 || st.Sparsity != 0 {
		t.Errorf("long stats %+v", st)
	}
}
