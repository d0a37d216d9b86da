//go:build linux

package thermal

// Reader reads this machine's state.
type Reader struct{}

// NewReader returns a Reader for this machine.
func NewReader() *Reader { return &Reader{} }

// Read returns the state now, from /sys.
func (*Reader) Read() State { return ReadSysfs("/sys") }
