// Package power owns every power source the profiler can read (RAPL, NVML,
// IOReport, powermetrics, a labelled CPU-load estimate and trace replay),
// the sampler that polls them on the shared monotonic clock, and the
// selection of the best source per domain.
package power

// Domain is a part of the machine whose energy is reported. GPUs on a
// multi-GPU host are reported per device as "gpu0", "gpu1", ….
type Domain string

const (
	DomainCPU     Domain = "cpu"
	DomainGPU     Domain = "gpu"
	DomainANE     Domain = "ane"
	DomainDRAM    Domain = "dram"
	DomainPackage Domain = "package" // a combined reading (RAPL package, powermetrics combined_power)
)

// Kind says how a source knows its numbers. Every number shown to a user
// carries its kind.
type Kind string

const (
	KindCounter  Kind = "measured_counter"  // hardware energy counter deltas
	KindSampling Kind = "measured_sampling" // sampled average power
	KindEstimate Kind = "estimated"         // a model, never a measurement
)

// Reading is one domain's value over a sample's interval. A source sets
// EnergyMJ when it has a counter delta and PowerMW when it reports average
// power; both may be set. A domain the source does not cover is absent from
// Sample.Domains, never a zero Reading.
type Reading struct {
	EnergyMJ  float64 `json:"energy_mj"`
	HasEnergy bool    `json:"has_energy"`
	PowerMW   float64 `json:"power_mw"`
	HasPower  bool    `json:"has_power"`
}

// Sample covers the interval [T0, T1] on the clock package's monotonic
// nanoseconds.
type Sample struct {
	T0      int64              `json:"t0_ns"`
	T1      int64              `json:"t1_ns"`
	Source  string             `json:"source"`
	Kind    Kind               `json:"kind"`
	Domains map[Domain]Reading `json:"domains"`
}

// Energy returns the domain's energy in millijoules over the sample, from the
// counter delta when there is one, else from average power × duration.
func (r Reading) Energy(durationNs int64) float64 {
	if r.HasEnergy {
		return r.EnergyMJ
	}
	return r.PowerMW * float64(durationNs) / 1e9
}
