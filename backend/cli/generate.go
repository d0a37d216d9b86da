package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"energyprofiler/backend/chat"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/model"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/tokenizer"
)

// generateReport is what `generate --json` prints. Scripts parse it, so keep
// the names.
type generateReport struct {
	PromptIDs              []int   `json:"prompt_ids"`
	GeneratedIDs           []int   `json:"generated_ids"` // the prompt excluded
	Text                   string  `json:"text"`
	StopReason             string  `json:"stop_reason"`
	PrefillTokensPerSecond float64 `json:"prefill_tokens_per_second"`
	DecodeTokensPerSecond  float64 `json:"decode_tokens_per_second"`
	Backend                string  `json:"backend"`
	// RenderedPrompt is the text the model was given under --chat.
	RenderedPrompt string `json:"rendered_prompt,omitempty"`
}

// runGenerate loads a model folder and generates text, streaming it to
// stdout (or printing one JSON object with --json). Nothing is stored.
func runGenerate(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	modelDir := fs.String("model", "", "Hugging Face model folder (config.json, *.safetensors, tokenizer.json) or .gguf file, or a name from 'energyprofiler models' (hf:ORG/NAME, ollama:NAME:TAG, ...)")
	prompt := fs.String("prompt", "", "prompt text (the model's BOS token is added)")
	idsFlag := fs.String("ids", "", "prompt as comma-separated token ids, used as they are (e.g. 1,2,3)")
	maxTokens := fs.Int("max-tokens", 64, "most tokens to generate")
	greedy := fs.Bool("greedy", false, "always take the most likely token (the default unless --temperature is set)")
	temperature := fs.Float64("temperature", 0, "sampling temperature; 0 means greedy")
	topP := fs.Float64("top-p", 1, "nucleus sampling: keep the smallest set of tokens with this total probability")
	topK := fs.Int("top-k", 0, "keep only the K most likely tokens (0: all)")
	seed := fs.Uint64("seed", 0, "sampling seed; equal seeds repeat a sample")
	var stops stringList
	fs.Var(&stops, "stop", "stop when the text contains this string (repeatable)")
	threads := fs.Int("threads", 0, "CPU threads (0: all)")
	backend := fs.String("backend", "auto", "compute backend: auto (Metal where its self-test passed, else the CPU), cpu or metal")
	ctxLen := fs.Int("context", 0, "KV-cache length in tokens (0: min(model maximum, 4096))")
	ignoreEOS := fs.Bool("ignore-eos", false, "keep generating past end-of-sequence tokens")
	asJSON := fs.Bool("json", false, "print one JSON object instead of streaming text")
	chatMode := fs.Bool("chat", false, "format the prompt as one user message with the model's chat template and stop at its end-of-turn tokens")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: energyprofiler generate --model DIR (--prompt TEXT [--chat] | --ids 1,2,3) [--max-tokens N]")
		fmt.Fprintln(env.Stderr, "                               [--greedy | --temperature T --top-p P --top-k K --seed S] [--json]")
		fmt.Fprintln(env.Stderr, "Generates text on the CPU and streams it. Demo models have random weights: their text is meaningless.")
		fs.PrintDefaults()
	}
	args, err := parseInterspersed(fs, env.Args)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	switch {
	case len(args) > 0:
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q (give the prompt with --prompt)", ErrUsage, args[0])
	case *modelDir == "":
		fs.Usage()
		return fmt.Errorf("%w: --model DIR is required (run 'energyprofiler models demo' for demo models)", ErrUsage)
	case (*prompt == "") == (*idsFlag == ""):
		fs.Usage()
		return fmt.Errorf("%w: give exactly one of --prompt TEXT and --ids 1,2,3", ErrUsage)
	case *maxTokens <= 0:
		return fmt.Errorf("%w: --max-tokens must be positive, got %d", ErrUsage, *maxTokens)
	case *greedy && *temperature > 0:
		return fmt.Errorf("%w: --greedy and --temperature exclude each other", ErrUsage)
	case *chatMode && *idsFlag != "":
		return fmt.Errorf("%w: --chat formats text; it cannot be combined with --ids", ErrUsage)
	}
	if err := checkSamplingFlags(profiler.Sampling{Temperature: *temperature, TopP: *topP, TopK: *topK}); err != nil {
		return err
	}
	var ids []int
	if *idsFlag != "" {
		if ids, err = parseIDs(*idsFlag); err != nil {
			return fmt.Errorf("%w: --ids: %v", ErrUsage, err)
		}
	}

	if _, err := metal.ParseKind(*backend); err != nil {
		return fmt.Errorf("%w: --backend: %v", ErrUsage, err)
	}
	if *modelDir, _, err = resolveModel(*modelDir); err != nil {
		return err
	}
	m, err := model.Open(*modelDir)
	if err != nil {
		return err
	}
	defer m.Close()
	var tok *tokenizer.Tokenizer
	if path := filepath.Join(*modelDir, "tokenizer.json"); hasFile(path) || model.IsGGUF(*modelDir) {
		if tok, err = tokenizer.LoadForModel(*modelDir); err != nil {
			return err
		}
	} else if *prompt != "" {
		return fmt.Errorf("model %s has no tokenizer.json, so --prompt cannot be encoded; use --ids or add the tokenizer", *modelDir)
	}
	be, choice, err := metal.Chooser{Threads: *threads}.Choose(*backend)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if choice.Reason != "" && *backend != "cpu" && !*asJSON {
		fmt.Fprintf(env.Stderr, "running on the CPU: %s\n", choice.Reason)
	}
	eng, err := engine.New(m, engine.Options{Backend: be, Context: *ctxLen, Tokenizer: tok})
	if err != nil {
		be.Close()
		return err
	}
	defer eng.Close()

	req := engine.Request{
		Prompt: *prompt, PromptIDs: ids, MaxTokens: *maxTokens, StopStrings: stops, IgnoreEOS: *ignoreEOS,
		Sampling: engine.Sampling{Greedy: *temperature == 0, Temperature: *temperature, TopK: *topK, TopP: *topP, Seed: *seed},
	}
	if *chatMode {
		if req, err = chatRequest(*modelDir, tok, req); err != nil {
			return err
		}
	}
	var onToken func(engine.TokenEvent)
	if !*asJSON {
		onToken = func(ev engine.TokenEvent) { fmt.Fprint(env.Stdout, ev.Piece) }
	}
	res, err := eng.Generate(ctx, req, nil, onToken)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(generateReport{
			PromptIDs: nonNil(res.PromptIDs), GeneratedIDs: nonNil(res.GeneratedIDs), Text: res.Text,
			StopReason: string(res.StopReason), Backend: eng.BackendName(), RenderedPrompt: renderedPrompt(req),
			PrefillTokensPerSecond: res.PrefillTokensPerSecond, DecodeTokensPerSecond: res.DecodeTokensPerSecond,
		})
	}
	fmt.Fprintln(env.Stdout)
	fmt.Fprintf(env.Stderr, "%d prompt tokens at %.1f tok/s, %d generated at %.1f tok/s (%s, stop: %s)\n",
		len(res.PromptIDs), res.PrefillTokensPerSecond, len(res.GeneratedIDs), res.DecodeTokensPerSecond,
		eng.BackendName(), res.StopReason)
	return err
}

// chatRequest formats req's prompt as one user message with the chat
// template of the model at path, to be encoded as it is (the template
// writes the special tokens), and stops at the template's end-of-turn
// tokens.
func chatRequest(path string, tok *tokenizer.Tokenizer, req engine.Request) (engine.Request, error) {
	tpl, err := chat.LoadForModel(path)
	if err != nil {
		return req, fmt.Errorf("--chat: %w", err)
	}
	if req.Prompt, err = tpl.Render(req.Prompt, time.Now()); err != nil {
		return req, fmt.Errorf("--chat: %w", err)
	}
	req.Templated = true
	for _, s := range tpl.EndOfTurn() {
		if id, ok := tok.ID(s); ok {
			req.StopIDs = append(req.StopIDs, id)
		}
	}
	return req, nil
}

func renderedPrompt(req engine.Request) string {
	if req.Templated {
		return req.Prompt
	}
	return ""
}

func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || id < 0 {
			return nil, fmt.Errorf("%q is not a token id (want non-negative integers separated by commas)", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func hasFile(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func nonNil(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
