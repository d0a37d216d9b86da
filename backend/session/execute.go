package session

import (
	"context"

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
			emit(queue.Event{JobID: runID, Type: le.Type, Data: le.Data})
		}
	})
	if res == nil {
		return nil, err
	}
	return res.Summary, err
}
