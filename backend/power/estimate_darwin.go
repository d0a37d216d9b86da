//go:build darwin

package power

import (
	"fmt"

	"github.com/ebitengine/purego"
)

const cpuLoadOrigin = "host_statistics(HOST_CPU_LOAD_INFO)"

// Mach constants from <mach/host_info.h> and <mach/machine.h>.
const (
	hostCPULoadInfo      = 3 // HOST_CPU_LOAD_INFO
	hostCPULoadInfoCount = 4 // HOST_CPU_LOAD_INFO_COUNT: natural_t cpu_ticks[CPU_STATE_MAX]
	cpuStateUser         = 0
	cpuStateSystem       = 1
	cpuStateIdle         = 2
	cpuStateNice         = 3
)

// platformCPUTimes reads the host's cumulative CPU ticks through
// host_statistics in libSystem, called with purego (no cgo).
func platformCPUTimes(opts Options) (func() (cpuTimes, error), Availability) {
	lib, err := purego.Dlopen("/usr/lib/libSystem.B.dylib", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, unavailable("cannot load libSystem: "+err.Error(), "none: libSystem is part of macOS")
	}
	selfSym, err1 := purego.Dlsym(lib, "mach_host_self")
	statsSym, err2 := purego.Dlsym(lib, "host_statistics")
	if err1 != nil || err2 != nil {
		return nil, unavailable("libSystem lacks mach_host_self/host_statistics", "none: this macOS is not supported")
	}
	var machHostSelf func() uint32
	var hostStatistics func(host uint32, flavor int32, info *uint32, count *uint32) int32
	purego.RegisterFunc(&machHostSelf, selfSym)
	purego.RegisterFunc(&hostStatistics, statsSym)
	host := machHostSelf()

	// The ticks are 32-bit and wrap; accumulate deltas into 64 bits.
	var last [hostCPULoadInfoCount]uint32
	var acc cpuTimes
	first := true
	read := func() (cpuTimes, error) {
		var ticks [hostCPULoadInfoCount]uint32
		count := uint32(hostCPULoadInfoCount)
		if kr := hostStatistics(host, hostCPULoadInfo, &ticks[0], &count); kr != 0 {
			return cpuTimes{}, fmt.Errorf("host_statistics(HOST_CPU_LOAD_INFO) returned kern_return_t %d", kr)
		}
		if first {
			last, first = ticks, false
			return acc, nil
		}
		var d [hostCPULoadInfoCount]uint64
		for i := range ticks {
			d[i] = uint64(ticks[i] - last[i]) // uint32 arithmetic survives one wrap
		}
		last = ticks
		busy := d[cpuStateUser] + d[cpuStateSystem] + d[cpuStateNice]
		acc.busy += busy
		acc.total += busy + d[cpuStateIdle]
		return acc, nil
	}
	return read, available()
}
