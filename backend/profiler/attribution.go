package profiler

import (
	"math"
	"sort"
	"strings"

	"energyprofiler/backend/power"
)

// Basis says how a number was obtained. It is shown next to every number.
type Basis string

const (
	// BasisMeasured: the window spans enough samples that its energy is
	// essentially a sum of whole counter deltas or sampled powers.
	BasisMeasured Basis = "measured"
	// BasisApportioned: the window is short next to the sample interval (or
	// leans on held power across a gap), so its energy is a time-share of
	// samples that also cover time outside it.
	BasisApportioned Basis = "apportioned"
	// BasisEstimated: the power source is a model (a CPU-load estimate), not a
	// measurement, whatever the window length.
	BasisEstimated Basis = "estimated"
	// BasisUnavailable: no sample covers the window; the value is absent.
	BasisUnavailable Basis = "unavailable"
)

// rank orders bases from best to worst, so a number derived from several
// inputs takes the worst of their bases.
func (b Basis) rank() int {
	switch b {
	case BasisMeasured:
		return 0
	case BasisApportioned:
		return 1
	case BasisEstimated:
		return 2
	default:
		return 3
	}
}

func worseBasis(a, b Basis) Basis {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Label renders a basis with its source the way the product shows it:
// "measured rapl", "apportioned ioreport", "estimated cpu-load", "unavailable".
func Label(b Basis, source string) string {
	if b == BasisUnavailable || b == "" || source == "" {
		if b == "" {
			return string(BasisUnavailable)
		}
		return string(b)
	}
	return string(b) + " " + source
}

// DomainEnergy is the energy of one window in one domain (or the total).
type DomainEnergy struct {
	GrossJ float64 `json:"gross_j"`
	// NetJ is gross minus idle power × window duration; absent when the run
	// has no idle baseline. It may be negative for a window that used less
	// than idle power.
	NetJ *float64 `json:"net_j,omitempty"`
	// UncertaintyJ bounds |true − GrossJ| (see the package doc for the formula).
	UncertaintyJ float64 `json:"uncertainty_j"`
	// Coverage is the fraction of the window covered by samples (held gaps
	// count as covered); the uncovered rest contributes no energy.
	Coverage float64 `json:"coverage"`
	Basis    Basis   `json:"basis"`
	Source   string  `json:"source,omitempty"`
	Label    string  `json:"label"`
}

// Energy is a window's energy per domain plus the total. Domains the power
// sources do not cover are absent from the map, never zero.
type Energy struct {
	Domains map[power.Domain]DomainEnergy `json:"domains"`
	Total   *DomainEnergy                 `json:"total,omitempty"`
}

// TotalJ returns the total gross energy and whether there is one.
func (e Energy) TotalJ() (float64, bool) {
	if e.Total == nil {
		return 0, false
	}
	return e.Total.GrossJ, true
}

// segment is one sample's reading for one domain: energy spread evenly over
// [t0, t1] (constant power on the interval).
type segment struct {
	t0, t1   int64
	energyMJ float64
}

func (s segment) powerW() float64 { return s.energyMJ * 1e6 / float64(s.t1-s.t0) }

// series is one domain's piecewise-constant power function, from one source.
type series struct {
	domain       power.Domain
	source       string
	kind         power.Kind
	resolutionMJ float64 // counter resolution per delta; 0 when unknown or not a counter
	segs         []segment
	medianNs     int64
}

// windowEnergy is the raw result of integrating one series over a window.
type windowEnergy struct {
	mJ        float64
	uncMJ     float64
	coveredNs int64
	heldNs    int64
}

// integrate returns the integral of the series' power over [a, b].
//
// Inside a sample the power is constant (E/(T1−T0)); between two samples of
// the domain the power of the earlier sample is held; before the first and
// after the last sample nothing is counted (coverage < 1).
func (s *series) integrate(a, b int64) windowEnergy {
	var w windowEnergy
	if b <= a || len(s.segs) == 0 {
		return w
	}
	// First segment whose end is after a.
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].t1 > a })
	if i > 0 {
		i-- // the gap before segment i may start inside the window
	}
	for ; i < len(s.segs); i++ {
		seg := s.segs[i]
		if seg.t0 >= b {
			break
		}
		lo, hi := max(a, seg.t0), min(b, seg.t1)
		if hi > lo {
			length := seg.t1 - seg.t0
			f := float64(hi-lo) / float64(length)
			w.mJ += seg.energyMJ * f
			w.coveredNs += hi - lo
			if f < 1 {
				// Worst case with non-negative power: all of the sample's
				// energy fell inside, or outside, the overlapped part.
				w.uncMJ += math.Abs(seg.energyMJ) * math.Max(f, 1-f)
			}
			w.uncMJ += s.resolutionMJ
		}
		// Held gap between this segment and the next.
		if i+1 < len(s.segs) {
			next := s.segs[i+1]
			glo, ghi := max(a, seg.t1), min(b, next.t0)
			if ghi > glo {
				p := seg.powerW()
				w.mJ += p * float64(ghi-glo) / 1e6
				w.coveredNs += ghi - glo
				w.heldNs += ghi - glo
				w.uncMJ += math.Abs(next.powerW()-p) * float64(ghi-glo) / 1e6
			}
		}
	}
	return w
}

// tail returns the time of the last sample's end, or math.MinInt64.
func (s *series) tail() int64 {
	if len(s.segs) == 0 {
		return math.MinInt64
	}
	return s.segs[len(s.segs)-1].t1
}

// timeline is the set of per-domain series a run attributes energy with.
type timeline struct {
	series []*series // sorted by domain name
	// minIntervals: windows at least this many median sample intervals long
	// are measured, shorter ones apportioned.
	minIntervals float64
}

// kindRank prefers counters over sampled power over estimates.
func kindRank(k power.Kind) int {
	switch k {
	case power.KindCounter:
		return 0
	case power.KindSampling:
		return 1
	default:
		return 2
	}
}

// buildTimeline turns samples into one series per domain. When several
// sources report the same domain, the best kind wins (counter, then sampling,
// then estimate); ties go to the source seen first. Overlapping samples of
// one series are clipped to start where the previous one ended.
func buildTimeline(samples []power.Sample, resolution func(source string) float64, minIntervals float64) *timeline {
	type key struct {
		d   power.Domain
		src string
	}
	best := map[power.Domain]key{}
	bestKind := map[power.Domain]power.Kind{}
	for _, s := range samples {
		for d := range s.Domains {
			k, ok := best[d]
			if !ok || kindRank(s.Kind) < kindRank(bestKind[d]) {
				best[d] = key{d, s.Source}
				bestKind[d] = s.Kind
				_ = k
			}
		}
	}
	byDomain := map[power.Domain]*series{}
	for d, k := range best {
		byDomain[d] = &series{domain: d, source: k.src, kind: bestKind[d]}
		if bestKind[d] == power.KindCounter && resolution != nil {
			byDomain[d].resolutionMJ = resolution(k.src)
		}
	}
	for _, s := range samples {
		if s.T1 <= s.T0 {
			continue
		}
		for d, r := range s.Domains {
			ser := byDomain[d]
			if ser == nil || ser.source != s.Source {
				continue
			}
			if !r.HasEnergy && !r.HasPower {
				continue
			}
			ser.segs = append(ser.segs, segment{t0: s.T0, t1: s.T1, energyMJ: r.Energy(s.T1 - s.T0)})
		}
	}
	tl := &timeline{minIntervals: minIntervals}
	for _, ser := range byDomain {
		sort.Slice(ser.segs, func(i, j int) bool { return ser.segs[i].t0 < ser.segs[j].t0 })
		clipped := ser.segs[:0]
		for _, seg := range ser.segs {
			if n := len(clipped); n > 0 && seg.t0 < clipped[n-1].t1 {
				end := clipped[n-1].t1
				if seg.t1 <= end {
					continue
				}
				seg.energyMJ *= float64(seg.t1-end) / float64(seg.t1-seg.t0)
				seg.t0 = end
			}
			clipped = append(clipped, seg)
		}
		ser.segs = clipped
		if len(ser.segs) == 0 {
			continue
		}
		lengths := make([]int64, len(ser.segs))
		for i, seg := range ser.segs {
			lengths[i] = seg.t1 - seg.t0
		}
		sort.Slice(lengths, func(i, j int) bool { return lengths[i] < lengths[j] })
		ser.medianNs = lengths[len(lengths)/2]
		tl.series = append(tl.series, ser)
	}
	sort.Slice(tl.series, func(i, j int) bool { return tl.series[i].domain < tl.series[j].domain })
	return tl
}

// energy integrates every domain over [a, b]. idleW, when non-nil, holds the
// idle power per domain for the net figures.
func (tl *timeline) energy(a, b int64, idleW map[power.Domain]float64) Energy {
	e := Energy{Domains: map[power.Domain]DomainEnergy{}}
	for _, ser := range tl.series {
		w := ser.integrate(a, b)
		if w.coveredNs == 0 {
			continue // absent: no sample touches the window
		}
		de := DomainEnergy{
			GrossJ:       w.mJ / 1e3,
			UncertaintyJ: w.uncMJ / 1e3,
			Coverage:     float64(w.coveredNs) / float64(b-a),
			Source:       ser.source,
		}
		de.Basis = tl.basisOf(ser, w, b-a)
		if p, ok := idleW[ser.domain]; ok {
			net := de.GrossJ - p*float64(b-a)/1e9
			de.NetJ = &net
		}
		de.Label = Label(de.Basis, de.Source)
		e.Domains[ser.domain] = de
	}
	e.Total = total(e.Domains)
	return e
}

// inPackage reports whether a domain's energy is already part of a
// "package" reading from the same source: CPU cores and the ANE always are
// (RAPL package ⊇ core; powermetrics combined = CPU+GPU+ANE), the GPU when
// the same source reports both (Apple), never DRAM (RAPL and Apple report it
// apart) nor a discrete GPU from another source (NVML).
func inPackage(d power.Domain, src, pkgSrc string) bool {
	switch {
	case d == power.DomainCPU, d == power.DomainANE, d == power.DomainCore:
		return true
	case strings.HasPrefix(string(d), "gpu"):
		return src == pkgSrc
	default:
		return false
	}
}

// total sums domains without double counting: when a package reading exists
// it replaces the domains it contains (see inPackage); RAPL's "core" (PP0) is
// part of the CPU and is only counted when nothing contains it.
func total(domains map[power.Domain]DomainEnergy) *DomainEnergy {
	if len(domains) == 0 {
		return nil
	}
	var t DomainEnergy
	t.Coverage = 1
	var sources []string
	var net float64
	allNet := true
	keys := make([]string, 0, len(domains))
	present := make(map[power.Domain]string, len(domains))
	for d, de := range domains {
		keys = append(keys, string(d))
		present[d] = de.Source
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := power.Domain(k)
		de := domains[d]
		if !countsInTotal(d, de.Source, present) {
			continue
		}
		t.GrossJ += de.GrossJ
		t.UncertaintyJ += de.UncertaintyJ
		t.Coverage = math.Min(t.Coverage, de.Coverage)
		t.Basis = worseBasis(t.Basis, de.Basis)
		if de.NetJ != nil {
			net += *de.NetJ
		} else {
			allNet = false
		}
		if !containsString(sources, de.Source) {
			sources = append(sources, de.Source)
		}
	}
	if allNet {
		t.NetJ = &net
	}
	t.Source = strings.Join(sources, "+")
	t.Label = Label(t.Basis, t.Source)
	return &t
}

// countsInTotal applies the no-double-counting rule to domain d (reported by
// src), given every domain present and its source.
func countsInTotal(d power.Domain, src string, present map[power.Domain]string) bool {
	if d == power.DomainPackage {
		return true
	}
	if pkgSrc, hasPkg := present[power.DomainPackage]; hasPkg && inPackage(d, src, pkgSrc) {
		return false
	}
	if _, hasCPU := present[power.DomainCPU]; d == power.DomainCore && hasCPU {
		return false
	}
	return true
}

// totalPlan is the total rule decided once for a whole timeline, so the
// many component windows can be totalled without building maps.
type totalPlan struct {
	counted []bool // per series
	source  string // the counted series' sources, joined with "+"
}

func (tl *timeline) plan() totalPlan {
	present := map[power.Domain]string{}
	for _, ser := range tl.series {
		present[ser.domain] = ser.source
	}
	p := totalPlan{counted: make([]bool, len(tl.series))}
	var sources []string
	for i, ser := range tl.series {
		p.counted[i] = countsInTotal(ser.domain, ser.source, present)
		if p.counted[i] && !containsString(sources, ser.source) {
			sources = append(sources, ser.source)
		}
	}
	p.source = strings.Join(sources, "+")
	return p
}

// basisOf decides a series' basis over a window of length n.
func (tl *timeline) basisOf(ser *series, w windowEnergy, n int64) Basis {
	switch {
	case ser.kind == power.KindEstimate:
		return BasisEstimated
	case float64(n) >= tl.minIntervals*float64(ser.medianNs) && w.heldNs*10 <= n:
		return BasisMeasured
	default:
		return BasisApportioned
	}
}

// totalJ is the allocation-free total gross energy of [a, b] under plan p:
// the same numbers energy(a, b).Total gives whenever every counted domain
// touches the window. ok is false when none does.
func (tl *timeline) totalJ(p totalPlan, a, b int64) (grossJ, uncJ float64, basis Basis, ok bool) {
	for i, ser := range tl.series {
		if !p.counted[i] {
			continue
		}
		w := ser.integrate(a, b)
		if w.coveredNs == 0 {
			continue
		}
		ok = true
		grossJ += w.mJ / 1e3
		uncJ += w.uncMJ / 1e3
		basis = worseBasis(basis, tl.basisOf(ser, w, b-a))
	}
	return grossJ, uncJ, basis, ok
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// peakW returns each domain's largest sample power among samples that
// overlap [a, b].
func (tl *timeline) peakW(a, b int64) map[power.Domain]float64 {
	out := map[power.Domain]float64{}
	for _, ser := range tl.series {
		found := false
		peak := math.Inf(-1)
		for _, seg := range ser.segs {
			if seg.t1 <= a || seg.t0 >= b {
				continue
			}
			found = true
			peak = math.Max(peak, seg.powerW())
		}
		if found {
			out[ser.domain] = peak
		}
	}
	return out
}

// idlePowerW returns the mean power per domain over [a, b], counting only
// covered time, for the idle baseline.
func (tl *timeline) idlePowerW(a, b int64) map[power.Domain]float64 {
	out := map[power.Domain]float64{}
	if b <= a {
		return out
	}
	for _, ser := range tl.series {
		w := ser.integrate(a, b)
		if w.coveredNs == 0 {
			continue
		}
		out[ser.domain] = w.mJ * 1e6 / float64(w.coveredNs)
	}
	return out
}
