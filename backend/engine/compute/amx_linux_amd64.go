package compute

import "golang.org/x/sys/unix"

// requestAMX asks Linux for the AMX tile data state (arch_prctl
// ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA): without it the first tile
// instruction faults. The permission belongs to the process and asking
// again is harmless, so every new backend asks. The tile kernels are
// assembly functions, which Go never preempts asynchronously, so a tile
// state never moves between threads mid-kernel.
func requestAMX() bool {
	const archReqXcompPerm, xfeatureXTileData = 0x1023, 18
	_, _, errno := unix.Syscall(unix.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXTileData, 0)
	return errno == 0
}
