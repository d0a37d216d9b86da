//go:build darwin

package helper

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerUID returns the effective uid of the process on the other end of conn
// (LOCAL_PEERCRED).
func peerUID(conn *net.UnixConn) (uint32, error) {
	return peerUIDWith(conn, "LOCAL_PEERCRED", func(fd int) (uint32, error) {
		cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if err != nil {
			return 0, err
		}
		return xucredUID(cred.Version, cred.Uid)
	})
}
