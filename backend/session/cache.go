package session

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"energyprofiler/backend/chat"
	"energyprofiler/backend/engine"
	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/model"
	"energyprofiler/backend/tokenizer"
)

// load returns the model at path on the backend asked for (auto, cpu,
// metal), loading it if needed. Loaded models are
// kept for the next run; the least recently used is unloaded when another
// is needed, or early when free memory would not hold the new one. A kept
// model whose files changed on disk since it was loaded is unloaded and
// loaded again: its weights are memory-mapped, and a truncated file would
// kill the process (SIGBUS) at the first lost page.
func (s *Service) load(path, backend string) (*loadedModel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, lm := range s.loaded {
		if lm.path != path || lm.backend != backend {
			continue
		}
		s.loaded = append(s.loaded[:i:i], s.loaded[i+1:]...)
		if err := lm.checkFiles(); err != nil {
			s.opts.Logger.Info("reloading changed model", "path", path, "why", err)
			lm.close()
			break
		}
		s.loaded = append(s.loaded, lm)
		return lm, nil
	}

	cfg, err := model.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	need := cfg.Facts().WeightBytes
	for len(s.loaded) > 0 && (len(s.loaded) >= s.opts.MaxLoadedModels || !memoryFor(need)) {
		s.opts.Logger.Info("unloading model", "path", s.loaded[0].path)
		s.loaded[0].close()
		s.loaded = s.loaded[1:]
	}

	chooser := metal.Chooser{}
	if s.opts.Chooser != nil {
		chooser = *s.opts.Chooser
	}
	chooser.Threads = s.opts.Threads
	lm, err := openModel(path, backend, chooser)
	if err != nil {
		return nil, err
	}
	s.loaded = append(s.loaded, lm)
	return lm, nil
}

// CheckPrompt reports, without loading the weights, whether prompt fits the
// context of the model at path (the engine's default context length), and
// for a chat whether the model has a chat template that renders it: a
// prompt that does not would fail only once its run's turn came. It uses
// the loaded model's tokenizer when there is one.
func (s *Service) CheckPrompt(path, prompt string, chatMode bool) error {
	return s.checkPrompt(path, prompt, chatMode, nil)
}

// CheckMessages is CheckPrompt for a conversation: it renders msgs as a
// run would (the model's template, else chat.Plain) and checks that the
// result fits the context.
func (s *Service) CheckMessages(path string, msgs []chat.Message) error {
	return s.checkPrompt(path, "", false, msgs)
}

func (s *Service) checkPrompt(path, prompt string, chatMode bool, msgs []chat.Message) error {
	var tok *tokenizer.Tokenizer
	var format *chatFormat // nil: read the template from the files
	s.mu.Lock()
	for _, lm := range s.loaded {
		if lm.path == path && lm.checkFiles() == nil {
			tok, format = lm.tok, lm.chat
		}
	}
	s.mu.Unlock()
	cfg, err := model.LoadConfig(path)
	if err != nil {
		return err
	}
	if tok == nil {
		if tok, err = tokenizer.LoadForModel(path); err != nil {
			return fmt.Errorf("model %s: %w", path, err)
		}
	}
	addSpecial := true
	if len(msgs) > 0 {
		if format == nil {
			// No template means the plain fallback; a broken one is refused.
			if format, err = loadChat(path, tok); err != nil && !errors.Is(err, chat.ErrNoTemplate) {
				return chatError(path, err)
			}
		}
		rendered, _, templated, err := renderMessages(format, msgs)
		if err != nil {
			return chatError(path, err)
		}
		prompt, addSpecial = rendered, !templated
	}
	if chatMode {
		if format == nil {
			if format, err = loadChat(path, tok); err != nil {
				return chatError(path, err)
			}
		}
		rendered, _, err := format.render(prompt)
		if err != nil {
			return chatError(path, err)
		}
		prompt, addSpecial = rendered, false
	}
	n, limit := len(tok.Encode(prompt, addSpecial)), engine.DefaultContext(*cfg)
	if n >= limit {
		return fmt.Errorf("%w: the prompt is %d tokens but %s's context holds %d (prompt and generated tokens together); shorten the prompt",
			ErrPromptTooLong, n, filepath.Base(path), limit)
	}
	return nil
}

// ErrPromptTooLong is wrapped by CheckPrompt's refusals.
var ErrPromptTooLong = errors.New("prompt too long")

func openModel(path, backend string, chooser metal.Chooser) (*loadedModel, error) {
	tokPath := filepath.Join(path, "tokenizer.json")
	if model.IsGGUF(path) {
		tokPath = path // a GGUF file carries its own tokenizer
	}
	tokStamp, err := model.Stamp(tokPath)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	tok, err := tokenizer.LoadForModel(path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	m, err := model.Open(path)
	if err != nil {
		return nil, err
	}
	be, choice, err := chooser.Choose(backend)
	if err != nil {
		m.Close()
		return nil, err
	}
	eng, err := engine.New(m, engine.Options{Backend: be, Tokenizer: tok})
	if errors.Is(err, engine.ErrUnsupportedWeights) && backend == metal.KindAuto {
		// auto: the GPU passed its self-test but lacks kernels for this
		// model's weights, so this model runs on the CPU.
		be.Close()
		be, choice, _ = chooser.Choose(metal.KindCPU)
		choice.Reason = err.Error()
		eng, err = engine.New(m, engine.Options{Backend: be, Tokenizer: tok})
	}
	if err != nil {
		be.Close()
		m.Close()
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	lm := &loadedModel{path: path, backend: backend, choice: choice, model: m, tok: tok, tokStamp: tokStamp, eng: eng, facts: m.Facts()}
	lm.chat, lm.chatErr = loadChat(path, tok)
	return lm, nil
}

// checkFiles reports whether the model's files (weights, config, tokenizer)
// are still the ones loaded.
func (lm *loadedModel) checkFiles() error {
	if err := lm.model.CheckFiles(); err != nil {
		return err
	}
	return lm.tokStamp.Check()
}

func (lm *loadedModel) close() {
	lm.eng.Close()
	lm.model.Close()
}

// memoryFor reports whether the machine has room for weightBytes more.
// Weights are memory-mapped, so this is about not pushing the machine into
// paging mid-measurement, which would distort the energy numbers. Where free
// memory cannot be read it answers yes.
func memoryFor(weightBytes int64) bool {
	avail, ok := availableMemory()
	if !ok || weightBytes <= 0 {
		return true
	}
	return avail > weightBytes+weightBytes/2
}

// availableMemory reads MemAvailable from /proc/meminfo (Linux only).
func availableMemory() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, false
			}
			return kb * 1024, true
		}
	}
	return 0, false
}

var _ engine.Tokenizer = (*tokenizer.Tokenizer)(nil)
