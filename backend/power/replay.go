package power

// Replay plays a recorded power trace against the live clock, for demos,
// reproducible tests and re-analysis.
//
// File format (JSON lines, one object per line, blank lines and lines
// starting with # ignored):
//
//	{"kind": "measured_sampling", "description": "M1 Max, llama 1B decode"}   (optional header, first line)
//	{"offset_ms": 0,   "domains_mw": {"cpu": 4200, "gpu": 9100}}
//	{"offset_ms": 100, "domains_mw": {"cpu": 5100, "gpu": 9800}}
//
// offset_ms counts from the moment the replay is opened. Each point holds
// its values until the next point; the last point holds forever. A domain
// missing from a point is absent from that point on (never 0). Before the
// first point nothing is known. The header's kind says what the recorded
// numbers were (default measured_sampling); the source name
// "replay:FILE" always shows they are a replay.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
)

// ReplayPoint is one recorded point: power per domain from OffsetMs on.
type ReplayPoint struct {
	OffsetMs  float64            `json:"offset_ms"`
	DomainsMW map[Domain]float64 `json:"domains_mw"`
}

// ReplayOptions configures a replay source.
type ReplayOptions struct {
	Name        string // default "replay"
	Kind        Kind   // what the recorded numbers were (default KindSampling)
	Description string
	Now         func() int64 // default clock.Now
}

// Replay is a Source playing recorded points.
type Replay struct {
	points []ReplayPoint
	opts   ReplayOptions
}

// NewReplay returns a source that plays points (sorted by offset here).
func NewReplay(points []ReplayPoint, opts ReplayOptions) (*Replay, error) {
	if len(points) == 0 {
		return nil, fmt.Errorf("replay %s: no points to play", opts.Name)
	}
	ps := make([]ReplayPoint, len(points))
	copy(ps, points)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].OffsetMs < ps[j].OffsetMs })
	for i, p := range ps {
		if p.OffsetMs < 0 {
			return nil, fmt.Errorf("replay %s: point %d has negative offset_ms %v", opts.Name, i, p.OffsetMs)
		}
		for d, mw := range p.DomainsMW {
			if mw < 0 {
				return nil, fmt.Errorf("replay %s: point at %v ms has negative power %v mW for %s", opts.Name, p.OffsetMs, mw, d)
			}
		}
	}
	if opts.Name == "" {
		opts.Name = "replay"
	}
	if opts.Kind == "" {
		opts.Kind = KindSampling
	}
	if opts.Now == nil {
		opts.Now = Options{}.withDefaults().Now
	}
	return &Replay{points: ps, opts: opts}, nil
}

type replayHeader struct {
	Kind        Kind   `json:"kind"`
	Description string `json:"description"`
}

// ParseReplay reads the JSON-lines trace format (see the package file
// comment). The returned options carry the header's kind and description.
func ParseReplay(r io.Reader) ([]ReplayPoint, ReplayOptions, error) {
	var points []ReplayPoint
	var opts ReplayOptions
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(text, &raw); err != nil {
			return nil, opts, fmt.Errorf("replay line %d: %w (want a JSON object per line)", line, err)
		}
		if _, ok := raw["offset_ms"]; !ok {
			if len(points) > 0 {
				return nil, opts, fmt.Errorf("replay line %d: no offset_ms (only the first line may be a header)", line)
			}
			var h replayHeader
			if err := json.Unmarshal(text, &h); err != nil {
				return nil, opts, fmt.Errorf("replay line %d: header: %w", line, err)
			}
			switch h.Kind {
			case "", KindCounter, KindSampling, KindEstimate:
			default:
				return nil, opts, fmt.Errorf("replay line %d: unknown kind %q (want %s, %s or %s)", line, h.Kind, KindCounter, KindSampling, KindEstimate)
			}
			opts.Kind, opts.Description = h.Kind, h.Description
			continue
		}
		var p ReplayPoint
		if err := json.Unmarshal(text, &p); err != nil {
			return nil, opts, fmt.Errorf("replay line %d: %w", line, err)
		}
		points = append(points, p)
	}
	if err := sc.Err(); err != nil {
		return nil, opts, fmt.Errorf("replay: read: %w", err)
	}
	if len(points) == 0 {
		return nil, opts, fmt.Errorf("replay: no points (want lines like {\"offset_ms\": 0, \"domains_mw\": {\"cpu\": 4200}})")
	}
	return points, opts, nil
}

// NewReplayFile opens "replay:FILE": it parses FILE now so a bad file fails
// at selection, not mid-run.
func NewReplayFile(path string, opts Options) (*Replay, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	points, ro, err := ParseReplay(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ro.Name = "replay:" + path
	ro.Now = opts.withDefaults().Now
	return NewReplay(points, ro)
}

func (r *Replay) Name() string { return r.opts.Name }
func (r *Replay) Kind() Kind   { return r.opts.Kind }
func (r *Replay) Description() string {
	d := "replayed trace (recorded earlier, not measured now) of kind " + string(r.opts.Kind)
	if r.opts.Description != "" {
		d += ": " + r.opts.Description
	}
	return d
}

func (r *Replay) Domains() []Domain {
	seen := map[Domain]bool{}
	var out []Domain
	for _, p := range r.points {
		for d := range p.DomainsMW {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (r *Replay) Availability() Availability { return available() }

func (r *Replay) Open(ctx context.Context) (Reader, error) {
	t := r.opts.Now()
	return &replayReader{r: r, start: t, prevT: t}, nil
}

// Integrate returns, per domain, the energy in mJ of the step function
// between offsets a and b (ms from the start) and how many ms of [a, b] the
// domain had a value for.
func (r *Replay) Integrate(a, b float64) (energyMJ, coveredMs map[Domain]float64) {
	energyMJ, coveredMs = map[Domain]float64{}, map[Domain]float64{}
	ps := r.points
	// First segment that may overlap: the last point at or before a.
	i := sort.Search(len(ps), func(i int) bool { return ps[i].OffsetMs > a }) - 1
	if i < 0 {
		i = 0
	}
	for ; i < len(ps) && ps[i].OffsetMs < b; i++ {
		segEnd := b
		if i+1 < len(ps) {
			segEnd = min(ps[i+1].OffsetMs, b)
		}
		lo := max(ps[i].OffsetMs, a)
		if segEnd <= lo {
			continue
		}
		ms := segEnd - lo
		for d, mw := range ps[i].DomainsMW {
			energyMJ[d] += mw * ms / 1000
			coveredMs[d] += ms
		}
	}
	return energyMJ, coveredMs
}

type replayReader struct {
	r     *Replay
	mu    sync.Mutex
	start int64
	prevT int64
}

func (rr *replayReader) Read() (Sample, error) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	t1 := rr.r.opts.Now()
	a := float64(rr.prevT-rr.start) / 1e6
	b := float64(t1-rr.start) / 1e6
	smp := Sample{T0: rr.prevT, T1: t1, Source: rr.r.Name(), Kind: rr.r.Kind(), Domains: map[Domain]Reading{}}
	energy, covered := rr.r.Integrate(a, b)
	for d, mj := range energy {
		smp.Domains[d] = Reading{EnergyMJ: mj, HasEnergy: true, PowerMW: mj / covered[d] * 1000, HasPower: true}
	}
	rr.prevT = t1
	return smp, nil
}

func (rr *replayReader) Close() error { return nil }

// replayPath returns FILE for a "replay:FILE" spec.
func replayPath(spec string) (string, bool) {
	return strings.CutPrefix(spec, "replay:")
}
