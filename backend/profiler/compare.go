package profiler

import (
	"fmt"
	"math"
)

// Group is one arm of a comparison: a single run, or runs repeated with the
// same configuration.
type Group struct {
	Label     string     `json:"label"`
	Summaries []*Summary `json:"-"`
}

// Stat describes one metric over a group's runs. SD and the CI need at least
// two runs; with one they are absent. Normalized is Mean ÷ the first group's
// Mean (1 for the first group).
type Stat struct {
	N          int      `json:"n"`
	Mean       *float64 `json:"mean"`
	SD         *float64 `json:"sd,omitempty"`
	CI95Low    *float64 `json:"ci95_low,omitempty"`
	CI95High   *float64 `json:"ci95_high,omitempty"`
	Normalized *float64 `json:"normalized,omitempty"`
	Unit       string   `json:"unit"`
	Label      string   `json:"label"`
}

// GroupStats is one group's statistics per metric.
type GroupStats struct {
	Label   string          `json:"label"`
	RunIDs  []string        `json:"run_ids"`
	Metrics map[string]Stat `json:"metrics"`
}

// TestResult is Welch's t-test of one metric between two groups.
type TestResult struct {
	Metric string   `json:"metric"`
	A      string   `json:"a"`
	B      string   `json:"b"`
	T      *float64 `json:"t,omitempty"`
	DF     *float64 `json:"df,omitempty"`
	P      *float64 `json:"p,omitempty"`
	Note   string   `json:"note,omitempty"`
}

// Comparison is the result of Compare.
type Comparison struct {
	Metrics []string     `json:"metrics"`
	Groups  []GroupStats `json:"groups"`
	Tests   []TestResult `json:"tests"`
	// Warnings say where the groups' runs were made under different
	// conditions (battery, heat, clocks) that can explain a difference on
	// their own; the caller fills them from the runs' records.
	Warnings []string `json:"warnings"`
}

// compareMetrics are the metrics compared, in display order, and how to read
// each from a summary.
func compareMetrics() []struct {
	name string
	get  func(*Summary) Metric
} {
	return []struct {
		name string
		get  func(*Summary) Metric
	}{
		{"joules_per_output_token", func(s *Summary) Metric { return s.JoulesPerOutputToken }},
		{"joules_per_input_token", func(s *Summary) Metric { return s.JoulesPerInputToken }},
		{"joules_per_token", func(s *Summary) Metric { return s.JoulesPerToken }},
		{"net_joules_per_output_token", func(s *Summary) Metric { return s.NetJoulesPerOutputToken }},
		{"decode_tokens_per_second", func(s *Summary) Metric { return s.DecodeTokensPerSecond }},
		{"prefill_tokens_per_second", func(s *Summary) Metric { return s.PrefillTokensPerSecond }},
		{"total_energy_j", func(s *Summary) Metric { return s.TotalEnergyJ }},
		{"tokens_per_joule", func(s *Summary) Metric { return s.TokensPerJoule }},
		{"energy_per_million_params_j", func(s *Summary) Metric { return s.EnergyPerMParams }},
		{"energy_per_active_million_params_j", func(s *Summary) Metric { return s.EnergyPerActiveMParams }},
		{"energy_delay_product_js", func(s *Summary) Metric { return s.EnergyDelayProduct }},
		{"duration_s", func(s *Summary) Metric { return s.DurationS }},
	}
}

// TestedMetrics are the metrics Welch's test is run on.
func testedMetrics() []string { return []string{"joules_per_output_token", "decode_tokens_per_second"} }

// Describe computes one group's statistics per metric (mean, sd and the 95%
// confidence interval of the mean from Student's t); Normalized is left unset.
func Describe(g Group) GroupStats {
	gs := GroupStats{Label: g.Label, RunIDs: []string{}, Metrics: map[string]Stat{}}
	for _, s := range g.Summaries {
		gs.RunIDs = append(gs.RunIDs, s.RunID)
	}
	for _, m := range compareMetrics() {
		st := Stat{Label: string(BasisUnavailable)}
		xs := metricValues(g, m.get)
		for _, s := range g.Summaries {
			mv := m.get(s)
			st.Unit = mv.Unit
			if mv.Value != nil {
				st.Label = mv.Label
			}
		}
		st.N = len(xs)
		if len(xs) > 0 {
			mean, sd := MeanSD(xs)
			st.Mean = &mean
			if len(xs) >= 2 {
				half := StudentTQuantile(0.975, float64(len(xs)-1)) * sd / math.Sqrt(float64(len(xs)))
				lo, hi := mean-half, mean+half
				st.SD, st.CI95Low, st.CI95High = &sd, &lo, &hi
			}
		}
		gs.Metrics[m.name] = st
	}
	return gs
}

func metricValues(g Group, get func(*Summary) Metric) []float64 {
	var xs []float64
	for _, s := range g.Summaries {
		if v, ok := get(s).Get(); ok {
			xs = append(xs, v)
		}
	}
	return xs
}

// Compare computes, for 2–4 groups, each metric's mean, sd and 95% CI
// (Student's t), normalised to the first group, and Welch's t-test p-values
// between every pair of groups on per-token energy and decode tok/s.
func Compare(groups []Group) (*Comparison, error) {
	if len(groups) < 2 || len(groups) > 4 {
		return nil, fmt.Errorf("compare needs 2 to 4 runs or groups, got %d", len(groups))
	}
	c := &Comparison{Metrics: []string{}, Groups: []GroupStats{}, Tests: []TestResult{}, Warnings: []string{}}
	for _, g := range groups {
		if len(g.Summaries) == 0 {
			return nil, fmt.Errorf("group %q has no runs", g.Label)
		}
		c.Groups = append(c.Groups, Describe(g))
	}
	getters := map[string]func(*Summary) Metric{}
	for _, m := range compareMetrics() {
		getters[m.name] = m.get
		c.Metrics = append(c.Metrics, m.name)
		base := c.Groups[0].Metrics[m.name].Mean
		for gi := range c.Groups {
			st := c.Groups[gi].Metrics[m.name]
			if base != nil && *base != 0 && st.Mean != nil {
				n := *st.Mean / *base
				st.Normalized = &n
			}
			c.Groups[gi].Metrics[m.name] = st
		}
	}
	for _, name := range testedMetrics() {
		for i := 0; i < len(groups); i++ {
			for j := i + 1; j < len(groups); j++ {
				tr := TestResult{Metric: name, A: groups[i].Label, B: groups[j].Label}
				t, df, p, err := Welch(metricValues(groups[i], getters[name]), metricValues(groups[j], getters[name]))
				if err != nil {
					tr.Note = "needs at least two runs with this metric in each group (repeat the run: Live view repeat, or profile --repeat)"
				} else {
					tr.T, tr.DF, tr.P = &t, &df, &p
				}
				c.Tests = append(c.Tests, tr)
			}
		}
	}
	return c, nil
}
