package compute

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// Task is one parallel operation: Run processes items [lo, hi) on worker
// (0 … Workers-1). Worker indexes let a task keep per-worker scratch space.
type Task interface {
	Run(worker, lo, hi int)
}

// Pool is a persistent set of worker goroutines. Parallel publishes a task by
// bumping a generation counter that idle workers spin on, so a matrix costs a
// few atomic operations, not a channel hand-off. Workers that see no work for
// a while park on a channel so an idle engine does not burn CPU.
//
// Items are handed out in chunks from one atomic counter, so a worker that the
// OS descheduled does not hold up the others: the caller keeps taking chunks.
type Pool struct {
	workers int

	// claim packs the generation (bits 48-63), the next unclaimed chunk (bits
	// 24-47) and the number of chunks (bits 0-23) into one word, so a worker
	// that wakes late can tell a finished or newer task apart without reading
	// the task fields, which it touches only after it owns a chunk.
	claim atomic.Uint64
	done  atomic.Int64 // items finished in the current generation
	gen   atomic.Uint32
	stop  atomic.Bool

	task   Task
	n      int
	grain  int
	helper []*helper

	// fault is the first memory fault a worker hit in the current task
	// (see Parallel), nil when none.
	fault atomic.Pointer[faultValue]
}

// faultValue holds the value of a recovered memory-fault panic.
type faultValue struct{ v any }

// IsFault reports whether a recovered panic value is a memory fault turned
// into a panic by debug.SetPanicOnFault: a read of a memory-mapped file's
// page that is gone because the file was truncated (SIGBUS).
func IsFault(r any) bool {
	e, ok := r.(runtime.Error)
	if !ok {
		return false
	}
	_, ok = e.(interface{ Addr() uintptr })
	return ok
}

type helper struct {
	parked atomic.Bool
	wake   chan struct{}
	_      [48]byte // keep helpers' hot fields on separate cache lines
}

// spinLimit is how many empty polls a worker makes before parking (tens of µs).
const spinLimit = 1 << 14

// NewPool starts a pool of workers goroutines in total, the caller of
// Parallel counting as one. workers < 1 means runtime.GOMAXPROCS(0); more
// than GOMAXPROCS is capped, because spinning workers without a processor of
// their own would only steal time from the ones doing the work.
func NewPool(workers int) *Pool {
	if procs := runtime.GOMAXPROCS(0); workers < 1 || workers > procs {
		workers = procs
	}
	p := &Pool{workers: workers}
	for i := 1; i < workers; i++ {
		h := &helper{wake: make(chan struct{}, 1)}
		p.helper = append(p.helper, h)
		go p.loop(i, h)
	}
	return p
}

// Workers is the number of workers, the caller included.
func (p *Pool) Workers() int { return p.workers }

// Close stops the helper goroutines. Parallel must not be called afterwards.
func (p *Pool) Close() {
	p.stop.Store(true)
	for _, h := range p.helper {
		if h.parked.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
	}
}

// Parallel runs t over items [0, n) in chunks of grain items and returns when
// all are done. It must not be called concurrently or re-entrantly.
//
// Weights are memory-mapped, so a weight file truncated under a running
// model makes the kernels read pages that are gone. The workers turn that
// fault into a panic (debug.SetPanicOnFault), finish the task's accounting
// and hand the fault to Parallel, which re-panics with it on the caller's
// goroutine once all chunks are done; a caller that set SetPanicOnFault
// itself can then recover it (see IsFault) instead of the process dying of
// SIGBUS.
func (p *Pool) Parallel(n, grain int, t Task) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	if p.workers == 1 || n <= grain {
		t.Run(0, 0, n)
		return
	}
	chunks := (n + grain - 1) / grain
	if chunks >= 1<<24 {
		grain = (n + 1<<24 - 2) / (1<<24 - 1)
		chunks = (n + grain - 1) / grain
	}
	p.task, p.n, p.grain = t, n, grain
	p.done.Store(0)
	g := p.gen.Load() + 1
	p.claim.Store(uint64(uint16(g))<<48 | uint64(chunks))
	p.gen.Store(g) // publishes the task to spinning workers
	for _, h := range p.helper {
		if h.parked.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
	}
	p.work(0, g)
	for spins := 0; p.done.Load() < int64(n); spins++ {
		if spins&255 == 255 {
			runtime.Gosched()
		}
	}
	p.task = nil
	if f := p.fault.Swap(nil); f != nil {
		panic(f.v)
	}
}

// work claims and runs chunks of generation g until none are left.
func (p *Pool) work(worker int, g uint32) {
	const mask = 1<<24 - 1
	for {
		c := p.claim.Load()
		if uint16(c>>48) != uint16(g) {
			return
		}
		next, chunks := (c>>24)&mask, c&mask
		if next >= chunks {
			return
		}
		if !p.claim.CompareAndSwap(c, c+1<<24) {
			continue
		}
		// Owning an unfinished chunk keeps Parallel from returning, so the
		// task fields are stable here.
		lo := int(next) * p.grain
		hi := min(lo+p.grain, p.n)
		p.run(worker, lo, hi)
	}
}

// run runs one chunk and counts it done even when it faulted, so Parallel
// returns; the fault is kept for Parallel to re-panic with. Other panics
// propagate as before.
func (p *Pool) run(worker, lo, hi int) {
	defer func() {
		if r := recover(); r != nil {
			if !IsFault(r) {
				panic(r)
			}
			p.fault.CompareAndSwap(nil, &faultValue{r})
		}
		p.done.Add(int64(hi - lo))
	}()
	p.task.Run(worker, lo, hi)
}

func (p *Pool) loop(worker int, h *helper) {
	debug.SetPanicOnFault(true) // see Parallel
	seen := p.gen.Load()
	for {
		spins := 0
		for p.gen.Load() == seen {
			if p.stop.Load() {
				return
			}
			spins++
			if spins&127 == 0 {
				runtime.Gosched()
			}
			if spins < spinLimit {
				continue
			}
			// Park; re-check after announcing it so a wake-up cannot be lost.
			h.parked.Store(true)
			if p.gen.Load() != seen || p.stop.Load() {
				if !h.parked.CompareAndSwap(true, false) {
					<-h.wake // Parallel or Close already sent one; drain it
				}
			} else {
				<-h.wake
			}
			spins = 0
			if p.stop.Load() {
				return
			}
		}
		seen = p.gen.Load()
		p.work(worker, seen)
	}
}
