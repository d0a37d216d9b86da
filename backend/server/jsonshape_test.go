package server

import (
	"strings"
	"testing"

	"energyprofiler/backend/api"
	"energyprofiler/backend/jsoncheck"
	"energyprofiler/backend/profiler"
)

// Every API body, decoded into the type the server writes it from, has no
// nil slice: a run without tags, a health report, the run list, a record,
// a comparison and a repeat's answer write their lists as [].
func TestAPIBodiesHaveNoNullLists(t *testing.T) {
	_, url := start(t)
	var health struct {
		PowerSources []api.SourceHealth `json:"power_sources"`
	}
	var repeat struct {
		RunIDs []string            `json:"run_ids"`
		Runs   []*profiler.Summary `json:"runs"`
	}
	if code := call(t, "POST", url+"/api/profiling/generate", `{"model_name":"tiny","prompt":"no tags","max_length":2,"idle_s":0,"repeat":2,"cooldown_s":0,"wait":true}`, &repeat); code != 200 || len(repeat.RunIDs) != 2 {
		t.Fatalf("generate: %d", code)
	}
	var runs []api.RunListItem
	var record profiler.Record
	var cmp profiler.Comparison
	bodies := []struct {
		path string
		into any
	}{
		{"/api/health", &health},
		{"/api/profiling/runs", &runs},
		{"/api/profiling/runs?limit=1", &runs},
		{"/api/profiling/run/" + repeat.RunIDs[0], &record},
		{"/api/profiling/compare?ids=" + repeat.RunIDs[0] + "," + repeat.RunIDs[1], &cmp},
	}
	for _, b := range bodies {
		if code := call(t, "GET", url+b.path, "", b.into); code != 200 {
			t.Fatalf("%s: %d", b.path, code)
		}
		if nils := jsoncheck.NilSlices(b.into); len(nils) > 0 {
			t.Errorf("%s: null lists at %s", b.path, strings.Join(nils, ", "))
		}
	}
	if nils := jsoncheck.NilSlices(repeat); len(nils) > 0 {
		t.Errorf("generate with repeat: null lists at %s", strings.Join(nils, ", "))
	}
	if len(runs) != 1 || len(health.PowerSources) == 0 {
		t.Errorf("%d runs, %d sources", len(runs), len(health.PowerSources))
	}
}
