package power

import (
	"context"
	"errors"
	"strconv"
	"time"

	"energyprofiler/backend/clock"
)

// More domains than the shared contract in sample.go lists. RAPL's core
// zone (PP0) is a part of the package, so like DomainPackage it overlaps
// DomainCPU: domains are never added together to make a total.
const (
	DomainCore Domain = "core" // RAPL PP0: the cores only, inside the package
)

// GPUDomain names one GPU of a multi-GPU host: gpu0, gpu1, ….
func GPUDomain(index int) Domain { return Domain("gpu" + strconv.Itoa(index)) }

// Availability says whether a source can run here and, when it cannot, why
// and what the user can do about it.
type Availability struct {
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"` // why not, in words a user understands
	Fix       string `json:"fix,omitempty"`    // the exact steps that make it available
}

func available() Availability { return Availability{Available: true} }

func unavailable(reason, fix string) Availability {
	return Availability{Available: false, Reason: reason, Fix: fix}
}

// ErrUnavailable is wrapped by Open when a source cannot run here; the error
// text carries the reason and the fix.
var ErrUnavailable = errors.New("power source unavailable")

// unavailableError turns an Availability into the error Open returns.
func unavailableError(name string, a Availability) error {
	msg := name + ": " + a.Reason
	if a.Fix != "" {
		msg += " (fix: " + a.Fix + ")"
	}
	return &availabilityError{msg: msg}
}

type availabilityError struct{ msg string }

func (e *availabilityError) Error() string { return e.msg }
func (e *availabilityError) Unwrap() error { return ErrUnavailable }

// Source is one way of knowing the machine's power: a hardware counter, a
// power-sampling tool, a model, or a recorded trace.
type Source interface {
	// Name is the short name used on the command line (rapl, nvml, …).
	Name() string
	// Kind says whether the numbers are measured (counter or sampling) or
	// estimated.
	Kind() Kind
	// Description says in one line where the numbers come from, naming the
	// counter, tool or model (and, for a model, the source of its numbers).
	Description() string
	// Domains lists the domains the source reports when it is available.
	// A domain not listed is absent from its samples, never 0.
	Domains() []Domain
	// Availability probes the machine. It may be slow (it can load a
	// library or run a process), so callers keep the answer.
	Availability() Availability
	// Open starts a reading session; the first Read covers the time since
	// Open. It fails with an error wrapping ErrUnavailable when the source
	// cannot run here.
	Open(ctx context.Context) (Reader, error)
}

// Reader is an open session on a source.
type Reader interface {
	// Read returns the sample covering the time since the previous Read (or
	// since Open), stamped with clock.Now timestamps.
	Read() (Sample, error)
	// Close ends the session and releases what it holds.
	Close() error
}

// PacedReader is a Reader whose Read blocks until the source itself has the
// next sample (powermetrics emits at its own interval). The sampler calls
// such a reader in a loop instead of on its ticker.
type PacedReader interface {
	Reader
	Paced()
}

// Options configures every source. The zero value means "this machine's
// real locations"; tests point the paths at fake trees.
type Options struct {
	// SysfsRoot is where sysfs is mounted (default "/sys"); RAPL reads
	// SysfsRoot/class/powercap.
	SysfsRoot string
	// ProcRoot is where procfs is mounted (default "/proc"); the estimate
	// reads ProcRoot/stat.
	ProcRoot string
	// NVMLLibrary is the NVML shared library to dlopen (default
	// "libnvidia-ml.so.1", searched the usual way).
	NVMLLibrary string
	// Powermetrics configures the macOS powermetrics source.
	Powermetrics PowermetricsOptions
	// Estimate overrides the CPU estimate's coefficients.
	Estimate EstimateOptions
	// Now is the clock the sources stamp samples with (default clock.Now).
	Now func() int64
	// Probes caches costly availability probes across the sources built
	// with these options (nil: each source probes once).
	Probes *Probes
}

func (o Options) withDefaults() Options {
	if o.SysfsRoot == "" {
		o.SysfsRoot = "/sys"
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.NVMLLibrary == "" {
		o.NVMLLibrary = "libnvidia-ml.so.1"
	}
	if o.Now == nil {
		o.Now = clock.Now
	}
	o.Powermetrics = o.Powermetrics.withDefaults()
	o.Estimate = o.Estimate.withDefaults()
	return o
}

// Info is the JSON-friendly health of one source, as the doctor command and
// the API's health endpoint show it.
type Info struct {
	Name        string   `json:"name"`
	Kind        Kind     `json:"kind"`
	Description string   `json:"description"`
	Domains     []Domain `json:"domains"`
	Available   bool     `json:"available"`
	Reason      string   `json:"reason,omitempty"`
	Fix         string   `json:"fix,omitempty"`
}

// Describe probes a source and returns its health.
func Describe(s Source) Info {
	a := s.Availability()
	return Info{
		Name:        s.Name(),
		Kind:        s.Kind(),
		Description: s.Description(),
		Domains:     s.Domains(),
		Available:   a.Available,
		Reason:      a.Reason,
		Fix:         a.Fix,
	}
}

// Health probes every source and returns their health in registry order.
func Health(opts Options) []Info {
	var out []Info
	for _, s := range All(opts) {
		out = append(out, Describe(s))
	}
	return out
}

// kindRank orders kinds from best to worst for auto selection.
func kindRank(k Kind) int {
	switch k {
	case KindCounter:
		return 0
	case KindSampling:
		return 1
	case KindEstimate:
		return 2
	}
	return 3
}

// mwFromEnergy is average power in mW for mJ over ns.
func mwFromEnergy(mj float64, ns int64) float64 {
	if ns <= 0 {
		return 0
	}
	return mj / (float64(ns) / float64(time.Second))
}
