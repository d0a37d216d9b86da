package power

// The labelled CPU estimate: a linear utilization model with Cloud Carbon
// Footprint's per-vCPU coefficients. It is never a measurement and every
// sample says so (Kind = KindEstimate).
//
//	P = vCPUs × (MinW + u × (MaxW − MinW))
//
// Coefficients: Cloud Carbon Footprint (cloud-carbon-footprint/
// cloud-carbon-footprint, packages/aws/src/domain/
// AwsFootprintEstimationConstants.ts), the AWS fleet average per vCPU,
// 0.74 W at idle and 3.5 W at full load, derived from SPECpower_ssj2008
// results. The method is CCF's "Average Watts = Min W + u × (Max W − Min W)"
// (packages/core/src/compute/ComputeEstimator.ts). Such models are good to
// perhaps ±50 %, which is why they are labelled.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// EstimateOptions overrides the estimate's coefficients. Zero fields take
// the Cloud Carbon Footprint defaults.
type EstimateOptions struct {
	MinWattsPerCPU float64 // power of one vCPU at idle (default 0.74 W)
	MaxWattsPerCPU float64 // power of one vCPU at 100 % (default 3.5 W)
	CPUs           int     // logical CPUs (default runtime.NumCPU())
	// Coefficients names where MinWattsPerCPU/MaxWattsPerCPU come from; it
	// is shown with every estimate. Set it when overriding them.
	Coefficients string
}

const ccfCoefficients = "Cloud Carbon Footprint AWS average per vCPU (0.74 W idle, 3.5 W full; AwsFootprintEstimationConstants.ts, from SPECpower_ssj2008)"

func (o EstimateOptions) withDefaults() EstimateOptions {
	if o.MinWattsPerCPU == 0 && o.MaxWattsPerCPU == 0 {
		o.MinWattsPerCPU, o.MaxWattsPerCPU = 0.74, 3.5
		if o.Coefficients == "" {
			o.Coefficients = ccfCoefficients
		}
	}
	if o.CPUs <= 0 {
		o.CPUs = runtime.NumCPU()
	}
	if o.Coefficients == "" {
		o.Coefficients = "user-supplied coefficients"
	}
	return o
}

// cpuTimes is a cumulative count of CPU time (any unit) spent busy and in
// total, summed over all CPUs.
type cpuTimes struct{ busy, total uint64 }

// utilization is the busy share of the time between two readings, or -1
// when no time was counted in between.
func utilization(prev, cur cpuTimes) float64 {
	if cur.total <= prev.total || cur.busy < prev.busy {
		return -1
	}
	u := float64(cur.busy-prev.busy) / float64(cur.total-prev.total)
	return min(max(u, 0), 1)
}

// parseProcStat reads the aggregate "cpu" line of Linux /proc/stat:
// user nice system idle iowait irq softirq steal guest guest_nice, in
// USER_HZ ticks. guest time is already counted in user, so it is left out;
// idle and iowait are not busy.
func parseProcStat(b []byte) (cpuTimes, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "cpu" {
			continue
		}
		if len(fields) < 5 {
			return cpuTimes{}, fmt.Errorf("/proc/stat cpu line has %d fields, want at least 4 counters", len(fields))
		}
		var v [8]uint64
		for i := 0; i < 8 && i+1 < len(fields); i++ {
			n, err := strconv.ParseUint(fields[i+1], 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat cpu field %d: %w", i+1, err)
			}
			v[i] = n
		}
		var total uint64
		for _, n := range v {
			total += n
		}
		idle := v[3] + v[4]
		return cpuTimes{busy: total - idle, total: total}, nil
	}
	return cpuTimes{}, fmt.Errorf("/proc/stat has no aggregate cpu line")
}

// Estimate is the labelled CPU-load power estimate.
type Estimate struct {
	opts     EstimateOptions
	now      func() int64
	newTimes func() (func() (cpuTimes, error), Availability) // per platform
}

// NewEstimate returns the CPU estimate for this platform.
func NewEstimate(opts Options) *Estimate {
	opts = opts.withDefaults()
	return &Estimate{opts: opts.Estimate, now: opts.Now, newTimes: func() (func() (cpuTimes, error), Availability) {
		return platformCPUTimes(opts)
	}}
}

func (e *Estimate) Name() string      { return "cpu-load" }
func (e *Estimate) Kind() Kind        { return KindEstimate }
func (e *Estimate) Domains() []Domain { return []Domain{DomainCPU} }
func (e *Estimate) Description() string {
	return fmt.Sprintf("estimated, not measured: CPU W = %d vCPUs × (%.2f W + utilization × (%.2f − %.2f) W), utilization from %s; coefficients: %s; ±50%%",
		e.opts.CPUs, e.opts.MinWattsPerCPU, e.opts.MaxWattsPerCPU, e.opts.MinWattsPerCPU, cpuLoadOrigin, e.opts.Coefficients)
}

// PowerMW is the model: average CPU power in mW at utilization u in [0, 1].
func (e *Estimate) PowerMW(u float64) float64 {
	o := e.opts
	return float64(o.CPUs) * (o.MinWattsPerCPU + u*(o.MaxWattsPerCPU-o.MinWattsPerCPU)) * 1000
}

func (e *Estimate) Availability() Availability {
	read, a := e.newTimes()
	if !a.Available {
		return a
	}
	if _, err := read(); err != nil {
		return unavailable("cannot read CPU load: "+err.Error(), "check that "+cpuLoadOrigin+" is readable")
	}
	return a
}

func (e *Estimate) Open(ctx context.Context) (Reader, error) {
	read, a := e.newTimes()
	if !a.Available {
		return nil, unavailableError(e.Name(), a)
	}
	first, err := read()
	if err != nil {
		return nil, fmt.Errorf("cpu-load estimate: read CPU load: %w", err)
	}
	return &estimateReader{e: e, read: read, prev: first, prevT: e.now(), lastU: -1}, nil
}

type estimateReader struct {
	e     *Estimate
	read  func() (cpuTimes, error)
	mu    sync.Mutex
	prev  cpuTimes
	prevT int64
	lastU float64
}

func (r *estimateReader) Read() (Sample, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, err := r.read()
	if err != nil {
		return Sample{}, fmt.Errorf("cpu-load estimate: read CPU load: %w", err)
	}
	t1 := r.e.now()
	u := utilization(r.prev, cur)
	if u < 0 {
		// No tick passed (intervals shorter than the kernel's tick): the
		// load is unchanged as far as anyone can tell.
		u = r.lastU
	}
	smp := Sample{T0: r.prevT, T1: t1, Source: r.e.Name(), Kind: KindEstimate, Domains: map[Domain]Reading{}}
	if u >= 0 {
		smp.Domains[DomainCPU] = Reading{PowerMW: r.e.PowerMW(u), HasPower: true}
		r.lastU = u
	}
	r.prev, r.prevT = cur, t1
	return smp, nil
}

func (r *estimateReader) Close() error { return nil }
