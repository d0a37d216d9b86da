package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"energyprofiler/backend/model"
)

// inspectReport is what `inspect --json` prints: the model's facts plus the
// folder they describe.
type inspectReport struct {
	Dir   string   `json:"dir"`
	Files []string `json:"weight_files,omitempty"`
	model.Facts
}

// runInspect prints a model folder's architecture facts. A folder with only
// config.json is enough; when weights are present they are opened,
// validated and cross-checked against the config first.
func runInspect(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	asJSON := fs.Bool("json", false, "print the facts as JSON")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler inspect DIR|FILE.gguf [--json]")
		fmt.Fprintln(env.Stderr, "Prints the architecture facts of a Hugging Face model folder (config.json, optional *.safetensors)")
		fmt.Fprintln(env.Stderr, "or of a GGUF file, with the stored type of each tensor group and the weight bytes read per token.")
		fs.PrintDefaults()
	}
	dirs, err := parseInterspersed(fs, env.Args)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if len(dirs) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want exactly one model folder, got %d arguments", ErrUsage, len(dirs))
	}
	report, err := inspectDir(dirs[0])
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return printFacts(env.Stdout, report)
}

func inspectDir(dir string) (inspectReport, error) {
	m, err := model.Open(dir)
	switch {
	case err == nil:
		defer m.Close()
		return inspectReport{Dir: dir, Files: m.Files(), Facts: m.Facts()}, nil
	case !errors.Is(err, model.ErrNoWeights):
		return inspectReport{}, err
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return inspectReport{}, err
	}
	return inspectReport{Dir: dir, Facts: cfg.Facts()}, nil
}

func printFacts(w io.Writer, r inspectReport) error {
	f := r.Facts
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(label, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", label, fmt.Sprintf(format, args...))
	}
	row("Model", "%s", r.Dir)
	arch := f.ModelType
	if f.Architecture != "" {
		arch += " (" + f.Architecture + ")"
	}
	row("Architecture", "%s", arch)
	switch {
	case f.WeightsPresent && model.IsGGUF(r.Dir):
		row("Weights", "GGUF file, validated; counts cross-checked against the tensors")
	case f.WeightsPresent:
		row("Weights", "%d safetensors file(s), validated; counts cross-checked against the tensors", len(r.Files))
	default:
		row("Weights", "not present: facts from config.json alone")
	}
	row("Attention", "%s: %d query heads, %d KV heads, head_dim %d", f.Attention, f.Heads, f.KVHeads, f.HeadDim)
	row("Layers", "%d", f.Layers)
	row("Hidden size", "%d", f.Hidden)
	row("Intermediate size", "%d", f.Intermediate)
	row("Vocabulary", "%s (embedding rows)", group(int64(f.Vocab)))
	row("Max positions", "%s", group(int64(f.MaxPositionEmbeddings)))
	if f.MoE {
		shared := "no shared expert"
		if f.SharedExperts > 0 {
			shared = fmt.Sprintf("%d shared expert (sigmoid-gated)", f.SharedExperts)
		}
		routing := "top-k weights as the softmax gives them"
		if f.NormTopKProb {
			routing = "top-k weights renormalised to 1"
		}
		row("Mixture of experts", "%d experts, top-%d, %s, on %d of %d layers; expert width %d; %s",
			f.Experts, f.TopK, shared, f.MoELayers, f.Layers, f.ExpertIntermediate, routing)
	}
	if f.Activation != "" && f.Activation != "silu" {
		row("MLP", "GeGLU (%s)", f.Activation)
	}
	if f.LocalRopeTheta > 0 {
		row("RoPE", "theta %s on full layers (scaling %s), %s on sliding layers; rotary dims %d of %d", strconv.FormatFloat(f.RopeTheta, 'f', -1, 64), f.RopeScaling,
			strconv.FormatFloat(f.LocalRopeTheta, 'f', -1, 64), f.RotaryDim, f.HeadDim)
	} else {
		row("RoPE", "theta %s, scaling %s, rotary dims %d of %d", strconv.FormatFloat(f.RopeTheta, 'f', -1, 64), f.RopeScaling, f.RotaryDim, f.HeadDim)
	}
	if f.SlidingLayers > 0 {
		row("Sliding window", "%d positions on %d of %d layers", f.SlidingWindow, f.SlidingLayers, f.Layers)
	} else {
		row("Sliding window", "none")
	}
	row("Embeddings", "%s", map[bool]string{true: "tied (lm_head reuses embed_tokens)", false: "untied (separate lm_head)"}[f.TiedEmbeddings])
	var layout []string
	if f.QKVBias {
		layout = append(layout, "q/k/v biases")
	}
	if f.FusedQKV {
		layout = append(layout, "fused qkv_proj")
	}
	if f.FusedGateUp {
		layout = append(layout, "fused gate_up_proj")
	}
	if f.QKNorm {
		layout = append(layout, "q_norm/k_norm per head before RoPE")
	}
	if f.Gemma {
		layout = append(layout, "Gemma norms (1+w, four per layer), embeddings × √hidden")
	}
	if len(layout) == 0 {
		layout = append(layout, "separate projections, no biases")
	}
	row("Projections", "%s", strings.Join(layout, ", "))
	row("Stored dtype", "%s (from %s)", f.DType, f.DTypeSource)
	row("Parameters", "%s total", group(f.ParamsTotal))
	row("  embedding", "%s (embed_tokens%s)", group(f.ParamsEmbedding), map[bool]string{true: "", false: " + lm_head"}[f.TiedEmbeddings])
	row("  non-embedding", "%s", group(f.ParamsNonEmbedding))
	if f.MoE {
		row("  active per token", "%s (%.0f%%: all but the %d of %d routed experts a token skips in each MoE layer)",
			group(f.ParamsActive), 100*float64(f.ParamsActive)/float64(f.ParamsTotal), f.Experts-f.TopK, f.Experts)
	}
	if f.KVCacheBytesPerToken > 0 {
		row("Weight bytes", "%s (%.2f GB at %s)", group(f.WeightBytes), float64(f.WeightBytes)/1e9, f.DType)
		row("KV cache", "%s bytes per token (K and V, all layers, at %s)", group(f.KVCacheBytesPerToken), f.KVCacheDType)
	} else {
		row("Weight bytes", "unknown (no dtype in config.json)")
		row("KV cache", "unknown bytes per token (no dtype in config.json)")
	}
	if len(f.TensorTypes) > 0 {
		row("Tensor types", "per tensor group, summed over layers (stored in the file)")
		for _, g := range f.TensorTypes {
			var types []string
			for _, t := range slices.Sorted(maps.Keys(g.Types)) {
				types = append(types, fmt.Sprintf("%s ×%d", t, g.Types[t]))
			}
			row("  "+g.Group, "%s: %.2f bits/weight, %.1f MB", strings.Join(types, ", "), g.BitsPerWeight, float64(g.Bytes)/1e6)
		}
	}
	if f.WeightBytesPerToken > 0 {
		row("Bytes per token", "%s weight bytes read per decoded token (every layer matrix and lm_head; %.1f MB)", group(f.WeightBytesPerToken), float64(f.WeightBytesPerToken)/1e6)
	}
	row("FLOPs per token", "%s + %s per attended position (%.2f GFLOP at 1, %.2f GFLOP at 4096)",
		group(f.FLOPsPerTokenBase), group(f.FLOPsPerContextToken), float64(f.FLOPsPerToken(1))/1e9, float64(f.FLOPsPerToken(4096))/1e9)
	row("  formula", "%s", f.FLOPsFormula)
	row("Source", "%s", f.Source)
	return tw.Flush()
}

// group writes n with thousands separators: 494032768 → "494,032,768".
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
