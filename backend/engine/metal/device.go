package metal

import "fmt"

// BufferID names a buffer the Device made.
type BufferID int32

// Device is the platform layer: the few things the backend needs from the
// GPU. It does no planning of its own; every decision is in Backend, which
// records a whole forward pass as a Batch and hands it over in one Run.
type Device interface {
	// Name is the GPU's name, e.g. "Apple M2 Pro".
	Name() string
	// PageSize is the VM page size that wrapped memory is aligned to.
	PageSize() int
	// NewBuffer makes a zeroed buffer of n bytes that the CPU and the GPU
	// share; mem is its contents as the CPU sees them.
	NewBuffer(n int) (id BufferID, mem []byte, err error)
	// WrapBuffer makes a buffer over the page span of data (see
	// PageSpan) without copying; data is at byte offset off in it. The
	// memory must stay mapped while the buffer lives.
	WrapBuffer(data []byte) (id BufferID, off int, err error)
	// Compile builds the kernels named in names from MSL source; Run may
	// dispatch them by their index in names afterwards.
	Compile(source string, names []string) error
	// Run encodes b into one command buffer, commits it and waits for it.
	Run(b *Batch) (Timing, error)
	// Close releases the device and every buffer.
	Close()
}

// Batch is one command buffer's worth of work: passes run in order, each a
// compute encoder whose dispatches run in order (serial dispatch).
type Batch struct {
	Passes []Pass
	// Timed asks for each pass's GPU start and end (counter samples at the
	// encoder boundaries, or one command buffer per pass where the GPU
	// cannot sample there).
	Timed bool
}

// Pass is one compute encoder.
type Pass struct{ Dispatches []Dispatch }

// Dispatch is one kernel launch: Args goes to buffer(0) with setBytes,
// Buffers[i] to buffer(i+1) at its offset.
type Dispatch struct {
	Kernel  int // index into the names given to Compile
	Args    []byte
	Buffers []Binding
	Groups  [3]int // threadgroups in the grid
	Threads [3]int // threads per threadgroup
}

// Binding is a buffer bound at a byte offset.
type Binding struct {
	Buf BufferID
	Off int
}

// Timing is what a Run measured: each pass's start and end in device ticks
// (Timed batches only), and clock pairs that relate ticks to clock.Now().
type Timing struct {
	Start, End []int64
	Clocks     []ClockPair
}

// ClockPair is one reading of the device clock (Device) taken between two
// readings of clock.Now() (Before, After).
type ClockPair struct {
	Before, After int64
	Device        int64
}

// PageSpan is the page-aligned range around n bytes at address p: the
// range starts at base, is length bytes long (a whole number of pages) and
// holds the data at offset off. newBufferWithBytesNoCopy needs both the
// start and the length page-aligned.
func PageSpan(p uintptr, n, page int) (base uintptr, off, length int) {
	if page <= 0 || page&(page-1) != 0 {
		panic(fmt.Sprintf("metal: page size %d is not a power of two", page))
	}
	mask := uintptr(page - 1)
	base = p &^ mask
	off = int(p - base)
	length = (off + n + page - 1) &^ (page - 1)
	return base, off, length
}
