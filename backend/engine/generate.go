package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"strings"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine/compute"
	"energyprofiler/backend/tokenizer"
)

// Request is one generation.
type Request struct {
	// Prompt is encoded with the engine's tokenizer (special tokens such as
	// BOS added). PromptIDs, when set, are used as they are instead.
	Prompt    string
	PromptIDs []int
	// MaxTokens caps the generated tokens (the prompt excluded); it must be > 0.
	MaxTokens int
	Sampling  Sampling
	// StopStrings end generation when the text contains one; the text is cut
	// before it.
	StopStrings []string
	// IgnoreEOS keeps generating past end-of-sequence ids (for benchmarks and
	// profiling runs of a fixed length).
	IgnoreEOS bool
	// Templated says Prompt was rendered by a chat template, which writes
	// the special tokens (BOS included) itself: it is encoded without
	// adding any, as transformers' apply_chat_template does.
	Templated bool
	// StopIDs end generation as the model's EOS ids do (a chat template's
	// end-of-turn tokens); IgnoreEOS ignores them too.
	StopIDs []int
}

// StopReason says why a generation ended.
type StopReason string

const (
	StopEOS        StopReason = "eos"
	StopMaxTokens  StopReason = "max_tokens"
	StopString     StopReason = "stop_string"
	StopContext    StopReason = "context_full"
	StopCancelled  StopReason = "cancelled"
	StopUnfinished StopReason = ""
)

// Result describes a finished (or cancelled) generation.
type Result struct {
	PromptIDs    []int
	GeneratedIDs []int // the prompt excluded; an EOS token that ended it included
	Text         string
	StopReason   StopReason

	PrefillNs int64 // forward pass over the prompt and sampling of the first token
	DecodeNs  int64 // the remaining forward passes and samplings
	// PrefillTokensPerSecond is prompt tokens per second of prefill;
	// DecodeTokensPerSecond is decode forward passes (one per generated token
	// after the first) per second of decode. 0 when the phase did not run.
	PrefillTokensPerSecond float64
	DecodeTokensPerSecond  float64
}

// Generate runs req: it encodes the prompt, prefills it in batches, then
// decodes token by token until an EOS id, MaxTokens, a stop string, a full
// context or ctx's cancellation. Each token is passed to onToken (may be nil)
// as it is produced; its Piece is the newly final text, held back while it
// could still turn into a stop string or an incomplete UTF-8 character, so
// the pieces concatenate to Result.Text. tracer may be nil.
//
// A cancelled generation returns its partial Result with StopCancelled and
// ctx's error.
//
// The weights are memory-mapped: a weight file truncated while the
// generation reads it would kill the process (SIGBUS). Instead the fault
// ends this generation with an error naming the file; the model must then
// be reopened (the session's model cache does so, as its stamp check fails).
func (e *Engine) Generate(ctx context.Context, req Request, tracer Tracer, onToken func(TokenEvent)) (res Result, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if !compute.IsFault(r) {
				panic(r)
			}
			res, err = Result{}, e.faultError(r)
		}
	}()
	return e.generate(ctx, req, tracer, onToken)
}

// faultError explains a memory fault while reading the weights.
func (e *Engine) faultError(r any) error {
	if changed := e.files(); changed != nil {
		return fmt.Errorf("engine: %w; the run read weights that are gone (reload the model)", changed)
	}
	return fmt.Errorf("engine: reading %s's memory-mapped weights failed (%v); a weight file changed on disk during the run", e.name, r)
}

func (e *Engine) generate(ctx context.Context, req Request, tracer Tracer, onToken func(TokenEvent)) (Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.be == nil {
		return Result{}, errors.New("engine: Generate after Close")
	}
	if req.MaxTokens <= 0 {
		return Result{}, fmt.Errorf("engine: max tokens must be positive, got %d", req.MaxTokens)
	}
	tr := &e.trace
	*tr = traceState{be: e.be}
	if tracer != nil {
		tr.tr, tr.depth = tracer, tracer.Depth()
	}
	phaseStart := func(p Phase) {
		tr.phase = p
		if tracer != nil {
			tracer.PhaseStart(p, clock.Now())
		}
	}
	phaseEnd := func(p Phase) {
		if tracer != nil {
			tracer.PhaseEnd(p, clock.Now())
		}
	}
	defer func() { e.trace = traceState{} }()

	// Pre-inference: tokenization and setup.
	phaseStart(PhasePreInference)
	res := Result{}
	ids := slices.Clone(req.PromptIDs)
	if len(ids) == 0 {
		if e.tok == nil {
			phaseEnd(PhasePreInference)
			return res, errors.New("engine: the request has no prompt ids and the engine has no tokenizer")
		}
		ids = e.tok.Encode(req.Prompt, !req.Templated)
	}
	res.PromptIDs = ids
	err := e.checkPrompt(ids, req.MaxTokens)
	e.pos = 0
	e.samp.seed(req.Sampling.Seed)
	stream := newTextStream(e.tok, req.StopStrings)
	eos := append(slices.Clip(e.cfg.EOSTokenIDs), req.StopIDs...)
	phaseEnd(PhasePreInference)
	if err != nil {
		return res, err
	}

	emit := func(ev TokenEvent) {
		if tracer != nil {
			tracer.Token(ev)
		}
		if onToken != nil {
			onToken(ev)
		}
	}

	// Prefill: the whole prompt, batched, then the first token.
	phaseStart(PhasePrefill)
	start := clock.Now()
	err = e.forward(ctx, ids)
	next := 0
	if err == nil {
		next, err = e.pick(req.Sampling, fmt.Sprintf("prefill (a %d-token prompt)", len(ids)))
	}
	end := clock.Now()
	phaseEnd(PhasePrefill)
	res.PrefillNs = end - start
	if res.PrefillNs > 0 {
		res.PrefillTokensPerSecond = float64(len(ids)) / (float64(res.PrefillNs) / 1e9)
	}
	if err != nil {
		return e.finish(res, stream, tracer, err)
	}

	// Decode: one token per forward pass.
	phaseStart(PhaseDecode)
	decodeStart, passes := clock.Now(), 0
	for index := 0; ; index++ {
		res.GeneratedIDs = append(res.GeneratedIDs, next)
		isEOS := !req.IgnoreEOS && slices.Contains(eos, next)
		last := isEOS || index+1 == req.MaxTokens || e.pos >= e.ctxLen
		piece, hitStop := stream.add(next, last)
		emit(TokenEvent{Index: index, ID: next, Piece: piece, Start: start, End: end})
		switch {
		case isEOS:
			res.StopReason = StopEOS
		case hitStop:
			res.StopReason = StopString
		case index+1 == req.MaxTokens:
			res.StopReason = StopMaxTokens
		case e.pos >= e.ctxLen:
			res.StopReason = StopContext
		}
		if res.StopReason != StopUnfinished {
			break
		}
		start = clock.Now()
		if err = e.step(ctx, next); err != nil {
			break
		}
		passes++
		if next, err = e.pick(req.Sampling, fmt.Sprintf("decode step %d", index+1)); err != nil {
			break
		}
		end = clock.Now()
	}
	res.DecodeNs = clock.Now() - decodeStart
	if passes > 0 && res.DecodeNs > 0 {
		res.DecodeTokensPerSecond = float64(passes) / (float64(res.DecodeNs) / 1e9)
	}
	phaseEnd(PhaseDecode)
	return e.finish(res, stream, tracer, err)
}

// pick samples the next token from the logits, refusing logits that are not
// finite: a NaN or infinite logit means the weights (or the arithmetic)
// broke, and no token drawn from them means anything. where says which pass
// produced them, for the error.
func (e *Engine) pick(p Sampling, where string) (int, error) {
	logits := e.logits[:e.sampleVocab]
	for i, v := range logits {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return 0, fmt.Errorf("engine: model %s produced a non-finite logit (%v for token %d) at %s: its weights hold NaN or infinite values, or its activations overflow; check the model files (a corrupt or badly converted checkpoint)", e.name, v, i, where)
		}
	}
	return e.samp.sample(logits, p), nil
}

// finish runs post-inference: the final detokenization.
func (e *Engine) finish(res Result, stream *textStream, tracer Tracer, err error) (Result, error) {
	e.trace.phase = PhasePostInference
	if tracer != nil {
		tracer.PhaseStart(PhasePostInference, clock.Now())
	}
	res.Text = stream.final()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		res.StopReason = StopCancelled
	}
	if tracer != nil {
		tracer.PhaseEnd(PhasePostInference, clock.Now())
	}
	return res, err
}

func (e *Engine) checkPrompt(ids []int, maxTokens int) error {
	if len(ids) == 0 {
		return errors.New("engine: the prompt is empty; give some text or token ids")
	}
	for _, id := range ids {
		if id < 0 || id >= e.embed.Rows {
			return fmt.Errorf("engine: prompt token id %d is outside the vocabulary [0, %d)", id, e.embed.Rows)
		}
	}
	if len(ids) >= e.ctxLen {
		return fmt.Errorf("engine: the prompt has %d tokens but the context holds %d; shorten the prompt or raise the context length", len(ids), e.ctxLen)
	}
	return nil
}

// textStream turns generated ids into text pieces that are final: nothing it
// releases is later changed by a following token or cut by a stop string.
type textStream struct {
	tok      Tokenizer
	dec      *tokenizer.StreamDecoder
	stops    []string
	text     string // decoded text so far, cut at a stop string once found
	released int    // bytes of text already handed out
	stopped  bool
}

func newTextStream(tok Tokenizer, stops []string) *textStream {
	s := &textStream{tok: tok}
	for _, stop := range stops {
		if stop != "" {
			s.stops = append(s.stops, stop)
		}
	}
	if tok != nil {
		s.dec = tok.NewStreamDecoder()
	}
	return s
}

// add decodes id (special tokens such as EOS add no text) and returns the
// newly final text. last flushes everything held back.
func (s *textStream) add(id int, last bool) (piece string, hitStop bool) {
	if s.tok == nil || s.stopped {
		return "", false
	}
	if !s.tok.IsSpecial(id) {
		s.text += s.dec.Next(id)
	}
	if last {
		s.text += s.dec.Flush()
	}
	for _, stop := range s.stops {
		from := max(0, s.released-len(stop))
		if i := strings.Index(s.text[from:], stop); i >= 0 {
			s.text = s.text[:from+i]
			s.stopped, hitStop, last = true, true, true
		}
	}
	safe := len(s.text)
	if !last {
		// Hold back any tail that could be the start of a stop string.
		for _, stop := range s.stops {
			for k := min(len(stop)-1, safe-s.released); k > 0; k-- {
				if strings.HasSuffix(s.text[:safe], stop[:k]) {
					safe -= k
					break
				}
			}
		}
	}
	piece = s.text[s.released:safe]
	s.released = safe
	return piece, hitStop
}

// final is the whole text: everything decoded, cut at a stop string.
func (s *textStream) final() string {
	if s.dec != nil && !s.stopped {
		s.text += s.dec.Flush()
	}
	return s.text
}
