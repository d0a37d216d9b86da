//go:build !linux && !darwin

package thermal

import "runtime"

// Reader reads this machine's state.
type Reader struct{}

// NewReader returns a Reader for this machine.
func NewReader() *Reader { return &Reader{} }

// Read reports that this OS's thermal state is not read.
func (*Reader) Read() State {
	return State{Unreadable: []string{"thermal and power state are not read on " + runtime.GOOS}}
}
