package power

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often a sampler polls its source unless told
// otherwise.
const DefaultInterval = 100 * time.Millisecond

// ErrSourceDead is wrapped by a sampler's error when its source stopped
// giving samples (repeated read errors or a closed stream).
var ErrSourceDead = errors.New("power source stopped giving samples")

// SamplerOptions configures a Sampler. Zero fields take the defaults.
type SamplerOptions struct {
	// Interval between reads of a polled source (default 100 ms). Paced
	// sources (powermetrics) deliver at their own interval.
	Interval time.Duration
	// BufferSize is how many recent samples the ring buffer keeps
	// (default 6000: ten minutes at 100 ms).
	BufferSize int
	// MaxConsecutiveErrors read errors in a row declare the source dead
	// (default 5).
	MaxConsecutiveErrors int
	// Domains, when set, keeps only these domains of each sample (the
	// selection uses it so two sources never report the same domain).
	Domains []Domain
}

func (o SamplerOptions) withDefaults() SamplerOptions {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 6000
	}
	if o.MaxConsecutiveErrors <= 0 {
		o.MaxConsecutiveErrors = 5
	}
	return o
}

// Sampler reads one source on its own goroutine, keeps the recent samples
// in a ring buffer and fans them out to live subscribers. A subscriber that
// does not keep up loses samples; it never slows the sampler down.
type Sampler struct {
	src  Source
	opts SamplerOptions

	mu      sync.Mutex
	ring    []Sample
	next    int // ring index the next sample goes to
	full    bool
	subs    map[*Subscription]struct{}
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	err     error // why the sampler ended, nil after a clean Stop
	count   uint64
}

// SamplerStatus is a snapshot of a sampler for health displays.
type SamplerStatus struct {
	Source  string `json:"source"`
	Running bool   `json:"running"`
	Samples uint64 `json:"samples"`
	Error   string `json:"error,omitempty"`
}

// NewSampler prepares a sampler for src; Start runs it.
func NewSampler(src Source, opts SamplerOptions) *Sampler {
	opts = opts.withDefaults()
	return &Sampler{
		src:  src,
		opts: opts,
		ring: make([]Sample, opts.BufferSize),
		subs: map[*Subscription]struct{}{},
		done: make(chan struct{}),
	}
}

// Source returns the sampled source.
func (s *Sampler) Source() Source { return s.src }

// Start opens the source and starts sampling until ctx is cancelled or Stop
// is called. It fails when the source cannot be opened.
func (s *Sampler) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return fmt.Errorf("power sampler for %s: already started", s.src.Name())
	}
	s.started = true
	// The cancel exists before Open so a Stop racing Start still ends it.
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.mu.Unlock()

	r, err := s.src.Open(ctx)
	if err != nil {
		cancel()
		s.finish(fmt.Errorf("open power source %s: %w", s.src.Name(), err))
		return s.Err()
	}
	go s.run(ctx, r)
	return nil
}

// Stop ends sampling, waits for the goroutine and returns the error that
// killed the source, if any.
func (s *Sampler) Stop() error {
	s.mu.Lock()
	cancel, started := s.cancel, s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	<-s.done
	return s.Err()
}

// Done is closed when the sampler has ended (stopped or source dead).
func (s *Sampler) Done() <-chan struct{} { return s.done }

// Err returns why the sampler ended: nil while running or after a clean
// stop, an error wrapping ErrSourceDead when the source died.
func (s *Sampler) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Status returns a snapshot for health displays.
func (s *Sampler) Status() SamplerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SamplerStatus{Source: s.src.Name(), Samples: s.count}
	select {
	case <-s.done:
	default:
		st.Running = s.started
	}
	if s.err != nil {
		st.Error = s.err.Error()
	}
	return st
}

func (s *Sampler) run(ctx context.Context, r Reader) {
	// A paced reader blocks in Read; closing it is what unblocks it.
	stopClose := context.AfterFunc(ctx, func() { r.Close() })
	defer stopClose()
	defer r.Close()

	_, paced := r.(PacedReader)
	var ticker *time.Ticker
	if !paced {
		ticker = time.NewTicker(s.opts.Interval)
		defer ticker.Stop()
	}
	failures := 0
	for {
		if !paced {
			select {
			case <-ctx.Done():
				s.finish(nil)
				return
			case <-ticker.C:
			}
		}
		smp, err := r.Read()
		if ctx.Err() != nil {
			s.finish(nil)
			return
		}
		if err != nil {
			failures++
			if paced && errors.Is(err, io.EOF) {
				s.finish(fmt.Errorf("%w: %s: its stream ended (%v); run 'energyprofiler doctor' to check the source",
					ErrSourceDead, s.src.Name(), err))
				return
			}
			if failures >= s.opts.MaxConsecutiveErrors {
				s.finish(fmt.Errorf("%w: %s failed %d reads in a row, last: %v; run 'energyprofiler doctor' to check the source",
					ErrSourceDead, s.src.Name(), failures, err))
				return
			}
			continue
		}
		failures = 0
		s.publish(s.filter(smp))
	}
}

func (s *Sampler) filter(smp Sample) Sample {
	if s.opts.Domains == nil {
		return smp
	}
	for d := range smp.Domains {
		if !slices.Contains(s.opts.Domains, d) {
			delete(smp.Domains, d)
		}
	}
	return smp
}

func (s *Sampler) publish(smp Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring[s.next] = smp
	s.next = (s.next + 1) % len(s.ring)
	if s.next == 0 {
		s.full = true
	}
	s.count++
	for sub := range s.subs {
		select {
		case sub.c <- smp:
		default:
			sub.dropped.Add(1)
		}
	}
}

func (s *Sampler) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	s.err = err
	for sub := range s.subs {
		close(sub.c)
		delete(s.subs, sub)
	}
	close(s.done)
}

// Recent returns up to n of the newest samples, oldest first (n <= 0: all
// the ring holds).
func (s *Sampler) Recent(n int) []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	size := s.next
	if s.full {
		size = len(s.ring)
	}
	if n <= 0 || n > size {
		n = size
	}
	out := make([]Sample, 0, n)
	for i := size - n; i < size; i++ {
		idx := i
		if s.full {
			idx = (s.next + i) % len(s.ring)
		}
		out = append(out, s.ring[idx])
	}
	return out
}

// Between returns the buffered samples that overlap [t0, t1], oldest first.
func (s *Sampler) Between(t0, t1 int64) []Sample {
	var out []Sample
	for _, smp := range s.Recent(0) {
		if smp.T1 > t0 && smp.T0 < t1 {
			out = append(out, smp)
		}
	}
	return out
}

// Subscribe returns a live feed of new samples with room for buffer
// samples; when it is full, new samples are dropped for this subscriber
// (counted by Dropped). The channel closes when the sampler ends or the
// subscription is closed.
func (s *Sampler) Subscribe(buffer int) *Subscription {
	if buffer < 1 {
		buffer = 1
	}
	sub := &Subscription{c: make(chan Sample, buffer)}
	sub.closeFn = func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[sub]; ok {
			delete(s.subs, sub)
			close(sub.c)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		close(sub.c)
	default:
		s.subs[sub] = struct{}{}
	}
	return sub
}

// Subscription is one live subscriber of a Sampler or a Group.
type Subscription struct {
	c       chan Sample
	dropped atomic.Uint64
	closeFn func()
}

// C delivers the samples.
func (sub *Subscription) C() <-chan Sample { return sub.c }

// Dropped counts the samples this subscriber missed because it was slow.
func (sub *Subscription) Dropped() uint64 { return sub.dropped.Load() }

// Close ends the subscription; its channel closes.
func (sub *Subscription) Close() { sub.closeFn() }
