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
	// The machine's total is the sum of each source's latest total; this
	// map is only touched on the live goroutine.
	latest := map[string]float64{}
	res, err := s.Profile(ctx, req, func(pe profiler.Event) {
		le, ok := Translate(pe, req, sources)
		if !ok {
			return
		}
		if le.Type == "power" {
			if w, ok := le.Data["source_total_w"].(float64); ok {
				latest[pe.Power.Source] = w
				total := 0.0
				for _, v := range latest {
					total += v
				}
				le.Data["total_w"] = total
			}
		}
		emit(queue.Event{JobID: runID, Type: le.Type, Data: le.Data})
	})
	if res == nil {
		return nil, err
	}
	return res.Summary, err
}
