package menubar

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestTitle(t *testing.T) {
	tests := []struct {
		name string
		p    Power
		ok   bool
		q    QuickState
		want string
	}{
		{"measured", Power{Watts: 12.44, Source: "IOReport"}, true, QuickState{}, "⚡ 12.4 W"},
		{"small", Power{Watts: 0.26}, true, QuickState{}, "⚡ 0.3 W"},
		{"rounds up to 100", Power{Watts: 99.96}, true, QuickState{}, "⚡ 100 W"},
		{"large", Power{Watts: 212.7}, true, QuickState{}, "⚡ 213 W"},
		{"estimated", Power{Watts: 12.44, Estimated: true}, true, QuickState{}, "⚡ ~12.4 W est"},
		{"unavailable is not zero", Power{}, false, QuickState{}, "⚡ n/a"},
		{"NaN", Power{Watts: math.NaN()}, true, QuickState{}, "⚡ n/a"},
		{"negative", Power{Watts: -3}, true, QuickState{}, "⚡ n/a"},
		{"profiling percent", Power{Watts: 30}, true, QuickState{Running: true, Progress: Progress{Done: 16, Total: 64}}, "⚡ 30.0 W · 25%"},
		{"profiling phase", Power{Watts: 30}, true, QuickState{Running: true, Progress: Progress{Phase: "prefill"}}, "⚡ 30.0 W · prefill…"},
		{"profiling overshoot", Power{Watts: 30}, true, QuickState{Running: true, Progress: Progress{Done: 70, Total: 64}}, "⚡ 30.0 W · 100%"},
		{"finished shows no progress", Power{Watts: 30}, true, QuickState{Progress: Progress{Done: 1, Total: 2}}, "⚡ 30.0 W"},
	}
	for _, tt := range tests {
		if got := Title(tt.p, tt.ok, tt.q); got != tt.want {
			t.Errorf("%s: Title = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRunLabel(t *testing.T) {
	now := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		r    RunItem
		want string
	}{
		{RunItem{ID: "a", Model: "tinyllama", Started: now.Add(-time.Hour), EnergyJ: 12.34, EnergyKnown: true}, "tinyllama · 12.3 J · 14:00"},
		{RunItem{ID: "a", Model: "qwen", Started: now.AddDate(0, 0, -2), EnergyJ: 1534, EnergyKnown: true}, "qwen · 1.53 kJ · Nov 26 15:00"},
		{RunItem{ID: "a", Model: "qwen", Started: now.AddDate(-1, 0, 0), EnergyJ: 250, EnergyKnown: true, Estimated: true}, "qwen · ~250 J est · Nov 28 2025"},
		{RunItem{ID: "a", Model: "qwen", Started: now}, "qwen · energy n/a · 15:00"},
		{RunItem{ID: "a", Model: "qwen", Started: now, EnergyKnown: true, Failed: true}, "qwen · failed · 15:00"},
		{RunItem{ID: "0123456789abcdef", EnergyJ: 1, EnergyKnown: true}, "run 01234567 · 1.0 J · time unknown"},
	}
	for _, tt := range tests {
		if got := RunLabel(tt.r, now); got != tt.want {
			t.Errorf("RunLabel(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
	long := RunLabel(RunItem{Model: strings.Repeat("m", 100), Started: now}, now)
	if n := len([]rune(long)); n != maxLabel || !strings.HasSuffix(long, "…") {
		t.Errorf("long label has %d runes: %q", n, long)
	}
}

func fullState(runs int) MenuState {
	st := MenuState{QuickAvailable: true, QuickLabel: `demo-tiny · "Hello"`, DashboardEnabled: true, RunsOpenable: true,
		PowerStatus: "IOReport: measured", PowerOpenable: true, QuitEnabled: true, Now: time.Now()}
	for i := range runs {
		st.Runs = append(st.Runs, RunItem{ID: string(rune('a' + i)), Model: "m", EnergyKnown: true, EnergyJ: float64(i)})
	}
	return st
}

func labels(items []Item) []string {
	var out []string
	for _, it := range items {
		if it.Separator {
			out = append(out, "---")
			continue
		}
		out = append(out, it.Label)
	}
	return out
}

func TestBuildMenuLayout(t *testing.T) {
	items := BuildMenu(fullState(7))
	got := strings.Join(labels(items), " | ")
	want := `Quick Profile: demo-tiny · "Hello" | --- | Open Dashboard | Recent Runs | --- | Power: IOReport: measured | --- | Quit Energy Profiler`
	if got != want {
		t.Fatalf("menu:\n got %s\nwant %s", got, want)
	}
	recent := items[3]
	if len(recent.Children) != MaxRecentRuns {
		t.Fatalf("recent runs: %d, want %d", len(recent.Children), MaxRecentRuns)
	}
	if recent.Children[0].RunID != "a" || recent.Children[4].RunID != "e" {
		t.Errorf("recent runs are not the newest five in order: %+v", recent.Children)
	}
	// Tags are unique, start at 1 and map back to their item.
	seen := map[int]bool{}
	var walk func([]Item)
	walk = func(its []Item) {
		for _, it := range its {
			if it.Separator {
				if it.Tag != 0 {
					t.Errorf("separator has tag %d", it.Tag)
				}
				continue
			}
			if it.Tag < 1 || seen[it.Tag] {
				t.Errorf("bad or duplicate tag %d on %q", it.Tag, it.Label)
			}
			seen[it.Tag] = true
			if found, ok := FindTag(items, it.Tag); !ok || found.Label != it.Label {
				t.Errorf("FindTag(%d) = %q, %v; want %q", it.Tag, found.Label, ok, it.Label)
			}
			walk(it.Children)
		}
	}
	walk(items)
	if _, ok := FindTag(items, 999); ok {
		t.Error("FindTag found a tag that does not exist")
	}
}

func TestBuildMenuStates(t *testing.T) {
	st := fullState(0)
	st.Quick = QuickState{Running: true, Progress: Progress{Done: 32, Total: 64}, LastRunID: "old"}
	items := BuildMenu(st)
	if items[0].Label != "Profiling… 32/64 tokens (50%)" || items[0].Enabled || items[0].Action != ActNone {
		t.Errorf("running quick profile item = %+v", items[0])
	}
	if strings.Contains(strings.Join(labels(items), "|"), "Open Last Quick Profile") {
		t.Error("offers the last quick profile while another runs")
	}
	rec, _ := FindTag(items, items[3].Tag)
	if rec.Label != "Recent Runs" || len(rec.Children) != 1 || rec.Children[0].Label != "No runs yet" || rec.Children[0].Enabled {
		t.Errorf("empty recent runs = %+v", rec)
	}

	st.Quick = QuickState{LastErr: "model folder missing tokenizer.json", LastRunID: "r1"}
	items = BuildMenu(st)
	got := strings.Join(labels(items[:3]), " | ")
	if got != `Quick Profile: demo-tiny · "Hello" | Last quick profile failed: model folder missing tokenizer.j… | Open Last Quick Profile` {
		t.Errorf("after a failure: %s", got)
	}
	if items[2].Action != ActOpenLastQuick || items[2].RunID != "r1" {
		t.Errorf("open last item = %+v", items[2])
	}

	// Nothing wired: only the power line, never a dangling separator.
	items = BuildMenu(MenuState{})
	if got := strings.Join(labels(items), " | "); got != "Power: unknown" {
		t.Errorf("bare menu: %s", got)
	}
	if items[0].Enabled {
		t.Error("power line clickable with no action")
	}
}
