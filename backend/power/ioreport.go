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
	"context"
	"fmt"
	"strings"
	"sync"
)

// ioreportEnergyGroup is the IOReport group with the energy counters.
const ioreportEnergyGroup = "Energy Model"

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

// ioreportWanted returns the indexes of the channels worth subscribing to:
// those of a recognised domain. Subscribing only to them (as macmon and
// all-smi do) cuts the work per sample: an M1 Ultra lists 321 Energy Model
// channels, of which 6 are read.
func ioreportWanted(names []string) []int {
	var keep []int
	for i, n := range names {
		if _, ok := ioreportDomain(n); ok {
			keep = append(keep, i)
		}
	}
	return keep
}

const ioreportFix = "needs an Apple Silicon Mac (macOS 12 or later); on an Intel Mac use powermetrics (--power powermetrics)"

// ioreportAvailability judges a probe: the group's channel names, or why
// they could not be listed. IOReport is available only with at least one
// recognised CPU, GPU, ANE or DRAM channel; a group of others measures
// nothing we report.
func ioreportAvailability(names []string, listed Availability) Availability {
	if !listed.Available {
		return listed
	}
	if len(ioreportWanted(names)) == 0 {
		return unavailable(fmt.Sprintf("IOReport's %q group has %d channels, none of them CPU, GPU, ANE or DRAM energy (this chip's channel names are not known yet)", ioreportEnergyGroup, len(names)),
			"use powermetrics (--power powermetrics), and please report the chip so its channel names can be added")
	}
	return available()
}

// Probes caches the answers of availability probes that cost something and
// cannot change while the process runs: IOReport's channel list. A
// long-running process shares one between the sources it creates (the
// server builds them again for every /api/health); with none, each source
// probes once.
type Probes struct {
	ioreportOnce  sync.Once
	ioreportAvail Availability
}

// NewProbes returns an empty probe cache.
func NewProbes() *Probes { return &Probes{} }

// IOReport reads Apple Silicon energy counters through libIOReport.
type IOReport struct {
	now    func() int64
	probes *Probes
	// list returns the Energy Model channel names, or why they cannot be
	// read (ioreport_darwin.go, ioreport_other.go; a fake in tests).
	list func() ([]string, Availability)
	// open starts a subscription to the wanted channels.
	open func() (ioreportDeltas, error)
}

// NewIOReport returns the IOReport source.
func NewIOReport(opts Options) *IOReport {
	opts = opts.withDefaults()
	probes := opts.Probes
	if probes == nil {
		probes = NewProbes()
	}
	return &IOReport{now: opts.Now, probes: probes, list: ioreportChannelNames, open: openIOReportSession}
}

// Availability lists the channels once per Probes; it opens no subscription.
func (s *IOReport) Availability() Availability {
	s.probes.ioreportOnce.Do(func() {
		s.probes.ioreportAvail = ioreportAvailability(s.list())
	})
	return s.probes.ioreportAvail
}

// Open subscribes to the wanted channels and takes the first baseline.
func (s *IOReport) Open(ctx context.Context) (Reader, error) {
	if a := s.Availability(); !a.Available {
		return nil, unavailableError(s.Name(), a)
	}
	sess, err := s.open()
	if err != nil {
		return nil, unavailableError(s.Name(), unavailable("IOReport: "+err.Error(), ioreportFix))
	}
	return &ioreportReader{sess: sess, now: s.now, prevT: s.now()}, nil
}

// ioreportDeltas is a live subscription (ioreportSession on macOS).
type ioreportDeltas interface {
	// delta takes a sample and returns the channel changes since the
	// baseline, stamped with now. rebased reports whether the new sample
	// became the baseline: false when it could not be taken, so the next
	// delta still starts from the old one.
	delta(now func() int64) (chans []IOReportChannel, at int64, rebased bool, err error)
	close()
}

// ioreportReader pairs each delta with the window it covers. All IOReport
// calls happen on whichever goroutine calls Read (the sampler's); the mutex
// only guards Close racing a Read.
type ioreportReader struct {
	mu    sync.Mutex
	sess  ioreportDeltas
	now   func() int64
	prevT int64 // when the baseline was taken
}

func (r *ioreportReader) Read() (Sample, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sess == nil {
		return Sample{}, fmt.Errorf("ioreport: reader closed")
	}
	chans, at, rebased, err := r.sess.delta(r.now)
	if !rebased {
		// The baseline stays, and so does its time: the next delta covers
		// the whole span. (Advancing the time here made the next reading
		// double its power and land in the wrong window.)
		return Sample{}, fmt.Errorf("ioreport: %w", err)
	}
	t0 := r.prevT
	r.prevT = at
	if err != nil {
		// The baseline moved but its delta was lost: that span has no
		// reading, and the next one starts at the new baseline.
		return Sample{}, fmt.Errorf("ioreport: %w", err)
	}
	return ioreportSample(t0, at, chans), nil
}

func (r *ioreportReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sess != nil {
		r.sess.close()
		r.sess = nil
	}
	return nil
}

func (s *IOReport) Name() string { return "ioreport" }
func (s *IOReport) Kind() Kind   { return KindCounter }
func (s *IOReport) Description() string {
	return "measured: Apple IOReport \"Energy Model\" energy counters (no sudo): cpu = CPU Energy or Σ DIE_n_CPU Energy, gpu = GPU Energy, ane = ANE*, dram = DRAM*"
}
func (s *IOReport) Domains() []Domain {
	return []Domain{DomainCPU, DomainGPU, DomainANE, DomainDRAM}
}
