package profiler

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/jsoncheck"
)

// A run with nothing to attribute (no power source, no tags, no tokens)
// still writes every list as [], in the record, the summary and a
// comparison, after a JSON round trip as the API and the store make.
func TestRecordWithoutPowerHasNoNullLists(t *testing.T) {
	for _, tokens := range []int{0, 2} {
		run, err := New(Options{Idle: -1, Host: &Host{OS: "test"}}).Start(context.Background(), Meta{ModelName: "m"})
		if err != nil {
			t.Fatal(err)
		}
		if tokens > 0 {
			drive(run, traceSpec{base: clock.Now(), prompt: 1, tokens: tokens, layers: 1, tokenNs: ms, compNs: ms})
		}
		sum, err := run.Finish()
		if err != nil {
			t.Fatal(err)
		}
		cmp, err := Compare([]Group{{Label: "a", Summaries: []*Summary{sum}}, {Label: "b", Summaries: []*Summary{sum}}})
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]any{"record": run.Record(), "summary": sum, "comparison": cmp} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if nils := jsoncheck.NilSlices(v); len(nils) > 0 {
				t.Errorf("%d tokens, %s: null lists at %s in %.200s", tokens, name, strings.Join(nils, ", "), b)
			}
		}
	}
}
