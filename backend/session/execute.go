package session

import (
	"context"

	"energyprofiler/backend/engine/metal"
	"energyprofiler/backend/profiler"
	"energyprofiler/backend/queue"
)

// Execute runs req as the queued job runID, relaying live events to emit in
// the dashboard's live-stream format. It returns the run's summary, which
// the queue sends with its "finished" event and the API returns to callers
// that wait.
func (s *Service) Execute(ctx context.Context, runID string, req Request, emit func(queue.Event)) (any, error) {
	req.RunID = runID
	sources := s.Sources()
	res, err := s.Profile(ctx, req, func(pe profiler.Event) {
		if le, ok := Translate(pe, req, sources); ok {
			if le.Type == "run" {
				if c, found := s.choice(req); found { // the model is loaded by now
					le.Data["backend"], le.Data["device"], le.Data["backend_note"] = c.Kind, c.Device, c.Reason
				}
			}
			emit(queue.Event{JobID: runID, Type: le.Type, Data: le.Data})
		}
	})
	if res == nil {
		return nil, err
	}
	return res.Summary, err
}

// choice is the backend the loaded model of req runs on.
func (s *Service) choice(req Request) (metal.Choice, bool) {
	kind := req.Backend
	if kind == "" {
		kind = s.opts.Backend
	}
	kind, err := metal.ParseKind(kind)
	if err != nil {
		return metal.Choice{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, lm := range s.loaded {
		if lm.path == req.ModelPath && lm.backend == kind {
			return lm.choice, true
		}
	}
	return metal.Choice{}, false
}
