package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"energyprofiler/backend/model"
)

// tinySpec describes a small random model written as a genuine Hugging Face
// folder, so tests go through the real loader.
type tinySpec struct {
	modelType             string // llama, mistral, qwen2, phi3
	dim, hidden, layers   int
	heads, kvHeads, vocab int
	headDim               int // 0: dim/heads
	tied                  bool
	attnBias, mlpBias     bool // llama only
	dtype                 model.DType
	window                int            // mistral/phi3 sliding_window
	partialRotary         float64        // 0: 1
	ropeScaling           map[string]any // nil: default
	ropeTheta             float64        // 0: 10000
	eos                   []int
	seed                  uint64
	scale                 float64 // weight std; 0: 0.3
	// extra config.json keys (added or overriding); a "text_config" entry
	// nests the text model's keys as gemma3 checkpoints do.
	extra map[string]any
	// prefix replaces "model." in stored tensor names (gemma3
	// checkpoints store "language_model.model.…"); "" keeps it.
	prefix string
	// addTensors are stored besides the model's own (a vision tower the
	// text model must ignore), as name → shape.
	addTensors map[string][]int
}

// tinyModel is a written model plus the exact (dtype-rounded) weights, by
// Hugging Face tensor name, for the reference forward pass.
type tinyModel struct {
	spec    tinySpec
	dir     string
	cfg     *model.Config
	raw     map[string]any // config.json as written
	weights map[string][]float64
}

// roundToDType rounds v to the stored weight dtype, as transformers'
// .to(weight.dtype) does.
func (tm *tinyModel) roundToDType(v float64) float64 {
	raw, _ := model.EncodeFloat32s(tm.spec.dtype, []float32{float32(v)})
	out := make([]float32, 1)
	if err := model.DecodeFloat32s(out, tm.spec.dtype, raw); err != nil {
		panic(err)
	}
	return float64(out[0])
}

func (s tinySpec) hd() int {
	if s.headDim > 0 {
		return s.headDim
	}
	return s.dim / s.heads
}

func writeTiny(t testing.TB, s tinySpec) *tinyModel {
	t.Helper()
	if s.dtype == "" {
		s.dtype = model.F32
	}
	if s.scale == 0 {
		s.scale = 0.3
	}
	dir := t.TempDir()
	cfg := map[string]any{
		"model_type":              s.modelType,
		"hidden_size":             s.dim,
		"intermediate_size":       s.hidden,
		"num_hidden_layers":       s.layers,
		"num_attention_heads":     s.heads,
		"num_key_value_heads":     s.kvHeads,
		"vocab_size":              s.vocab,
		"rms_norm_eps":            1e-5,
		"tie_word_embeddings":     s.tied,
		"torch_dtype":             s.dtype.TorchName(),
		"max_position_embeddings": 256,
	}
	if s.headDim > 0 {
		cfg["head_dim"] = s.headDim
	}
	if s.ropeTheta > 0 {
		cfg["rope_theta"] = s.ropeTheta
	}
	if s.ropeScaling != nil {
		cfg["rope_scaling"] = s.ropeScaling
	}
	if s.partialRotary > 0 {
		cfg["partial_rotary_factor"] = s.partialRotary
	}
	if s.window > 0 {
		cfg["sliding_window"] = s.window
	}
	if s.attnBias {
		cfg["attention_bias"] = true
	}
	if s.mlpBias {
		cfg["mlp_bias"] = true
	}
	if s.eos != nil {
		cfg["eos_token_id"] = s.eos
	}
	for k, v := range s.extra {
		cfg[k] = v
	}
	if tc, ok := cfg["text_config"].(map[string]any); ok {
		// A multimodal gemma3 config: the text keys live in text_config.
		text := map[string]any{}
		for k, v := range cfg {
			if k != "text_config" && k != "model_type" && k != "architectures" {
				text[k] = v
				delete(cfg, k)
			}
		}
		for k, v := range tc {
			text[k] = v
		}
		cfg["text_config"] = text
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	c, err := model.ParseConfig(data)
	if err != nil {
		t.Fatalf("tiny config: %v", err)
	}
	rng := rand.New(rand.NewPCG(s.seed, 7))
	w := model.NewWriter()
	tm := &tinyModel{spec: s, dir: dir, cfg: c, weights: map[string][]float64{}}
	if err := json.Unmarshal(data, &tm.raw); err != nil {
		t.Fatal(err)
	}
	gemma := strings.HasPrefix(s.modelType, "gemma")
	specs := c.ExpectedTensors()
	for name, shape := range s.addTensors {
		specs = append(specs, model.TensorSpec{Name: name, Shape: shape})
	}
	for _, spec := range specs {
		n := int(spec.Elements())
		vals := make([]float32, n)
		isNorm := len(spec.Shape) == 1 && filepath.Ext(spec.Name) == ".weight"
		for i := range vals {
			switch {
			case isNorm && gemma: // Gemma's norms scale by 1+w
				vals[i] = float32(0.2 * rng.NormFloat64())
			case isNorm:
				vals[i] = float32(1 + 0.2*rng.NormFloat64())
			case len(spec.Shape) == 1: // bias
				vals[i] = float32(0.2 * rng.NormFloat64())
			default:
				vals[i] = float32(s.scale * rng.NormFloat64())
			}
		}
		stored := spec.Name
		if s.prefix != "" && strings.HasPrefix(stored, "model.") {
			stored = s.prefix + strings.TrimPrefix(stored, "model.")
		}
		if err := w.AddFloat32(stored, s.dtype, spec.Shape, vals); err != nil {
			t.Fatal(err)
		}
		raw, _ := model.EncodeFloat32s(s.dtype, vals)
		if err := model.DecodeFloat32s(vals, s.dtype, raw); err != nil {
			t.Fatal(err)
		}
		f := make([]float64, n)
		for i, v := range vals {
			f[i] = float64(v)
		}
		tm.weights[spec.Name] = f
	}
	if err := w.WriteFile(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	return tm
}

func (tm *tinyModel) open(t testing.TB, opts Options) *Engine {
	t.Helper()
	m, err := model.Open(tm.dir)
	if err != nil {
		t.Fatalf("open tiny model: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	e, err := New(m, opts)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

// refLogits is the reference forward pass: float64, straight loops, no
// cache, every position recomputed from scratch, written from the Hugging
// Face modeling code. It returns the logits of every position.
func (tm *tinyModel) refLogits(ids []int) [][]float64 {
	s, c := tm.spec, tm.cfg
	W := tm.weights
	D, I, hd := s.dim, s.hidden, s.hd()
	nh, nkv := s.heads, s.kvHeads
	T := len(ids)
	eps := c.RMSNormEps

	matvec := func(w []float64, rows, cols int, x []float64) []float64 {
		out := make([]float64, rows)
		for r := range rows {
			for k := range cols {
				out[r] += w[r*cols+k] * x[k]
			}
		}
		return out
	}
	addBias := func(x []float64, name string) {
		if b, ok := W[name]; ok {
			for i := range x {
				x[i] += b[i]
			}
		}
	}
	rmsnorm := func(x, w []float64) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
		out := make([]float64, len(x))
		for i := range x {
			out[i] = x[i] * inv * w[i]
		}
		return out
	}

	// inv_freq with rope scaling (modeling_rope_utils.py).
	rot := int(float64(hd) * c.PartialRotaryFactor)
	inv := make([]float64, rot/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(rot))
		if sc := c.RopeScaling; sc != nil {
			switch sc.Type {
			case "linear":
				inv[i] /= sc.Factor
			case "llama3":
				wl := 2 * math.Pi / inv[i]
				lowW := float64(sc.OriginalMaxPositionEmbeddings) / sc.LowFreqFactor
				highW := float64(sc.OriginalMaxPositionEmbeddings) / sc.HighFreqFactor
				if wl > lowW {
					inv[i] /= sc.Factor
				} else if wl >= highW {
					smooth := (float64(sc.OriginalMaxPositionEmbeddings)/wl - sc.LowFreqFactor) / (sc.HighFreqFactor - sc.LowFreqFactor)
					inv[i] = (1-smooth)*inv[i]/sc.Factor + smooth*inv[i]
				}
			}
		}
	}
	rope := func(v []float64, pos int) { // one head, rotate_half on the first rot dims
		out := append([]float64(nil), v...)
		h := rot / 2
		for i := 0; i < h; i++ {
			cs, sn := math.Cos(float64(pos)*inv[i]), math.Sin(float64(pos)*inv[i])
			out[i] = v[i]*cs - v[i+h]*sn
			out[i+h] = v[i+h]*cs + v[i]*sn
		}
		copy(v, out)
	}

	x := make([][]float64, T)
	emb := W[model.EmbeddingName]
	for t, id := range ids {
		x[t] = append([]float64(nil), emb[id*D:(id+1)*D]...)
	}
	for l := range s.layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		var wq, wk, wv, wg, wu []float64
		if c.FusedQKV {
			f := W[p+"self_attn.qkv_proj.weight"]
			wq, wk, wv = f[:nh*hd*D], f[nh*hd*D:(nh+nkv)*hd*D], f[(nh+nkv)*hd*D:]
		} else {
			wq, wk, wv = W[p+"self_attn.q_proj.weight"], W[p+"self_attn.k_proj.weight"], W[p+"self_attn.v_proj.weight"]
		}
		if c.FusedGateUp {
			f := W[p+"mlp.gate_up_proj.weight"]
			wg, wu = f[:I*D], f[I*D:]
		} else {
			wg, wu = W[p+"mlp.gate_proj.weight"], W[p+"mlp.up_proj.weight"]
		}
		qs, ks, vs := make([][]float64, T), make([][]float64, T), make([][]float64, T)
		for t := range T {
			h := rmsnorm(x[t], W[p+"input_layernorm.weight"])
			qs[t] = matvec(wq, nh*hd, D, h)
			ks[t] = matvec(wk, nkv*hd, D, h)
			vs[t] = matvec(wv, nkv*hd, D, h)
			addBias(qs[t], p+"self_attn.q_proj.bias")
			addBias(ks[t], p+"self_attn.k_proj.bias")
			addBias(vs[t], p+"self_attn.v_proj.bias")
			for h := range nh {
				rope(qs[t][h*hd:(h+1)*hd], t)
			}
			for h := range nkv {
				rope(ks[t][h*hd:(h+1)*hd], t)
			}
		}
		window := c.LayerWindow(l)
		for t := range T {
			att := make([]float64, nh*hd)
			for h := range nh {
				kvh := h / (nh / nkv)
				var scores []float64
				var js []int
				for j := 0; j <= t; j++ {
					if window > 0 && j <= t-window {
						continue
					}
					var d float64
					for k := range hd {
						d += qs[t][h*hd+k] * ks[j][kvh*hd+k]
					}
					scores = append(scores, d/math.Sqrt(float64(hd)))
					js = append(js, j)
				}
				m := math.Inf(-1)
				for _, v := range scores {
					m = math.Max(m, v)
				}
				var sum float64
				for i, v := range scores {
					scores[i] = math.Exp(v - m)
					sum += scores[i]
				}
				for i, j := range js {
					for k := range hd {
						att[h*hd+k] += scores[i] / sum * vs[j][kvh*hd+k]
					}
				}
			}
			o := matvec(W[p+"self_attn.o_proj.weight"], D, nh*hd, att)
			addBias(o, p+"self_attn.o_proj.bias")
			for i := range o {
				x[t][i] += o[i]
			}
			h := rmsnorm(x[t], W[p+"post_attention_layernorm.weight"])
			g, u := matvec(wg, I, D, h), matvec(wu, I, D, h)
			addBias(g, p+"mlp.gate_proj.bias")
			addBias(u, p+"mlp.up_proj.bias")
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			d := matvec(W[p+"mlp.down_proj.weight"], D, I, g)
			addBias(d, p+"mlp.down_proj.bias")
			for i := range d {
				x[t][i] += d[i]
			}
		}
	}
	head := W[model.LMHeadName]
	if s.tied {
		head = emb
	}
	out := make([][]float64, T)
	for t := range T {
		out[t] = matvec(head, s.vocab, D, rmsnorm(x[t], W[model.FinalNormName]))
	}
	return out
}

func argmax64(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
