package power

import "fmt"

// The Mach CPU counters of macOS (host_statistics HOST_CPU_LOAD_INFO), as
// platform-independent logic: estimate_darwin.go supplies the three calls.

// Indexes of cpu_ticks (<mach/machine.h>).
const (
	cpuStateUser   = 0
	cpuStateSystem = 1
	cpuStateIdle   = 2
	cpuStateNice   = 3
	cpuStateMax    = 4
)

// machTicks accumulates the host's 32-bit, wrapping CPU ticks into
// cpuTimes.
type machTicks struct {
	// hostPort is mach_host_self(): every call returns a send right with
	// one more user reference, which release (mach_port_deallocate) must
	// drop, or a long-running app leaks a reference per read.
	hostPort   func() uint32
	release    func(port uint32)
	statistics func(host uint32, ticks *[cpuStateMax]uint32) error

	last  [cpuStateMax]uint32
	acc   cpuTimes
	began bool
}

func (m *machTicks) read() (cpuTimes, error) {
	host := m.hostPort()
	defer m.release(host)
	var ticks [cpuStateMax]uint32
	if err := m.statistics(host, &ticks); err != nil {
		return cpuTimes{}, fmt.Errorf("host_statistics(HOST_CPU_LOAD_INFO): %w", err)
	}
	if !m.began {
		m.last, m.began = ticks, true
		return m.acc, nil
	}
	var d [cpuStateMax]uint64
	for i := range ticks {
		d[i] = uint64(ticks[i] - m.last[i]) // uint32 arithmetic survives one wrap
	}
	m.last = ticks
	busy := d[cpuStateUser] + d[cpuStateSystem] + d[cpuStateNice]
	m.acc.busy += busy
	m.acc.total += busy + d[cpuStateIdle]
	return m.acc, nil
}
