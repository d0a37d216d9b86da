package power

// IOReport "Energy Model" (macOS, no sudo). The purego calls live in
// ioreport_darwin.go; the channel selection and unit logic live here so
// they are tested on a real M1 Ultra channel list. Facts:
// /work/shared/notes/apple-power.md, section b.
//
// Channel names are matched exactly (substring matching double-counts:
// lablup/all-smi PR #412):
//   - cpu:  "CPU Energy", or the sum of "DIE_<n>_CPU Energy" (Ultra);
//   - gpu:  "GPU Energy" (nJ) — never GPU0_0 and friends;
//   - ane:  "ANE", "ANE<n>", "ANE<n>_<m>";
//   - dram: "DRAM", "DRAM<n>", "DRAM<n>_<m>";
//   - everything else (per-core, clusters, SRAM, DTL, PCIe) is ignored.
// Units come from each channel's unit label (mJ, uJ, nJ). A negative delta
// is a counter reset: that domain is absent for the interval.

import (
	"fmt"
	"strings"
)

// IOReportChannel is one channel's value in a sample delta.
type IOReportChannel struct {
	Name  string
	Unit  string // the channel's unit label, e.g. "mJ", "nJ"
	Value int64  // the delta over the interval, in Unit
}

// ioreportDomain says which domain an "Energy Model" channel belongs to.
func ioreportDomain(name string) (Domain, bool) {
	switch {
	case name == "CPU Energy" || isDieCPUEnergy(name):
		return DomainCPU, true
	case name == "GPU Energy":
		return DomainGPU, true
	case isIndexedName(name, "ANE"):
		return DomainANE, true
	case isIndexedName(name, "DRAM"):
		return DomainDRAM, true
	}
	return "", false
}

// isDieCPUEnergy matches "DIE_<n>_CPU Energy".
func isDieCPUEnergy(name string) bool {
	rest, ok := strings.CutPrefix(name, "DIE_")
	if !ok {
		return false
	}
	n, ok := strings.CutSuffix(rest, "_CPU Energy")
	return ok && isDigits(n)
}

// isIndexedName matches X, X<n> and X<n>_<m>.
func isIndexedName(name, x string) bool {
	rest, ok := strings.CutPrefix(name, x)
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	a, b, hasUnderscore := strings.Cut(rest, "_")
	if !isDigits(a) {
		return false
	}
	return !hasUnderscore || isDigits(b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ioreportUnitToMJ is the factor from a unit label to millijoules. Labels
// may carry padding.
func ioreportUnitToMJ(unit string) (float64, bool) {
	switch strings.TrimSpace(unit) {
	case "mJ":
		return 1, true
	case "uJ", "µJ":
		return 1e-3, true
	case "nJ":
		return 1e-6, true
	}
	return 0, false
}

// ioreportEnergy turns one interval's channel deltas into energy per
// domain in mJ. A domain is absent when a channel of it went backwards
// (counter reset) or has a unit we cannot convert; problems lists why.
func ioreportEnergy(chans []IOReportChannel) (energyMJ map[Domain]float64, problems []string) {
	hasPlainCPU := false
	for _, c := range chans {
		if c.Name == "CPU Energy" {
			hasPlainCPU = true
		}
	}
	energyMJ = map[Domain]float64{}
	broken := map[Domain]bool{}
	for _, c := range chans {
		d, ok := ioreportDomain(c.Name)
		if !ok {
			continue
		}
		if d == DomainCPU && hasPlainCPU && c.Name != "CPU Energy" {
			continue // a chip with a CPU roll-up: the per-die channels are inside it
		}
		scale, ok := ioreportUnitToMJ(c.Unit)
		if !ok {
			broken[d] = true
			problems = append(problems, fmt.Sprintf("channel %q has unknown unit %q", c.Name, c.Unit))
			continue
		}
		if c.Value < 0 {
			broken[d] = true
			problems = append(problems, fmt.Sprintf("channel %q went backwards (counter reset)", c.Name))
			continue
		}
		energyMJ[d] += float64(c.Value) * scale
	}
	for d := range broken {
		delete(energyMJ, d)
	}
	return energyMJ, problems
}

// ioreportSample builds a sample from one interval's deltas.
func ioreportSample(t0, t1 int64, chans []IOReportChannel) Sample {
	energy, _ := ioreportEnergy(chans)
	smp := Sample{T0: t0, T1: t1, Source: "ioreport", Kind: KindCounter, Domains: map[Domain]Reading{}}
	for d, mj := range energy {
		smp.Domains[d] = Reading{EnergyMJ: mj, HasEnergy: true, PowerMW: mwFromEnergy(mj, t1-t0), HasPower: true}
	}
	return smp
}

// IOReport reads Apple Silicon energy counters through libIOReport.
type IOReport struct {
	now func() int64
}

// NewIOReport returns the IOReport source.
func NewIOReport(opts Options) *IOReport {
	opts = opts.withDefaults()
	return &IOReport{now: opts.Now}
}

func (s *IOReport) Name() string { return "ioreport" }
func (s *IOReport) Kind() Kind   { return KindCounter }
func (s *IOReport) Description() string {
	return "measured: Apple IOReport \"Energy Model\" energy counters (no sudo): cpu = CPU Energy or Σ DIE_n_CPU Energy, gpu = GPU Energy, ane = ANE*, dram = DRAM*"
}
func (s *IOReport) Domains() []Domain {
	return []Domain{DomainCPU, DomainGPU, DomainANE, DomainDRAM}
}
