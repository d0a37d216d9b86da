//go:build darwin || linux

package helper

import (
	"fmt"
	"net"
)

// peerUIDWith reads the peer's uid with get, a getsockopt the kernel answers
// from what it recorded at connect time. A PID is never used: PIDs are reused.
func peerUIDWith(conn *net.UnixConn, option string, get func(fd int) (uint32, error)) (uint32, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	var uid uint32
	var getErr error
	if err := raw.Control(func(fd uintptr) { uid, getErr = get(int(fd)) }); err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	if getErr != nil {
		return 0, fmt.Errorf("peer credentials (%s): %w", option, getErr)
	}
	return uid, nil
}
