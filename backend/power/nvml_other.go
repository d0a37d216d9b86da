//go:build !linux

package power

import (
	"fmt"
	"runtime"
)

// loadNVML: NVML is not shipped for macOS, and this build reads it on Linux
// only.
func loadNVML(path string) (*nvmlFuncs, error) {
	return nil, fmt.Errorf("NVML is read on Linux only; this is %s", runtime.GOOS)
}
