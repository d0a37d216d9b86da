package power

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// All returns every source this build knows, available or not, in the order
// auto selection prefers them within a kind.
func All(opts Options) []Source {
	return []Source{
		NewIOReport(opts),
		NewRAPL(opts),
		NewNVML(opts),
		NewPowermetrics(opts),
		NewEstimate(opts),
	}
}

// Choice is one source of a Set with the domains it was chosen for.
type Choice struct {
	Source  Source
	Domains []Domain
}

// Set is the sources chosen to cover the machine's domains. No two choices
// report the same domain.
type Set struct {
	Choices []Choice
}

// Domains maps each covered domain to the name of its source.
func (s *Set) Domains() map[Domain]string {
	out := map[Domain]string{}
	for _, c := range s.Choices {
		for _, d := range c.Domains {
			out[d] = c.Source.Name()
		}
	}
	return out
}

// Select picks the sources to sample. spec "" or "auto" takes, per domain,
// the best available source (counter, then sampling, then estimate);
// otherwise spec is a comma-separated list of source names (rapl, nvml,
// ioreport, powermetrics, estimate, replay:FILE) that are used as given,
// each for the domains no earlier one covers. A forced source that is not
// available is an error carrying its reason and fix.
func Select(spec string, opts Options) (*Set, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "auto" {
		return SelectAuto(All(opts))
	}
	var srcs []Source
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		s, err := Lookup(name, opts)
		if err != nil {
			return nil, err
		}
		if a := s.Availability(); !a.Available {
			return nil, unavailableError(s.Name(), a)
		}
		srcs = append(srcs, s)
	}
	set := &Set{}
	taken := map[Domain]bool{}
	for _, s := range srcs {
		var ds []Domain
		for _, d := range s.Domains() {
			if !taken[d] {
				taken[d] = true
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			return nil, fmt.Errorf("power source %s adds no domain the sources before it do not already cover", s.Name())
		}
		set.Choices = append(set.Choices, Choice{Source: s, Domains: ds})
	}
	return set, nil
}

// Lookup returns the source with this name (or replay:FILE).
func Lookup(name string, opts Options) (Source, error) {
	if path, ok := replayPath(name); ok {
		return NewReplayFile(path, opts)
	}
	var names []string
	for _, s := range All(opts) {
		if s.Name() == name {
			return s, nil
		}
		names = append(names, s.Name())
	}
	return nil, fmt.Errorf("unknown power source %q (want one of %s, replay:FILE, or auto)", name, strings.Join(names, ", "))
}

// SelectAuto picks, per domain, the best available source among srcs:
// counter, then sampling, then estimate; ties go to the earlier source.
// The roll-up domains (package, core) come only from the source chosen for
// cpu, so no two chosen sources overlap.
func SelectAuto(srcs []Source) (*Set, error) {
	type cand struct {
		src  Source
		rank int
		pos  int
	}
	best := map[Domain]cand{}
	var unavailable []string
	for pos, s := range srcs {
		a := s.Availability()
		if !a.Available {
			unavailable = append(unavailable, s.Name()+": "+a.Reason)
			continue
		}
		r := kindRank(s.Kind())
		for _, d := range s.Domains() {
			if c, ok := best[d]; !ok || r < c.rank || (r == c.rank && pos < c.pos) {
				best[d] = cand{s, r, pos}
			}
		}
	}
	// Roll-ups (package, core) contain the CPU. Taking one from a source
	// other than the CPU's would double-count across sources and could start
	// a sampler (powermetrics under sudo) for nothing but a roll-up: keep
	// them only from the CPU's source.
	if cpu, ok := best[DomainCPU]; ok {
		for _, d := range []Domain{DomainPackage, DomainCore} {
			if c, ok := best[d]; ok && c.pos != cpu.pos {
				if slices.Contains(cpu.src.Domains(), d) {
					best[d] = cpu
				} else {
					delete(best, d)
				}
			}
		}
	}
	if len(best) == 0 {
		return nil, fmt.Errorf("no power source is available here (%s); run 'energyprofiler doctor' for the fixes",
			strings.Join(unavailable, "; "))
	}
	set := &Set{}
	for pos, s := range srcs {
		var ds []Domain
		for d, c := range best {
			if c.pos == pos {
				ds = append(ds, d)
			}
		}
		if len(ds) > 0 {
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			set.Choices = append(set.Choices, Choice{Source: s, Domains: ds})
		}
	}
	return set, nil
}

// Start runs one sampler per chosen source, each keeping only its chosen
// domains. If one fails to start, the ones already started are stopped.
func (s *Set) Start(ctx context.Context, opts SamplerOptions) (*Group, error) {
	g := &Group{}
	for _, c := range s.Choices {
		o := opts
		o.Domains = slices.Clone(c.Domains)
		sm := NewSampler(c.Source, o)
		if err := sm.Start(ctx); err != nil {
			g.Stop()
			return nil, err
		}
		g.samplers = append(g.samplers, sm)
	}
	return g, nil
}

// Group is the running samplers of a Set.
type Group struct {
	samplers []*Sampler
}

// Samplers returns the group's samplers, one per chosen source.
func (g *Group) Samplers() []*Sampler { return g.samplers }

// Stop stops every sampler and returns their errors joined.
func (g *Group) Stop() error {
	var errs []error
	for _, s := range g.samplers {
		errs = append(errs, s.Stop())
	}
	return errors.Join(errs...)
}

// Status returns each sampler's status.
func (g *Group) Status() []SamplerStatus {
	var out []SamplerStatus
	for _, s := range g.samplers {
		out = append(out, s.Status())
	}
	return out
}

// Between returns the buffered samples of every sampler that overlap
// [t0, t1], ordered by end time.
func (g *Group) Between(t0, t1 int64) []Sample {
	var out []Sample
	for _, s := range g.samplers {
		out = append(out, s.Between(t0, t1)...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].T1 < out[j].T1 })
	return out
}

// Subscribe merges the live feeds of every sampler into one subscription.
// It drops samples for a slow reader like a single sampler's does. The
// channel closes when every sampler has ended or on Close.
func (g *Group) Subscribe(buffer int) *Subscription {
	if buffer < 1 {
		buffer = 1
	}
	out := &Subscription{c: make(chan Sample, buffer)}
	var inner []*Subscription
	for _, s := range g.samplers {
		inner = append(inner, s.Subscribe(buffer))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var once sync.Once
	for _, in := range inner {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case smp, ok := <-in.C():
					if !ok {
						return
					}
					select {
					case out.c <- smp:
					default:
						out.dropped.Add(1)
					}
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(out.c)
	}()
	out.closeFn = func() {
		once.Do(func() {
			close(stop)
			for _, in := range inner {
				in.Close()
			}
		})
	}
	return out
}
