package compute

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
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
// Each worker owns a contiguous share of a task's chunks and takes them
// front to back, so it streams one run of memory (a decode mat-vec's
// weights) that the prefetchers can follow. Handing chunks out round-robin
// from one counter made two workers leapfrog each other: a 256×768 Q4_0
// mat-vec took 9.4 µs on two workers, more than on one (5.7 µs); with
// shares it takes 4.5 µs. A worker that runs out of its own share
// steals the others' chunks from the back, one at a time, so a worker the
// OS descheduled holds up the others by at most the chunk it is running.
//
// Every poll of a spin-wait runs spinPause (x86 PAUSE, arm64 YIELD). A core
// polling a line without it runs far ahead on speculative loads of that
// line and throws them all away when the other core writes it, and it takes
// issue slots from a sibling thread on the same physical core. On the
// 2-vCPU AMD EPYC used for `make bench`, the pause made decode of the
// quantized demos 6–9 % faster when the host ran our two cores on
// different dies and 3–7 % faster when it ran them on one (medians of
// `make bench`'s rounds, binaries before and after alternated, 2026-12-07).
type Pool struct {
	workers int

	shares []share      // one per worker
	done   atomic.Int64 // items finished in the current generation
	gen    atomic.Uint32
	stop   atomic.Bool

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

// share is one worker's part of the current task's chunks. Its word packs
// the generation (bits 48-63), the first unclaimed chunk (bits 24-47) and
// one past the last (bits 0-23): the owner claims at the front, thieves at
// the back, both by compare-and-swap, and a worker that wakes late can tell
// a finished or newer task apart without reading the task fields, which it
// touches only after it owns a chunk.
type share struct {
	word atomic.Uint64
	_    [56]byte // one cache line per share: owners claim without contention
}

const shareMask = 1<<24 - 1

func packShare(g uint32, front, back int) uint64 {
	return uint64(uint16(g))<<48 | uint64(front)<<24 | uint64(back)
}

type helper struct {
	parked atomic.Bool
	wake   chan struct{}
	_      [48]byte // keep helpers' hot fields on separate cache lines
}

// spinFor is how long an idle worker polls for a new task before parking.
// Between the operations of a decode step the caller works alone for a few
// µs, so the helpers must still be spinning when the next task comes; a
// parked helper needs a channel send and the scheduler to start again.
const spinFor = 50 * time.Microsecond

// NewPool starts a pool of workers goroutines in total, the caller of
// Parallel counting as one. workers < 1 means runtime.GOMAXPROCS(0); more
// than GOMAXPROCS is capped, because spinning workers without a processor of
// their own would only steal time from the ones doing the work.
func NewPool(workers int) *Pool {
	if procs := runtime.GOMAXPROCS(0); workers < 1 || workers > procs {
		workers = procs
	}
	p := &Pool{workers: workers, shares: make([]share, workers)}
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
	for w := range p.shares {
		p.shares[w].word.Store(packShare(g, w*chunks/p.workers, (w+1)*chunks/p.workers))
	}
	p.gen.Store(g) // publishes the task to spinning workers
	for _, h := range p.helper {
		if h.parked.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
	}
	p.work(0, g)
	for spins := 0; p.done.Load() < int64(n); spins++ {
		spinPause()
		if spins&255 == 255 {
			runtime.Gosched()
		}
	}
	p.task = nil
	if f := p.fault.Swap(nil); f != nil {
		panic(f.v)
	}
}

// work runs worker's own share of generation g front to back, then steals
// the other shares' chunks from the back until none are left. It counts
// what it ran into done once, on leaving: an atomic add per chunk would
// bounce done's cache line between the cores for every chunk.
func (p *Pool) work(worker int, g uint32) {
	items := 0
	own := &p.shares[worker]
	for {
		c := own.word.Load()
		front, back := int(c>>24&shareMask), int(c&shareMask)
		if uint16(c>>48) != uint16(g) || front >= back {
			break
		}
		if own.word.CompareAndSwap(c, c+1<<24) {
			items += p.runChunk(worker, front)
		}
	}
	for i := 1; i < p.workers; i++ {
		victim := &p.shares[(worker+i)%p.workers]
		for {
			c := victim.word.Load()
			front, back := int(c>>24&shareMask), int(c&shareMask)
			if uint16(c>>48) != uint16(g) || front >= back {
				break
			}
			if victim.word.CompareAndSwap(c, c-1) {
				items += p.runChunk(worker, back-1)
			}
		}
	}
	if items > 0 {
		p.done.Add(int64(items))
	}
}

// runChunk runs chunk k and returns its item count. Owning an unfinished
// chunk keeps Parallel from returning, so the task fields are stable here.
func (p *Pool) runChunk(worker, k int) int {
	lo := k * p.grain
	hi := min(lo+p.grain, p.n)
	p.run(worker, lo, hi)
	return hi - lo
}

// run runs one chunk. A memory fault is kept for Parallel to re-panic with
// and the chunk counts as done, so Parallel returns; other panics
// propagate as before.
func (p *Pool) run(worker, lo, hi int) {
	defer func() {
		if r := recover(); r != nil {
			if !IsFault(r) {
				panic(r)
			}
			p.fault.CompareAndSwap(nil, &faultValue{r})
		}
	}()
	p.task.Run(worker, lo, hi)
}

func (p *Pool) loop(worker int, h *helper) {
	debug.SetPanicOnFault(true) // see Parallel
	seen := p.gen.Load()
	for {
		idleSince := time.Now()
		for spins := 1; p.gen.Load() == seen; spins++ {
			if p.stop.Load() {
				return
			}
			spinPause()
			if spins&127 != 0 {
				continue
			}
			runtime.Gosched()
			if time.Since(idleSince) < spinFor {
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
			idleSince = time.Now()
			if p.stop.Load() {
				return
			}
		}
		seen = p.gen.Load()
		p.work(worker, seen)
	}
}
