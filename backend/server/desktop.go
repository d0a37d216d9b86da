package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"energyprofiler/backend/api"
	"energyprofiler/backend/model"
	"energyprofiler/backend/queue"
	"energyprofiler/backend/store"
)

// The desktop app's own ways in — a dropped folder, the menu bar's Quick
// Profile — go through the same queue as the dashboard. They live here, away
// from the Wails shell, so they are tested without a window.

// defaultQuick is what Quick Profile runs before anything else was.
var defaultQuick = api.GenerateRequest{
	ModelName: "demo-110m-gqa", Prompt: "Energy Profiler measures how much energy a language model spends on every token.",
	ProfilingDepth: "module", MaxLength: 64, Tags: []string{"quick"},
}

// ValidateModelFolder checks that path is a usable model folder, with the
// loader's own errors (which name the file and what was expected).
func ValidateModelFolder(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !info.IsDir() && !model.IsGGUFPath(path) {
		return fmt.Errorf("%s is a file; drop the model's folder (the one holding config.json, *.safetensors and tokenizer.json) or a .gguf file", path)
	}
	if !info.IsDir() { // a GGUF file: Open validates it whole
		m, err := model.Open(path)
		if err != nil {
			return err
		}
		return m.Close()
	}
	for _, need := range []string{"config.json", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(path, need)); err != nil {
			return fmt.Errorf("%s is not a model folder: it has no %s (a Hugging Face model folder holds config.json, *.safetensors and tokenizer.json)", path, need)
		}
	}
	m, err := model.Open(path)
	if err != nil {
		return err
	}
	return m.Close()
}

// ProfileFolder validates a dropped folder and queues a run of it with the
// settings of the last run (depth, length, sampling, tags) or the defaults.
// Absolute paths are accepted here, from the desktop's own drop handler,
// never from API requests.
func (s *Server) ProfileFolder(path string) (runID string, err error) {
	path, err = filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if err := ValidateModelFolder(path); err != nil {
		return "", err
	}
	req := s.lastRequest()
	req.ModelName, req.ModelPath = filepath.Base(path), path
	return s.submit(req)
}

// QuickProfile runs the last used model and prompt again (or the demo
// model), reporting progress, and returns the run's id once it is stored.
func (s *Server) QuickProfile(ctx context.Context, progress func(phase string, done, total int)) (string, error) {
	req := s.lastRequest()
	if req.ModelPath == "" {
		path, err := (models{s.catalog}).Resolve(req.ModelName)
		if err != nil {
			return "", fmt.Errorf("quick profile: %w", err)
		}
		req.ModelPath = path
	}
	sub := s.Queue.Subscribe()
	defer s.Queue.Unsubscribe(sub)
	id, err := s.submit(req)
	if err != nil {
		return "", err
	}
	done := 0
	for {
		ev, ok := sub.Next(ctx)
		if !ok {
			if ctx.Err() != nil {
				_ = s.Queue.Cancel(id)
				return id, ctx.Err()
			}
			// Dropped for lagging: fall back to waiting for the result.
			_, err := s.Queue.Wait(ctx, id)
			return id, err
		}
		if ev.JobID != id {
			continue
		}
		switch ev.Type {
		case "phase":
			if d, ok := ev.Data.(map[string]any); ok {
				progress(fmt.Sprint(d["phase"]), done, req.MaxLength)
			}
		case "token":
			done++
			progress("decode", done, req.MaxLength)
		case "finished":
			_, err := s.Queue.Wait(ctx, id)
			return id, err
		}
	}
}

// QuickProfileLabel says what Quick Profile will run.
func (s *Server) QuickProfileLabel() string {
	req := s.lastRequest()
	prompt := req.Prompt
	if len(prompt) > 30 {
		prompt = strings.TrimSpace(prompt[:30]) + "…"
	}
	return fmt.Sprintf("%s · %q", req.ModelName, prompt)
}

// RecentRuns returns the newest n stored runs.
func (s *Server) RecentRuns(ctx context.Context, n int) ([]store.RunRow, error) {
	page, err := s.Store.List(ctx, store.Query{Limit: n})
	if err != nil {
		return nil, err
	}
	return page.Runs, nil
}

// PowerStatus is one line about the sources in use, for the menu bar.
func (s *Server) PowerStatus() string {
	var parts []string
	for _, src := range s.Session.Sources() {
		var ds []string
		for _, d := range src.Domains {
			ds = append(ds, strings.ToUpper(string(d)))
		}
		parts = append(parts, fmt.Sprintf("%s: %s (%s)", src.Name, src.Kind, strings.Join(ds, ", ")))
	}
	if len(parts) == 0 {
		return "no power source: energy unavailable (see Power Sources)"
	}
	return strings.Join(parts, "; ")
}

func (s *Server) submit(req api.GenerateRequest) (string, error) {
	id := uuid.NewString()
	if _, err := s.Queue.Submit(id, req); err != nil {
		if errors.Is(err, queue.ErrFull) {
			return "", fmt.Errorf("the run queue is full; try again when some runs have finished")
		}
		return "", err
	}
	return id, nil
}

func (s *Server) lastRequest() api.GenerateRequest {
	if p := s.last.Load(); p != nil {
		return *p
	}
	return defaultQuick
}
