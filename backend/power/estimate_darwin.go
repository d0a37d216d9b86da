//go:build darwin

package power

import (
	"fmt"

	"github.com/ebitengine/purego"
)

const cpuLoadOrigin = "host_statistics(HOST_CPU_LOAD_INFO)"

// HOST_CPU_LOAD_INFO and its count (<mach/host_info.h>).
const (
	hostCPULoadInfo      = 3
	hostCPULoadInfoCount = cpuStateMax
)

// platformCPUTimes reads the host's cumulative CPU ticks through
// host_statistics in libSystem, called with purego (no cgo).
func platformCPUTimes(opts Options) (func() (cpuTimes, error), Availability) {
	lib, err := purego.Dlopen("/usr/lib/libSystem.B.dylib", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, unavailable("cannot load libSystem: "+err.Error(), "none: libSystem is part of macOS")
	}
	var syms [5]uintptr
	for i, name := range []string{"mach_host_self", "host_statistics", "mach_port_deallocate", "mach_task_self_", "memmove"} {
		if syms[i], err = purego.Dlsym(lib, name); err != nil {
			return nil, unavailable("libSystem lacks "+name, "none: this macOS is not supported")
		}
	}
	var machHostSelf func() uint32
	var hostStatistics func(host uint32, flavor int32, info *uint32, count *uint32) int32
	var machPortDeallocate func(task, port uint32) int32
	var memmove func(dst *uint32, src uintptr, n uintptr) uintptr
	purego.RegisterFunc(&machHostSelf, syms[0])
	purego.RegisterFunc(&hostStatistics, syms[1])
	purego.RegisterFunc(&machPortDeallocate, syms[2])
	purego.RegisterFunc(&memmove, syms[4])
	// mach_task_self() is a macro reading the variable mach_task_self_;
	// Dlsym gives the variable's address, and memmove copies its value.
	var task uint32
	memmove(&task, syms[3], 4)

	m := &machTicks{
		hostPort: machHostSelf,
		release:  func(port uint32) { machPortDeallocate(task, port) },
		statistics: func(host uint32, ticks *[cpuStateMax]uint32) error {
			count := uint32(hostCPULoadInfoCount)
			if kr := hostStatistics(host, hostCPULoadInfo, &ticks[0], &count); kr != 0 {
				return fmt.Errorf("kern_return_t %d", kr)
			}
			return nil
		},
	}
	return m.read, available()
}
