//go:build !linux && !darwin

package power

import "runtime"

const cpuLoadOrigin = "the host CPU load"

func platformCPUTimes(opts Options) (func() (cpuTimes, error), Availability) {
	return nil, unavailable("the CPU estimate reads /proc/stat (Linux) or host_statistics (macOS); this is "+runtime.GOOS,
		"none on this OS")
}
