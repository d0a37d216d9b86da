//go:build darwin

package metal

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/ebitengine/purego/objc"

	"energyprofiler/backend/clock"
)

// The Metal device through purego: MTLCreateSystemDefaultDevice from
// Metal.framework, then Objective-C messages. Nothing here decides
// anything; it translates a recorded Batch into one command buffer.
//
// Ownership: objects made with new*/alloc (device, queue, buffers,
// library, pipelines, the counter sample buffer) are released by Close;
// command buffers, encoders and descriptors are autoreleased and live in
// the NSAutoreleasePool of one Run, drained on the same (locked) thread.

const (
	storageModeShared      = 0 // MTLResourceStorageModeShared
	cmdStatusCompleted     = 4 // MTLCommandBufferStatusCompleted
	samplingAtStage        = 0 // MTLCounterSamplingPointAtStageBoundary
	counterDontSample      = ^uint(0)
	counterErrorValue      = ^uint64(0)
	counterSamplesCapacity = 8192 // timestamps per batch: 4096 passes
)

// mtlSize is MTLSize: three NSUInteger.
type mtlSize struct{ Width, Height, Depth uint }

// nsRange is NSRange.
type nsRange struct{ Location, Length uint }

var (
	loadOnce                     sync.Once
	loadErr                      error
	mtlCreateSystemDefaultDevice func() objc.ID
	machAbsoluteTime             func() uint64
	machTimebaseInfo             func(info *[2]uint32) int32
)

func load() error {
	loadOnce.Do(func() {
		lib, err := purego.Dlopen("/System/Library/Frameworks/Metal.framework/Metal", purego.RTLD_GLOBAL|purego.RTLD_NOW)
		if err != nil {
			loadErr = fmt.Errorf("load Metal.framework: %w", err)
			return
		}
		purego.RegisterLibFunc(&mtlCreateSystemDefaultDevice, lib, "MTLCreateSystemDefaultDevice")
		sys, err := purego.Dlopen("/usr/lib/libSystem.B.dylib", purego.RTLD_GLOBAL|purego.RTLD_NOW)
		if err != nil {
			loadErr = fmt.Errorf("load libSystem: %w", err)
			return
		}
		purego.RegisterLibFunc(&machAbsoluteTime, sys, "mach_absolute_time")
		purego.RegisterLibFunc(&machTimebaseInfo, sys, "mach_timebase_info")
	})
	return loadErr
}

type sels struct {
	alloc, init, release, retain, drain, new                              objc.SEL
	name, utf8, stringWithUTF8, localizedDescription                      objc.SEL
	newCommandQueue, newBufferWithLength, newBufferNoCopy, contents       objc.SEL
	maxBufferLength                                                       objc.SEL
	newLibrary, newFunction, newPipeline, setFastMath, maxThreads         objc.SEL
	commandBuffer, computeEncoder, computeEncoderWithDescriptor           objc.SEL
	setPipeline, setBytes, setBuffer, dispatch, endEncoding               objc.SEL
	commit, waitUntilCompleted, status, errorSel, gpuStart, gpuEnd        objc.SEL
	supportsCounterSampling, counterSets, count, objectAtIndex            objc.SEL // objectAtIndexedSubscript: (NSArray and the attachment arrays)
	counterSetName, setCounterSet, setStorageMode, setSampleCount         objc.SEL
	newCounterSampleBuffer, resolveCounterRange, bytes, length            objc.SEL
	computePassDescriptor, sampleBufferAttachments, setSampleBuffer       objc.SEL
	setStartOfEncoderSampleIndex, setEndOfEncoderSampleIndex, sampleClock objc.SEL
}

func newSels() sels {
	r := objc.RegisterName
	return sels{
		alloc: r("alloc"), init: r("init"), release: r("release"), retain: r("retain"), drain: r("drain"), new: r("new"),
		name: r("name"), utf8: r("UTF8String"), stringWithUTF8: r("stringWithUTF8String:"), localizedDescription: r("localizedDescription"),
		newCommandQueue: r("newCommandQueue"), newBufferWithLength: r("newBufferWithLength:options:"),
		newBufferNoCopy: r("newBufferWithBytesNoCopy:length:options:deallocator:"), contents: r("contents"),
		maxBufferLength: r("maxBufferLength"),
		newLibrary:      r("newLibraryWithSource:options:error:"), newFunction: r("newFunctionWithName:"),
		newPipeline: r("newComputePipelineStateWithFunction:error:"), setFastMath: r("setFastMathEnabled:"),
		maxThreads:    r("maxTotalThreadsPerThreadgroup"),
		commandBuffer: r("commandBuffer"), computeEncoder: r("computeCommandEncoder"),
		computeEncoderWithDescriptor: r("computeCommandEncoderWithDescriptor:"),
		setPipeline:                  r("setComputePipelineState:"), setBytes: r("setBytes:length:atIndex:"),
		setBuffer: r("setBuffer:offset:atIndex:"), dispatch: r("dispatchThreadgroups:threadsPerThreadgroup:"),
		endEncoding: r("endEncoding"), commit: r("commit"), waitUntilCompleted: r("waitUntilCompleted"),
		status: r("status"), errorSel: r("error"), gpuStart: r("GPUStartTime"), gpuEnd: r("GPUEndTime"),
		supportsCounterSampling: r("supportsCounterSampling:"), counterSets: r("counterSets"), count: r("count"),
		objectAtIndex: r("objectAtIndexedSubscript:"), counterSetName: r("name"), setCounterSet: r("setCounterSet:"),
		setStorageMode: r("setStorageMode:"), setSampleCount: r("setSampleCount:"),
		newCounterSampleBuffer: r("newCounterSampleBufferWithDescriptor:error:"),
		resolveCounterRange:    r("resolveCounterRange:"), bytes: r("bytes"), length: r("length"),
		computePassDescriptor: r("computePassDescriptor"), sampleBufferAttachments: r("sampleBufferAttachments"),
		setSampleBuffer:              r("setSampleBuffer:"),
		setStartOfEncoderSampleIndex: r("setStartOfEncoderSampleIndex:"),
		setEndOfEncoderSampleIndex:   r("setEndOfEncoderSampleIndex:"),
		sampleClock:                  r("sampleTimestamps:gpuTimestamp:"),
	}
}

// darwinDevice is Device on the system's default Metal GPU.
type darwinDevice struct {
	s        sels
	dev      objc.ID
	queue    objc.ID
	name     string
	maxBuf   int
	bufs     []objc.ID
	pipes    []objc.ID
	maxTPG   []int
	samples  objc.ID // MTLCounterSampleBuffer of timestamps; 0 without stage-boundary sampling
	timebase [2]uint32
}

// Open returns the system's default Metal device.
func Open() (Device, error) {
	if err := load(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDevice, err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := &darwinDevice{s: newSels()}
	pool := d.pool()
	defer pool.Send(d.s.drain)
	d.dev = mtlCreateSystemDefaultDevice()
	if d.dev == 0 {
		return nil, fmt.Errorf("%w: MTLCreateSystemDefaultDevice returned nil", ErrNoDevice)
	}
	d.name = d.goString(d.dev.Send(d.s.name))
	d.maxBuf = objc.Send[int](d.dev, d.s.maxBufferLength)
	d.queue = d.dev.Send(d.s.newCommandQueue)
	if d.queue == 0 {
		d.dev.Send(d.s.release)
		return nil, errors.New("metal: newCommandQueue returned nil")
	}
	machTimebaseInfo(&d.timebase)
	d.samples = d.timestampSampleBuffer()
	return d, nil
}

func (d *darwinDevice) pool() objc.ID {
	return objc.ID(objc.GetClass("NSAutoreleasePool")).Send(d.s.alloc).Send(d.s.init)
}

func (d *darwinDevice) goString(s objc.ID) string {
	if s == 0 {
		return ""
	}
	p := objc.Send[*byte](s, d.s.utf8)
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

func (d *darwinDevice) nsString(s string) objc.ID {
	return objc.ID(objc.GetClass("NSString")).Send(d.s.stringWithUTF8, s)
}

func (d *darwinDevice) nsError(what string, err objc.ID) error {
	if err == 0 {
		return fmt.Errorf("%s failed without an NSError", what)
	}
	return fmt.Errorf("%s: %s", what, d.goString(err.Send(d.s.localizedDescription)))
}

// timestampSampleBuffer makes the counter sample buffer for encoder
// boundary timestamps, or returns 0 where the GPU cannot sample at stage
// boundaries (the fallback then times one command buffer per pass).
func (d *darwinDevice) timestampSampleBuffer() objc.ID {
	if !objc.Send[bool](d.dev, d.s.supportsCounterSampling, uint(samplingAtStage)) {
		return 0
	}
	sets := d.dev.Send(d.s.counterSets)
	var set objc.ID
	for i := range objc.Send[uint](sets, d.s.count) {
		s := sets.Send(d.s.objectAtIndex, i)
		if d.goString(s.Send(d.s.counterSetName)) == "timestamp" { // MTLCommonCounterSetTimestamp
			set = s
			break
		}
	}
	if set == 0 {
		return 0
	}
	desc := objc.ID(objc.GetClass("MTLCounterSampleBufferDescriptor")).Send(d.s.alloc).Send(d.s.init)
	defer desc.Send(d.s.release)
	desc.Send(d.s.setCounterSet, set)
	desc.Send(d.s.setStorageMode, uint(storageModeShared))
	desc.Send(d.s.setSampleCount, uint(counterSamplesCapacity))
	var nserr objc.ID
	buf := d.dev.Send(d.s.newCounterSampleBuffer, desc, unsafe.Pointer(&nserr))
	return buf
}

// Name implements Device.
func (d *darwinDevice) Name() string { return d.name }

// PageSize implements Device.
func (d *darwinDevice) PageSize() int { return os.Getpagesize() }

// NewBuffer implements Device.
func (d *darwinDevice) NewBuffer(n int) (BufferID, []byte, error) {
	if n <= 0 || n > d.maxBuf {
		return 0, nil, fmt.Errorf("buffer of %d bytes (the GPU allows %d)", n, d.maxBuf)
	}
	buf := d.dev.Send(d.s.newBufferWithLength, uint(n), uint(storageModeShared))
	if buf == 0 {
		return 0, nil, fmt.Errorf("newBufferWithLength:%d returned nil (out of memory?)", n)
	}
	p := objc.Send[unsafe.Pointer](buf, d.s.contents)
	mem := unsafe.Slice((*byte)(p), n)
	clear(mem)
	d.bufs = append(d.bufs, buf)
	return BufferID(len(d.bufs) - 1), mem, nil
}

// WrapBuffer implements Device: newBufferWithBytesNoCopy over the page
// span of data (Apple Silicon shares memory between CPU and GPU, so the
// GPU reads the memory-mapped weights where they are).
func (d *darwinDevice) WrapBuffer(data []byte) (BufferID, int, error) {
	if len(data) == 0 {
		return 0, 0, errors.New("wrap of no bytes")
	}
	base, off, length := PageSpan(uintptr(unsafe.Pointer(unsafe.SliceData(data))), len(data), d.PageSize())
	if length > d.maxBuf {
		return 0, 0, fmt.Errorf("%d bytes exceed the GPU's largest buffer (%d)", length, d.maxBuf)
	}
	buf := d.dev.Send(d.s.newBufferNoCopy, base, uint(length), uint(storageModeShared), uintptr(0))
	if buf == 0 {
		return 0, 0, fmt.Errorf("newBufferWithBytesNoCopy refused %d bytes at %#x", length, base)
	}
	runtime.KeepAlive(data)
	d.bufs = append(d.bufs, buf)
	return BufferID(len(d.bufs) - 1), off, nil
}

// Compile implements Device: newLibraryWithSource:options:error: with fast
// math off (results stay close to the CPU's), then one pipeline per kernel.
func (d *darwinDevice) Compile(source string, names []string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pool := d.pool()
	defer pool.Send(d.s.drain)
	opts := objc.ID(objc.GetClass("MTLCompileOptions")).Send(d.s.alloc).Send(d.s.init)
	defer opts.Send(d.s.release)
	opts.Send(d.s.setFastMath, false)
	var nserr objc.ID
	lib := d.dev.Send(d.s.newLibrary, d.nsString(source), opts, unsafe.Pointer(&nserr))
	if lib == 0 {
		return d.nsError("newLibraryWithSource", nserr)
	}
	defer lib.Send(d.s.release)
	for _, n := range names {
		fn := lib.Send(d.s.newFunction, d.nsString(n))
		if fn == 0 {
			return fmt.Errorf("kernel %s not in the library", n)
		}
		nserr = 0
		pso := d.dev.Send(d.s.newPipeline, fn, unsafe.Pointer(&nserr))
		fn.Send(d.s.release)
		if pso == 0 {
			return d.nsError("pipeline "+n, nserr)
		}
		d.pipes = append(d.pipes, pso)
		d.maxTPG = append(d.maxTPG, objc.Send[int](pso, d.s.maxThreads))
	}
	return nil
}

// clockPair reads the clock the pass times are in, between two clock.Now().
func (d *darwinDevice) clockPair() ClockPair {
	var p ClockPair
	p.Before = clock.Now()
	if d.samples != 0 {
		var cpuTS, gpuTS uint64
		d.dev.Send(d.s.sampleClock, unsafe.Pointer(&cpuTS), unsafe.Pointer(&gpuTS))
		p.Device = int64(gpuTS)
	} else {
		p.Device = d.hostNs()
	}
	p.After = clock.Now()
	return p
}

// hostNs is mach_absolute_time in nanoseconds: the time base of
// GPUStartTime/GPUEndTime (which are in seconds).
func (d *darwinDevice) hostNs() int64 {
	t := machAbsoluteTime()
	return int64(t * uint64(d.timebase[0]) / uint64(max(d.timebase[1], 1)))
}

// Run implements Device.
func (d *darwinDevice) Run(b *Batch) (Timing, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pool := d.pool()
	defer pool.Send(d.s.drain)
	var tm Timing
	counters := b.Timed && d.samples != 0 && 2*len(b.Passes) <= counterSamplesCapacity
	perPass := b.Timed && !counters
	tm.Clocks = append(tm.Clocks, d.clockPair())

	var cbs []objc.ID
	cb := d.queue.Send(d.s.commandBuffer)
	cbs = append(cbs, cb)
	for i, p := range b.Passes {
		if perPass && i > 0 {
			cb.Send(d.s.commit)
			cb = d.queue.Send(d.s.commandBuffer)
			cbs = append(cbs, cb)
		}
		var enc objc.ID
		if counters {
			desc := objc.ID(objc.GetClass("MTLComputePassDescriptor")).Send(d.s.computePassDescriptor)
			att := desc.Send(d.s.sampleBufferAttachments).Send(d.s.objectAtIndex, uint(0))
			att.Send(d.s.setSampleBuffer, d.samples)
			att.Send(d.s.setStartOfEncoderSampleIndex, uint(2*i))
			att.Send(d.s.setEndOfEncoderSampleIndex, uint(2*i+1))
			enc = cb.Send(d.s.computeEncoderWithDescriptor, desc)
		} else {
			enc = cb.Send(d.s.computeEncoder)
		}
		if enc == 0 {
			return tm, errors.New("no compute command encoder")
		}
		for _, ds := range p.Dispatches {
			if err := d.encode(enc, ds); err != nil {
				enc.Send(d.s.endEncoding)
				return tm, err
			}
		}
		enc.Send(d.s.endEncoding)
	}
	cb.Send(d.s.commit)
	cb.Send(d.s.waitUntilCompleted)
	for _, c := range cbs {
		if st := objc.Send[int](c, d.s.status); st != cmdStatusCompleted {
			return tm, d.nsError(fmt.Sprintf("command buffer (status %d)", st), c.Send(d.s.errorSel))
		}
	}
	tm.Clocks = append(tm.Clocks, d.clockPair())

	switch {
	case counters:
		data := d.samples.Send(d.s.resolveCounterRange, nsRange{0, uint(2 * len(b.Passes))})
		if data == 0 {
			return tm, nil // untimed: marks fall back to the flush time
		}
		n := objc.Send[int](data, d.s.length) / 8
		ts := unsafe.Slice((*uint64)(objc.Send[unsafe.Pointer](data, d.s.bytes)), n)
		for i := range b.Passes {
			s, e := ts[2*i], ts[2*i+1]
			if s == counterErrorValue || e == counterErrorValue || s == 0 || e == 0 {
				tm.Start, tm.End = nil, nil
				return tm, nil
			}
			tm.Start, tm.End = append(tm.Start, int64(s)), append(tm.End, int64(e))
		}
	case perPass:
		for _, c := range cbs {
			tm.Start = append(tm.Start, int64(objc.Send[float64](c, d.s.gpuStart)*1e9))
			tm.End = append(tm.End, int64(objc.Send[float64](c, d.s.gpuEnd)*1e9))
		}
	}
	return tm, nil
}

// encode sets one dispatch's pipeline, arguments and buffers.
func (d *darwinDevice) encode(enc objc.ID, ds Dispatch) error {
	if ds.Kernel < 0 || ds.Kernel >= len(d.pipes) {
		return fmt.Errorf("kernel %d not compiled", ds.Kernel)
	}
	if t := ds.Threads[0] * ds.Threads[1] * ds.Threads[2]; t > d.maxTPG[ds.Kernel] {
		return fmt.Errorf("kernel %d needs %d threads per threadgroup, the GPU allows %d", ds.Kernel, t, d.maxTPG[ds.Kernel])
	}
	enc.Send(d.s.setPipeline, d.pipes[ds.Kernel])
	enc.Send(d.s.setBytes, unsafe.Pointer(unsafe.SliceData(ds.Args)), uint(len(ds.Args)), uint(0))
	for i, bind := range ds.Buffers {
		if int(bind.Buf) < 0 || int(bind.Buf) >= len(d.bufs) {
			return fmt.Errorf("buffer %d was never made", bind.Buf)
		}
		enc.Send(d.s.setBuffer, d.bufs[bind.Buf], uint(bind.Off), uint(i+1))
	}
	enc.Send(d.s.dispatch,
		mtlSize{uint(ds.Groups[0]), uint(ds.Groups[1]), uint(ds.Groups[2])},
		mtlSize{uint(ds.Threads[0]), uint(ds.Threads[1]), uint(ds.Threads[2])})
	runtime.KeepAlive(ds.Args)
	return nil
}

// Close implements Device.
func (d *darwinDevice) Close() {
	for _, o := range append(append(d.bufs, d.pipes...), d.samples, d.queue, d.dev) {
		if o != 0 {
			o.Send(d.s.release)
		}
	}
	d.bufs, d.pipes, d.samples, d.queue, d.dev = nil, nil, 0, 0, 0
}
