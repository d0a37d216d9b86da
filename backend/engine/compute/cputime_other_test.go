//go:build !unix

package compute

import "time"

// processCPU falls back to wall time where getrusage is missing.
func processCPU() float64 { return float64(time.Now().UnixNano()) / 1e9 }
