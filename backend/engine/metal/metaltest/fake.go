// Package metaltest provides Fake, a metal.Device that runs each kernel's
// semantics in Go, so the Metal backend's Go side (buffers and offsets,
// page alignment, argument layout, grid sizes, the batch of a forward pass
// and its timing) is tested on machines without a GPU, as net/http/httptest
// does for servers.
//
// Fake is strict where a GPU would fail silently: a grid that leaves rows
// uncomputed shows up as wrong results, a threadgroup size other than the
// one the MSL kernel is written for, an out-of-range access, a wrapped range
// that is not page-aligned or a buffer bound without being made are
// errors from Run. Its clock counts 24 MHz ticks (Apple's host timebase)
// from an arbitrary origin, so the mapping onto clock.Now() is exercised.
//
// NewMSL makes a Fake whose kernels are kernels.metal itself, compiled for
// the CPU with clang++ (msl.go), for tests of the MSL source.
package metaltest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"unsafe"

	"energyprofiler/backend/clock"
	"energyprofiler/backend/engine/metal"
)

// Fake is an in-memory metal.Device.
type Fake struct {
	// PageBytes is the page size wrapped memory is aligned to (default
	// 16 KiB, Apple Silicon's).
	PageBytes int
	// FailRun, when set, is returned by the next Run (then cleared).
	FailRun error
	// NoWrap makes WrapBuffer refuse, as Metal refuses memory it cannot
	// wrap, so the backend's copy path runs.
	NoWrap bool

	mu      sync.Mutex
	bufs    []buffer
	kernels []string
	closed  bool
	msl     *mslRunner // NewMSL: the kernels run as compiled MSL

	// What ran, for tests.
	Runs       int
	Dispatches int
	Batches    []metal.Batch // every batch run, deep-copied
	Wraps      []Wrap
}

// Wrap records one WrapBuffer call: the span the real device would wrap.
type Wrap struct {
	Base        uintptr
	Off, Length int
	Bytes       int
}

type buffer struct {
	mem     []byte // NewBuffer: all of it; WrapBuffer: the wrapped data only
	wrapOff int    // WrapBuffer: offset of mem inside the page span
	span    int    // WrapBuffer: span length
	wrapped bool
}

// New returns a fake device.
func New() *Fake { return &Fake{PageBytes: 16 << 10} }

// Name implements metal.Device.
func (f *Fake) Name() string { return "Fake GPU (metaltest)" }

// PageSize implements metal.Device.
func (f *Fake) PageSize() int { return f.PageBytes }

// NewBuffer implements metal.Device.
func (f *Fake) NewBuffer(n int) (metal.BufferID, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n <= 0 {
		return 0, nil, fmt.Errorf("buffer of %d bytes", n)
	}
	mem := make([]byte, n)
	f.bufs = append(f.bufs, buffer{mem: mem})
	return metal.BufferID(len(f.bufs) - 1), mem, nil
}

// WrapBuffer implements metal.Device: it checks the page span the real
// device would wrap and keeps data itself for the kernels to read.
func (f *Fake) WrapBuffer(data []byte) (metal.BufferID, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.NoWrap {
		return 0, 0, errors.New("newBufferWithBytesNoCopy refused (NoWrap)")
	}
	if len(data) == 0 {
		return 0, 0, errors.New("wrap of no bytes")
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	base, off, length := metal.PageSpan(p, len(data), f.PageBytes)
	if base%uintptr(f.PageBytes) != 0 || length%f.PageBytes != 0 || off < 0 || off+len(data) > length || base+uintptr(off) != p {
		return 0, 0, fmt.Errorf("page span %#x+%d (data at %d) does not hold %d bytes at %#x on %d-byte pages", base, length, off, len(data), p, f.PageBytes)
	}
	f.Wraps = append(f.Wraps, Wrap{Base: base, Off: off, Length: length, Bytes: len(data)})
	f.bufs = append(f.bufs, buffer{mem: data, wrapOff: off, span: length, wrapped: true})
	return metal.BufferID(len(f.bufs) - 1), off, nil
}

// Compile implements metal.Device: every name must be a kernel function of
// source (a `kernel void name(` definition), as newFunctionWithName would
// find it.
func (f *Fake) Compile(source string, names []string) error {
	for _, n := range names {
		if !strings.Contains(source, "kernel void "+n+"(") {
			return fmt.Errorf("function %s not found in the library", n)
		}
		if _, ok := kernels[n]; !ok {
			return fmt.Errorf("metaltest has no Go semantics for kernel %s", n)
		}
	}
	f.kernels = append([]string(nil), names...)
	return nil
}

// Close implements metal.Device.
func (f *Fake) Close() {
	f.mu.Lock()
	f.closed = true
	f.bufs = nil
	if f.msl != nil {
		f.msl.close()
	}
	f.mu.Unlock()
}

// Closed reports whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// Ticks is the fake GPU clock at clock.Now() time t: 24 MHz from an origin
// far from clock.Now()'s.
func Ticks(t int64) int64 { return 7_000_000_000 + t*3/125 }

// Run implements metal.Device: it runs the passes in order, each dispatch's
// threadgroups in order, and times the passes on the fake clock.
func (f *Fake) Run(b *metal.Batch) (tm metal.Timing, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.FailRun != nil {
		err, f.FailRun = f.FailRun, nil
		return tm, err
	}
	if f.kernels == nil {
		return tm, errors.New("run before compile")
	}
	f.Runs++
	f.Batches = append(f.Batches, copyBatch(b))
	before := clock.Now()
	tm.Clocks = append(tm.Clocks, metal.ClockPair{Before: before, Device: Ticks(before), After: clock.Now()})
	for pi, p := range b.Passes {
		if b.Timed {
			tm.Start = append(tm.Start, Ticks(clock.Now()))
		}
		for di, d := range p.Dispatches {
			if err := f.dispatch(d); err != nil {
				return metal.Timing{}, fmt.Errorf("pass %d dispatch %d: %w", pi, di, err)
			}
			f.Dispatches++
		}
		if b.Timed {
			tm.End = append(tm.End, Ticks(clock.Now()))
		}
	}
	after := clock.Now()
	tm.Clocks = append(tm.Clocks, metal.ClockPair{Before: after, Device: Ticks(after), After: clock.Now()})
	return tm, nil
}

func copyBatch(b *metal.Batch) metal.Batch {
	c := metal.Batch{Timed: b.Timed}
	for _, p := range b.Passes {
		var cp metal.Pass
		for _, d := range p.Dispatches {
			d.Args = append([]byte(nil), d.Args...)
			d.Buffers = append([]metal.Binding(nil), d.Buffers...)
			cp.Dispatches = append(cp.Dispatches, d)
		}
		c.Passes = append(c.Passes, cp)
	}
	return c
}

// dispatch runs one kernel launch; an out-of-range access is an error.
func (f *Fake) dispatch(d metal.Dispatch) (err error) {
	if d.Kernel < 0 || d.Kernel >= len(f.kernels) {
		return fmt.Errorf("kernel %d not compiled", d.Kernel)
	}
	name := f.kernels[d.Kernel]
	k := kernels[name]
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", name, r)
		}
	}()
	for i, g := range d.Groups {
		if g < 1 {
			return fmt.Errorf("%s: grid %v has an empty dimension %d", name, d.Groups, i)
		}
	}
	tpg := d.Threads[0] * d.Threads[1] * d.Threads[2]
	if tpg < 1 || tpg > 1024 || tpg%32 != 0 || d.Threads[1] != 1 || d.Threads[2] != 1 {
		return fmt.Errorf("%s: %v threads per threadgroup (want a multiple of 32 up to 1024, one-dimensional)", name, d.Threads)
	}
	if k.threads != 0 && d.Threads[0] != k.threads {
		return fmt.Errorf("%s is written for %d threads per threadgroup, dispatched with %d", name, k.threads, d.Threads[0])
	}
	if len(d.Buffers) != k.buffers {
		return fmt.Errorf("%s takes %d buffers, got %d", name, k.buffers, len(d.Buffers))
	}
	bufs := make([]view, len(d.Buffers))
	for i, bind := range d.Buffers {
		if bufs[i], err = f.view(bind); err != nil {
			return fmt.Errorf("%s buffer(%d): %w", name, i+1, err)
		}
	}
	if f.msl != nil {
		return f.runMSL(name, d)
	}
	return k.run(d, bufs)
}

// view is a bound buffer from its offset on, as the kernel sees it.
type view []byte

func (f *Fake) view(b metal.Binding) (view, error) {
	if int(b.Buf) < 0 || int(b.Buf) >= len(f.bufs) {
		return nil, fmt.Errorf("buffer %d was never made", b.Buf)
	}
	buf := f.bufs[b.Buf]
	off := b.Off
	if buf.wrapped {
		if off < buf.wrapOff || off >= buf.span {
			return nil, fmt.Errorf("offset %d outside the wrapped data at %d", off, buf.wrapOff)
		}
		off -= buf.wrapOff
	}
	if off < 0 || off > len(buf.mem) {
		return nil, fmt.Errorf("offset %d outside a %d-byte buffer", off, len(buf.mem))
	}
	// Metal wants offsets aligned to the element type the kernel reads:
	// 4 bytes for our float buffers, 2 for half and bfloat16 weights.
	if align := map[bool]int{true: 2, false: 4}[buf.wrapped]; b.Off%align != 0 {
		return nil, fmt.Errorf("offset %d is not %d-byte aligned", b.Off, align)
	}
	return view(buf.mem[off:]), nil
}

func (v view) f32(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(v[4*i:])) }
func (v view) setF32(i int, x float32) {
	binary.LittleEndian.PutUint32(v[4*i:], math.Float32bits(x))
}
func (v view) u32(i int) uint32 { return binary.LittleEndian.Uint32(v[4*i:]) }
func (v view) u16(i int) uint16 { return binary.LittleEndian.Uint16(v[2*i:]) }

// args decodes a dispatch's argument bytes into the kernel's struct; the
// byte count must match exactly, as setBytes' length must.
func args[T any](d metal.Dispatch) (T, error) {
	var a T
	n, err := binary.Decode(d.Args, binary.LittleEndian, &a)
	if err != nil {
		return a, err
	}
	if n != len(d.Args) {
		return a, fmt.Errorf("%d argument bytes for a %d-byte %T", len(d.Args), n, a)
	}
	return a, nil
}
