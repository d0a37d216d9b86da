package profiler

import (
	"encoding/json"
	"testing"
)

// A token count nobody measured is null in JSON (the dashboard, exports and
// scripts read it), never 0; a measured count, even 0, stays a number, and
// the rest of the summary is written as before.
func TestSummaryJSONLeavesUnmeasuredTokenCountsNull(t *testing.T) {
	cases := []struct {
		name            string
		s               Summary
		wantIn, wantOut any
	}{
		{"engine run", Summary{RunID: "r", InputTokens: 9, OutputTokens: 16}, 9.0, 16.0},
		{"engine run that generated nothing", Summary{RunID: "r", InputTokens: 9}, 9.0, 0.0},
		{"window without counts", Summary{RunID: "r", Kind: "window",
			InputTokensSource: "unavailable (not given when the window stopped)", OutputTokensSource: "unavailable (not given when the window stopped)"}, nil, nil},
		{"window with output counts", Summary{RunID: "r", Kind: "window", OutputTokens: 4096,
			InputTokensSource: "unavailable (not given when the window stopped)", OutputTokensSource: "given by the caller"}, nil, 4096.0},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.s)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]any{"input_tokens": c.wantIn, "output_tokens": c.wantOut} {
			v, present := got[key]
			if !present || v != want {
				t.Errorf("%s: %s = %v (present %v), want %v", c.name, key, v, present, want)
			}
		}
		if got["run_id"] != "r" {
			t.Errorf("%s: the other fields must stay: %s", c.name, b)
		}
		// Pointers marshal the same way.
		if bp, _ := json.Marshal(&c.s); string(bp) != string(b) {
			t.Errorf("%s: *Summary writes %s, Summary %s", c.name, bp, b)
		}
	}
}
