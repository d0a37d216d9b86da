// Package thermal reads the thermal and power state the operating system
// reports — macOS's thermal state, Linux's thermal zones, CPU frequencies and
// throttle counters, and whether the machine runs on battery — so that every
// run records the conditions it was made under, and comparisons can warn
// when groups of runs were made under different ones.
//
// Everything but the few OS calls is platform-independent: Linux's sysfs is
// read from a root folder (tests use fake trees), macOS's power source comes
// from pmset's text (parsed here), and the comparison works on recorded
// states. The platform files only say where to read.
package thermal

import (
	"fmt"
	"math"
	"strings"
)

// State is what the OS reported at one moment. Fields the OS does not
// report are empty (nil), never zero.
type State struct {
	// Pressure is the OS's own thermal verdict: macOS's thermal state
	// (nominal, fair, serious, critical). Linux has no such verdict.
	Pressure string `json:"pressure,omitempty"`
	// HottestC is the highest thermal-zone temperature in °C (Linux), and
	// HottestZone names that zone.
	HottestC    *float64 `json:"hottest_c,omitempty"`
	HottestZone string   `json:"hottest_zone,omitempty"`
	// CPUFreqRatio is the cores' mean current frequency over their
	// highest maximum frequency (Linux cpufreq): 1 is flat out, lower is
	// slowed by power management or heat.
	CPUFreqRatio *float64 `json:"cpu_freq_ratio,omitempty"`
	// CPUFreqMHz is the cores' mean current frequency.
	CPUFreqMHz *float64 `json:"cpu_freq_mhz,omitempty"`
	// ThrottleEvents is the kernel's count of thermal throttling events
	// since boot (Intel's thermal_throttle counters): a run whose end count
	// exceeds its start count was throttled.
	ThrottleEvents *int64 `json:"throttle_events,omitempty"`
	// OnBattery is true on battery power, false on mains; nil when the OS
	// does not say.
	OnBattery *bool `json:"on_battery,omitempty"`
	// Unreadable lists what could not be read here, and why.
	Unreadable []string `json:"unreadable,omitempty"`
}

// Conditions are a run's states at its start and end.
type Conditions struct {
	Start *State `json:"start,omitempty"`
	End   *State `json:"end,omitempty"`
}

// Summary is one line for people: "nominal · 61 °C · CPU at 87% of max ·
// on mains", or "not reported" when the OS gave nothing.
func (s State) Summary() string {
	var parts []string
	if s.Pressure != "" {
		parts = append(parts, "thermal state "+s.Pressure)
	}
	if s.HottestC != nil {
		parts = append(parts, fmt.Sprintf("hottest zone %.0f °C", *s.HottestC))
	}
	if s.CPUFreqRatio != nil {
		parts = append(parts, fmt.Sprintf("CPU at %.0f%% of max frequency", 100**s.CPUFreqRatio))
	}
	if s.OnBattery != nil {
		parts = append(parts, map[bool]string{true: "on battery", false: "on mains"}[*s.OnBattery])
	}
	if len(parts) == 0 {
		return "not reported"
	}
	return strings.Join(parts, " · ")
}

// Throttled reports whether the kernel counted throttling events between
// the start and the end; ok is false when the counters were not readable.
func (c Conditions) Throttled() (throttled, ok bool) {
	if c.Start == nil || c.End == nil || c.Start.ThrottleEvents == nil || c.End.ThrottleEvents == nil {
		return false, false
	}
	return *c.End.ThrottleEvents > *c.Start.ThrottleEvents, true
}

// Group is one arm of a comparison: its label and each run's conditions
// (nil for runs recorded before conditions were).
type Group struct {
	Label string
	Runs  []*Conditions
}

// Thresholds beyond which two groups' conditions count as different.
const (
	// TempDiffC: mean hottest-zone temperatures at the start this far apart.
	TempDiffC = 10.0
	// FreqDiff: mean CPU frequency ratios this far apart (0.15 = 15 points).
	FreqDiff = 0.15
)

// pressureRank orders macOS thermal states.
var pressureRank = map[string]int{"nominal": 0, "fair": 1, "serious": 2, "critical": 3}

// Differences compares groups' recorded conditions and returns one warning
// per difference that can move energy or speed on its own: battery against
// mains, a worse OS thermal state, hotter zones, slower clocks, or throttling
// in one group and not another. Runs without a reading are skipped; no
// warning is given about what was not read.
func Differences(groups []Group) []string {
	type agg struct {
		battery, mains    int
		worst             int // pressure rank, -1 when none reported
		worstName         string
		temps, freqs      []float64
		throttled, steady int
	}
	aggs := make([]agg, len(groups))
	for i, g := range groups {
		a := agg{worst: -1}
		for _, c := range g.Runs {
			if c == nil {
				continue
			}
			for _, s := range []*State{c.Start, c.End} {
				if s == nil {
					continue
				}
				if s.OnBattery != nil {
					if *s.OnBattery {
						a.battery++
					} else {
						a.mains++
					}
				}
				if r, ok := pressureRank[s.Pressure]; ok && r > a.worst {
					a.worst, a.worstName = r, s.Pressure
				}
				if s.CPUFreqRatio != nil {
					a.freqs = append(a.freqs, *s.CPUFreqRatio)
				}
			}
			if c.Start != nil && c.Start.HottestC != nil {
				a.temps = append(a.temps, *c.Start.HottestC)
			}
			if t, ok := c.Throttled(); ok {
				if t {
					a.throttled++
				} else {
					a.steady++
				}
			}
		}
		aggs[i] = a
	}
	var out []string
	for i := 0; i < len(groups); i++ {
		for j := i + 1; j < len(groups); j++ {
			a, b := aggs[i], aggs[j]
			la, lb := groups[i].Label, groups[j].Label
			if power := func(x agg) string {
				switch {
				case x.battery > 0 && x.mains > 0:
					return "partly on battery"
				case x.battery > 0:
					return "on battery"
				case x.mains > 0:
					return "on mains"
				}
				return ""
			}; power(a) != "" && power(b) != "" && power(a) != power(b) {
				out = append(out, fmt.Sprintf("%s ran %s, %s %s: power management differs, so energy and speed may differ for that reason alone", la, power(a), lb, power(b)))
			}
			if a.worst >= 0 && b.worst >= 0 && a.worst != b.worst {
				out = append(out, fmt.Sprintf("the OS thermal state reached %q in %s but %q in %s: the hotter machine may have been slowed", a.worstName, la, b.worstName, lb))
			}
			if len(a.temps) > 0 && len(b.temps) > 0 {
				ta, tb := mean(a.temps), mean(b.temps)
				if math.Abs(ta-tb) >= TempDiffC {
					out = append(out, fmt.Sprintf("%s started at %.0f °C, %s at %.0f °C (hottest zone, mean): let the machine cool between runs (cooldown) for a fair comparison", la, ta, lb, tb))
				}
			}
			if len(a.freqs) > 0 && len(b.freqs) > 0 {
				fa, fb := mean(a.freqs), mean(b.freqs)
				if math.Abs(fa-fb) >= FreqDiff {
					out = append(out, fmt.Sprintf("the CPU ran at %.0f%% of its maximum frequency in %s but %.0f%% in %s", 100*fa, la, 100*fb, lb))
				}
			}
			if (a.throttled > 0) != (b.throttled > 0) && a.throttled+a.steady > 0 && b.throttled+b.steady > 0 {
				hot, cool := la, lb
				if b.throttled > 0 {
					hot, cool = lb, la
				}
				out = append(out, fmt.Sprintf("the kernel throttled the CPU during runs of %s but not of %s", hot, cool))
			}
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
